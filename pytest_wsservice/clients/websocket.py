"""The WebSocket chat client that the ``websocket_client`` fixture hands to tests.

:class:`WebSocketClient` knows the service's base URL and the default deadline. Its
:meth:`~WebSocketClient.get` opens a connection to a path of the service::

    async def test_echo(websocket_client):
        async with websocket_client.get('chat') as chat:
            await chat.send('hello')
            assert await chat.recv() == 'hello'

The connection is a :class:`WebSocketConnection`, which *is* a websockets
:class:`~websockets.asyncio.client.ClientConnection`: ``send``, ``recv``, ``ping``,
``close``, ``close_code``, ``close_reason`` and ``async for`` behave as websockets
documents them, so tests written for userver's ``websocket_client`` run unchanged.
On top of that every wait has a deadline, and a few helpers make tests shorter.

This module imports websockets at the top; the plugin imports it only when a test
asks for ``websocket_client``, so loading pytest-wsservice stays cheap.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from ssl import SSLContext
from typing import TYPE_CHECKING, Any, Literal, overload

from ..chaos import TcpGate
from ..errors import WebSocketMessageTypeError, WebSocketTimeout, seconds_text
from ..service.handle import base_text
from .opening import WebSocketOpening, preview
from .recording import RecordingConnection
from .transcript import ConnectionTranscripts

if TYPE_CHECKING:
    import yarl

__all__ = ["WebSocketClient", "WebSocketConnection", "WebSocketOpening"]

_monotonic = time.monotonic
_current_task = asyncio.current_task
_INF = float("inf")

# Task.uncancel (3.11+) undoes our own cancel() and says whether someone else cancelled too.
_uncancel: Callable[[asyncio.Task[Any]], int] | None = getattr(asyncio.Task, "uncancel", None)


class WebSocketConnection(RecordingConnection):
    """An open WebSocket connection to the service, with deadlines on every wait.

    It is a websockets :class:`~websockets.asyncio.client.ClientConnection`, so its
    whole API works: ``send(str | bytes | iterable of fragments)``, ``recv()``,
    ``ping()``, ``close(code, reason)``, ``close_code``, ``close_reason``,
    ``request``, ``response``, ``subprotocol`` and ``async for message in connection``.

    What it adds:

    * :meth:`recv` gives up after a deadline (the client's ``--websocket-timeout`` or
      the ``timeout=`` given to :meth:`WebSocketClient.get` or to ``recv`` itself)
      with :exc:`~pytest_wsservice.WebSocketTimeout`. ``async for`` goes through
      :meth:`recv`, so it does not hang either.
    * :meth:`recv_text`, :meth:`recv_bytes`, :meth:`send_json`, :meth:`recv_json`.
    * A ``send`` that cannot write because the service stopped reading, and a
      ``close`` whose answer never comes, give up after the same deadline.
      (``recv_streaming``, which tests rarely need, has no deadline of its own.)
    * ``expect*()``, ``transcript``, ``drop_pongs()``: see :class:`~.recording.RecordingConnection`.

    Do not create it yourself: :meth:`WebSocketClient.get` does.
    """

    def __init__(
        self, *args: Any, path: str = "/", timeout: float = 10.0, timeout_origin: str = "", **kwargs: Any
    ) -> None:
        super().__init__(*args, path=path, timeout=timeout, timeout_origin=timeout_origin, **kwargs)
        self._wss_timeout = timeout  # the same as self.timeout, read on recv()'s hot path
        # The recv() deadline is enforced by one watchdog timer per connection rather than a
        # timer per call: recv() only notes its task and deadline, and the timer re-arms
        # itself when it finds a later deadline. Receiving a stream of messages therefore
        # schedules no timer at all (asyncio.timeout around each call cut the pipelined
        # receive rate by about 30%; this costs about 0.5 microseconds per recv).
        self._wss_task: asyncio.Task[Any] | None = None  # the task waiting in recv(), if any
        self._wss_deadline = 0.0  # time.monotonic() when that recv() gives up
        self._wss_timer: asyncio.TimerHandle | None = None
        self._wss_timer_when = _INF  # the deadline the timer is armed for; inf when idle
        self._wss_expired = False  # set by the watchdog just before it cancels the task
        self._wss_write_timer: asyncio.TimerHandle | None = None  # armed while writing is paused

    @overload
    async def recv(self, decode: Literal[True], *, timeout: float | None = None) -> str: ...
    @overload
    async def recv(self, decode: Literal[False], *, timeout: float | None = None) -> bytes: ...
    @overload
    async def recv(self, decode: bool | None = None, *, timeout: float | None = None) -> str | bytes: ...

    async def recv(self, decode: bool | None = None, *, timeout: float | None = None) -> str | bytes:
        """Receive the next message, waiting at most ``timeout`` seconds.

        A fragmented message is returned whole, as websockets reassembles it.

        Args:
            decode: As in websockets: ``None`` returns ``str`` for a text message and
                ``bytes`` for a binary one; ``False`` returns ``bytes`` always,
                ``True`` returns ``str`` always.
            timeout: Seconds to wait for this message. ``None`` uses the connection's
                default (``--websocket-timeout``, or the ``timeout=`` of
                :meth:`WebSocketClient.get`).

        Returns:
            The message: ``str`` for a text message, ``bytes`` for a binary one.

        Raises:
            WebSocketTimeout: No message arrived in time. The message names the path
                and the seconds waited. No message is lost: a later ``recv`` returns
                the next one.
            websockets.exceptions.ConnectionClosed: The connection is closed;
                ``close_code`` and ``close_reason`` say how.
        """
        if self._wss_task is not None:
            # Another recv() is waiting: websockets raises ConcurrencyError for this one.
            return await super().recv(decode)
        deadline = _monotonic() + (self._wss_timeout if timeout is None else timeout)
        self._wss_task = task = _current_task(self.loop)
        self._wss_deadline = deadline
        if deadline < self._wss_timer_when:
            self._wss_arm(deadline)
        try:
            return await super().recv(decode)
        except asyncio.CancelledError:
            if not self._wss_expired:
                raise
            self._wss_expired = False
            if _uncancel is not None and task is not None and _uncancel(task):
                raise  # cancelled from outside as well: let that win
        finally:
            self._wss_task = None
        seconds = self._wss_timeout if timeout is None else timeout
        origin = self.timeout_origin if timeout is None else "the timeout= of recv()"
        raise WebSocketTimeout(
            f"No WebSocket message arrived on {self.path} within {seconds_text(seconds)} "
            f"({origin}). The service sent nothing back in time: check that it answers "
            f"what the test sent, or give recv() a larger timeout= if it is just slow."
        )

    def _wss_arm(self, deadline: float) -> None:
        if self._wss_timer is not None:
            self._wss_timer.cancel()
            self._wss_timer = None
            self._wss_timer_when = _INF
        if deadline == _INF:
            return  # recv(timeout=math.inf): the caller asked to wait without a deadline
        self._wss_timer = self.loop.call_later(deadline - _monotonic(), self._wss_watchdog)
        self._wss_timer_when = deadline

    def _wss_watchdog(self) -> None:
        self._wss_timer = None
        self._wss_timer_when = _INF
        task = self._wss_task
        if task is None:
            return  # idle: the next recv() arms the timer again
        if _monotonic() < self._wss_deadline:
            self._wss_arm(self._wss_deadline)  # a later recv() moved the deadline
            return
        if self.closing:  # by the service, or by the client itself: say so, never a timeout
            self.transport.abort()  # ends the close handshake; recv() raises ConnectionClosed
            return
        self._wss_expired = True
        task.cancel()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._wss_cancel_write_timer()
        if self._wss_timer is not None:
            self._wss_timer.cancel()
            self._wss_timer = None
            self._wss_timer_when = _INF

    async def recv_text(self, *, timeout: float | None = None) -> str:
        """Receive the next message and check that it is a text message.

        Args:
            timeout: As in :meth:`recv`.

        Returns:
            The text.

        Raises:
            WebSocketMessageTypeError: The message is binary. Its ``received``
                attribute holds the bytes, so nothing is lost.
            WebSocketTimeout: As in :meth:`recv`.
        """
        message = await self.recv(timeout=timeout)
        if isinstance(message, str):
            return message
        raise self._wss_wrong_type("recv_text()", message)

    async def recv_bytes(self, *, timeout: float | None = None) -> bytes:
        """Receive the next message and check that it is a binary message.

        Args:
            timeout: As in :meth:`recv`.

        Returns:
            The bytes.

        Raises:
            WebSocketMessageTypeError: The message is text. Its ``received``
                attribute holds the text, so nothing is lost.
            WebSocketTimeout: As in :meth:`recv`.
        """
        message = await self.recv(timeout=timeout)
        if isinstance(message, bytes):
            return message
        raise self._wss_wrong_type("recv_bytes()", message)

    def _wss_wrong_type(self, method: str, message: str | bytes) -> WebSocketMessageTypeError:
        """The error of ``recv_text()``/``recv_bytes()`` for a message of the other type."""
        if isinstance(message, bytes):
            expected, got, size, instead = "text", "binary", f"{len(message)} bytes", "recv_bytes()"
        else:
            expected, got, size, instead = "binary", "text", f"{len(message)} characters", "recv_text()"
        return WebSocketMessageTypeError(
            f"{method} on {self.path} expected a {expected} message but received a {got} "
            f"message of {size}: {preview(message)}. Use {instead} or recv() if the service "
            f"answers in {got} frames.",
            received=message,
        )

    async def send_json(self, data: Any, *, dumps: Callable[[Any], str] = json.dumps) -> None:
        """Send ``data`` serialized as JSON in one text message.

        Args:
            data: Any value that ``dumps`` accepts.
            dumps: The serializer, :func:`json.dumps` unless given.

        Raises:
            websockets.exceptions.ConnectionClosed: The connection is closed.
        """
        await self.send(dumps(data))

    async def recv_json(self, *, timeout: float | None = None, loads: Callable[[str | bytes], Any] = json.loads) -> Any:
        """Receive the next message, text or binary, and parse it as JSON.

        Args:
            timeout: As in :meth:`recv`.
            loads: The parser, :func:`json.loads` unless given.

        Returns:
            The parsed value.

        Raises:
            json.JSONDecodeError: The message is not JSON. The error names the path
                and its ``doc`` attribute holds the message.
            WebSocketTimeout: As in :meth:`recv`.
        """
        message = await self.recv(timeout=timeout)
        try:
            return loads(message)
        except json.JSONDecodeError as exc:
            raise json.JSONDecodeError(
                f"recv_json() on {self.path} received a message that is not JSON "
                f"({exc.msg}; the message: {preview(message)})",
                exc.doc,
                exc.pos,
            ) from None

    def pause_writing(self) -> None:
        # asyncio calls this when the write buffer is full, that is when the service stopped
        # reading what the test sends, and a send() is about to wait for room. Bound that
        # wait here rather than in send(), which keeps the common path of send() untouched.
        super().pause_writing()
        self._wss_arm_write_timer()

    def resume_writing(self) -> None:
        super().resume_writing()
        self._wss_cancel_write_timer()

    def _wss_arm_write_timer(self) -> None:
        self._wss_write_timer = self.loop.call_later(self._wss_timeout, self._wss_write_expired)

    def _wss_cancel_write_timer(self) -> None:
        timer = self._wss_write_timer
        if timer is not None:
            timer.cancel()
            self._wss_write_timer = None

    def _wss_write_expired(self) -> None:
        self._wss_write_timer = None
        # websockets' send() waits for room on the futures in drain_waiters. Failing them
        # makes that send() close the connection and raise ConnectionClosedError, caused
        # by this WebSocketTimeout. If no send() is waiting, nothing hangs: check again later.
        waiters = [waiter for waiter in getattr(self, "drain_waiters", ()) if not waiter.done()]
        if not waiters:
            self._wss_arm_write_timer()
            return
        error = WebSocketTimeout(
            f"send() on {self.path} could not write for {seconds_text(self._wss_timeout)} "
            f"({self.timeout_origin}): the service is not reading what the test sends, "
            f"so the connection was aborted."
        )
        for waiter in waiters:
            waiter.set_exception(error)


class WebSocketClient:
    """Opens WebSocket connections to the service under test.

    The ``websocket_client`` fixture returns one per test, built from the running
    service's base URL and ``--websocket-timeout``. It holds no connection and no
    event-loop state itself: each :meth:`get` opens a fresh connection in the loop
    that runs the test.

    Defaults chosen for tests (each can be changed per call through
    ``**connect_kwargs``, which go to :func:`websockets.asyncio.client.connect`):

    * no compression (``compression=None``; pass ``compression='deflate'`` to test it);
    * no proxy, whatever ``HTTP_PROXY``/``ALL_PROXY`` say (``proxy=None``);
    * no keepalive pings (``ping_interval=None``), so a test paused in a debugger is
      not closed with 1011;
    * no limit on the size of a received message (``max_size=None``): the service
      under test is trusted, and a limit would fail a test on the client side with a
      1009 that looks like the service's doing. Pass ``max_size=N`` to test limits.

    Args:
        base_url: The service's base URL, such as ``http://127.0.0.1:8080/``. Its
            ``http``/``https`` scheme becomes ``ws``/``wss``; a path prefix is kept.
        timeout: The default deadline in seconds for opening a connection, for each
            ``recv``, and for a blocked ``send`` or ``close``.
        ssl: The TLS context for ``wss``; ``None`` uses websockets' default (the system's CAs).
    """

    #: The class of the connections that :meth:`get` yields. Override it in a subclass
    #: to add helpers; it must accept the keyword arguments ``path``, ``timeout`` and
    #: ``timeout_origin`` and pass the rest to :class:`WebSocketConnection`.
    connection_class: type[WebSocketConnection] = WebSocketConnection

    def __init__(self, base_url: yarl.URL, *, timeout: float, ssl: SSLContext | None = None) -> None:
        if base_url.scheme not in ("http", "https", "ws", "wss"):
            raise ValueError(
                f"WebSocketClient needs an http://, https://, ws:// or wss:// base URL, not {str(base_url)!r}"
            )
        if not timeout > 0:
            raise ValueError(f"WebSocketClient timeout must be a positive number of seconds, not {timeout!r}")
        scheme = {"http": "ws", "https": "wss"}.get(base_url.scheme, base_url.scheme)
        self._ws_base = base_text(base_url.with_scheme(scheme))
        self.base_url = base_url
        self.timeout = timeout
        self.ssl = ssl
        self.transcripts = ConnectionTranscripts()  #: of the connections opened (failed tests show them)
        self.before_request: list[Callable[[], Awaitable[None]]] = []  # awaited before each connect

    def url_for(self, path: str, via: TcpGate | None = None) -> str:
        """Return the ``ws://`` URL of ``path`` (leading slash optional, query string allowed), through ``via``."""
        return self._ws_base + path.lstrip("/") if via is None else via.rebase(self._ws_base + path.lstrip("/"))

    def get(
        self,
        path: str,
        *,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        subprotocols: Sequence[str] | None = None,
        origin: str | None = None,
        timeout: float | None = None,
        via: TcpGate | None = None,
        **connect_kwargs: Any,
    ) -> WebSocketOpening[WebSocketConnection]:
        """Open a WebSocket connection to ``path`` of the service.

        Use it as ``async with websocket_client.get('chat') as chat:``; the connection
        is closed when the block ends (with 1000, or 1011 if the block raised).
        ``chat = await websocket_client.get('chat')`` works too, and then closing it is
        up to you.

        Args:
            path: The path, with or without a leading slash, optionally with a query
                string: ``'chat'``, ``'/chat'``, ``'chat?room=1'``. It is resolved
                against the service's base URL.
            headers: Extra headers of the handshake request.
            subprotocols: Subprotocols to offer, in order of preference; the one the
                service picked is ``connection.subprotocol``.
            origin: The ``Origin`` header.
            timeout: The deadline in seconds for opening this connection, and the
                default for its ``recv`` calls. ``None`` uses the client's timeout
                (``--websocket-timeout``).
            via: A chaos gate (``tcp_gate``) to connect through, not straight to the service.
            **connect_kwargs: Passed to :func:`websockets.asyncio.client.connect`,
                overriding the defaults listed in the class docstring.

        Returns:
            An async context manager that yields a :class:`WebSocketConnection`.

        Raises:
            WebSocketHandshakeError: The service answered the handshake with an HTTP
                status other than 101; ``status``, ``headers`` and ``body`` say what.
            WebSocketTimeout: The connection did not open in time.
            OSError: The TCP connection failed, for example because nothing listens.
        """
        if timeout is None:
            timeout = self.timeout
            timeout_origin = "the client's default, set by --websocket-timeout"
        else:
            timeout_origin = "the timeout= of websocket_client.get()"
        defaults = {"compression": None, "proxy": None, "ping_interval": None, "max_size": None}
        options: dict[str, Any] = {**defaults, "open_timeout": timeout, "close_timeout": timeout}
        if headers is not None:
            options["additional_headers"] = headers
        if subprotocols is not None:
            options["subprotocols"] = list(subprotocols)
        if origin is not None:
            options["origin"] = origin
        if "create_connection" in connect_kwargs:
            raise TypeError(
                "websocket_client.get() sets create_connection itself; set WebSocketClient.connection_class instead"
            )
        options.update({"ssl": self.ssl} if self.ssl is not None else {}, **connect_kwargs)
        url = self.url_for(path, via)
        return WebSocketOpening(self, "/" + path.lstrip("/"), url, timeout, timeout_origin, options)

    def __repr__(self) -> str:
        return f"<WebSocketClient {self._ws_base} timeout={self.timeout:g}s>"
