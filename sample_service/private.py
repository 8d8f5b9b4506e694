"""``/private``: an echo chat that authenticates each client before accepting it.

The handshake is checked as on ``/chat``; then, before the ``101``:

1. Without an ``auth-url`` (absent, or a config var that is not defined) the answer is
   ``503`` saying so.
2. The token is the ``token`` query parameter or, without one, an
   ``Authorization: Bearer TOKEN`` header. No token: ``401`` with
   ``WWW-Authenticate: Bearer``, and the upstream is not called.
3. The service POSTs ``{"token": TOKEN}`` (JSON) to ``auth-url`` and waits at most
   ``auth-timeout`` seconds (2 by default):

   - ``200`` with a JSON object whose ``"user"`` is a non-empty name accepts the client;
   - ``401`` or ``403`` rejects the handshake with ``403``;
   - any other answer (another status, a ``200`` without a usable name, a redirect), no
     answer in time, or no connection at all gives ``503``, and one WARNING line
     ``auth upstream failed url=... reason=...`` naming the upstream and the reason.

Once accepted, every text message comes back as ``NAME: text``; binary messages come back
unchanged. ``close``, close codes, size limits and the ``chat-message-received`` testpoint
work as on ``/chat``. The token is never logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import aiohttp
from aiohttp import web

from .chat import ChatConnection, ChatHandler
from .handshake import reject
from .upstream import UPSTREAM_CLIENT, connect_failure, describe_url

__all__ = ["MAX_AUTH_ANSWER", "MAX_USER_NAME", "PrivateChatHandler", "find_token"]

logger = logging.getLogger("sample_service.private")

#: The largest auth answer read, in bytes; a longer one is a bad answer (503).
MAX_AUTH_ANSWER = 65536

#: The longest user name the auth service may give, in characters.
MAX_USER_NAME = 100

#: Where the authenticated user's name waits between :meth:`PrivateChatHandler.authorize` and the echo.
_USER = web.RequestKey("sample_service.private.user", str)


def find_token(request: web.BaseRequest) -> str | None:
    """The client's token: the ``token`` query parameter, else ``Authorization: Bearer TOKEN``."""
    token = request.query.get("token")
    if token:
        return token
    scheme, _, value = request.headers.get("Authorization", "").strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return value
    return None


def _user_name(body: bytes) -> str | None:
    try:
        answer = json.loads(body)
    except ValueError:
        return None
    user = answer.get("user") if isinstance(answer, dict) else None
    if isinstance(user, str) and 0 < len(user) <= MAX_USER_NAME and user.isprintable():
        return user
    return None


class PrivateChatHandler(ChatHandler):
    """The ``/private`` handler; see the module docstring.

    Args:
        auth_url: The auth service's URL (``http://`` or ``https://``); ``None`` answers every
            handshake with 503.
        auth_timeout: Seconds to wait for the auth service's whole answer.
        max_remote_payload: The largest incoming message, in bytes.
        fragment_size: The largest outgoing frame payload, in bytes.
        close_timeout: How long a server-initiated close waits for the client's close frame.
    """

    def __init__(
        self,
        *,
        auth_url: str | None,
        auth_timeout: float,
        max_remote_payload: int,
        fragment_size: int,
        close_timeout: float,
    ) -> None:
        super().__init__(
            max_remote_payload=max_remote_payload, fragment_size=fragment_size, close_timeout=close_timeout
        )
        self.auth_url = auth_url
        self.auth_timeout = auth_timeout

    async def authorize(self, request: web.Request) -> web.Response | None:
        """Ask the auth service about the client's token; ``None`` accepts, a response refuses."""
        if self.auth_url is None:
            logger.warning("auth-url is not configured path=%s: answering 503", request.path)
            return reject(503, "Service Unavailable: auth-url is not configured for websocket-private-chat-handler")
        token = find_token(request)
        if token is None:
            return reject(
                401,
                "Unauthorized: pass a token as the 'token' query parameter or an 'Authorization: Bearer TOKEN' header",
                {"WWW-Authenticate": "Bearer"},
            )
        status, user, reason = await self._ask(request.app[UPSTREAM_CLIENT].session, token)
        if user is not None:
            request[_USER] = user
            return None
        if status in (401, 403):
            return reject(403, "Forbidden: the auth service refused the token")
        logger.warning("auth upstream failed url=%s reason=%s", describe_url(self.auth_url), reason)
        return reject(503, "Service Unavailable: the auth service could not check the token")

    async def _ask(self, session: aiohttp.ClientSession, token: str) -> tuple[int | None, str | None, str]:
        """POST the token: (HTTP status or ``None``, user name or ``None``, why there is no name)."""
        assert self.auth_url is not None
        timeout = aiohttp.ClientTimeout(total=self.auth_timeout)
        try:
            async with session.post(
                self.auth_url, json={"token": token}, timeout=timeout, allow_redirects=False
            ) as answer:
                status = answer.status
                if status != 200:
                    return status, None, f"answered HTTP {status}"
                body = await answer.content.read(MAX_AUTH_ANSWER + 1)
        except asyncio.TimeoutError:  # before ClientError: aiohttp's timeouts are both
            return None, None, f"no answer within {self.auth_timeout:g}s"
        except aiohttp.ClientConnectorError as exc:
            return None, None, f"cannot connect: {connect_failure(exc)}"
        except (aiohttp.ClientError, OSError) as exc:
            return None, None, f"request failed: {str(exc)[:200] or type(exc).__name__}"
        if len(body) > MAX_AUTH_ANSWER:
            return 200, None, f"answered 200 with more than {MAX_AUTH_ANSWER} bytes"
        user = _user_name(body)
        if user is None:
            return (
                200,
                None,
                f'answered 200 without a JSON object with a "user" name of 1 to {MAX_USER_NAME} printable characters',
            )
        return 200, user, ""

    async def serve(self, request: web.Request, connection: ChatConnection, transport: Any, writer: Any) -> None:
        user = request[_USER]
        logger.info("authenticated peer=%s path=%s user=%s", connection.peer, connection.path, user)
        await self.echo(request, connection, transport, writer, text_prefix=f"{user}: ".encode())
