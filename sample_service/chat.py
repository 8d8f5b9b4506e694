"""The ``/chat`` WebSocket echo handler, strict about RFC 6455.

Every text or binary message comes back whole, as the same type, in order; outgoing
messages are split into frames of at most ``fragment-size`` bytes. aiohttp does most of the
protocol work; this module closes the gaps where its defaults are laxer than the RFC or
than userver's echo sample:

- the handshake is checked here first (:mod:`sample_service.handshake`), so that a wrong
  ``Sec-WebSocket-Version`` gets 426 with ``Sec-WebSocket-Version: 13`` (aiohttp answers 400
  and also accepts 7 and 8), and a plain GET gets userver's ``400 Not a websocket request``;
- close codes that must never appear on the wire (1006, and 5000 and above, which
  aiohttp lets through) are answered with 1002, and the client's own valid close code
  is echoed back (aiohttp's automatic close always answers 1000);
- a message of exactly ``max-remote-payload`` bytes is accepted (aiohttp's limit is
  exclusive), and one byte more closes with 1009;
- aiohttp always sends a message as one frame, so longer messages are fragmented here;
- aiohttp accepts unmasked client frames; :mod:`sample_service.masking` rejects them.

Two things replace an echo, on ``/chat`` and on every handler built on this one that echoes
(``/handler-alt``, ``/private``, ``/duplex``; not ``/broadcast`` or ``/feed``):

- the text message ``close`` makes the service close the connection with 1001, as
  userver's functional-test service does;
- while the ``chat-message-received`` testpoint is enabled, the service calls it with
  ``{"path": PATH, "type": "text"|"binary", "size": BYTES}`` (plus ``"text"`` for a text
  message) and waits for the answer; ``{"close": CODE}`` closes the connection with CODE
  instead of echoing (a CODE that may not be sent is logged and ignored). Testpoints are
  called before the ``close`` check, so they see that message too.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from .connection import (
    CLOSE_ABNORMAL,
    CLOSE_GOING_AWAY,
    CLOSE_INTERNAL_ERROR,
    CLOSE_NORMAL,
    CLOSE_PROTOCOL_ERROR,
    ChatConnection,
    is_valid_close_code,
    log_message,
)
from .handshake import check_handshake, format_peer, reject
from .masking import MaskCheck
from .state import CHATS, DYNAMIC_CONFIG
from .testpoint import TESTPOINTS

if TYPE_CHECKING:
    from .testpoint import Testpoints

__all__ = [
    "CLOSE_ABNORMAL",
    "CLOSE_COMMAND",
    "CLOSE_GOING_AWAY",
    "CLOSE_INTERNAL_ERROR",
    "CLOSE_NORMAL",
    "CLOSE_PROTOCOL_ERROR",
    "MESSAGE_RECEIVED_TESTPOINT",
    "ChatConnection",
    "ChatHandler",
    "PlainEchoHandler",
    "is_valid_close_code",
    "log_message",
]

logger = logging.getLogger("sample_service.chat")

_TEXT = WSMsgType.TEXT
_BINARY = WSMsgType.BINARY
_CLOSE = WSMsgType.CLOSE
_ERROR = WSMsgType.ERROR
_CONTINUATION = WSMsgType.CONTINUATION

#: The text message that makes an echo path close with 1001.
CLOSE_COMMAND = "close"

#: The testpoint called for every message an echo path receives.
MESSAGE_RECEIVED_TESTPOINT = "chat-message-received"

_HEADER_16 = struct.Struct("!BBH").pack
_HEADER_64 = struct.Struct("!BBQ").pack


def _frame_header(first_byte: int, length: int) -> bytes:
    """The header of an unmasked server frame (RFC 6455 section 5.2)."""
    if length < 126:
        return bytes((first_byte, length))
    if length < 65536:
        return _HEADER_16(first_byte, 126, length)
    return _HEADER_64(first_byte, 127, length)


class ChatHandler:
    """The ``/chat`` echo handler.

    Args:
        max_remote_payload: The largest incoming message, in bytes; a larger one closes the
            connection with 1009.
        fragment_size: The largest outgoing frame payload, in bytes.
        close_timeout: How long a server-initiated close waits for the client's close frame.
    """

    def __init__(self, *, max_remote_payload: int, fragment_size: int, close_timeout: float) -> None:
        self.max_remote_payload = max_remote_payload
        self.fragment_size = fragment_size
        self.close_timeout = close_timeout

    def check_request(self, request: web.Request) -> web.Response | None:
        """The error response for a request this handler refuses, ``None`` to accept it."""
        return check_handshake(request)

    async def authorize(self, request: web.Request) -> web.Response | None:
        """Called after :meth:`check_request` accepted, before the ``101``: a response refuses.

        ``/chat`` accepts everyone; ``/private`` asks its auth service here.
        """
        return None

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        peer = format_peer(request.transport.get_extra_info("peername") if request.transport else None)
        rejection = self.check_request(request)
        if rejection is None:
            rejection = await self.authorize(request)
        if rejection is not None:
            logger.info(
                "handshake rejected peer=%s path=%s status=%d reason=%r",
                peer,
                request.path,
                rejection.status,
                rejection.text,
            )
            return rejection

        ws = web.WebSocketResponse(
            autoclose=False,  # the close code is echoed (or corrected) below
            autoping=True,  # pong with the same payload, also between fragments
            compress=False,  # no permessage-deflate, as in userver: RSV1 is a protocol error
            # aiohttp rejects a message whose size reaches max_msg_size; ours is inclusive.
            max_msg_size=self.max_remote_payload + 1,
            timeout=self.close_timeout,
        )
        try:
            writer = await ws.prepare(request)
        except ConnectionError as exc:
            logger.info("handshake aborted peer=%s path=%s error=%r", peer, request.path, exc)
            # The 101 never went out, so the WebSocketResponse cannot be finished; a plain
            # response lets aiohttp drop the dead connection quietly.
            return reject(400, "connection lost during the handshake")
        transport = request.transport
        connection = ChatConnection(ws, peer, request.path)
        if transport is not None:
            MaskCheck.install(transport, connection.note_violation)
        chats = request.app[CHATS]
        chats.add(connection)
        logger.info("connection opened peer=%s path=%s", peer, request.path)
        try:
            await self.serve(request, connection, transport, writer)
        except asyncio.CancelledError:
            connection.close_code = connection.close_code or CLOSE_ABNORMAL
            raise
        except Exception:
            logger.exception("echo failed peer=%s path=%s", peer, request.path)
            if connection.close_code is None:
                try:
                    await connection.close(CLOSE_INTERNAL_ERROR, "internal error")
                except Exception:  # the peer may be gone already; it was logged above
                    connection.close_code = CLOSE_ABNORMAL
        finally:
            chats.discard(connection)
            logger.info(
                "connection closed peer=%s path=%s code=%d by=%s messages=%d duration=%.3fs",
                peer,
                request.path,
                connection.close_code or CLOSE_ABNORMAL,
                connection.initiator,
                connection.messages,
                time.monotonic() - connection.started,
            )
        return ws

    async def serve(self, request: web.Request, connection: ChatConnection, transport: Any, writer: Any) -> None:
        """Handle the open connection until it ends: here, echo every message."""
        await self.echo(request, connection, transport, writer)

    async def close_instead(
        self, testpoints: Testpoints, connection: ChatConnection, kind: WSMsgType, data: str | bytes
    ) -> tuple[int, str] | None:
        """The (code, reason) to close with instead of echoing this message, or ``None`` to echo it.

        Calls the ``chat-message-received`` testpoint while it is enabled, then looks for the
        ``close`` text message.
        """
        if testpoints.is_enabled(MESSAGE_RECEIVED_TESTPOINT):
            size = len(data.encode()) if isinstance(data, str) else len(data)
            info: dict[str, Any] = {
                "path": connection.path,
                "type": "text" if kind is _TEXT else "binary",
                "size": size,
            }
            if isinstance(data, str):
                info["text"] = data
            answer = await testpoints.call(MESSAGE_RECEIVED_TESTPOINT, info)
            if isinstance(answer, dict) and "close" in answer:
                code = answer["close"]
                if isinstance(code, int) and not isinstance(code, bool) and is_valid_close_code(code):
                    return code, f"closed by testpoint {MESSAGE_RECEIVED_TESTPOINT}"
                logger.warning(
                    "testpoint %s answered close=%.60r, not a close code the service may send; echoing",
                    MESSAGE_RECEIVED_TESTPOINT,
                    code,
                )
        if kind is _TEXT and data == CLOSE_COMMAND:
            return CLOSE_GOING_AWAY, "close requested"
        return None

    async def echo(
        self,
        request: web.Request,
        connection: ChatConnection,
        transport: Any,
        writer: Any,
        *,
        text_prefix: bytes | None = None,
    ) -> None:
        """Echo every message until the connection ends.

        Text messages get ``text_prefix`` in front, or, when it is ``None``, the dynamic
        config's ``WEBSOCKET_ECHO_PREFIX`` (read per message, so a change applies to open
        connections at once).
        """
        settings = request.app[DYNAMIC_CONFIG]
        testpoints = request.app[TESTPOINTS]
        watch = testpoints.available  # fixed at start: without a testpoint-url the check costs nothing
        ws = connection.ws
        receive = ws.receive
        send_frame = ws.send_frame
        fragment_size = self.fragment_size
        while True:
            msg = await receive()
            kind = msg.type
            if kind is _TEXT:
                data = msg.data
                payload = data.encode()
                prefix = settings.echo_prefix if text_prefix is None else text_prefix
                if prefix:
                    payload = prefix + payload
            elif kind is _BINARY:
                data = payload = msg.data
            else:
                await self.on_end(connection, msg)
                return
            connection.messages += 1
            if settings.log_messages:  # written before the echo, so a client that got it can read the line
                log_message(connection, kind, data)
            if watch or (kind is _TEXT and data == CLOSE_COMMAND):
                verdict = await self.close_instead(testpoints, connection, kind, data)
                if verdict is not None:
                    await connection.close(*verdict)
                    return
            try:
                if len(payload) <= fragment_size:
                    await send_frame(payload, kind)
                else:
                    await self.send_fragmented(transport, writer, ws, payload, kind)
            except ConnectionError as exc:
                # The peer vanished or a concurrent close (shutdown) already ended the stream.
                if connection.close_code is None:
                    connection.close_code = CLOSE_ABNORMAL
                    connection.initiator = "network"
                    logger.info("send failed peer=%s path=%s error=%r", connection.peer, connection.path, exc)
                return

    async def on_end(self, connection: ChatConnection, msg: Any) -> None:
        """Finish the closing handshake for whatever ended the message stream."""
        ws = connection.ws
        kind = msg.type
        if kind is _CLOSE:
            code = msg.data  # 0 when the close frame carried no status code
            if code == 0:
                reply = CLOSE_NORMAL
            elif is_valid_close_code(code):
                reply = code
            else:
                logger.warning(
                    "protocol error peer=%s path=%s code=%d error='invalid close code %d'",
                    connection.peer,
                    connection.path,
                    CLOSE_PROTOCOL_ERROR,
                    code,
                )
                reply = CLOSE_PROTOCOL_ERROR
            if connection.close_code is None:
                connection.close_code = reply
            await ws.close(code=reply)
        elif kind is _ERROR:
            # aiohttp already answered a protocol violation with the matching close code
            # (1002, 1007, 1009) and dropped the connection.
            error = msg.data
            if connection.close_code is None:
                # int(): on Python 3.10 an IntEnum would be logged by its name.
                connection.close_code = int(getattr(error, "code", 0) or CLOSE_ABNORMAL)
                connection.initiator = "server"
            logger.warning(
                "protocol error peer=%s path=%s code=%d error=%r",
                connection.peer,
                connection.path,
                connection.close_code,
                connection.violation or str(error),
            )
        elif connection.close_code is None:
            # CLOSED: the TCP connection ended without a close frame.
            connection.close_code = CLOSE_ABNORMAL
            connection.initiator = "network"

    async def send_fragmented(
        self, transport: Any, writer: Any, ws: web.WebSocketResponse, payload: bytes, opcode: int
    ) -> None:
        """Send ``payload`` as frames of at most ``fragment_size`` bytes.

        aiohttp's writer sets FIN on every frame it sends, so the non-final fragments are
        written to the transport here; the final one (a FIN continuation frame) goes
        through aiohttp's writer, and the payload writer's ``drain()`` applies flow
        control. This runs in the connection's only task and no await separates the raw
        writes, so no other frame can land between the fragments.
        """
        # A close frame already sent (a shutdown while this task waited on flow control)
        # must not be followed by data frames.
        if transport is None or transport.is_closing() or ws.closed:
            raise ConnectionResetError("Cannot write to closing transport")
        size = self.fragment_size
        view = memoryview(payload)
        last_start = (len(view) - 1) // size * size
        first_byte = int(opcode)  # FIN clear
        for start in range(0, last_start, size):
            if transport.is_closing():  # the peer went away mid-message
                raise ConnectionResetError("Cannot write to closing transport")
            chunk = view[start : start + size]
            transport.write(_frame_header(first_byte, len(chunk)) + chunk)
            first_byte = 0  # continuation, FIN clear
        await ws.send_frame(bytes(view[last_start:]), _CONTINUATION)
        await writer.drain()


class PlainEchoHandler(ChatHandler):
    """``websocket-handler-alt``: the echo of ``/chat`` without ``WEBSOCKET_ECHO_PREFIX`` (userver's plain echo)."""

    async def serve(self, request: web.Request, connection: ChatConnection, transport: Any, writer: Any) -> None:
        await self.echo(request, connection, transport, writer, text_prefix=b"")
