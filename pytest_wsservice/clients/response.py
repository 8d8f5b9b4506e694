"""The responses that ``service_client`` returns: testsuite's shape, the body already read.

::

    response = await service_client.get('/ping')
    assert response.status_code == 200       # or response.status
    assert response.text == ''               # a str
    assert response.content == b''           # bytes
    data = response.json()                   # parsed, no await

This is the shape of pytest_userver's (testsuite's) ``ClientResponse``, so a userver test
reads responses unchanged. Earlier releases returned aiohttp's response, read with
``await response.text()``, ``await response.json()`` and ``await response.read()``; those
forms keep working for one release and say so with a :class:`DeprecationWarning`:

- ``response.text`` is a :class:`ResponseText`: a ``str`` that can also be called (the old
  ``text()``) and awaited;
- ``response.json()`` returns the parsed value; when it is an object, array, string or
  number, the value can also be awaited (the old ``await response.json()``). A body of
  JSON ``null``, ``true`` or ``false`` cannot: await-free ``response.json()`` reads those.
  For this release the top-level value is an instance of a subclass of ``dict``, ``list``,
  ``str``, ``int`` or ``float`` that adds ``__await__``: it compares, indexes and
  serialises to JSON like the plain value, but ``type(value) is dict`` is false and PyYAML's
  ``safe_dump`` refuses it; ``dict(value)`` gives the plain one. Awaiting it returns the
  plain value;
- ``response.read()`` returns the body bytes, awaitable.

Nothing here does I/O: the client reads the whole body before it hands the response out.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import aiohttp
    import yarl
    from multidict import CIMultiDictProxy

__all__ = ["ResponseText", "ServiceResponse"]

_REMOVAL = "pytest-wsservice 0.3"


def _deprecated(old: str, new: str) -> None:
    # stacklevel 3: the user's line, above the helper and the method that calls it.
    warnings.warn(
        f"{old} is deprecated and goes away in {_REMOVAL}: service_client responses have testsuite's shape now. "
        f"Use {new}.",
        DeprecationWarning,
        stacklevel=3,
    )


class ResponseText(str):
    """The body as text: a ``str``, which the deprecated ``await response.text()`` can also call and await.

    Calling it warns and returns it; awaiting it returns a plain ``str``.
    """

    __slots__ = ()

    def __call__(self, *args: Any, **kwargs: Any) -> ResponseText:
        _deprecated("await response.text()", "response.text (a str property)")
        return self

    def __await__(self) -> Generator[Any, None, str]:
        return str(self)
        yield  # a generator: makes this awaitable


class _AwaitableDict(dict[str, Any]):
    __slots__ = ()

    def __await__(self) -> Generator[Any, None, dict[str, Any]]:
        _deprecated("await response.json()", "response.json() (no await)")
        return dict(self)
        yield


class _AwaitableList(list[Any]):
    __slots__ = ()

    def __await__(self) -> Generator[Any, None, list[Any]]:
        _deprecated("await response.json()", "response.json() (no await)")
        return list(self)
        yield


class _AwaitableStr(str):
    __slots__ = ()

    def __await__(self) -> Generator[Any, None, str]:
        _deprecated("await response.json()", "response.json() (no await)")
        return str(self)
        yield


class _AwaitableInt(int):
    __slots__ = ()

    def __await__(self) -> Generator[Any, None, int]:
        _deprecated("await response.json()", "response.json() (no await)")
        return int(self)
        yield


class _AwaitableFloat(float):
    __slots__ = ()

    def __await__(self) -> Generator[Any, None, float]:
        _deprecated("await response.json()", "response.json() (no await)")
        return float(self)
        yield


class _AwaitableBytes(bytes):
    __slots__ = ()

    def __await__(self) -> Generator[Any, None, bytes]:
        return bytes(self)
        yield


_AWAITABLE_TYPES: dict[type, Any] = {
    dict: _AwaitableDict,
    list: _AwaitableList,
    str: _AwaitableStr,
    int: _AwaitableInt,
    float: _AwaitableFloat,
}


def _awaitable(value: Any) -> Any:
    """``value`` as an instance of an awaitable subclass of its type; ``None``, booleans as they are."""
    awaitable = _AWAITABLE_TYPES.get(type(value))
    return value if awaitable is None else awaitable(value)


class ServiceResponse:
    """One HTTP response of the service, its whole body read.

    Args:
        response: aiohttp's response, for the status line, headers, URL and cookies.
        content: The whole body.
    """

    def __init__(self, response: aiohttp.ClientResponse, content: bytes) -> None:
        self._response = response
        self._content = content
        self._text: ResponseText | None = None

    @property
    def status_code(self) -> int:
        """The HTTP status, such as ``200``."""
        return self._response.status

    @property
    def status(self) -> int:
        """The HTTP status, such as ``200`` (the same as :attr:`status_code`)."""
        return self._response.status

    @property
    def reason(self) -> str | None:
        """The reason phrase, such as ``'OK'``."""
        return self._response.reason

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        """The response headers (case-insensitive names)."""
        return self._response.headers

    @property
    def content(self) -> bytes:
        """The whole body, as bytes."""
        return self._content

    @property
    def encoding(self) -> str:
        """The body's text encoding: the ``charset`` of ``Content-Type``, else a guess (UTF-8 for JSON)."""
        return self._response.get_encoding()

    @property
    def text(self) -> ResponseText:
        """The whole body as a ``str``, decoded with :attr:`encoding` (undecodable bytes replaced)."""
        if self._text is None:
            self._text = ResponseText(self._content.decode(self.encoding, "replace"))
        return self._text

    def json(self) -> Any:
        """The body parsed as JSON.

        Raises:
            ValueError: The body is not JSON (:class:`json.JSONDecodeError`); the message
                quotes the start of the body.
        """
        try:
            value = json.loads(self._content)
        except ValueError as error:
            preview = self._content[:200].decode("utf-8", "replace")
            raise json.JSONDecodeError(
                f"{self.method} {self.url} answered {self.status}, a body that is not JSON: {preview!r} "
                f"({error.args[0]})",
                error.doc if isinstance(error, json.JSONDecodeError) else "",
                error.pos if isinstance(error, json.JSONDecodeError) else 0,
            ) from None
        return _awaitable(value)

    def read(self) -> bytes:
        """Deprecated: the body bytes, also awaitable (the old ``await response.read()``); use :attr:`content`."""
        _deprecated("await response.read()", "response.content (bytes)")
        return _AwaitableBytes(self._content)

    @property
    def content_type(self) -> str:
        """The MIME type of ``Content-Type``, without parameters, such as ``'application/json'``."""
        return self._response.content_type

    @property
    def charset(self) -> str | None:
        """The ``charset`` of ``Content-Type``, or ``None``."""
        return self._response.charset

    @property
    def cookies(self) -> Any:
        """The cookies the response sets (a :class:`http.cookies.SimpleCookie`)."""
        return self._response.cookies

    @property
    def url(self) -> yarl.URL:
        """The URL that answered (after redirects)."""
        return self._response.url

    @property
    def method(self) -> str:
        """The request's method, such as ``'GET'``."""
        return self._response.method

    def raise_for_status(self) -> None:
        """Raise :class:`aiohttp.ClientResponseError` if the status is 400 or above."""
        self._response.raise_for_status()

    def __repr__(self) -> str:
        return f"<ServiceResponse {self.method} {self.url} status={self.status} content={self._content[:60]!r}>"
