"""One open WebSocket connection as every handler and the shutdown see it, and the close codes.

This module imports no other module of the service, so that the application state
(:mod:`sample_service.state`) and every handler can name :class:`ChatConnection`.
"""

from __future__ import annotations

import logging
import time

from aiohttp import WSMsgType, web

__all__ = [
    "CLOSE_ABNORMAL",
    "CLOSE_GOING_AWAY",
    "CLOSE_INTERNAL_ERROR",
    "CLOSE_NORMAL",
    "CLOSE_PROTOCOL_ERROR",
    "ChatConnection",
    "is_valid_close_code",
    "log_message",
]

#: The logger of the chat's lines; per-message DEBUG lines of every handler go there too.
logger = logging.getLogger("sample_service.chat")

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_ABNORMAL = 1006  # never sent: only reported when the peer vanished without a close frame
CLOSE_INTERNAL_ERROR = 1011


def is_valid_close_code(code: int) -> bool:
    """Whether a peer may send ``code`` in a close frame (RFC 6455 section 7.4, IANA registry).

    1000-1003 and 1007-1014 are defined for use on the wire; 3000-4999 belong to
    libraries and applications. 1004-1006 and 1015 are reserved or must never be sent,
    and everything else is unassigned.
    """
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


class ChatConnection:
    """One open WebSocket: what shutdown needs to close it and what the log reports."""

    __slots__ = ("close_code", "initiator", "messages", "path", "peer", "started", "violation", "ws")

    def __init__(self, ws: web.WebSocketResponse, peer: str, path: str) -> None:
        self.ws = ws
        self.peer = peer
        self.path = path
        self.messages = 0
        self.started = time.monotonic()
        #: The code of the close frame the server sent; ``None`` while open, 1006 when the
        #: connection ended without a closing handshake.
        self.close_code: int | None = None
        self.initiator = "client"
        #: A protocol violation found outside aiohttp (an unmasked frame), for the log.
        self.violation: str | None = None

    def note_violation(self, description: str) -> None:
        """Remember a protocol violation found outside aiohttp, for the close's log line."""
        self.violation = description

    async def close(self, code: int, reason: str) -> None:
        """Start the closing handshake from the server side (shutdown uses 1001)."""
        if self.close_code is None:
            self.close_code = code
            self.initiator = "server"
        await self.ws.close(code=code, message=reason.encode())


def log_message(connection: ChatConnection, kind: WSMsgType, data: str | bytes, extra: str = "") -> None:
    """The DEBUG line written for each received message while ``USERVER_LOG_REQUEST`` is on."""
    preview = data[:100]
    logger.debug(
        "message received peer=%s path=%s%s type=%s size=%d data=%r%s",
        connection.peer,
        connection.path,
        extra,
        "text" if kind is WSMsgType.TEXT else "binary",
        len(data),
        preview,
        "..." if len(data) > len(preview) else "",
    )
