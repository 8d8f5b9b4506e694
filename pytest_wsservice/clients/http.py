"""The HTTP client that the ``service_client`` fixture hands to tests.

::

    async def test_ping(service_client):
        response = await service_client.get('/ping')
        assert response.status_code == 200
        assert response.text == ''

Responses have the shape of pytest_userver's (testsuite's): ``.status_code`` (and
``.status``), ``.text`` (a str), ``.content`` (bytes), ``.headers`` and ``.json()``, the
body already read (:class:`~pytest_wsservice.clients.response.ServiceResponse`).

Each request runs in a short-lived :class:`aiohttp.ClientSession` of its own, created
inside the event loop that runs the test and closed before the call returns. So a
:class:`ServiceClient` holds no event-loop state, and the same (sync,
function-scoped) fixture works under every pytest-asyncio loop scope. The price is a
new TCP connection per request: about 0.5 ms on loopback, which tests do not notice.

This module imports aiohttp at the top; the plugin imports it only when a test asks
for ``service_client``, so loading pytest-wsservice stays cheap.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import aiohttp

from ..errors import ServiceControlError, ServiceRequestTimeout, seconds_text
from ..service.handle import base_text
from .response import ServiceResponse

if TYPE_CHECKING:
    from pathlib import Path
    from ssl import SSLContext

    import yarl

    from ..chaos import TcpGate
    from .logcapture import LogCapture

__all__ = ["ControlEndpoint", "ServiceClient"]


class ControlEndpoint(Protocol):
    """What :meth:`ServiceClient.capture_logs` needs of the service's tests-control endpoint
    (:class:`~pytest_wsservice.clients.tests_control.TestsControl` is one)."""

    def require(self, feature: str, *, hint: str = "") -> None: ...

    async def request(self, body: Mapping[str, Any], *, what: str) -> dict[str, Any]: ...


class ServiceClient:
    """Sends HTTP requests to the service under test.

    The methods are coroutines that return a
    :class:`~pytest_wsservice.clients.response.ServiceResponse`, testsuite's shape, with
    its body already read: ``response.status_code`` (or ``.status``), ``response.text``
    (a str), ``response.content`` (bytes), ``response.headers`` and ``response.json()``.
    The older ``await response.text()``, ``await response.json()`` and
    ``await response.read()`` still work in this release, with a DeprecationWarning.

    Proxy environment variables (``HTTP_PROXY`` and friends) and ``.netrc`` are
    ignored (``trust_env=False``): the service is on this machine.

    Args:
        base_url: The service's base URL, such as ``http://127.0.0.1:8080/``. A path
            prefix in it is kept.
        timeout: The default deadline in seconds for one whole request: connecting,
            sending, and reading the complete response.
        log_path: The service's log file, for :meth:`capture_logs`; ``None`` if unknown.
        tests_control: The service's tests-control endpoint, which :meth:`capture_logs`
            uses to flush the log; ``None`` if unknown.
        ssl: The TLS context for ``https`` (the plugin's trusts only the run's CA with
            ``--service-tls``); ``None`` uses aiohttp's default, the system's trust.
    """

    def __init__(
        self,
        base_url: yarl.URL,
        *,
        timeout: float,
        log_path: Path | None = None,
        tests_control: ControlEndpoint | None = None,
        ssl: SSLContext | None = None,
    ) -> None:
        if base_url.scheme not in ("http", "https"):
            raise ValueError(f"ServiceClient needs an http:// or https:// base URL, not {str(base_url)!r}")
        if not timeout > 0:
            raise ValueError(f"ServiceClient timeout must be a positive number of seconds, not {timeout!r}")
        self._base = base_text(base_url)
        self.base_url = base_url
        self.timeout = timeout
        self.log_path = log_path
        self.tests_control = tests_control
        self.ssl = ssl
        #: Coroutine functions awaited, in order, before each request (the ``testpoint``
        #: fixture syncs the test's testpoints to the service here).
        self.before_request: list[Callable[[], Awaitable[None]]] = []

    def url_for(self, path: str) -> str:
        """Return the URL of ``path`` (leading slash optional, query string allowed)."""
        return self._base + path.lstrip("/")

    async def request(
        self, method: str, path: str, *, timeout: float | None = None, via: TcpGate | None = None, **kwargs: Any
    ) -> ServiceResponse:
        """Send one HTTP request to the service and read the whole response.

        Args:
            method: The HTTP method, such as ``'GET'``.
            path: The path, with or without a leading slash, optionally with a query
                string: ``'ping'``, ``'/ping'``, ``'/items?limit=1'``.
            timeout: The deadline in seconds for this request. ``None`` uses the
                client's timeout.
            via: A chaos gate (the ``tcp_gate`` fixture) to send the request through,
                instead of straight to the service; see docs/chaos.md. The other
                methods (``get``, ``post``, ...) take it too.
            **kwargs: Passed to :meth:`aiohttp.ClientSession.request`: ``params``,
                ``headers``, ``json``, ``data``, ``allow_redirects`` and so on.

        Returns:
            The response, body already read: ``.status_code``, ``.text``, ``.json()``...

        Raises:
            ServiceRequestTimeout: No complete response came within the deadline (a
                :class:`TimeoutError`). The message names the method, the path and the
                seconds waited.
            aiohttp.ClientConnectionError: The connection failed, for example because
                nothing listens on the service's port.
        """
        for callback in self.before_request:
            await callback()
        seconds = self.timeout if timeout is None else timeout
        url = self.url_for(path) if via is None else via.rebase(self.url_for(path))
        try:
            async with (
                aiohttp.ClientSession(
                    timeout=aiohttp.ClientTimeout(total=seconds),
                    trust_env=False,
                ) as session,
                session.request(method, url, **({"ssl": self.ssl, **kwargs} if self.ssl else kwargs)) as response,
            ):
                return ServiceResponse(response, await response.read())
        except asyncio.TimeoutError:
            # aiohttp's own timeout errors derive from asyncio.TimeoutError too.
            origin = "the service_client default" if timeout is None else "the timeout= of this call"
            raise ServiceRequestTimeout(
                f"{method.upper()} /{path.lstrip('/')} ({url}) got no complete response within "
                f"{seconds_text(seconds)} ({origin}). The service did not answer in time: check that "
                f"it handles this path, or pass a larger timeout= if it is just slow."
            ) from None

    async def get(self, path: str, **kwargs: Any) -> ServiceResponse:
        """Send a GET request; the arguments are those of :meth:`request`."""
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> ServiceResponse:
        """Send a POST request; the arguments are those of :meth:`request`."""
        return await self.request("POST", path, **kwargs)

    async def put(self, path: str, **kwargs: Any) -> ServiceResponse:
        """Send a PUT request; the arguments are those of :meth:`request`."""
        return await self.request("PUT", path, **kwargs)

    async def patch(self, path: str, **kwargs: Any) -> ServiceResponse:
        """Send a PATCH request; the arguments are those of :meth:`request`."""
        return await self.request("PATCH", path, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> ServiceResponse:
        """Send a DELETE request; the arguments are those of :meth:`request`."""
        return await self.request("DELETE", path, **kwargs)

    async def head(self, path: str, **kwargs: Any) -> ServiceResponse:
        """Send a HEAD request; the arguments are those of :meth:`request`."""
        return await self.request("HEAD", path, **kwargs)

    async def options(self, path: str, **kwargs: Any) -> ServiceResponse:
        """Send an OPTIONS request; the arguments are those of :meth:`request`."""
        return await self.request("OPTIONS", path, **kwargs)

    def capture_logs(self, *, flush: bool = True) -> LogCapture:
        """Capture the lines the service logs inside an ``async with`` block.

        ::

            async with service_client.capture_logs() as capture:
                async with websocket_client.get('chat') as chat:
                    await chat.send('hello')
                    await chat.recv()
            assert capture.select(level='DEBUG', text="data='hello'")

        After the block, ``capture.select(level=..., text=..., logger=...)`` returns the
        matching lines and ``capture.lines`` all of them: only lines written inside the
        block. The service's log is flushed through its tests-control component when the
        block starts and when it ends, so no line written inside it is missed.

        Args:
            flush: Flush the log through tests-control. ``False`` reads the log file as
                it is, for a service without tests-control; lines it still buffers when
                the block ends are then missed.

        Returns:
            A :class:`~pytest_wsservice.logcapture.LogCapture`, to use once.

        Raises:
            ServiceControlError: The service's log file is unknown, or ``flush`` is true
                and the service has no tests-control component.
        """
        from .logcapture import LogCapture

        if self.log_path is None:
            raise ServiceControlError(
                "service_client.capture_logs() needs the service's log file, and this service_client does not know "
                "it: the service was not started by pytest-wsservice. Pass --service-logs-file PATH naming the file "
                "the service logs to."
            )
        if not flush:
            return LogCapture(self.log_path)
        control = self.tests_control
        if control is None:
            raise ServiceControlError(
                "service_client.capture_logs() flushes the service's log through its tests-control component, and "
                "this service_client does not know where that is (it was built without tests_control=). Pass "
                "capture_logs(flush=False) to read the log file without flushing."
            )
        control.require(
            "service_client.capture_logs()",
            hint="Or pass capture_logs(flush=False) to read the log file without flushing it first.",
        )

        async def flush_logs() -> None:
            await control.request({"flush_logs": True}, what="flushing the service's log")

        return LogCapture(self.log_path, flush=flush_logs)

    def __repr__(self) -> str:
        return f"<ServiceClient {self._base} timeout={self.timeout:g}s>"
