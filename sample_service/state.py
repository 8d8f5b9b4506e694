"""Typed keys of the state the application keeps (``app[KEY]``), shared by its handlers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from .chat import ChatConnection
    from .config import ServiceConfig

__all__ = ["CHATS", "DYNAMIC_CONFIG", "SERVICE_CONFIG"]

#: The validated static config the service started with.
SERVICE_CONFIG: web.AppKey[ServiceConfig] = web.AppKey("service_config")

#: The dynamic config: starts as the contents of the dynamic config fallback JSON file.
#: Handlers read it at request time, so replacing values here changes their behaviour.
DYNAMIC_CONFIG: web.AppKey[dict[str, Any]] = web.AppKey("dynamic_config")

#: The open WebSocket connections, so that shutdown can close them with 1001.
CHATS: web.AppKey[set[ChatConnection]] = web.AppKey("chats")
