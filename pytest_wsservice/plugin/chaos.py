"""The ``tcp_gate`` fixture: a chaos gate (:class:`~pytest_wsservice.chaos.TcpGate`) in front of the service.

One gate serves the whole session: its thread, event loop and listening port are made on the
first test that asks for ``tcp_gate`` and stopped when the session ends. Each test gets it
pointed at the service it runs against and in pass-through; after the test, ``reset()`` puts
it back (pass-through both ways, accepting, every connection closed). A reset costs a fraction
of a start and a stop (``python -m bench.chaos_gate`` measures both; see docs/chaos.md), and each
test pays only the reset.

Connections go through the gate only when a client is asked to:
``websocket_client.get(path, via=tcp_gate)``, ``service_client.get(path, via=tcp_gate)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ..chaos import TcpGate
    from ..service.handle import ServiceHandle


class GatePool:
    """The session's one gate, made on first use and pointed at the service of each test."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.gate: TcpGate | None = None

    def gate_for(self, host: str, port: int) -> TcpGate:
        """The gate, started, forwarding new connections to ``(host, port)``."""
        from ..chaos import TcpGate

        listen = "::1" if ":" in host else "127.0.0.1"
        if self.gate is not None and self.gate.host != listen:
            self.close()
        if self.gate is None:
            self.gate = TcpGate(host, port, host=listen, name="tcp_gate", timeout=self.timeout).start()
        elif self.gate.target != (host, port):
            self.gate.set_target(host, port)
        return self.gate

    def close(self) -> None:
        gate, self.gate = self.gate, None
        if gate is not None:
            gate.stop()


@pytest.fixture(scope="session")
def _wsservice_gate_pool(websocket_timeout: float) -> Iterator[GatePool]:
    """The session's chaos gate, started on first use and stopped at the end of the session."""
    pool = GatePool(timeout=websocket_timeout)
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture
def tcp_gate(service_handle: ServiceHandle, _wsservice_gate_pool: GatePool) -> Iterator[TcpGate]:
    """A chaos gate between the test and the service: ``websocket_client.get('chat', via=tcp_gate)``.

    A TCP proxy on a free loopback port in front of the service's listener, in pass-through,
    with no connections. Its ``to_server_*`` and ``to_client_*`` methods delay, drop, corrupt,
    slow down or cut the traffic of every connection through it (pytest_userver's names and
    meanings; see docs/chaos.md). Clients connect straight to the service unless given
    ``via=tcp_gate``. After the test it is reset: pass-through, accepting, connections closed.
    Every wait of the gate has ``--websocket-timeout`` as its deadline.
    """
    gate = _wsservice_gate_pool.gate_for(service_handle.host, service_handle.port)
    try:
        yield gate
    finally:
        gate.reset()
