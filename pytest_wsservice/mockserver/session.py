"""The per-test view of the mockserver: handlers, upstreams, testpoints and what went wrong.

A :class:`MockserverSession` is what the ``mockserver`` fixture hands a test. It starts
empty; the test registers what the service should find::

    @mockserver.json_handler('/auth')
    def auth(request):
        return {'user': 'ann'} if request.json['token'] == 'good' else mockserver.make_response(status=401)

    feed = mockserver.websocket('/feed')

Handlers run on the mockserver's thread and event loop, never on the test's: a handler
may be sync or ``async def``, but it must not await anything created on the test's loop
(a future, a queue, a client), and a sync handler that blocks holds up every other
request. Hand values to the test through the handler's call queue instead.

A request that no handler takes gets a 500 and is recorded, as is a handler that raises
or returns something that is not a response. :meth:`MockserverSession.close` ends the
session, closes its upstream connections and returns those problems, one line each,
such as ``'POST /auth: no handler'``; the plugin fails the test with them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .callqueue import CallQueue, callable_name
from .crossthread import CrossThreadQueue
from .errors import MockserverError, MockserverTimeout, UnhandledRequestsError
from .http import MockRequest, MockResponse, make_response
from .testpoint import TestpointRegistry
from .websocket import WebSocketUpstream

__all__ = ["DEFAULT_TIMEOUT", "MockserverSession"]

#: Seconds the waits of a session (upstream connections and messages, closing) take by default.
DEFAULT_TIMEOUT = 10.0
#: Problems kept per session; more are counted, not listed.
PROBLEMS_KEPT = 50
#: Request log lines kept per session (the newest).
LOG_KEPT = 200

Decorator = Callable[[Callable[..., Any]], CallQueue]


def bounded(text: str, limit: int = 200) -> str:
    """``text`` cut to ``limit`` characters, marked when cut."""
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} chars)"


@dataclass(frozen=True)
class Route:
    """A registered HTTP handler."""

    queue: CallQueue
    json: bool


class MockserverSession:
    """One test's handlers, WebSocket upstreams and testpoints; reset by ending it.

    Created by :meth:`pytest_wsservice.mockserver.MockServer.new_session`.

    Attributes:
        testpoint: The test's :class:`TestpointRegistry` (the ``testpoint`` fixture).
        default_timeout: Seconds the session's waits take when given none.
    """

    def __init__(
        self,
        *,
        base_url: str,
        loop: asyncio.AbstractEventLoop,
        on_close: Callable[[MockserverSession], None],
        testpoint_path: str = "/testpoint",
        default_timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._base_url = base_url
        self._loop = loop
        self._on_close = on_close
        self._testpoint_path = testpoint_path
        self.default_timeout = default_timeout
        self.testpoint = TestpointRegistry()
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._exact: dict[str, Route] = {}
        self._regex: list[tuple[re.Pattern[str], Route]] = []
        self._prefix: list[tuple[str, Route]] = []
        self._upstreams: dict[str, WebSocketUpstream] = {}
        self._problems: list[str] = []
        self._problem_count = 0
        self._log: CrossThreadQueue[str] = CrossThreadQueue(maxlen=LOG_KEPT)
        self._closed = False

    make_response = staticmethod(make_response)

    @property
    def base_url(self) -> str:
        """The mockserver's base URL, ``http://127.0.0.1:PORT/`` (with the trailing slash)."""
        return self._base_url

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` on the mockserver: ``url('/auth')`` is ``http://127.0.0.1:PORT/auth``."""
        return self._base_url + path.lstrip("/")

    def elapsed(self) -> float:
        """Seconds since the session began (the time base of its records)."""
        return time.monotonic() - self._started

    # -- registration (test's thread) --------------------------------------------------

    def handler(self, path: str, *, prefix: bool = False, regex: bool = False) -> Decorator:
        """A decorator registering an HTTP handler ``handler(request)`` for ``path``.

        Args:
            path: The path (``'/auth'``), matched exactly unless ``prefix`` or ``regex``.
            prefix: Match every path that starts with ``path``.
            regex: ``path`` is a regular expression matched against the whole path; its
                named groups are passed to the handler as keyword arguments.

        The handler returns :meth:`make_response` (or an ``aiohttp.web.Response``).
        Exact paths win over regexes, regexes over prefixes; among regexes and among
        prefixes the latest registration wins. The decorated name is the handler's
        :class:`CallQueue`.
        """
        return self._installer(path, prefix=prefix, regex=regex, json=False)

    def json_handler(self, path: str, *, prefix: bool = False, regex: bool = False) -> Decorator:
        """Like :meth:`handler`, but the handler may also return any JSON value, sent with 200."""
        return self._installer(path, prefix=prefix, regex=regex, json=True)

    def _installer(self, path: str, *, prefix: bool, regex: bool, json: bool) -> Decorator:
        if prefix and regex:
            raise ValueError(f"handler {path!r}: prefix=True and regex=True cannot be combined")
        pattern = re.compile(path) if regex else None
        if not regex and not path.startswith("/"):
            path = "/" + path

        def register(func: Callable[..., Any]) -> CallQueue:
            kind = "regex " if regex else "prefix " if prefix else ""
            queue = CallQueue(func, label=f"mockserver handler {callable_name(func)}() for {kind}{path!r}")
            route = Route(queue, json)
            with self._lock:
                if pattern is not None:
                    self._regex.append((pattern, route))
                elif prefix:
                    self._prefix.append((path, route))
                else:
                    self._exact[path] = route
            return queue

        return register

    def websocket(self, path: str, *, protocols: Sequence[str] = ()) -> WebSocketUpstream:
        """Register a WebSocket upstream at ``path`` and return it (the same one if registered).

        Args:
            path: The exact path the service connects to.
            protocols: Subprotocols to accept in the handshake.
        """
        if not path.startswith("/"):
            path = "/" + path
        with self._lock:
            upstream = self._upstreams.get(path)
            if upstream is None:
                upstream = WebSocketUpstream(
                    path, clock=self.elapsed, default_timeout=self.default_timeout, protocols=protocols
                )
                self._upstreams[path] = upstream
            return upstream

    # -- what happened ---------------------------------------------------------------------

    @property
    def problems(self) -> list[str]:
        """One line per request answered with 500 because of the test: no handler, or a failed one."""
        with self._lock:
            more = self._problem_count - len(self._problems)
            return self._problems + ([f"… and {more} more"] if more > 0 else [])

    def check(self) -> None:
        """Raise :class:`UnhandledRequestsError` if any request was answered with 500 because of the test."""
        problems = self.problems
        if problems:
            raise UnhandledRequestsError(problems)

    @property
    def upstreams(self) -> list[WebSocketUpstream]:
        """The registered WebSocket upstreams."""
        with self._lock:
            return list(self._upstreams.values())

    def record(self) -> str:
        """The frames of every upstream connection of the test, bounded ('' when none)."""
        return "\n".join(text for text in (upstream.record() for upstream in self.upstreams) if text)

    def request_log(self) -> list[str]:
        """The requests the mockserver answered in this session, one line each (the newest LOG_KEPT)."""
        return self._log.peek_all()

    def report(self) -> str:
        """The request log and upstream records, as a failure report section shows them ('' when empty)."""
        parts = []
        log = self.request_log()
        if log:
            parts.append("requests:\n" + "\n".join(f"  {line}" for line in log))
        record = self.record()
        if record:
            parts.append(record)
        return "\n".join(parts)

    # -- end ----------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether the session has ended."""
        return self._closed

    def close(self, timeout: float | None = None) -> list[str]:
        """End the session: close its upstream connections (code 1001), detach it, return its problems.

        Call it from a thread that is not the mockserver's (a sync fixture's teardown).

        Raises:
            MockserverTimeout: The upstream connections did not close within ``timeout``
                seconds (the default timeout when ``None``); the session is detached anyway.
        """
        if self._closed:
            return self.problems
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            raise MockserverError("close() waits for the mockserver's loop; call it from another thread, not a handler")
        self._closed = True
        seconds = self.default_timeout if timeout is None else timeout
        try:
            if not self._loop.is_closed():
                future = asyncio.run_coroutine_threadsafe(self._close_here(), self._loop)
                try:
                    future.result(seconds)
                except concurrent.futures.TimeoutError:
                    future.cancel()
                    raise MockserverTimeout(
                        f"the mockserver's upstream connections did not close within {seconds:g} seconds"
                    ) from None
        finally:
            self._on_close(self)
        return self.problems

    async def _close_here(self) -> None:
        for upstream in self.upstreams:
            await upstream.close_all_here(1001)

    # -- serving (mockserver's loop) --------------------------------------------------------

    def _problem(self, line: str) -> None:
        with self._lock:
            self._problem_count += 1
            if len(self._problems) < PROBLEMS_KEPT:
                self._problems.append(line)

    def _logged(self, what: str, outcome: str) -> None:
        self._log.put(f"{self.elapsed():+9.3f}s  {what} → {outcome}")

    def _find(self, path: str) -> tuple[Route | None, dict[str, str]]:
        with self._lock:
            route = self._exact.get(path)
            if route is not None:
                return route, {}
            if path == self._testpoint_path:
                return None, {}
            for pattern, route in reversed(self._regex):
                match = pattern.fullmatch(path)
                if match is not None:
                    return route, match.groupdict()
            for prefix, route in reversed(self._prefix):
                if path.startswith(prefix):
                    return route, {}
        return None, {}

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        """Answer one request to the mockserver (runs on its loop)."""
        what = f"{request.method} {request.path}"
        is_websocket = request.headers.get("Upgrade", "").lower() == "websocket"
        with self._lock:
            upstream = self._upstreams.get(request.path) if is_websocket else None
        mock_request = await MockRequest.read(request, with_body=not is_websocket)
        if upstream is not None:
            self._logged(what, f"WebSocket upstream {upstream.path} #{upstream.times_connected + 1}")
            return await upstream.accept(request, mock_request)
        route, kwargs = self._find(request.path)
        if route is None:
            if request.path == self._testpoint_path and request.method == "POST":
                return await self._testpoint(what, mock_request)
            self._problem(f"{what}: no handler" + (" (a WebSocket handshake)" if is_websocket else ""))
            self._logged(what, "500 (no handler)")
            return web.Response(status=500, text=f"mockserver: no handler for {what}")
        try:
            result = await route.queue(mock_request, **kwargs)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # an assert or pytest.fail() in the handler too
            return self._failed(what, f"handler {callable_name(route.queue.func)}() raised {self._exc_text(exc)}")
        response = self._response(result, route)
        if response is None:
            return self._failed(
                what,
                f"handler {callable_name(route.queue.func)}() returned {bounded(repr(result), 80)}, "
                + ("which is not JSON" if route.json else "not mockserver.make_response(...)"),
            )
        self._logged(what, str(response.status))
        return response

    @staticmethod
    def _exc_text(exc: BaseException) -> str:
        return f"{type(exc).__name__}: {bounded(str(exc))}" if str(exc) else type(exc).__name__

    def _failed(self, what: str, why: str) -> web.Response:
        self._problem(f"{what}: {why}")
        self._logged(what, "500 (handler failed)")
        return web.Response(status=500, text=f"mockserver: {what}: {why}")

    @staticmethod
    def _response(result: Any, route: Route) -> web.StreamResponse | None:
        if isinstance(result, MockResponse):
            return result.to_aiohttp()
        if isinstance(result, web.StreamResponse):
            return result
        if not route.json:
            return None
        try:
            body = json.dumps(result, ensure_ascii=False)
        except (TypeError, ValueError):
            return None
        return web.Response(text=body, content_type="application/json")

    async def _testpoint(self, what: str, request: MockRequest) -> web.StreamResponse:
        try:
            body = request.json
        except ValueError:
            body = None
        name = body.get("name") if isinstance(body, dict) else None
        try:
            status, answer = await self.testpoint.dispatch(body)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # an assert or pytest.fail() in the handler too
            return self._failed(what, f"testpoint {name!r} handler raised {self._exc_text(exc)}")
        try:
            text = json.dumps(answer, ensure_ascii=False)
        except (TypeError, ValueError):
            returned = answer.get("data") if isinstance(answer, dict) else answer
            return self._failed(what, f"testpoint {name!r} handler returned {bounded(repr(returned), 80)}, not JSON")
        if status != 200:
            self._problem(f"{what}: {answer.get('error', 'bad testpoint call')}")
        self._logged(f"testpoint {name!r}" if name else what, str(status))
        return web.Response(status=status, text=text, content_type="application/json")
