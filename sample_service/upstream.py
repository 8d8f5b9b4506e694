"""The service's HTTP client for its upstreams: one shared aiohttp ``ClientSession`` per app.

``/private`` asks its ``auth-url`` over it and ``/feed`` opens its upstream WebSockets with it.
The session is created on first use, so a service whose config names no upstream never
creates one, and it is closed when the application cleans up (see :func:`install`).
"""

from __future__ import annotations

import os

import aiohttp
from aiohttp import web
from yarl import URL

__all__ = ["UPSTREAM_CLIENT", "UpstreamClient", "connect_failure", "describe_url", "install"]

#: The longest URL written to the log, in characters.
MAX_URL_IN_LOG = 200


class UpstreamClient:
    """Holds the application's one ``ClientSession``, created lazily inside the running loop."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """The shared session; created on first use.

        Proxies from the environment are not used (``trust_env=False``): upstreams are
        called directly, as the config names them.
        """
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(trust_env=False)
        return self._session

    async def close(self) -> None:
        """Close the session if one was created; a later use creates a new one."""
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()


#: The application's upstream client (set by :func:`install`).
UPSTREAM_CLIENT: web.AppKey[UpstreamClient] = web.AppKey("upstream_client")


async def _close(app: web.Application) -> None:
    await app[UPSTREAM_CLIENT].close()


def install(app: web.Application) -> UpstreamClient:
    """Give ``app`` its upstream client (once) and close its session when ``app`` cleans up."""
    client = app.get(UPSTREAM_CLIENT)
    if client is None:
        client = UpstreamClient()
        app[UPSTREAM_CLIENT] = client
        app.on_cleanup.append(_close)
    return client


def describe_url(url: str | URL) -> str:
    """``url`` for a log line: no user name, password, query or fragment (they may hold secrets),
    and at most :data:`MAX_URL_IN_LOG` characters."""
    try:
        parsed = URL(url) if isinstance(url, str) else url
        text = str(parsed.with_user(None).with_query(None).with_fragment(None))
    except (TypeError, ValueError):
        text = "(not a URL)"
    return text if len(text) <= MAX_URL_IN_LOG else text[: MAX_URL_IN_LOG - 3] + "..."


def connect_failure(exc: aiohttp.ClientConnectorError) -> str:
    """Why a connection to an upstream failed, for a log line: ``Connection refused`` and the like."""
    error = exc.os_error
    if error.errno:  # asyncio's strerror is "Connect call failed (...)"; the errno's text says why
        return os.strerror(error.errno)
    return str(error)[:200] or type(error).__name__
