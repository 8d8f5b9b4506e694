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
import time
from dataclasses import dataclass, field

from .common import median, start_raw_service, temp_dir

PAYLOAD = "x" * 32


@dataclass
class ThroughputResult:
    #: (client, mode) -> round trips per second, one value per round
    rates: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    #: client -> seconds of one connect+echo+close, one value per connection
    connect: dict[str, list[float]] = field(default_factory=dict)


async def _sequential(conn, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        await conn.send(PAYLOAD)
        await conn.recv()
    return n / (time.perf_counter() - start)


async def _pipelined(conn, n: int) -> float:
    async def sender() -> None:
        for _ in range(n):
            await conn.send(PAYLOAD)

    start = time.perf_counter()
    task = asyncio.ensure_future(sender())
    try:
        for _ in range(n):
            await conn.recv()
        await task
    finally:
        task.cancel()
    return n / (time.perf_counter() - start)


def _openers(ws_url: str, base_url: str, with_plugin: bool):
    from websockets.asyncio.client import connect

    # The raw client as the hand-written suite uses it; compression off, as the plugin's default.
    openers = {"raw websockets": lambda: connect(ws_url, compression=None, open_timeout=10)}
    if with_plugin:
        from . import plugin_api

        client = plugin_api.websocket_client(base_url)
        openers["websocket_client"] = lambda: client.get("chat")
    return openers


async def _measure(ws_url: str, base_url: str, *, rounds: int, messages: int, connects: int, with_plugin: bool) -> ThroughputResult:
    result = ThroughputResult()
    openers = _openers(ws_url, base_url, with_plugin)
    for round_no in range(rounds + 1):  # round 0 warms up
        for client, open_ in openers.items():
            for mode, body in (("sequential", _sequential), ("pipelined", _pipelined)):
                async with open_() as conn:
                    rate = await asyncio.wait_for(body(conn, messages), timeout=120)
                if round_no:
                    result.rates.setdefault((client, mode), []).append(rate)
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
                _measure(service.ws_url, service.base_url, rounds=rounds, messages=messages,
                         connects=connects, with_plugin=with_plugin)
            )
        finally:
            service.stop()


def summary(result: ThroughputResult) -> dict[str, float]:
    """Medians: rates per (client, mode), connect seconds per client, and the plugin/raw ratios."""
    out: dict[str, float] = {}
    for (client, mode), rates in result.rates.items():
        out[f"{client} {mode}"] = median(rates)
    for client, times in result.connect.items():
        out[f"{client} connect"] = median(times)
    for mode in ("sequential", "pipelined"):
        if ("websocket_client", mode) in result.rates:
            # Median of the per-round ratios: each pair ran back to back, so drift cancels.
            pairs = zip(result.rates[("websocket_client", mode)], result.rates[("raw websockets", mode)])
            out[f"ratio {mode}"] = median([plugin / raw for plugin, raw in pairs])
    return out
