"""TcpGate: a TCP proxy between tests and a service that injects network faults on request.

::

    with TcpGate("127.0.0.1", service_port) as gate:    # its own thread and event loop
        url = f"ws://{gate.host}:{gate.port}/chat"       # connect through the gate
        gate.to_client_delay(0.2)                        # every byte from the service: +200 ms
        gate.to_server_drop()                            # the service hears nothing more
        await gate.sockets_close()                       # the client sees the connection drop
        gate.reset()                                     # pass-through, no connections

The methods have pytest_userver's names and meanings (``pytest_userver.chaos.TcpGate``), so
chaos tests port over: each fault comes as ``to_server_*`` (bytes from the client to the
service) and ``to_client_*`` (bytes from the service to the client), and applies to every
connection through the gate, the open ones included, from the next bytes on. What differs:

- the gate runs in a thread of its own with its own event loop, so it works under any
  event-loop scope of the test, and from sync code; ``start()``, ``stop()``, ``reset()`` and
  the ``to_*`` methods are sync and return once the gate has applied them;
- the async methods (``wait_for_connections``, ``sockets_close``, ``stop_accepting``) are
  awaited from the test's loop, whatever it is, and the gate does the work on its own;
- every wait has a deadline (``timeout``, 10 seconds unless given); ``wait_for_connections``
  never waits forever, and raises :class:`~.errors.GateTimeout` naming what it saw;
- ``delay`` is latency (each byte ``seconds`` late), not a pause per read, and ``limit_time``
  closes the connection when its time is up, not at the next read after;
- bytes are read when they arrive, not polled; the gate idles when nothing flows;
- ``to_server_cut_mid_frame`` / ``to_client_cut_mid_frame`` cut a WebSocket connection in the
  middle of a data frame (see :mod:`pytest_wsservice.chaos.frames`).

The gate listens on loopback only. It starts in pass-through.
"""

from __future__ import annotations

import itertools
import urllib.parse
from types import TracebackType

from ..errors import seconds_text
from .core import GateCore, check_loopback
from .errors import GateError
from .loop_thread import LoopThread
from .pipe import Direction
from .policies import (
    CloseOnData,
    ConcatPackets,
    CorruptData,
    CutMidFrame,
    Delay,
    Drop,
    LimitBps,
    LimitBytes,
    LimitTime,
    Noop,
    Pass,
    Policy,
    SmallerParts,
    Substitute,
)

__all__ = ["TcpGate"]

_numbers = itertools.count(1)


