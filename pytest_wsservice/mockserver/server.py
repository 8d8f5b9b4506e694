"""The mockserver: an aiohttp server on its own thread and event loop, on loopback.

:class:`MockServer` is started and stopped synchronously, with deadlines. It serves on
``127.0.0.1`` and a port the system picks, from a thread of its own that runs its own
event loop, so it works whatever the test's event-loop scope (function, module,
session) and binds nothing to any test's loop::

    server = MockServer()
    server.start()
    session = server.new_session()     # one per test
    ...                                # the test registers handlers on session
    problems = session.close()         # unhandled requests, failed handlers
    server.stop()

Only one session is active at a time. Requests that arrive with no session get a 500
and are counted in :attr:`MockServer.stray_requests`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from dataclasses import dataclass
from types import TracebackType

from aiohttp import web

from .errors import MockserverError, MockserverStartError
from .session import DEFAULT_TIMEOUT, MockserverSession

__all__ = ["DEFAULT_START_TIMEOUT", "MockServer", "MockserverInfo"]

#: Seconds ``start()`` and ``stop()`` wait by default.
DEFAULT_START_TIMEOUT = 10.0
#: Seconds aiohttp lets in-flight requests finish while the server stops.
SHUTDOWN_GRACE = 1.0
#: Stray requests (those with no session) remembered, the newest.
STRAY_KEPT = 20


@dataclass(frozen=True)
class MockserverInfo:
    """Where the mockserver listens (the ``mockserver_info`` fixture).

    Attributes:
        host: ``'127.0.0.1'``.
        port: The port it listens on.
        base_url: ``http://127.0.0.1:PORT/``, with the trailing slash, as in testsuite.
    """

    host: str
    port: int
    base_url: str

    def url(self, path: str) -> str:
        """The absolute URL of ``path``: ``url('/auth')`` is ``http://127.0.0.1:PORT/auth``."""
        return self.base_url + path.lstrip("/")


class MockServer:
    """An HTTP and WebSocket server for upstream mocks, run on its own thread.

    Args:
        host: The loopback address to listen on.
        port: The port, or 0 to let the system pick a free one.
        testpoint_path: The path of the testpoint endpoint.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, testpoint_path: str = "/testpoint") -> None:
        self._host = host
        self._requested_port = port
        self.testpoint_path = testpoint_path
        self._info: MockserverInfo | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.ServerRunner | None = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._session: MockserverSession | None = None
        self._session_lock = threading.Lock()
        self._stray: list[str] = []
        self._stray_count = 0

    def __repr__(self) -> str:
        where = self._info.base_url if self._info else "not running"
        return f"<MockServer {where}>"

    # -- where ------------------------------------------------------------------------------

    @property
    def info(self) -> MockserverInfo:
        """Host, port and base URL; raises :class:`MockserverError` before ``start()``."""
        if self._info is None:
            raise MockserverError("the mockserver is not running: call start() first")
        return self._info

    @property
    def host(self) -> str:
        """The address it listens on."""
        return self.info.host

    @property
    def port(self) -> int:
        """The port it listens on."""
        return self.info.port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/``."""
        return self.info.base_url

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` on the mockserver."""
        return self.info.url(path)

    @property
    def running(self) -> bool:
        """Whether the server thread is serving."""
        return self._info is not None and self._thread is not None and self._thread.is_alive()

    @property
    def stray_requests(self) -> list[str]:
        """Requests that came while no session was active (``'GET /x'``), the newest STRAY_KEPT."""
        return list(self._stray)

    # -- start and stop ---------------------------------------------------------------------

    def start(self, timeout: float = DEFAULT_START_TIMEOUT) -> MockserverInfo:
        """Start the server thread and wait until it listens; return where.

        Raises:
            MockserverStartError: It could not bind, or was not listening within ``timeout`` seconds.
        """
        if self._thread is not None:
            raise MockserverError("the mockserver was already started; a MockServer starts once")
        self._thread = threading.Thread(target=self._run, name="wsservice-mockserver", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            self._abandon(timeout)
            raise MockserverStartError(
                f"the mockserver did not start listening on {self._host} within {timeout:g} seconds"
            )
        if self._start_error is not None:
            self._thread.join(timeout)
            raise MockserverStartError(
                f"the mockserver could not listen on {self._host}:{self._requested_port}: {self._start_error}"
            ) from None
        return self.info

    def stop(self, timeout: float = DEFAULT_START_TIMEOUT) -> None:
        """End the active session, stop serving and end the thread, within ``timeout`` seconds.

        Safe to call twice, or when ``start()`` failed.

        Raises:
            MockserverStartError: The thread did not end in time (it is a daemon thread,
                so it will not keep the process alive).
        """
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive():
            return
        session = self._session
        if session is not None and not session.closed:
            with contextlib.suppress(MockserverError):  # stopping anyway
                session.close(timeout)
        try:
            future = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
            future.result(timeout)
        except (concurrent.futures.TimeoutError, RuntimeError):
            pass  # the loop is stopped below regardless
        self._abandon(timeout)
        if thread.is_alive():
            raise MockserverStartError(f"the mockserver thread did not end within {timeout:g} seconds of stop()")

    def _abandon(self, timeout: float) -> None:
        loop, thread = self._loop, self._thread
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(timeout)

    def __enter__(self) -> MockServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            try:
                loop.run_until_complete(self._startup())
            except BaseException as exc:
                self._start_error = exc
                return
            finally:
                self._ready.set()
            loop.run_forever()
        finally:
            self._close_loop(loop)

    @staticmethod
    def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        asyncio.set_event_loop(None)
        loop.close()

    async def _startup(self) -> None:
        server = web.Server(self._handle, access_log=None)
        runner = web.ServerRunner(server, handle_signals=False, shutdown_timeout=SHUTDOWN_GRACE)
        await runner.setup()
        self._runner = runner
        site = web.TCPSite(runner, self._host, self._requested_port, reuse_address=False)
        await site.start()
        address = runner.addresses[0]
        port = int(address[1])
        self._info = MockserverInfo(host=self._host, port=port, base_url=f"http://{self._host}:{port}/")

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -- sessions -----------------------------------------------------------------------------

    def new_session(self, *, default_timeout: float = DEFAULT_TIMEOUT) -> MockserverSession:
        """Begin the per-test session; the previous one must be closed.

        Raises:
            MockserverError: The server is not running, or a session is still active.
        """
        loop = self._loop
        if loop is None or not self.running:
            raise MockserverError("the mockserver is not running: call start() before new_session()")
        with self._session_lock:
            if self._session is not None and not self._session.closed:
                raise MockserverError("a mockserver session is still active: close() it before starting another")
            self._session = MockserverSession(
                base_url=self.base_url,
                loop=loop,
                on_close=self._detach,
                testpoint_path=self.testpoint_path,
                default_timeout=default_timeout,
            )
            return self._session

    @property
    def session(self) -> MockserverSession | None:
        """The active session, if any."""
        return self._session

    def _detach(self, session: MockserverSession) -> None:
        with self._session_lock:
            if self._session is session:
                self._session = None

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        session = self._session
        if session is None or session.closed:
            self._stray_count += 1
            self._stray.append(f"{request.method} {request.path}")
            del self._stray[:-STRAY_KEPT]
            if request.path == self.testpoint_path and request.method == "POST":
                # Between tests the service may still call a testpoint it was told about.
                return web.json_response({"data": None, "handled": False})
            return web.Response(status=500, text="mockserver: no test is using the mockserver now")
        return await session.handle(request)
