"""Per-connection limits that aiohttp does not enforce on its own: the handshake deadline and
the WebSocket idle limit.

:class:`ConnectionGuard` sits between the transport and aiohttp's protocol for every accepted
connection, hands every byte on unchanged, and only watches the clock:

- **handshake deadline** (``server.listener.handshake-timeout``): a connection must deliver
  the complete head of its first request (up to the blank line) within this many seconds
  of being accepted (of its TLS handshake completing, with TLS; asyncio bounds the TLS
  handshake itself by the same value). A silent connection or half-sent headers are closed
  at the deadline, with an INFO line ``handshake timeout peer=... after Ns: ...``.
- **idle limit** (``idle-timeout`` of each ``websocket-*`` handler): once the first request
  has named such a handler's path, a connection from which nothing arrives for that long
  (no frame at all: a ping counts as activity) is given to ``on_idle``, which closes the
  WebSocket with 1001. What the service sends does not count: a client that only listens
  keeps its connection by sending pings.

0 turns either limit off. Checking costs one clock read per read from the socket.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["ConnectionGuard"]

logger = logging.getLogger("sample_service.server")

#: The head of a first request longer than this is aiohttp's to refuse; the guard stops looking.
_HEAD_LIMIT = 65536


class ConnectionGuard(asyncio.Protocol):
    """Wrap aiohttp's protocol ``inner`` for one connection; see the module docstring.

    Args:
        inner: aiohttp's request handler for this connection.
        handshake_timeout: Seconds to the end of the first request's head; 0: no limit.
        idle_timeouts: WebSocket handler path -> seconds without inbound bytes; 0: no limit.
        on_idle: Called as ``on_idle(transport, path, seconds)`` when the idle limit is reached.
    """

    __slots__ = (
        "_head",
        "_head_done",
        "_idle_limit",
        "_inner",
        "_loop",
        "_on_idle",
        "_path",
        "_timer",
        "handshake_timeout",
        "idle_timeouts",
        "last_received",
        "transport",
    )

    def __init__(
        self,
        inner: Any,
        *,
        handshake_timeout: float,
        idle_timeouts: Mapping[str, float],
        on_idle: Callable[[asyncio.Transport, str, float], None],
    ) -> None:
        self._inner = inner
        self._loop = asyncio.get_running_loop()
        self.handshake_timeout = handshake_timeout
        self.idle_timeouts = idle_timeouts
        self._on_idle = on_idle
        self.transport: asyncio.Transport | None = None
        self.last_received = self._loop.time()
        self._head = b""
        self._head_done = False
        self._path = ""
        self._idle_limit = 0.0
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.last_received = self._loop.time()
        if self.handshake_timeout > 0:
            self._timer = self._loop.call_later(self.handshake_timeout, self._handshake_expired)
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self.last_received = self._loop.time()
        if not self._head_done:
            self._watch_head(data)
        self._inner.data_received(data)

    def _watch_head(self, data: bytes) -> None:
        # Keep the three bytes before ``data`` so that a blank line split by the read is seen.
        start = max(0, len(self._head) - 3)
        self._head += data
        end = self._head.find(b"\r\n\r\n", start)
        if end < 0 and len(self._head) <= _HEAD_LIMIT:
            return
        self._head_done = True
        self._cancel_timer()
        request_line = self._head.split(b"\r\n", 1)[0].split(b" ")
        self._head = b""
        if len(request_line) >= 2:
            self._path = request_line[1].split(b"?", 1)[0].decode("latin-1")
        self._idle_limit = self.idle_timeouts.get(self._path, 0.0)
        if self._idle_limit > 0:
            self._timer = self._loop.call_at(self.last_received + self._idle_limit, self._idle_check)

    def _handshake_expired(self) -> None:
        self._timer = None
        if self._head_done or self.transport is None or self.transport.is_closing():
            return
        logger.info(
            "handshake timeout peer=%s after %.3gs: %s; closing the connection",
            _peer(self.transport),
            self.handshake_timeout,
            f"{len(self._head)} bytes of an incomplete request head" if self._head else "no request",
        )
        self.transport.close()

    def _idle_check(self) -> None:
        self._timer = None
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        due = self.last_received + self._idle_limit
        if self._loop.time() < due:
            self._timer = self._loop.call_at(due, self._idle_check)
            return
        self._on_idle(transport, self._path, self._idle_limit)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def eof_received(self) -> bool | None:
        return bool(self._inner.eof_received())

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


def _peer(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    if isinstance(peer, (tuple, list)) and len(peer) >= 2:
        host, port = peer[0], peer[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return "?"
