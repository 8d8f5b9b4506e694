"""``/duplex``: a full-duplex echo, like userver's ``websocket-duplex-handler``.

One task reads and another writes, with a queue between them, so reading never waits for
a send and a send never waits for the next message. Every message comes back **as a binary
message** (a text message as its UTF-8 bytes), in order, split into frames of at most
``fragment-size`` bytes.

- The text message ``close`` stops the reading; the replies already queued are sent, then
  the service closes with 1001.
- A ``chat-message-received`` testpoint answer ``{"close": CODE}`` does the same with CODE.
- When the client closes, replies not yet sent are dropped and its close code is echoed,
  as on ``/chat``.
- The queue holds at most :data:`MAX_QUEUED` replies; when it is full the reader waits, so a
  client that does not read is slowed down instead of filling the service's memory.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import WSMessage, WSMsgType, web

from .chat import ChatHandler
from .connection import ChatConnection, log_message
from .state import DYNAMIC_CONFIG
from .testpoint import TESTPOINTS

__all__ = ["MAX_QUEUED", "DuplexHandler"]

logger = logging.getLogger("sample_service.duplex")

#: Replies that may wait for the writer before the reader stops reading.
MAX_QUEUED = 1000

_TEXT = WSMsgType.TEXT
_BINARY = WSMsgType.BINARY
_BINARY_OPCODE = int(WSMsgType.BINARY)


class DuplexHandler(ChatHandler):
    """The ``/duplex`` handler; see the module docstring. Its arguments are :class:`ChatHandler`'s."""

    async def serve(self, request: web.Request, connection: ChatConnection, transport: Any, writer: Any) -> None:
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(MAX_QUEUED)
        sender = asyncio.ensure_future(self._write(connection, transport, writer, queue))
        try:
            end = await self._read(request, connection, queue)
        except BaseException:
            sender.cancel()
            await asyncio.wait([sender])
            raise
        if not isinstance(end, WSMessage):  # (WSMessage is a tuple too: test for it, not for tuple)
            # The client asked to close (or a testpoint did): send what is queued, then close.
            await queue.put(None)
            try:
                await asyncio.wait_for(asyncio.shield(sender), self.close_timeout)
            except asyncio.TimeoutError:
                sender.cancel()
                await asyncio.wait([sender])
            if connection.close_code is None:
                await connection.close(*end)
            return
        sender.cancel()
        await asyncio.wait([sender])
        await self.on_end(connection, end)

    async def _read(
        self, request: web.Request, connection: ChatConnection, queue: asyncio.Queue[bytes | None]
    ) -> WSMessage | tuple[int, str]:
        """Queue every message until the stream ends (its last message) or a close is asked for (code, reason)."""
        receive = connection.ws.receive
        settings = request.app[DYNAMIC_CONFIG]
        testpoints = request.app[TESTPOINTS]
        while True:
            msg = await receive()
            kind = msg.type
            if kind is _TEXT:
                payload = msg.data.encode()
            elif kind is _BINARY:
                payload = msg.data
            else:
                return msg
            connection.messages += 1
            if settings.log_messages:
                log_message(connection, kind, msg.data)
            verdict = await self.close_instead(testpoints, connection, kind, msg.data)
            if verdict is not None:
                return verdict
            await queue.put(payload)

    async def _write(
        self, connection: ChatConnection, transport: Any, writer: Any, queue: asyncio.Queue[bytes | None]
    ) -> None:
        """Send queued replies as binary messages until ``None`` comes or the connection fails."""
        ws = connection.ws
        fragment_size = self.fragment_size
        try:
            while (payload := await queue.get()) is not None:
                if len(payload) <= fragment_size:
                    await ws.send_frame(payload, _BINARY)
                else:
                    await self.send_fragmented(transport, writer, ws, payload, _BINARY_OPCODE)
        except ConnectionError as exc:
            # The peer vanished or the connection is closing; the reader sees the end too.
            logger.info("send failed peer=%s path=%s error=%r", connection.peer, connection.path, exc)
