"""Opening one WebSocket connection: what ``websocket_client.get()`` returns.

:class:`WebSocketOpening` is an async context manager of the connection (``async with
websocket_client.get('chat') as chat``) and an awaitable of it (``chat = await
websocket_client.get('chat')``). It is generic in the connection class, so that a test
type-checks ``chat`` as a :class:`~pytest_wsservice.WebSocketConnection` (or the subclass a
``WebSocketClient`` subclass chose), and turns the ways opening fails into the plugin's
errors: :class:`~pytest_wsservice.errors.WebSocketHandshakeError` and
:class:`~pytest_wsservice.errors.WebSocketTimeout`.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Generator
from types import TracebackType
from typing import Any, Generic, Protocol, TypeVar

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from ..errors import WebSocketHandshakeError, WebSocketTimeout, seconds_text
from .recording import RecordingConnection
from .transcript import ConnectionTranscripts

__all__ = ["WebSocketOpening", "preview"]

#: How much of an unexpected message or response body an error message quotes.
PREVIEW_CHARS = 200
# asyncio.TimeoutError is the builtin TimeoutError from Python 3.11 on, a class of its own before.
_TIMEOUT_ERRORS = (TimeoutError, asyncio.TimeoutError)

ConnectionT = TypeVar("ConnectionT", bound=RecordingConnection)
_ConnectionT_co = TypeVar("_ConnectionT_co", bound=RecordingConnection, covariant=True)


def preview(data: str | bytes) -> str:
    """The start of ``data`` for a message: its ``repr``, cut at :data:`PREVIEW_CHARS`."""
    text = repr(data[:PREVIEW_CHARS])
    return text + (" ..." if len(data) > PREVIEW_CHARS else "")


class _Opener(Protocol[_ConnectionT_co]):
    """What an opening needs of its client (a :class:`~.websocket.WebSocketClient`)."""

    @property
    def connection_class(self) -> type[_ConnectionT_co]: ...

    @property
    def before_request(self) -> list[Callable[[], Awaitable[None]]]: ...

    @property
    def transcripts(self) -> ConnectionTranscripts: ...


class WebSocketOpening(Generic[ConnectionT]):
    """One connection being opened: ``async with`` it (closed at the block's end), or ``await`` it."""

    __slots__ = ("_client", "_connection", "_options", "_path", "_timeout", "_timeout_origin", "_url")

    def __init__(
        self,
        client: _Opener[ConnectionT],
        path: str,
        url: str,
        timeout: float,
        timeout_origin: str,
        options: dict[str, Any],
    ) -> None:
        self._client = client
        self._path = path
        self._url = url
        self._timeout = timeout
        self._timeout_origin = timeout_origin
        self._options = options
        self._connection: ConnectionT | None = None

    async def _open(self) -> ConnectionT:
        for callback in self._client.before_request:
            await callback()
        connection_class = self._client.connection_class
        factory = functools.partial(
            connection_class, path=self._path, timeout=self._timeout, timeout_origin=self._timeout_origin
        )
        try:
            # create_connection accepts any factory of ClientConnection; websockets types it as the class.
            connection = await connect(self._url, create_connection=factory, **self._options)  # type: ignore[arg-type]
        except InvalidStatus as exc:
            response = exc.response
            body = bytes(response.body or b"")
            headers: dict[str, str] = {}
            for name, value in response.headers.raw_items():
                headers[name] = f"{headers[name]}, {value}" if name in headers else value
            raise WebSocketHandshakeError(
                f"The service rejected the WebSocket handshake for {self._path} ({self._url}) "
                f"with HTTP {response.status_code} {response.reason_phrase}; the response body "
                f"was {preview(body)}. Check the path, and the headers, subprotocols or origin "
                f"that the service requires.",
                url=self._url,
                status=response.status_code,
                headers=headers,
                body=body,
                response=response,
            ) from None
        except _TIMEOUT_ERRORS:
            raise WebSocketTimeout(
                f"Opening a WebSocket to {self._path} ({self._url}) did not complete within "
                f"{seconds_text(self._timeout)} ({self._timeout_origin}): the service accepted no "
                f"connection or sent no handshake response in time."
            ) from None
        assert isinstance(connection, connection_class)
        self._client.transcripts.add(connection.transcript)
        return connection

    def __await__(self) -> Generator[Any, None, ConnectionT]:
        return self._open().__await__()

    async def __aenter__(self) -> ConnectionT:
        if self._connection is not None:
            raise RuntimeError("the object that websocket_client.get() returns can be entered once; call get() again")
        self._connection = await self._open()
        return self._connection

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._connection is not None
        # Closes with 1000, or with 1011 when the block raised (websockets' own rule).
        await self._connection.__aexit__(exc_type, exc_value, traceback)
