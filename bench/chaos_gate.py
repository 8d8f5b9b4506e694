"""The chaos gate's pass-through cost: the same WebSocket traffic straight to the service and through TcpGate.

Run it with::

    python -m bench.chaos_gate            # 7 rounds, about a minute on a quiet machine
    python -m bench.chaos_gate --quick    # 2 rounds, a smoke check

One sample service is started by hand on 127.0.0.1 and one ``TcpGate`` in front of it (its
own thread and event loop, pass-through both ways). Two raw websockets connections (compression
off) are held open side by side, one straight to the service and one through the gate, and
driven in the same event loop in short alternating batches, so that both see the same drift of a
busy machine. Three kinds of traffic, each echoed by the service:

- ``bulk``: 64 KiB binary messages, pipelined (a sender task sends while the receiver reads);
  the figure is MB/s of payload each way;
- ``small``: 32-byte text messages, pipelined; messages per second;
- ``round trip``: one 32-byte message, then its echo, then the next; round trips per second.

The ratio is gate / direct, the median of the per-round ratios (each pair ran back to back).
Then the fixed costs: starting a gate, stopping it, and resetting it (what ``tcp_gate`` pays per test).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .common import median, start_raw_service, temp_dir

BULK = b"b" * 65536
SMALL = "x" * 32
BATCHES = 10
COMMAND = "python -m bench.chaos_gate"


async def _pipelined(conn: Any, message: str | bytes, n: int) -> None:
    async def sender() -> None:
        for _ in range(n):
            await conn.send(message)

    task = asyncio.ensure_future(sender())
    try:
        for _ in range(n):
            await conn.recv()
        await task
    finally:
        task.cancel()


async def _round_trips(conn: Any, message: str | bytes, n: int) -> None:
    for _ in range(n):
        await conn.send(message)
        await conn.recv()


#: kind -> (body, message, messages per batch, unit, value of one message in that unit)
KINDS: dict[str, tuple[Callable[[Any, str | bytes, int], Awaitable[None]], str | bytes, int, str, float]] = {
    "bulk": (_pipelined, BULK, 16, "MB/s", len(BULK) / 1e6),
    "small": (_pipelined, SMALL, 300, "msg/s", 1.0),
    "round trip": (_round_trips, SMALL, 50, "rt/s", 1.0),
}


async def _measure(direct_url: str, gate_url: str, rounds: int) -> dict[str, dict[str, list[float]]]:
    from websockets.asyncio.client import connect

    rates: dict[str, dict[str, list[float]]] = {kind: {"direct": [], "gate": []} for kind in KINDS}
    async with contextlib.AsyncExitStack() as stack:
        conns = [
            (name, await stack.enter_async_context(connect(url, compression=None, open_timeout=10, max_size=None)))
            for name, url in (("direct", direct_url), ("gate", gate_url))
        ]
        for kind, (body, message, per_batch, _, scale) in KINDS.items():
            for round_no in range(rounds + 1):  # round 0 warms up
                spent = {name: 0.0 for name, _ in conns}
                for batch_no in range(BATCHES):
                    for name, conn in conns if batch_no % 2 else conns[::-1]:
                        start = time.perf_counter()
                        await asyncio.wait_for(body(conn, message, per_batch), timeout=60)
                        spent[name] += time.perf_counter() - start
                if round_no:
                    for name, _ in conns:
                        rates[kind][name].append(per_batch * BATCHES * scale / spent[name])
    return rates


def gate_costs(port: int, n: int = 30) -> dict[str, float]:
    """Milliseconds (medians) to start a gate, to stop it, and to reset one with one open connection."""
    import socket

    from pytest_wsservice.chaos import TcpGate

    starts, stops, resets = [], [], []
    for _ in range(n):
        gate = TcpGate("127.0.0.1", port)
        began = time.perf_counter()
        gate.start()
        starts.append(time.perf_counter() - began)
        with socket.create_connection((gate.host, gate.port), timeout=10):
            gate.to_client_drop()
            began = time.perf_counter()
            gate.reset()
            resets.append(time.perf_counter() - began)
        began = time.perf_counter()
        gate.stop()
        stops.append(time.perf_counter() - began)
    return {"start": median(starts) * 1e3, "stop": median(stops) * 1e3, "reset": median(resets) * 1e3}


def run(rounds: int) -> tuple[dict[str, dict[str, list[float]]], dict[str, float]]:
    from pytest_wsservice.chaos import TcpGate

    with temp_dir("chaos-gate") as directory:
        service = start_raw_service(directory)
        try:
            with TcpGate("127.0.0.1", service.port, name="bench-gate") as gate:
                gate_url = f"ws://{gate.host}:{gate.port}/chat"
                rates = asyncio.run(_measure(f"ws://127.0.0.1:{service.port}/chat", gate_url, rounds))
            return rates, gate_costs(service.port)
        finally:
            service.stop()


def table(rates: dict[str, dict[str, list[float]]]) -> str:
    lines = [
        "| traffic | direct | through the gate | gate / direct |",
        "| --- | --- | --- | --- |",
    ]
    for kind, (_, _, _, unit, _) in KINDS.items():
        direct, gate = rates[kind]["direct"], rates[kind]["gate"]
        ratio = median([g / d for g, d in zip(gate, direct, strict=True)])
        lines.append(f"| {kind} | {median(direct):,.1f} {unit} | {median(gate):,.1f} {unit} | {ratio:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="measured rounds (after one warm-up round)")
    parser.add_argument("--quick", action="store_true", help="2 rounds: a smoke check")
    args = parser.parse_args(argv)
    rounds = 2 if args.quick else args.rounds
    started = time.monotonic()
    rates, costs = run(rounds)
    print(table(rates))
    print(
        f"\nA gate starts in {costs['start']:.1f} ms and stops in {costs['stop']:.1f} ms; a reset with one "
        f"open connection takes {costs['reset']:.1f} ms (medians of 30)."
    )
    print(
        f"\n{rounds} rounds of {BATCHES} alternating batches, medians; {time.monotonic() - started:.0f} s. "
        f"Reproduce: {COMMAND}{' --quick' if args.quick else ''}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
