"""SIGTERM and SIGINT, handled from the first line of ``python -m sample_service`` to its exit.

One handler stays installed for the life of the process, so a signal can never meet the
default action (death by signal, status -15) in a gap between two handlers:

- before the service runs (imports, config loading): the signal is noted (:func:`pending`),
  and the service exits with status 0 at its next safe point, before it listens; raising
  from inside an import or the event loop's construction would leave a mess behind;
- while it runs (:func:`route_to`): the signal is handed to the event loop, which starts the
  graceful shutdown;
- once it has finished (:func:`finish`): the signal is ignored, and the process exits with
  the status it has already decided on (0, 1 when it could not listen, 2 on a bad config).

This module imports nothing but :mod:`signal`, so that installing it costs nothing.
"""

from __future__ import annotations

import signal

# Not typing.TYPE_CHECKING: importing typing would delay the handlers (mypy reads this name as True).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable
    from types import FrameType

__all__ = ["finish", "install", "pending", "route_to"]

_route: tuple[asyncio.AbstractEventLoop, Callable[[int], object]] | None = None
_finished = False
_pending: list[int] = []


def _on_signal(signum: int, frame: FrameType | None) -> None:
    route = _route
    if route is not None:
        loop, callback = route
        loop.call_soon_threadsafe(callback, signum)
    elif not _finished and not _pending:
        _pending.append(signum)


def pending() -> int | None:
    """The signal that arrived before the service started running, if any."""
    return _pending[0] if _pending else None


def install() -> None:
    """Handle SIGTERM and SIGINT from now on (call it first thing, from the main thread)."""
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)


def route_to(loop: asyncio.AbstractEventLoop, callback: Callable[[int], object]) -> None:
    """Hand each SIGTERM/SIGINT to ``callback(signum)``, called in ``loop``.

    Call it from inside ``loop``: a signal that is already pending is handed over at once.
    """
    global _route
    _route = (loop, callback)
    if _pending:
        callback(_pending.pop())


def finish() -> None:
    """Stop routing to the loop: later signals are ignored while the process exits.

    Ignored by the kernel (``SIG_IGN``), not by a Python handler: the interpreter puts the
    default action back for every Python handler while it shuts down, and a signal in that
    last moment would end the process with -15 after all.
    """
    global _route, _finished
    _route = None
    _finished = True
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
