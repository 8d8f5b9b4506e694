"""The HTTP client that the ``service_client`` fixture hands to tests.

::

    async def test_ping(service_client):
        response = await service_client.get('/ping')
        assert response.status == 200

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
from typing import TYPE_CHECKING, Any

import aiohttp

from .errors import ServiceRequestTimeout

if TYPE_CHECKING:
    import yarl

__all__ = ["ServiceClient"]


def _seconds(value: float) -> str:
    return f"{value:g} second" + ("" if value == 1 else "s")


class ServiceClient:
    """Sends HTTP requests to the service under test.

    The methods are coroutines that return aiohttp's
    :class:`~aiohttp.ClientResponse` with its body already read: ``response.status``
    and ``response.headers`` are there, and ``await response.text()``,
    ``await response.json()`` and ``await response.read()`` work after the call
    returned.

    Proxy environment variables (``HTTP_PROXY`` and friends) and ``.netrc`` are
    ignored (``trust_env=False``): the service is on this machine.

    Args:
        base_url: The service's base URL, such as ``http://127.0.0.1:8080/``. A path
            prefix in it is kept.
        timeout: The default deadline in seconds for one whole request: connecting,
            sending, and reading the complete response.
    """

    def __init__(self, base_url: yarl.URL, *, timeout: float) -> None:
        if base_url.scheme not in ("http", "https"):
            raise ValueError(f"ServiceClient needs an http:// or https:// base URL, not {str(base_url)!r}")
        if not timeout > 0:
            raise ValueError(f"ServiceClient timeout must be a positive number of seconds, not {timeout!r}")
        base = str(base_url.with_query(None).with_fragment(None))
        self._base = base if base.endswith("/") else base + "/"
        self.base_url = base_url
        self.timeout = timeout

    def url_for(self, path: str) -> str:
        """Return the URL of ``path`` (leading slash optional, query string allowed)."""
        return self._base + path.lstrip("/")

    async def request(self, method: str, path: str, *, timeout: float | None = None, **kwargs: Any) -> aiohttp.ClientResponse:
        """Send one HTTP request to the service and read the whole response.

        Args:
            method: The HTTP method, such as ``'GET'``.
            path: The path, with or without a leading slash, optionally with a query
                string: ``'ping'``, ``'/ping'``, ``'/items?limit=1'``.
            timeout: The deadline in seconds for this request. ``None`` uses the
                client's timeout.
            **kwargs: Passed to :meth:`aiohttp.ClientSession.request`: ``params``,
                ``headers``, ``json``, ``data``, ``allow_redirects`` and so on.

        Returns:
            The response, body already read.

        Raises:
            ServiceRequestTimeout: No complete response came within the deadline (a
                :class:`TimeoutError`). The message names the method, the path and the
                seconds waited.
            aiohttp.ClientConnectionError: The connection failed, for example because
                nothing listens on the service's port.
        """
        seconds = self.timeout if timeout is None else timeout
        url = self.url_for(path)
        try:
            async with aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=seconds),
                trust_env=False,
            ) as session:
                async with session.request(method, url, **kwargs) as response:
                    await response.read()
                    return response
        except asyncio.TimeoutError:
            # aiohttp's own timeout errors derive from asyncio.TimeoutError too.
            origin = "the service_client default" if timeout is None else "the timeout= of this call"
            raise ServiceRequestTimeout(
                f"{method.upper()} /{path.lstrip('/')} ({url}) got no complete response within "
                f"{_seconds(seconds)} ({origin}). The service did not answer in time: check that "
                f"it handles this path, or pass a larger timeout= if it is just slow."
            ) from None

    async def get(self, path: str, **kwargs: Any) -> aiohttp.ClientResponse:
        """Send a GET request; the arguments are those of :meth:`request`."""
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> aiohttp.ClientResponse:
        """Send a POST request; the arguments are those of :meth:`request`."""
        return await self.request("POST", path, **kwargs)

    async def put(self, path: str, **kwargs: Any) -> aiohttp.ClientResponse:
        """Send a PUT request; the arguments are those of :meth:`request`."""
        return await self.request("PUT", path, **kwargs)

    async def patch(self, path: str, **kwargs: Any) -> aiohttp.ClientResponse:
        """Send a PATCH request; the arguments are those of :meth:`request`."""
        return await self.request("PATCH", path, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> aiohttp.ClientResponse:
        """Send a DELETE request; the arguments are those of :meth:`request`."""
        return await self.request("DELETE", path, **kwargs)

    async def head(self, path: str, **kwargs: Any) -> aiohttp.ClientResponse:
        """Send a HEAD request; the arguments are those of :meth:`request`."""
        return await self.request("HEAD", path, **kwargs)

    async def options(self, path: str, **kwargs: Any) -> aiohttp.ClientResponse:
        """Send an OPTIONS request; the arguments are those of :meth:`request`."""
        return await self.request("OPTIONS", path, **kwargs)

    def __repr__(self) -> str:
        return f"<ServiceClient {self._base} timeout={self.timeout:g}s>"
