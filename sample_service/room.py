"""The broadcast chat room: its members, their queues, and the drop of a slow member.

Each member has its own queue of at most ``max-queue-size`` messages, drained by a task of
its own. A member whose queue is full when a new message arrives is dropped with close code
:data:`CLOSE_TOO_SLOW`. This module imports no other module of the service but
:mod:`sample_service.connection`, so that the application state can name :class:`Room`.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import WSMsgType

from .connection import ChatConnection

__all__ = ["CLOSE_TOO_SLOW", "SLOW_CLOSE_TIMEOUT", "Member", "Room"]

logger = logging.getLogger("sample_service.broadcast")

#: The close code of a client that fell too far behind.
CLOSE_TOO_SLOW = 1008

#: Seconds a dropped slow client gets to read what is on its way and answer the close.
SLOW_CLOSE_TIMEOUT = 10.0


class Member:
    """One connection in the room: its queue and the task that sends from it."""

    __slots__ = ("closer", "connection", "queue", "sender", "user")

    def __init__(self, connection: ChatConnection, user: str | None, max_queue: int) -> None:
        self.connection = connection
        self.user = user
        self.queue: asyncio.Queue[tuple[bytes, WSMsgType]] = asyncio.Queue(max_queue)
        self.sender: asyncio.Task[None] | None = None
        self.closer: asyncio.Task[None] | None = None

    async def send_queued(self) -> None:
        """Send queued messages in order until the connection ends."""
        get = self.queue.get
        send_frame = self.connection.ws.send_frame
        try:
            while True:
                payload, kind = await get()
                await send_frame(payload, kind)
        except ConnectionError:
            pass  # the peer went away or the connection is closing: the handler notices

    async def close_too_slow(self) -> None:
        """Close the connection with :data:`CLOSE_TOO_SLOW`, waiting :data:`SLOW_CLOSE_TIMEOUT` at most."""
        connection = self.connection
        reason = f"too slow: {self.queue.maxsize} messages queued"
        try:
            await asyncio.wait_for(connection.close(CLOSE_TOO_SLOW, reason), SLOW_CLOSE_TIMEOUT)
        except asyncio.TimeoutError:
            pass  # aiohttp dropped the transport when the close was cancelled
        except ConnectionError:
            pass


class Room:
    """Everyone connected to the broadcast path, by connection and by user name."""

    def __init__(self) -> None:
        self.members: list[Member] = []
        self.users: dict[str, list[Member]] = {}

    def join(self, member: Member) -> None:
        """Add ``member``: it gets every message delivered from now on."""
        self.members.append(member)
        if member.user is not None:
            self.users.setdefault(member.user, []).append(member)

    def leave(self, member: Member) -> bool:
        """Remove ``member``; return whether it was still in the room."""
        try:
            self.members.remove(member)
        except ValueError:
            return False
        if member.user is not None:
            same = self.users[member.user]
            same.remove(member)
            if not same:
                del self.users[member.user]
        return True

    def deliver(self, members: list[Member], payload: bytes, kind: WSMsgType) -> None:
        """Queue a message for each of ``members``; drop those whose queue is full."""
        for member in list(members):  # dropping one changes the list
            try:
                member.queue.put_nowait((payload, kind))
            except asyncio.QueueFull:
                self.drop(member)

    def drop(self, member: Member) -> None:
        """Disconnect a member that fell behind: 1008, no more messages."""
        if not self.leave(member):
            return
        connection = member.connection
        logger.warning(
            "slow client dropped peer=%s path=%s user=%s queued=%d code=%d",
            connection.peer,
            connection.path,
            member.user,
            member.queue.qsize(),
            CLOSE_TOO_SLOW,
        )
        if member.sender is not None:
            member.sender.cancel()
        member.closer = asyncio.ensure_future(member.close_too_slow())
