"""``/feed``: a relay between each client and an upstream WebSocket.

For every client the service opens one WebSocket to its ``upstream-url``, after accepting
the client (a client's messages sent meanwhile wait in order). The URL may be ``ws://``,
``wss://``, ``http://`` or ``https://``; the last two mean a WebSocket over them, as
aiohttp's ``ws_connect`` reads them. Then:

- text and binary messages are relayed both ways, each direction in order, as the type
  they came as;
- the upstream closing (a close frame, or its connection ending) closes the client with
  **1001** ``upstream closed``; an upstream protocol error or a message over
  ``max-remote-payload`` closes it with **1011**;
- the client closing closes the upstream with the client's code (1000 when it had none or
  an invalid one), and the client's close is answered as on ``/chat``;
- failing to open the upstream WebSocket (refused, no handshake within
  ``connect-timeout``, a handshake answered with an HTTP error) closes the client with
  **1011** and a reason such as ``upstream unreachable: cannot connect: Connection refused``,
  and logs one WARNING line naming the upstream;
- without an ``upstream-url`` (absent, or a config var that is not defined) every client is
  closed with **1011** ``upstream-url is not configured``.

The relay is not an echo path: ``close`` is relayed like any other text message, and the
``chat-message-received`` testpoint is not called.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
from aiohttp import WSMessage, WSMsgType, web

from .chat import ChatHandler
from .connection import (
    CLOSE_ABNORMAL,
    CLOSE_GOING_AWAY,
    CLOSE_INTERNAL_ERROR,
    CLOSE_NORMAL,
    ChatConnection,
    is_valid_close_code,
)
from .upstream import UPSTREAM_CLIENT, connect_failure, describe_url

__all__ = ["MAX_REASON_BYTES", "FeedHandler"]

logger = logging.getLogger("sample_service.feed")

#: The longest close reason in bytes (a control frame carries at most 125 bytes, 2 are the code).
MAX_REASON_BYTES = 123

_TEXT = WSMsgType.TEXT
_BINARY = WSMsgType.BINARY
_ERROR = WSMsgType.ERROR


def close_reason(text: str) -> str:
    """``text`` cut so that its UTF-8 form fits in a close frame."""
    data = text.encode()
    if len(data) <= MAX_REASON_BYTES:
        return text
    return data[: MAX_REASON_BYTES - 3].decode(errors="ignore") + "..."


async def _relay(source: Any, target: Any) -> WSMessage | None:
    """Forward text and binary messages from ``source`` to ``target`` until ``source`` ends.

    Returns:
        The message that ended ``source`` (close, closing, closed or error), or ``None`` when
        sending to ``target`` failed because ``target`` is gone.
    """
    receive = source.receive
    send_str = target.send_str
    send_bytes = target.send_bytes
    while True:
        msg = await receive()
        kind = msg.type
        try:
            if kind is _TEXT:
                await send_str(msg.data)
            elif kind is _BINARY:
                await send_bytes(msg.data)
            else:
                return msg  # type: ignore[no-any-return]
        except ConnectionError:
            return None


class FeedHandler(ChatHandler):
    """The ``/feed`` handler; see the module docstring.

    Args:
        upstream_url: The upstream WebSocket's URL; ``None`` closes every client with 1011.
        connect_timeout: Seconds to open the upstream WebSocket, handshake included.
        max_remote_payload: The largest message taken from the client or the upstream, in bytes.
        close_timeout: How long a close waits for the other side's close frame.
    """

    def __init__(
        self, *, upstream_url: str | None, connect_timeout: float, max_remote_payload: int, close_timeout: float
    ) -> None:
        # Messages are relayed whole, as they came in: the fragment size is never reached.
        super().__init__(
            max_remote_payload=max_remote_payload, fragment_size=max_remote_payload, close_timeout=close_timeout
        )
        self.upstream_url = upstream_url
        self.connect_timeout = connect_timeout

    async def serve(self, request: web.Request, connection: ChatConnection, transport: Any, writer: Any) -> None:
        if self.upstream_url is None:
            logger.warning(
                "upstream-url is not configured path=%s: closing with %d", connection.path, CLOSE_INTERNAL_ERROR
            )
            await connection.close(CLOSE_INTERNAL_ERROR, "upstream-url is not configured")
            return
        upstream = await self._connect(request.app[UPSTREAM_CLIENT].session, connection)
        if upstream is None:
            return
        try:
            await self._relay_both(connection, upstream)
        finally:
            if not upstream.closed:
                await upstream.close()

    async def _connect(
        self, session: aiohttp.ClientSession, connection: ChatConnection
    ) -> aiohttp.ClientWebSocketResponse[bool] | None:
        """Open the upstream WebSocket; on failure close the client with 1011 and return ``None``."""
        assert self.upstream_url is not None
        url = self.upstream_url
        try:
            upstream = await asyncio.wait_for(
                session.ws_connect(
                    url,
                    autoping=True,
                    max_msg_size=self.max_remote_payload + 1,
                    timeout=aiohttp.ClientWSTimeout(ws_close=self.close_timeout),
                ),
                self.connect_timeout,
            )
        except asyncio.TimeoutError:  # before ClientError: aiohttp's timeouts are both
            reason = f"no handshake within {self.connect_timeout:g}s"
        except aiohttp.WSServerHandshakeError as exc:
            reason = f"handshake answered HTTP {exc.status}"
        except aiohttp.ClientConnectorError as exc:
            reason = f"cannot connect: {connect_failure(exc)}"
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            reason = f"cannot connect: {str(exc)[:200] or type(exc).__name__}"
        else:
            logger.info(
                "upstream connected peer=%s path=%s url=%s", connection.peer, connection.path, describe_url(url)
            )
            return upstream
        logger.warning("feed upstream failed url=%s reason=%s peer=%s", describe_url(url), reason, connection.peer)
        await connection.close(CLOSE_INTERNAL_ERROR, close_reason(f"upstream unreachable: {reason}"))
        return None

    async def _relay_both(self, connection: ChatConnection, upstream: aiohttp.ClientWebSocketResponse[bool]) -> None:
        to_upstream = asyncio.ensure_future(_relay(connection.ws, upstream))
        to_client = asyncio.ensure_future(_relay(upstream, connection.ws))
        try:
            await asyncio.wait([to_upstream, to_client], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (to_upstream, to_client):
                if not task.done():
                    task.cancel()
            await asyncio.wait([to_upstream, to_client])
        client_end = to_upstream.result() if to_upstream.done() and not to_upstream.cancelled() else None
        upstream_end = to_client.result() if to_client.done() and not to_client.cancelled() else None
        client_gone = to_client.done() and not to_client.cancelled() and upstream_end is None
        if client_end is not None or client_gone:
            # The client ended first (or sending to it failed): tell the upstream, answer the client.
            code = client_end.data if client_end is not None and client_end.type is WSMsgType.CLOSE else 0
            await upstream.close(code=code if isinstance(code, int) and is_valid_close_code(code) else CLOSE_NORMAL)
            if client_end is not None:
                await self.on_end(connection, client_end)
            elif connection.close_code is None:
                connection.close_code, connection.initiator = CLOSE_ABNORMAL, "network"
            return
        if upstream_end is not None and upstream_end.type is _ERROR:
            error = str(upstream_end.data)[:200]
            logger.warning("feed upstream error peer=%s path=%s error=%r", connection.peer, connection.path, error)
            await connection.close(CLOSE_INTERNAL_ERROR, close_reason(f"upstream error: {error}"))
            return
        # The upstream closed, its connection ended, or sending to it failed.
        logger.info("upstream closed peer=%s path=%s code=%s", connection.peer, connection.path, upstream.close_code)
        await connection.close(CLOSE_GOING_AWAY, "upstream closed")
