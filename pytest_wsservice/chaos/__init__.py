"""The chaos gate: a TCP proxy between tests and the service that injects network faults.

It never imports pytest; the ``tcp_gate`` fixture (``pytest_wsservice.plugin.chaos``) hands
one to tests, and scripts can use it directly::

    from pytest_wsservice.chaos import TcpGate

    with TcpGate("127.0.0.1", 8080) as gate:
        print(gate.port)          # connect here instead of 8080
        gate.to_client_delay(0.1)

Modules: :mod:`.gate` (the public :class:`TcpGate`), :mod:`.core` (listening and connections,
on the gate's loop), :mod:`.pipe` (one connection, a pump each way), :mod:`.policies` (what
each ``to_*`` method does to the bytes), :mod:`.frames` (WebSocket frame boundaries, for
``cut_mid_frame``), :mod:`.loop_thread` (the gate's own thread and event loop), :mod:`.errors`.
"""

from __future__ import annotations

from .errors import GateError, GateTimeout
from .frames import FrameTracker
from .gate import TcpGate

__all__ = ["FrameTracker", "GateError", "GateTimeout", "TcpGate"]
