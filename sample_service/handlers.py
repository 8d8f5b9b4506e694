"""Routes of the optional handler components: each is served only when the config names it.

See :mod:`sample_service.handler_config` for the components and their keys. The handlers
that call upstreams (``/private``, ``/feed``) share one HTTP client session
(:mod:`sample_service.upstream`), created on first use and closed at shutdown.
"""

from __future__ import annotations

from aiohttp import web

from .chat import ChatHandler, PlainEchoHandler
from .config import ServiceConfig
from .handler_config import ALT, CHAT_PAGE, DUPLEX, FEED, PRIVATE

__all__ = ["add_handlers"]


def add_handlers(app: web.Application, config: ServiceConfig) -> None:
    """Add a route for each optional handler component in ``config.handlers``."""
    handlers = config.handlers
    grace = config.shutdown_grace_period
    for name, options in handlers.items():
        handler: ChatHandler
        if name == ALT:
            handler = PlainEchoHandler(
                max_remote_payload=options.max_remote_payload, fragment_size=options.fragment_size, close_timeout=grace
            )
        elif name == DUPLEX:
            from .duplex import DuplexHandler

            handler = DuplexHandler(
                max_remote_payload=options.max_remote_payload, fragment_size=options.fragment_size, close_timeout=grace
            )
        elif name == PRIVATE:
            from .private import PrivateChatHandler
            from .upstream import install

            install(app)
            handler = PrivateChatHandler(
                auth_url=options.auth_url,
                auth_timeout=options.auth_timeout,
                max_remote_payload=options.max_remote_payload,
                fragment_size=options.fragment_size,
                close_timeout=grace,
            )
        elif name == FEED:
            from .feed import FeedHandler
            from .upstream import install

            install(app)
            handler = FeedHandler(
                upstream_url=options.upstream_url,
                connect_timeout=options.connect_timeout,
                max_remote_payload=options.max_remote_payload,
                close_timeout=grace,
            )
        elif name == CHAT_PAGE:
            from .page import ChatPage

            rooms = [("echo chat", config.chat_path, False)]
            if config.broadcast_path is not None:
                rooms.append(("chat room", config.broadcast_path, True))
            page = ChatPage(rooms)
            app.router.add_get(options.path, page.__call__)
            continue
        else:  # pragma: no cover - config.py only fills the names above
            raise ValueError(f"unknown handler component {name!r}")
        # Bound methods: aiohttp sees coroutine functions, so it neither wraps nor warns.
        app.router.add_get(options.path, handler.__call__)
