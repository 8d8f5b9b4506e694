"""The ``/broadcast`` WebSocket handler: a chat room.

- Every text or binary message a client sends goes to every client connected to the
  path, the sender included, in the order the service received them.
- A client may give a name: ``/broadcast?user=alice``. A text message that is a JSON
  object with a ``"to"`` key is private: ``{"to": "bob", "text": "hi"}`` goes only to the
  connections of user ``bob``, as the same object with ``"from"`` set to the sender's
  name (``null`` for a client without one). If no client of that name is connected, the
  sender gets ``{"error": "...", "to": "bob"}`` instead. A ``"to"`` that is not a
  non-empty string gets the same kind of error.
- A slow client must not stall the others. Each client has its own queue of at most
  ``max-queue-size`` messages, drained by a task of its own; the socket's kernel send
  buffer is kept small (64 KiB) so that the queue, not the kernel, is where a backlog
  shows. A client whose queue is full when a new message arrives is disconnected with
  close code **1008** (policy violation) and the reason ``too slow: N messages queued``;
  the messages still queued for it are dropped, and it gets no more. 1008 rather than
  1013 (try again later): the service is not overloaded, the client broke the room's rule
  of keeping up. It has :data:`SLOW_CLOSE_TIMEOUT` seconds to read what was already sent
  and answer the close; then its connection is dropped.

The handshake, the close code echo and the protocol checks are those of ``/chat``
(:class:`~sample_service.chat.ChatHandler`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from typing import Any

from aiohttp import WSMsgType, web

from .chat import ChatHandler
from .connection import ChatConnection, log_message
from .handshake import reject
from .room import CLOSE_TOO_SLOW, SLOW_CLOSE_TIMEOUT, Member, Room
from .state import BROADCAST_ROOM, DYNAMIC_CONFIG

__all__ = ["CLOSE_TOO_SLOW", "SLOW_CLOSE_TIMEOUT", "BroadcastHandler", "Member", "Room"]

logger = logging.getLogger("sample_service.broadcast")

#: SO_SNDBUF of a broadcast connection: bounds what a stalled client holds in the kernel.
SEND_BUFFER_BYTES = 65536

#: The longest ``?user=`` name, in characters.
MAX_USER_NAME = 100

_TEXT = WSMsgType.TEXT
_BINARY = WSMsgType.BINARY


class BroadcastHandler(ChatHandler):
    """The ``/broadcast`` handler; see the module docstring.

    Args:
        max_remote_payload: The largest incoming message, in bytes; a larger one closes
            the connection with 1009.
        max_queue: How many messages may wait for one client before it is dropped.
        close_timeout: How long a server-initiated close waits for the client's close frame.
    """

    def __init__(self, *, max_remote_payload: int, max_queue: int, close_timeout: float) -> None:
        # Messages go out whole, as they came in: the fragment size is never reached.
        super().__init__(
            max_remote_payload=max_remote_payload, fragment_size=max_remote_payload, close_timeout=close_timeout
        )
        self.max_queue = max_queue

    def check_request(self, request: web.Request) -> web.Response | None:
        user = request.query.get("user")
        if user is not None and not (0 < len(user) <= MAX_USER_NAME and user.isprintable()):
            return reject(400, f"user must be a printable name of 1 to {MAX_USER_NAME} characters")
        return super().check_request(request)

    async def serve(self, request: web.Request, connection: ChatConnection, transport: Any, writer: Any) -> None:
        sock = transport.get_extra_info("socket") if transport is not None else None
        if sock is not None:
            # Not fatal if refused: the queue limit still applies, only later.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
        room = request.app[BROADCAST_ROOM]
        settings = request.app[DYNAMIC_CONFIG]
        member = Member(connection, request.query.get("user"), self.max_queue)
        member.sender = asyncio.ensure_future(member.send_queued())
        room.join(member)
        user_note = f" user={member.user}" if member.user is not None else ""
        logger.info(
            "joined peer=%s path=%s%s members=%d", connection.peer, connection.path, user_note, len(room.members)
        )
        try:
            receive = connection.ws.receive
            while True:
                msg = await receive()
                kind = msg.type
                if kind is _TEXT:
                    data = msg.data
                    payload = data.encode()
                elif kind is _BINARY:
                    data = payload = msg.data
                else:
                    await self.on_end(connection, msg)
                    return
                connection.messages += 1
                if settings.log_messages:
                    log_message(connection, kind, data, user_note)
                if member.closer is not None:
                    continue  # dropped: what it still sends goes nowhere
                if kind is _TEXT and data[:1] == "{":
                    private = self._private(room, member, data)
                    if private is not None:
                        room.deliver(*private)
                        continue
                room.deliver(room.members, payload, kind)
        finally:
            room.leave(member)
            member.sender.cancel()
            waits = [member.sender] + ([member.closer] if member.closer is not None else [])
            await asyncio.wait(waits)
            logger.info(
                "left peer=%s path=%s%s members=%d", connection.peer, connection.path, user_note, len(room.members)
            )

    @staticmethod
    def _private(room: Room, member: Member, text: str) -> tuple[list[Member], bytes, WSMsgType] | None:
        """Recipients and payload of a private message, or ``None`` for a message to everyone."""
        try:
            message = json.loads(text)
        except ValueError:
            return None
        if not isinstance(message, dict) or "to" not in message:
            return None
        to = message["to"]
        recipients = room.users.get(to) if isinstance(to, str) and to else None
        if not recipients:
            problem = f"no user {to!r} is connected" if isinstance(to, str) and to else "'to' must be a user name"
            reply = json.dumps({"error": problem, "to": to})
            return [member], reply.encode(), _TEXT
        message["from"] = member.user
        return recipients, json.dumps(message).encode(), _TEXT
