"""The static config of the optional handler components: what each one reads.

:func:`sample_service.config.load_config` fills a :class:`HandlerConfig` for each of these
components the config names, in ``ServiceConfig.handlers`` (keyed by component name); a
component the config leaves out is not served.

==================================  ====================  ==========================================
component                           handler               keys besides ``path``
==================================  ====================  ==========================================
``websocket-handler-alt``           plain echo            ``max-remote-payload``, ``fragment-size``
``websocket-duplex-handler``        duplex, binary echo   ``max-remote-payload``, ``fragment-size``
``websocket-private-chat-handler``  authenticated echo    ``auth-url``, ``auth-timeout``, the two above
``websocket-feed-handler``          relay to an upstream  ``upstream-url``, ``connect-timeout``,
                                                          ``max-remote-payload``
``handler-chat-page``               the HTML chat page    none
==================================  ====================  ==========================================
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ALT",
    "CHAT_PAGE",
    "DEFAULT_AUTH_TIMEOUT",
    "DEFAULT_CONNECT_TIMEOUT",
    "DUPLEX",
    "FEED",
    "HANDLER_COMPONENTS",
    "PRIVATE",
    "HandlerConfig",
]

ALT = "websocket-handler-alt"
DUPLEX = "websocket-duplex-handler"
PRIVATE = "websocket-private-chat-handler"
FEED = "websocket-feed-handler"
CHAT_PAGE = "handler-chat-page"

#: Every optional handler component, in the order the service adds their routes.
HANDLER_COMPONENTS = (ALT, DUPLEX, PRIVATE, FEED, CHAT_PAGE)

#: Seconds ``/private`` waits for its ``auth-url`` when the config gives no ``auth-timeout``.
DEFAULT_AUTH_TIMEOUT = 2.0

#: Seconds ``/feed`` waits to open its upstream WebSocket when the config gives no ``connect-timeout``.
DEFAULT_CONNECT_TIMEOUT = 2.0

#: URL schemes each URL key accepts.
URL_SCHEMES = {"auth-url": ("http", "https"), "upstream-url": ("ws", "wss", "http", "https")}


@dataclass(frozen=True)
class HandlerConfig:
    """One optional handler component of the static config, with defaults applied.

    ``auth_url`` and ``upstream_url`` are ``None`` when the key is absent or names a config
    var that is not defined: the handler then answers 503 (``/private``) or closes with 1011
    (``/feed``), saying that the key is not configured.
    """

    component: str
    path: str
    max_remote_payload: int
    fragment_size: int
    auth_url: str | None = None
    auth_timeout: float = DEFAULT_AUTH_TIMEOUT
    upstream_url: str | None = None
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT


def check_url(key: str, value: object) -> str:
    """``value`` if it is an absolute URL with a scheme ``key`` accepts; else ``ValueError`` saying what is expected."""
    schemes = URL_SCHEMES[key]
    expected = "a URL starting with " + ", ".join(f"{scheme}://" for scheme in schemes)
    if not isinstance(value, str) or "://" not in value:
        raise ValueError(expected)
    scheme, _, rest = value.partition("://")
    if scheme.lower() not in schemes or not rest or rest.startswith("/"):
        raise ValueError(expected)
    return value
