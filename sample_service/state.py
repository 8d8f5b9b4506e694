"""Typed keys of the state the application keeps (``app[KEY]``), shared by its handlers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from .config import ServiceConfig
    from .connection import ChatConnection
    from .dynamic_config import DynamicConfig
    from .room import Room

__all__ = ["BROADCAST_ROOM", "CHATS", "DYNAMIC_CONFIG", "SERVICE_CONFIG"]

#: The validated static config the service started with.
SERVICE_CONFIG: web.AppKey[ServiceConfig] = web.AppKey("service_config")

#: The dynamic config: starts as the contents of the dynamic config fallback JSON file.
#: Handlers read it at request time, so changing values here (tests-control does)
#: changes their behaviour.
DYNAMIC_CONFIG: web.AppKey[DynamicConfig] = web.AppKey("dynamic_config")

#: The clients connected to the broadcast path.
BROADCAST_ROOM: web.AppKey[Room] = web.AppKey("broadcast_room")

#: The open WebSocket connections, so that shutdown can close them with 1001.
CHATS: web.AppKey[set[ChatConnection]] = web.AppKey("chats")
