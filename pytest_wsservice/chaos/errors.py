"""The exceptions the chaos gate raises.

Both derive from :class:`pytest_wsservice.errors.WsServiceError`, so a suite that catches
the plugin's errors catches the gate's too::

    WsServiceError
     └── GateError            the gate cannot listen, start, stop or reach its loop
          └── GateTimeout     a wait of the gate ran out of time (also a TimeoutError)
"""

from __future__ import annotations

from ..errors import WsServiceError

__all__ = ["GateError", "GateTimeout"]


class GateError(WsServiceError):
    """The chaos gate could not do what was asked: listen, start, stop, or run a call on its loop.

    The message names the gate (its listening address and its target) and what to do.
    """


class GateTimeout(GateError, TimeoutError):
    """A wait of the chaos gate ran out of time.

    ``wait_for_connections`` raises it when fewer connections than asked for went through
    the gate before the deadline (pytest_userver raises ``asyncio.TimeoutError`` there; this
    class is a ``TimeoutError``, which ``asyncio.TimeoutError`` is from Python 3.11 on).
    The message says what was waited for, for how long, and what the gate saw.
    """
