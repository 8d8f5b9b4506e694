"""Benchmark 4 (client throughput) and the bare connect of benchmark 3.

One sample service is started by hand; then, interleaved in the same event loop:

- echo round trips per second of a 32-byte text message through a raw websockets
  ``ClientConnection`` and through the connection that ``websocket_client.get()`` yields,
  sequential (send, wait for the echo, repeat) and pipelined (a sender task sends all
  messages while the receiver reads them back);
- the time of one connect, send, recv, close, raw and through the plugin's client: the
  per-test floor that benchmark 3 compares the per-test cost with.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

from .common import median, start_raw_service, temp_dir

PAYLOAD = "x" * 32
#: Batches per round: each client runs every other batch.
BATCHES = 10


@dataclass
class ThroughputResult:
    #: (client, mode) -> round trips per second, one value per round
    rates: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    #: (client, mode) -> this process's CPU seconds per round trip, one value per round:
    #: the client's own cost, steadier than the rate when the machine is busy
    cpu: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    #: client -> seconds of one connect+echo+close, one value per connection
    connect: dict[str, list[float]] = field(default_factory=dict)


async def _sequential(conn, n: int) -> None:
    for _ in range(n):
        await conn.send(PAYLOAD)
        await conn.recv()


async def _pipelined(conn, n: int) -> None:
    async def sender() -> None:
        for _ in range(n):
            await conn.send(PAYLOAD)

    task = asyncio.ensure_future(sender())
    try:
        for _ in range(n):
            await conn.recv()
        await task
    finally:
        task.cancel()


def _openers(ws_url: str, base_url: str, with_plugin: bool):
    from websockets.asyncio.client import connect

    # The raw client as the hand-written suite uses it; compression off, as the plugin's default.
    openers = {"raw websockets": lambda: connect(ws_url, compression=None, open_timeout=10)}
    if with_plugin:
        from . import plugin_api

        client = plugin_api.websocket_client(base_url)
        openers["websocket_client"] = lambda: client.get("chat")
    return openers


async def _measure(
    ws_url: str, base_url: str, *, rounds: int, messages: int, connects: int, with_plugin: bool
) -> ThroughputResult:
    """Time the clients in short alternating batches on connections held open side by side.

    Loopback echo on a shared 2-core machine drifts by tens of percent from one second to
    the next; batches of a few tens of milliseconds, alternated, put both clients through
    the same drift. Each of the ``rounds`` values is the rate over ``messages`` round trips
    (ten times as many when pipelined), made of ``BATCHES`` batches.
    """
    result = ThroughputResult()
    openers = list(_openers(ws_url, base_url, with_plugin).items())
    modes = (("sequential", _sequential, messages), ("pipelined", _pipelined, messages * 10))
    async with contextlib.AsyncExitStack() as stack:
        conns = [(client, await stack.enter_async_context(open_())) for client, open_ in openers]
        for mode, body, n in modes:
            batch = max(1, n // BATCHES)
            for round_no in range(rounds + 1):  # round 0 warms up
                spent = {client: 0.0 for client, _ in conns}
                cpu = {client: 0.0 for client, _ in conns}
                for batch_no in range(BATCHES):
                    for client, conn in conns if batch_no % 2 else conns[::-1]:
                        cpu_start, start = time.process_time(), time.perf_counter()
                        await asyncio.wait_for(body(conn, batch), timeout=60)
                        spent[client] += time.perf_counter() - start
                        cpu[client] += time.process_time() - cpu_start
                if round_no:
                    for client, _ in conns:
                        result.rates.setdefault((client, mode), []).append(batch * BATCHES / spent[client])
                        result.cpu.setdefault((client, mode), []).append(cpu[client] / (batch * BATCHES))
    for round_no in range(rounds + 1):
        for client, open_ in openers if round_no % 2 else openers[::-1]:
            times = result.connect.setdefault(client, [])
            for _ in range(connects):
                start = time.perf_counter()
                async with open_() as conn:
                    await conn.send(PAYLOAD)
                    await asyncio.wait_for(conn.recv(), timeout=10)
                if round_no:
                    times.append(time.perf_counter() - start)
    return result


def run(*, rounds: int, messages: int, connects: int, with_plugin: bool) -> ThroughputResult:
    with temp_dir("throughput") as directory:
        service = start_raw_service(directory)
        try:
            return asyncio.run(
                _measure(
                    service.ws_url,
                    service.base_url,
                    rounds=rounds,
                    messages=messages,
                    connects=connects,
                    with_plugin=with_plugin,
                )
            )
        finally:
            service.stop()


def summary(result: ThroughputResult) -> dict[str, float]:
    """Medians: rates per (client, mode), connect seconds per client, and the plugin/raw ratios."""
    out: dict[str, float] = {}
    for (client, mode), rates in result.rates.items():
        out[f"{client} {mode}"] = median(rates)
    for (client, mode), cpus in result.cpu.items():
        out[f"{client} {mode} cpu"] = median(cpus)
    for client, times in result.connect.items():
        out[f"{client} connect"] = median(times)
    for mode in ("sequential", "pipelined"):
        if ("websocket_client", mode) in result.rates:
            # Median of the per-round ratios: each pair ran back to back, so drift cancels.
            pairs = zip(result.rates[("websocket_client", mode)], result.rates[("raw websockets", mode)], strict=False)
            out[f"ratio {mode}"] = median([plugin / raw for plugin, raw in pairs])
    return out