class TcpGate:
    """A TCP chaos proxy on a free loopback port in front of ``(target_host, target_port)``.

    Args:
        target_host: Where connections through the gate go (the service's host).
        target_port: The service's port.
        host: The loopback address the gate listens on.
        port: The port it listens on; 0 (the default) picks a free one, kept across stop/start.
        name: Names the gate (and its thread) in messages.
        timeout: The deadline, in seconds, of every wait of the gate unless a call gives its own:
            starting, stopping, connecting to the target, closing connections, waiting for them.
    """

    def __init__(
        self,
        target_host: str,
        target_port: int,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        name: str = "",
        timeout: float = 10.0,
    ) -> None:
        check_loopback(host)
        self.name = name or f"tcp_gate-{next(_numbers)}"
        self.timeout = timeout
        self._target = (target_host, target_port)
        self._host, self._port = host, port
        self._thread = LoopThread(self.name)
        self._core: GateCore | None = None

    # Life cycle.

    def start(self, *, timeout: float | None = None) -> TcpGate:
        """Start the thread, listen, and accept connections in pass-through; returns the gate."""
        deadline = self._deadline(timeout)
        self._thread.start(timeout=deadline)
        if self._core is None:
            core = self._thread.call(
                lambda: GateCore(self.name, self._target, self._host, self._port, self.timeout),
                timeout=deadline,
                what=f"starting the chaos gate {self.name!r}",
            )
            self._core = core
        core = self._core
        self._host, self._port = self._thread.call(core.listen, timeout=deadline, what=f"starting {self.name!r}")
        return self

    def stop(self, *, timeout: float | None = None) -> None:
        """Close every connection and the listening socket, and stop the thread. Idempotent."""
        deadline = self._deadline(timeout)
        core, self._core = self._core, None
        try:
            if core is not None and self._thread.running:
                self._thread.run(core.stop(deadline), timeout=deadline, what=f"stopping the chaos gate {self.name!r}")
        finally:
            self._thread.stop(timeout=deadline)  # cancels whatever did not stop in time

    def __enter__(self) -> TcpGate:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> TcpGate:
        """``async with TcpGate(...) as gate:`` as in pytest_userver; starting blocks for a few milliseconds."""
        return self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def reset(self, *, timeout: float | None = None) -> None:
        """Back to how it started: pass-through both ways, accepting, and no connections.

        Returns once every connection that was open is closed (both its sockets).
        """
        deadline = self._deadline(timeout)
        core = self._running_core("reset()")
        self._thread.call(core.reset, timeout=deadline, what=f"resetting {self.name!r}")
        self._thread.run(core.sockets_close(timeout=deadline), timeout=deadline, what=f"resetting {self.name!r}")

    # Where it is.

    @property
    def host(self) -> str:
        """The loopback address the gate listens on."""
        return self._host

    @property
    def port(self) -> int:
        """The port the gate listens on (0 until it has started with ``port=0``)."""
        return self._port

    @property
    def target(self) -> tuple[str, int]:
        """Where connections through the gate go: ``(host, port)``."""
        return self._target

    def set_target(self, host: str, port: int) -> None:
        """Send new connections to ``(host, port)`` (open ones keep theirs), for a service that moved."""
        self._target = (host, port)
        if self._core is not None:
            core = self._core

            def apply() -> None:
                core.target = (host, port)

            self._thread.call(apply, timeout=self.timeout, what=f"retargeting {self.name!r}")

    def rebase(self, url: str) -> str:
        """``url`` with its host and port replaced by the gate's: the same request, through the gate.

        ``websocket_client.get(path, via=gate)`` and ``service_client.get(path, via=gate)`` use it;
        any ``ws://``, ``wss://``, ``http://`` or ``https://`` URL of the target works.
        """
        host, port = self.get_sockname_for_clients()
        parts = urllib.parse.urlsplit(url)
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = (userinfo + "@" if userinfo else "") + (f"[{host}]" if ":" in host else host) + f":{port}"
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))

    def get_sockname_for_clients(self) -> tuple[str, int]:
        """``(host, port)`` the gate listens on, as pytest_userver names it."""
        if not self._port:
            raise GateError(f"The chaos gate {self.name!r} has not started: it has no port yet.")
        return self._host, self._port

    def info(self) -> str:
        """Where the gate listens and forwards, its policies and its open connections, as text."""
        if self._core is None or not self._thread.running:
            return f"Gate {self.name!r} (stopped) -> {self._target[0]}:{self._target[1]}"
        return self._thread.call(self._core.describe, timeout=self.timeout, what=f"describing {self.name!r}")

    def __repr__(self) -> str:
        return f"<TcpGate {self.name} {self._host}:{self._port} -> {self._target[0]}:{self._target[1]}>"

    # Connections.

    def connections_count(self) -> int:
        """How many connections are open through the gate now (accepted and connected to the target).

        A connection counts until both its sockets are closed.
        """
        core = self._running_core("connections_count()")
        return self._thread.call(lambda: len(core.pairs), timeout=self.timeout, what="connections_count()")

    async def wait_for_connections(self, *, count: int = 1, timeout: float | None = None) -> None:
        """Wait until at least ``count`` connections are open through the gate.

        ``timeout`` defaults to the gate's; 0 or less also means the gate's (pytest_userver's
        "wait forever" is not offered). Raises :class:`~.errors.GateTimeout` naming how many
        connections it saw.
        """
        deadline = self.timeout if timeout is None or timeout <= 0 else timeout
        core = self._running_core("wait_for_connections()")
        await self._thread.run_async(
            core.wait_for_connections(count, deadline), timeout=deadline, what=f"wait_for_connections(count={count})"
        )

    async def sockets_close(self, *, count: int | None = None) -> None:
        """Close the open connections (the first ``count`` opened, or all), both sides, and wait until closed.

        The client sees its connection end without a WebSocket close frame (code 1006).
        """
        core = self._running_core("sockets_close()")
        await self._thread.run_async(
            core.sockets_close(count=count, timeout=self.timeout), timeout=self.timeout, what="sockets_close()"
        )

    async def stop_accepting(self) -> None:
        """Stop accepting connections; the listening socket stays open.

        New connections then complete the TCP handshake in the kernel's backlog but get no
        further: no bytes reach the service until :meth:`start_accepting`.
        """
        core = self._running_core("stop_accepting()")
        await self._thread.run_async(core.stop_accepting(), timeout=self.timeout, what="stop_accepting()")

    def start_accepting(self) -> None:
        """Accept connections again, those waiting in the backlog first."""
        core = self._running_core("start_accepting()")
        self._thread.call(core.start_accepting, timeout=self.timeout, what="start_accepting()")

    # Faults: client -> server.

    def to_server_pass(self) -> None:
        """Forward the client's bytes as they come."""
        self._set("to_server", Pass())

    def to_server_noop(self) -> None:
        """Stop reading the client's bytes: they wait in the kernel's buffers and the client's writes stall."""
        self._set("to_server", Noop())

    def to_server_drop(self) -> None:
        """Read the client's bytes and throw them away; the connection stays open."""
        self._set("to_server", Drop())

    def to_server_delay(self, delay: float) -> None:
        """Deliver each of the client's bytes ``delay`` seconds after it reached the gate."""
        self._set("to_server", Delay(delay))

    def to_server_close_on_data(self) -> None:
        """Close the connection, both sides, when the client's next bytes arrive."""
        self._set("to_server", CloseOnData())

    def to_server_corrupt_data(self) -> None:
        """Flip every bit of the client's bytes."""
        self._set("to_server", CorruptData())

    def to_server_limit_bps(self, bytes_per_second: float) -> None:
        """Carry the clients' bytes (all connections together) at ``bytes_per_second`` at most."""
        self._set("to_server", LimitBps(bytes_per_second))

    def to_server_limit_time(self, timeout: float, jitter: float) -> None:
        """Close each connection ``timeout`` + up to ``jitter`` seconds after the client's first bytes."""
        self._set("to_server", LimitTime(timeout, jitter))

    def to_server_smaller_parts(self, max_size: int, *, sleep_per_packet: float = 0) -> None:
        """Deliver the client's bytes in writes of at most ``max_size``, ``sleep_per_packet`` seconds apart."""
        self._set("to_server", SmallerParts(max_size, sleep_per_packet))

    def to_server_concat_packets(self, packet_size: int) -> None:
        """Hold the client's bytes back until ``packet_size`` of them are there; deliver them in one write."""
        self._set("to_server", ConcatPackets(packet_size))

    def to_server_limit_bytes(self, bytes_limit: int) -> None:
        """After ``bytes_limit`` bytes from clients pass, close every connection (then count again)."""
        self._set("to_server", LimitBytes(bytes_limit))

    def to_server_substitute(self, pattern: str, repl: str) -> None:
        """Apply ``re.sub(pattern, repl)`` to the client's bytes as UTF-8 text (frames from clients are masked).

        Bytes that are not UTF-8 are kept as they are. A match split between two reads is missed.
        """
        self._set("to_server", Substitute(pattern, repl))

    def to_server_cut_mid_frame(self, *, close: bool = True) -> None:
        """Cut in the middle of the client's next WebSocket data frame (header and half its payload pass).

        With ``close`` (the default) the connection then closes, both sides: the service reads
        half a frame and then the end of the stream, the client sees code 1006. With
        ``close=False`` the gate stops reading from that client until the next ``to_server_*``
        call, and the service waits with half a frame; ``to_server_pass()`` lets the rest through.
        Each connection is cut at its own next data frame; other traffic passes.
        """
        self._set("to_server", CutMidFrame(close=close))

    # Faults: server -> client.

    def to_client_pass(self) -> None:
        """Forward the service's bytes as they come."""
        self._set("to_client", Pass())

    def to_client_noop(self) -> None:
        """Stop reading the service's bytes: they wait in the kernel's buffers (a half-open connection)."""
        self._set("to_client", Noop())

    def to_client_drop(self) -> None:
        """Read the service's bytes and throw them away; the connection stays open."""
        self._set("to_client", Drop())

    def to_client_delay(self, delay: float) -> None:
        """Deliver each of the service's bytes ``delay`` seconds after it reached the gate."""
        self._set("to_client", Delay(delay))

    def to_client_close_on_data(self) -> None:
        """Close the connection, both sides, when the service's next bytes arrive."""
        self._set("to_client", CloseOnData())

    def to_client_corrupt_data(self) -> None:
        """Flip every bit of the service's bytes."""
        self._set("to_client", CorruptData())

    def to_client_limit_bps(self, bytes_per_second: float) -> None:
        """Carry the service's bytes (all connections together) at ``bytes_per_second`` at most."""
        self._set("to_client", LimitBps(bytes_per_second))

    def to_client_limit_time(self, timeout: float, jitter: float) -> None:
        """Close each connection ``timeout`` + up to ``jitter`` seconds after the service's first bytes."""
        self._set("to_client", LimitTime(timeout, jitter))

    def to_client_smaller_parts(self, max_size: int, *, sleep_per_packet: float = 0) -> None:
        """Deliver the service's bytes in writes of at most ``max_size``, ``sleep_per_packet`` seconds apart."""
        self._set("to_client", SmallerParts(max_size, sleep_per_packet))

    def to_client_concat_packets(self, packet_size: int) -> None:
        """Hold the service's bytes back until ``packet_size`` of them are there; deliver them in one write."""
        self._set("to_client", ConcatPackets(packet_size))

    def to_client_limit_bytes(self, bytes_limit: int) -> None:
        """After ``bytes_limit`` bytes from the service pass, close every connection (then count again)."""
        self._set("to_client", LimitBytes(bytes_limit))

    def to_client_substitute(self, pattern: str, repl: str) -> None:
        """Apply ``re.sub(pattern, repl)`` to the service's bytes as UTF-8 text (keep frame lengths intact).

        Bytes that are not UTF-8 (frame headers) are kept as they are, so a replacement of the
        same length rewrites a WebSocket message in place.
        """
        self._set("to_client", Substitute(pattern, repl))

    def to_client_cut_mid_frame(self, *, close: bool = True) -> None:
        """Cut in the middle of the service's next WebSocket data frame (header and half its payload pass).

        With ``close`` (the default) the connection then closes, both sides: the client reads
        half a frame and then the end of the stream (code 1006). With ``close=False`` the
        client is left waiting with half a frame until the next ``to_client_*`` call.
        """
        self._set("to_client", CutMidFrame(close=close))

    # Internals.

    def _set(self, direction: str, policy: Policy) -> None:
        core = self._running_core(f"{direction}_{policy}")
        target: Direction = core.to_server if direction == "to_server" else core.to_client
        self._thread.call(lambda: target.set(policy), timeout=self.timeout, what=f"{direction}_{policy}")

    def _running_core(self, what: str) -> GateCore:
        if self._core is None or not self._thread.running:
            raise GateError(f"{what}: the chaos gate {self.name!r} is not running; start() it first.")
        return self._core

    def _deadline(self, timeout: float | None) -> float:
        if timeout is not None and timeout <= 0:
            raise ValueError(f"timeout must be above 0 seconds, not {seconds_text(timeout)}")
        return self.timeout if timeout is None else timeout
