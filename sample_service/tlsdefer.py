"""Import aiohttp without reading the system's CA certificates on the way.

Importing aiohttp builds two client TLS contexts at module level
(``aiohttp.connector``), and each reads the whole system CA bundle: the largest single
cost of the service's start, although the service only listens and, unless a handler
makes an outgoing ``https`` request, never uses them. Inside :func:`deferred_default_certs`,
``SSLContext.load_default_certs`` and ``set_default_verify_paths`` only take note; the
context then loads the certificates itself just before its first use (its first
``wrap_bio``, ``wrap_socket``, ``get_ca_certs`` or ``cert_store_stats``), so a TLS
connection made with it verifies exactly as before. Contexts made after the block, such as
the TLS listener's, are not affected.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["deferred_default_certs", "pending_loads"]

#: The context methods that need the certificates: the first call of any of them loads them.
_FIRST_USES = ("wrap_bio", "wrap_socket", "get_ca_certs", "cert_store_stats")
_PENDING = "_sample_service_pending_certs"


def pending_loads(context: ssl.SSLContext) -> int:
    """How many certificate loads ``context`` still has to do before its first use."""
    return len(vars(context).get(_PENDING, ()))


def _load_pending(context: ssl.SSLContext) -> None:
    state = vars(context)
    for name in _FIRST_USES:
        state.pop(name, None)
    for load in state.pop(_PENDING, ()):
        load()


def _defer(context: ssl.SSLContext, load: Callable[[], object]) -> None:
    state = vars(context)
    pending = state.get(_PENDING)
    if pending is None:
        pending = state[_PENDING] = []
        for name in _FIRST_USES:
            state[name] = _loading_first(context, name)
    pending.append(load)


def _loading_first(context: ssl.SSLContext, name: str) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        _load_pending(context)
        return getattr(context, name)(*args, **kwargs)

    return call


@contextlib.contextmanager
def deferred_default_certs() -> Iterator[None]:
    """Within the block, TLS contexts load the default CA certificates at first use, not at once."""
    cls = ssl.SSLContext
    load_default_certs = cls.load_default_certs
    set_default_verify_paths = cls.set_default_verify_paths
    shadowed = "set_default_verify_paths" in vars(cls)

    def defer_default_certs(self: ssl.SSLContext, purpose: ssl.Purpose = ssl.Purpose.SERVER_AUTH) -> None:
        _defer(self, lambda: load_default_certs(self, purpose))

    def defer_verify_paths(self: ssl.SSLContext) -> None:
        _defer(self, lambda: set_default_verify_paths(self))

    cls.load_default_certs = defer_default_certs  # type: ignore[method-assign]
    cls.set_default_verify_paths = defer_verify_paths  # type: ignore[method-assign]
    try:
        yield
    finally:
        cls.load_default_certs = load_default_certs  # type: ignore[method-assign]
        if shadowed:
            cls.set_default_verify_paths = set_default_verify_paths  # type: ignore[method-assign]
        else:
            del cls.set_default_verify_paths
