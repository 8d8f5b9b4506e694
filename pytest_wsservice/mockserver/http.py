"""The request a mockserver handler receives and the response it returns.

A handler gets a :class:`MockRequest`: ``.method``, ``.path``, ``.query``, ``.headers``,
``.content_type``, ``.get_data()`` (the body as bytes) and ``.json``. The body is read
before the handler runs, so every attribute is plain data, safe to read later from the
test's thread (``handler.next_call()['request'].json``).

A handler answers with :func:`make_response` (testsuite's signature). It may also return
an ``aiohttp.web.Response`` it built itself.
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from multidict import CIMultiDictProxy, MultiMapping

__all__ = ["MockRequest", "MockResponse", "make_response"]

_NO_JSON: Any = object()


class MockRequest:
    """One request as a handler sees it.

    Attributes:
        method: ``'GET'``, ``'POST'``, ...
        path: The decoded path, without the query (``'/auth'``).
        query: The query parameters (a read-only multidict).
        headers: The request headers (a read-only, case-insensitive multidict).
        content_type: The media type of the body, without parameters (``'application/json'``).
        charset: The body's charset from Content-Type, or ``None``.
        url: The absolute URL the request was sent to.
        path_qs: The raw path with its query string.
    """

    __slots__ = ("_data", "charset", "content_type", "headers", "method", "path", "path_qs", "query", "url")

    def __init__(
        self,
        *,
        method: str,
        path: str,
        query: MultiMapping[str],
        headers: CIMultiDictProxy[str],
        content_type: str,
        charset: str | None,
        url: str,
        path_qs: str,
        data: bytes,
    ) -> None:
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.content_type = content_type
        self.charset = charset
        self.url = url
        self.path_qs = path_qs
        self._data = data

    @classmethod
    async def read(cls, request: web.BaseRequest, *, with_body: bool = True) -> MockRequest:
        """Copy an aiohttp request into plain data, reading its body (on the mockserver's loop)."""
        data = await request.read() if with_body and request.can_read_body else b""
        return cls(
            method=request.method,
            path=request.path,
            query=request.query,
            headers=request.headers,
            content_type=request.content_type,
            charset=request.charset,
            url=str(request.url),
            path_qs=request.raw_path,
            data=data,
        )

    def __repr__(self) -> str:
        return f"<MockRequest {self.method} {self.path_qs} ({len(self._data)} bytes)>"

    @property
    def args(self) -> MultiMapping[str]:
        """The query parameters (werkzeug's name, as testsuite offers it)."""
        return self.query

    def get_data(self) -> bytes:
        """The request body as bytes (``b''`` when there is none)."""
        return self._data

    @property
    def text(self) -> str:
        """The request body decoded with its charset (UTF-8 when none is given)."""
        return self._data.decode(self.charset or "utf-8")

    @property
    def json(self) -> Any:
        """The request body parsed as JSON (raises ``ValueError`` when it is not JSON)."""
        return jsonlib.loads(self.text)


@dataclass(frozen=True)
class MockResponse:
    """A response a handler returns; build it with :func:`make_response`."""

    body: bytes | None = None
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str | None = None
    charset: str | None = None

    def to_aiohttp(self) -> web.Response:
        """Build the aiohttp response (on the mockserver's loop)."""
        headers = dict(self.headers)
        if any(name.lower() == "content-type" for name in headers):  # the caller's header wins
            return web.Response(body=self.body, status=self.status, headers=headers)
        return web.Response(
            body=self.body,
            status=self.status,
            headers=headers or None,
            content_type=self.content_type,
            charset=self.charset if self.content_type else None,
        )


def make_response(
    response: str | bytes | bytearray | None = None,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    content_type: str | None = None,
    charset: str | None = None,
    *,
    json: Any = _NO_JSON,
) -> MockResponse:
    """Build a handler's response, as testsuite's ``mockserver.make_response`` does.

    Args:
        response: The body: text (sent in ``charset``, UTF-8 by default), bytes or nothing.
        status: The HTTP status.
        headers: Extra response headers.
        content_type: The Content-Type media type; ``text/plain`` for text,
            ``application/octet-stream`` for bytes, ``application/json`` with ``json=``.
        charset: The charset of a text body.
        json: Any JSON value to send as the body instead of ``response``.

    Raises:
        TypeError: Both ``response`` and ``json`` were given, or ``response`` is of
            another type.
    """
    if json is not _NO_JSON:
        if response is not None:
            raise TypeError("make_response() takes either a body or json=..., not both")
        body: bytes | None = jsonlib.dumps(json, ensure_ascii=False).encode("utf-8")
        content_type = content_type or "application/json"
    elif isinstance(response, str):
        body = response.encode(charset or "utf-8")
        content_type = content_type or "text/plain"
        charset = charset or "utf-8"
    elif isinstance(response, (bytes, bytearray)):
        body = bytes(response)
    elif response is None:
        body = None
    else:
        raise TypeError(
            f"make_response() takes str, bytes or None as the body, not {type(response).__name__}; "
            "pass a JSON value as json=..."
        )
    return MockResponse(
        body=body, status=status, headers=dict(headers or {}), content_type=content_type, charset=charset
    )
