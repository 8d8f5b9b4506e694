"""WebSocket upstreams: endpoints the service connects to, driven by the test.

``upstream = mockserver.websocket('/feed')`` registers the endpoint. Each WebSocket the
service opens there is accepted and queued; the test takes them in order::

    conn = await upstream.wait_connection()
    await conn.send('hello')              # to the service
    assert await conn.recv() == 'hi'      # from the service
    await conn.close(1000)

The socket lives on the mockserver's thread; ``send``, ``recv`` and ``close`` may be
awaited from any event loop. Every frame both ways is recorded with its time offset
from the start of the test; ``str(conn)`` and :meth:`WebSocketUpstream.record` show it,
bounded, and the plugin puts it in the report of a failed test.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import threading
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from .crossthread import CrossThreadQueue, QueueTimeout
from .errors import MockserverTimeout, UpstreamClosedError
from .http import MockRequest

__all__ = ["Frame", "UpstreamConnection", "WebSocketUpstream"]

#: Frames kept per connection (the oldest are dropped beyond this).
FRAMES_KEPT = 1000
#: Frames shown per connection by ``str(conn)`` (the newest).
FRAMES_SHOWN = 40
#: Seconds a closing mock waits for the service's close frame before dropping the connection.
CLOSE_HANDSHAKE_WAIT = 2.0
#: Characters of a payload shown in a record line.
PREVIEW_CHARS = 100


@dataclass(frozen=True)
class Frame:
    """One recorded frame.

    Attributes:
        offset: Seconds since the test's mockserver session began.
        outgoing: ``True`` for mock → service, ``False`` for service → mock.
        kind: ``'text'``, ``'binary'`` or ``'close'``.
        data: The text or bytes; for a close frame, the reason.
        code: The close code of a close frame, else ``None``.
    """

    offset: float
    outgoing: bool
    kind: str
    data: str | bytes
    code: int | None = None

    def __str__(self) -> str:
        arrow = "mock → service" if self.outgoing else "service → mock"
        if self.kind == "close":
            detail = f"code {self.code}" + (f" reason {preview(self.data)}" if self.data else "")
        else:
            detail = preview(self.data)
        return f"{self.offset:+9.3f}s  {arrow}  {self.kind:<6} {detail}"


def preview(data: str | bytes) -> str:
    """A payload as a record shows it: its repr, cut to PREVIEW_CHARS, with its size if cut."""
    text = repr(data)
    if len(text) <= PREVIEW_CHARS:
        return text
    unit = "chars" if isinstance(data, str) else "bytes"
    return f"{text[:PREVIEW_CHARS]}… ({len(data)} {unit})"


class ClosedMarker:
    """Queued after the last message of a closed connection."""


CLOSED = ClosedMarker()


class UpstreamConnection:
    """One WebSocket connection the service opened to a :class:`WebSocketUpstream`.

    Attributes:
        request: The handshake request (``.path``, ``.query``, ``.headers``).
        number: 1 for the first connection to its upstream, 2 for the next, ...
    """

    def __init__(
        self,
        *,
        upstream_path: str,
        number: int,
        request: MockRequest,
        ws: web.WebSocketResponse,
        loop: asyncio.AbstractEventLoop,
        clock: Callable[[], float],
        default_timeout: float,
    ) -> None:
        self.request = request
        self.number = number
        self._upstream_path = upstream_path
        self._ws = ws
        self._loop = loop
        self._clock = clock
        self._default_timeout = default_timeout
        self._opened_at = clock()
        self._messages: CrossThreadQueue[str | bytes | ClosedMarker] = CrossThreadQueue()
        self._frames: collections.deque[Frame] = collections.deque(maxlen=FRAMES_KEPT)
        self._frame_count = 0
        self._lock = threading.Lock()
        self._closed = False
        self._closed_by: str | None = None
        self._close_code: int | None = None

    def __repr__(self) -> str:
        return f"<UpstreamConnection {self.name} {'closed' if self._closed else 'open'}>"

    @property
    def name(self) -> str:
        """``'/feed #1'``: the upstream path and the connection's number."""
        return f"{self._upstream_path} #{self.number}"

    @property
    def closed(self) -> bool:
        """Whether the connection is closed, by either side."""
        return self._closed

    @property
    def close_code(self) -> int | None:
        """The code of the close frame that began the closing: the service's when it closed, the
        mock's when ``close()`` did (``None`` while open, or when the service sent none)."""
        return self._close_code

    @property
    def frames(self) -> list[Frame]:
        """The recorded frames, oldest first (at most the newest FRAMES_KEPT)."""
        with self._lock:
            return list(self._frames)

    def __str__(self) -> str:
        with self._lock:
            frames = list(self._frames)
            total = self._frame_count
        state = f"closed by the {self._closed_by} with code {self._close_code}" if self._closed else "still open"
        lines = [f"upstream {self.name}: opened {self._opened_at:+.3f}s, {state}, {total} frame(s)"]
        shown = frames[-FRAMES_SHOWN:]
        if total > len(shown):
            lines.append(f"  … {total - len(shown)} earlier frame(s) not shown")
        lines.extend(f"  {frame}" for frame in shown)
        return "\n".join(lines)

    def _record(self, outgoing: bool, kind: str, data: str | bytes, code: int | None = None) -> None:
        with self._lock:
            self._frames.append(Frame(self._clock(), outgoing, kind, data, code))
            self._frame_count += 1

    def _seconds(self, timeout: float | None) -> float:
        return self._default_timeout if timeout is None else timeout

    def _closed_error(self, doing: str) -> UpstreamClosedError:
        return UpstreamClosedError(
            f"cannot {doing} upstream connection {self.name}: it was closed by the {self._closed_by} "
            f"with code {self._close_code}",
            code=self._close_code,
        )

    async def _on_server_loop(self, coro: Coroutine[Any, Any, None], seconds: float, doing: str) -> None:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            await asyncio.wait_for(asyncio.wrap_future(future), seconds)
        except asyncio.TimeoutError:
            raise MockserverTimeout(
                f"could not {doing} upstream connection {self.name} within {seconds:g} seconds"
            ) from None

    async def send(self, message: str | bytes, timeout: float | None = None) -> None:
        """Send a text (``str``) or binary (``bytes``) message to the service.

        Raises:
            TypeError: ``message`` is neither str nor bytes.
            UpstreamClosedError: The connection is closed.
            MockserverTimeout: The frame could not be written in time.
        """
        if not isinstance(message, (str, bytes, bytearray)):
            raise TypeError(f"send() takes str or bytes, not {type(message).__name__}")
        if self._closed:
            raise self._closed_error("send on")
        await self._on_server_loop(self._send_here(message), self._seconds(timeout), "send on")

    async def _send_here(self, message: str | bytes | bytearray) -> None:
        if isinstance(message, str):
            self._record(True, "text", message)
            await self._ws.send_str(message)
        else:
            self._record(True, "binary", bytes(message))
            await self._ws.send_bytes(bytes(message))

    async def recv(self, timeout: float | None = None) -> str | bytes:
        """Receive the next message from the service: ``str`` for text, ``bytes`` for binary.

        Raises:
            UpstreamClosedError: The connection closed and every message before the close
                has been received.
            MockserverTimeout: No message came within ``timeout`` seconds (the session's
                default when ``None``).
        """
        seconds = self._seconds(timeout)
        try:
            item = await self._messages.get(seconds)
        except QueueTimeout:
            raise MockserverTimeout(
                f"no message from the service on upstream connection {self.name} within {seconds:g} seconds"
            ) from None
        if isinstance(item, ClosedMarker):
            self._messages.push_front(item)
            raise self._closed_error("receive on")
        return item

    async def close(self, code: int = 1000, reason: str = "", timeout: float | None = None) -> None:
        """Close the connection with ``code`` and ``reason`` (nothing happens if already closed)."""
        if self._closed:
            return
        await self._on_server_loop(self.close_here(code, reason), self._seconds(timeout), "close")

    async def close_here(self, code: int, reason: str = "") -> None:
        """Close from the mockserver's loop (the session uses it to end leftover connections)."""
        if self._closed:
            return
        self._closed_by = "mock"
        self._record(True, "close", reason, code)
        try:
            await self._ws.close(code=code, message=reason.encode())
        finally:
            self._mark_closed(code)

    def _mark_closed(self, code: int | None) -> None:
        if not self._closed:
            self._closed = True
            self._close_code = code
            self._messages.put(CLOSED)

    async def serve(self) -> None:
        """Read the service's frames until the connection closes (runs on the mockserver's loop)."""
        ws = self._ws
        while not ws.closed:
            msg = await ws.receive()
            if msg.type == WSMsgType.TEXT:
                self._record(False, "text", msg.data)
                self._messages.put(msg.data)
            elif msg.type == WSMsgType.BINARY:
                self._record(False, "binary", msg.data)
                self._messages.put(msg.data)
            elif msg.type == WSMsgType.CLOSE:
                if self._closed_by is None:
                    self._closed_by = "service"
                    self._record(False, "close", msg.extra or "", msg.data)
            elif msg.type in (WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                break
        if self._closed_by is None:
            self._closed_by = "service"
            self._record(False, "close", "", ws.close_code)
        if self._closed_by == "service":  # when the mock closes, close_here() marks it with its own code
            self._mark_closed(ws.close_code)


class WebSocketUpstream:
    """A WebSocket endpoint on the mockserver, registered with ``mockserver.websocket(path)``.

    Attributes:
        path: The path it answers on.
    """

    def __init__(
        self, path: str, *, clock: Callable[[], float], default_timeout: float, protocols: Sequence[str] = ()
    ) -> None:
        self.path = path
        self._clock = clock
        self._default_timeout = default_timeout
        self._protocols = tuple(protocols)
        self._pending: CrossThreadQueue[UpstreamConnection] = CrossThreadQueue()
        self._all: list[UpstreamConnection] = []
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<WebSocketUpstream {self.path}: {len(self.connections)} connection(s)>"

    @property
    def connections(self) -> list[UpstreamConnection]:
        """Every connection the service opened here, in order, taken or not."""
        with self._lock:
            return list(self._all)

    @property
    def times_connected(self) -> int:
        """How many connections the service opened here."""
        return len(self.connections)

    async def wait_connection(self, timeout: float | None = None) -> UpstreamConnection:
        """The next connection the service opened here, waiting for it if needed.

        Raises:
            MockserverTimeout: The service opened no new connection within ``timeout``
                seconds (the session's default when ``None``).
        """
        seconds = self._default_timeout if timeout is None else timeout
        try:
            return await self._pending.get(seconds)
        except QueueTimeout:
            raise MockserverTimeout(
                f"the service opened no WebSocket connection to upstream {self.path} within {seconds:g} seconds "
                f"({self.times_connected} before)"
            ) from None

    def record(self) -> str:
        """Every connection's frames, bounded, as the failure report shows them ('' when none)."""
        return "\n".join(str(conn) for conn in self.connections)

    async def accept(self, request: web.BaseRequest, mock_request: MockRequest) -> web.WebSocketResponse:
        """Accept a handshake and serve the connection until it closes (on the mockserver's loop)."""
        ws = web.WebSocketResponse(protocols=self._protocols, max_msg_size=0, timeout=CLOSE_HANDSHAKE_WAIT)
        await ws.prepare(request)
        conn = UpstreamConnection(
            upstream_path=self.path,
            number=next(self._numbers),
            request=mock_request,
            ws=ws,
            loop=asyncio.get_running_loop(),
            clock=self._clock,
            default_timeout=self._default_timeout,
        )
        with self._lock:
            self._all.append(conn)
        self._pending.put(conn)
        await conn.serve()
        return ws

    async def close_all_here(self, code: int = 1001) -> None:
        """Close every open connection (on the mockserver's loop), as a session ends."""
        for conn in self.connections:
            await conn.close_here(code, "mockserver session ended")
