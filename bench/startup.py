"""Benchmark 2: start-up. Spawn to readiness noticed, and the detection lag.

For each harness the sample service is spawned from the same patched config, and we take
three moments on the same clock (``time.time()``):

- *spawn*: just before the harness is asked to start the process;
- *listening*: the time stamp of the service's own ``listening on`` log line;
- *noticed*: when the harness's readiness wait returns.

``noticed - spawn`` is what a suite waits before its first test; ``noticed - listening`` is
the detection lag, the part that the harness adds by polling.
"""

from __future__ import annotations

import asyncio
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from .common import (
    BenchError,
    child_env,
    free_port,
    has_module,
    listening_moment,
    service_command,
    stop_process,
    temp_dir,
    wait_for_ping,
    write_sample_config,
)

KINDS = ("wsservice", "handwritten", "testsuite")


@dataclass
class StartSample:
    spawn_to_ready: float
    lag: float


def _handwritten(directory: Path) -> StartSample:
    import subprocess

    port = free_port()
    config, log_path = write_sample_config(directory, port)
    spawn = time.time()
    proc = subprocess.Popen(service_command(config), stdin=subprocess.DEVNULL, env=child_env())
    try:
        wait_for_ping(port, proc, interval=0.01)
        noticed = time.time()
    finally:
        stop_process(proc)
    return StartSample(noticed - spawn, noticed - listening_moment(log_path))


def _testsuite(directory: Path) -> StartSample:
    import aiohttp
    from testsuite.daemons import service_daemon

    port = free_port()
    config, log_path = write_sample_config(directory, port)
    health_check = service_daemon.make_health_check(ping_url=f"http://127.0.0.1:{port}/ping")

    async def start() -> float:
        manager = service_daemon.start(
            service_command(config),
            health_check=health_check,
            session_factory=aiohttp.ClientSession,
            env=child_env(),
            shutdown_signal=signal.SIGTERM,
            shutdown_timeout=10,
        )
        async with manager:
            return time.time()

    spawn = time.time()
    noticed = asyncio.run(start())
    return StartSample(noticed - spawn, noticed - listening_moment(log_path))


def _wsservice(directory: Path) -> StartSample:
    from . import plugin_api

    port = free_port()
    config, log_path = write_sample_config(directory, port)
    spawn = time.time()
    with plugin_api.start_service(config, port, directory) as _handle:
        noticed = time.time()
    return StartSample(noticed - spawn, noticed - listening_moment(log_path))


_STARTERS = {"wsservice": _wsservice, "handwritten": _handwritten, "testsuite": _testsuite}


def available_kinds() -> list[str]:
    from . import plugin_api

    kinds = ["handwritten"]
    if plugin_api.available():
        kinds.insert(0, "wsservice")
    if has_module("testsuite"):
        kinds.append("testsuite")
    return kinds


def run(rounds: int, kinds: list[str] | None = None, log=print) -> dict[str, list[StartSample]]:
    """Start the service ``rounds`` times with each harness, interleaved, after one warm-up each."""
    kinds = kinds or available_kinds()
    samples: dict[str, list[StartSample]] = {kind: [] for kind in kinds}
    for round_no in range(rounds + 1):
        for kind in kinds:
            with temp_dir(f"start-{kind}") as directory:
                try:
                    sample = _STARTERS[kind](directory)
                except BenchError:
                    raise
                except Exception as exc:  # a harness's own failure: say which one
                    raise BenchError(f"start-up with {kind} failed: {exc!r}") from exc
            if round_no:  # round 0 warms the caches of the interpreter and the disk
                samples[kind].append(sample)
        if round_no:
            log(
                f"  start-up round {round_no}/{rounds}: "
                + ", ".join(
                    f"{k} {samples[k][-1].spawn_to_ready * 1000:.0f}/{samples[k][-1].lag * 1000:.1f} ms" for k in kinds
                )
            )
    return samples
