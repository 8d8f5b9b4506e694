"""Mockserver round trips: pytest_wsservice's mockserver next to yandex-taxi-testsuite's.

Run it with ``python -m bench.mockserver`` (``pip install -e ".[bench]"`` brings testsuite).
Everything runs on 127.0.0.1, with one aiohttp client session (keep-alive) in the main
event loop, as a test's client would be, except where a child process is named:

- ``http``: ``POST /auth`` with a small JSON body to a ``json_handler`` that answers JSON;
  the client reads the answer. One round trip.
- ``http, child client``: the same requests sent by a client in a child process, as the
  service sends them: the figure that says what a mock costs a real test. The main loop
  idles meanwhile, as a test does while the service calls its upstream.
- ``http+wait_call``: ``http``, then ``await handler.wait_call()`` as a test does.
- ``testpoint``: ``POST /testpoint`` ``{"name", "data"}`` answered by a registered testpoint
  (testsuite's own ``TestpointFixture`` for testsuite).
- ``ws upstream``: ours only (testsuite has no WebSocket upstream API): a client connected
  to ``mockserver.websocket('/feed')`` sends a text; the test side ``recv()``s it and
  ``send()``s it back; the client reads it. One round trip through the test's loop.

Ours runs on its own thread and loop (so each round trip crosses threads twice); testsuite's
runs in the test's loop. Rounds interleave the two, each in short batches, so both see the
same drift of a busy machine; a ratio is the median of per-round ratios (ours / testsuite,
time per round trip: under 1 means ours is faster).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, ClassVar

import aiohttp

from pytest_wsservice.mockserver import MockServer

from .common import median

BODY = {"token": "t" * 16}
#: A client in a child process, as the service is: reads "N URL" lines, answers the seconds
#: that N sequential POSTs of BODY to URL took (one keep-alive connection).
CHILD_CLIENT = """
import asyncio, sys, time, aiohttp
async def main():
    async with aiohttp.ClientSession() as client:
        for line in sys.stdin:
            n, url = line.split()
            started = time.perf_counter()
            for _ in range(int(n)):
                async with client.post(url, json={"token": "tttttttttttttttt"}) as response:
                    await response.read()
            print(time.perf_counter() - started, flush=True)
asyncio.run(main())
"""
#: Generous seconds per round trip for the run's overall deadline.
DEADLINE_PER_ROUND_TRIP = 0.05
Step = Callable[[], Awaitable[None]]
#: A mode runs n round trips; it returns their wall seconds when it measured them itself
#: (a child process did them), else None.
Batch = Callable[[int], Awaitable[float | None]]


def repeat(step: Step) -> Batch:
    async def run(n: int) -> float | None:
        for _ in range(n):
            await step()
        return None

    return run


def in_child(child: ChildClient, url: str) -> Batch:
    async def run(n: int) -> float | None:
        return await child.batch(n, url)

    return run


class ChildClient:
    """One long-lived child process that sends batches of requests when asked."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls) -> ChildClient:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", CHILD_CLIENT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        return cls(proc)

    async def batch(self, n: int, url: str) -> float:
        """Seconds the child took for ``n`` round trips to ``url``."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{n} {url}\n".encode())
        await self.proc.stdin.drain()
        line = await asyncio.wait_for(self.proc.stdout.readline(), 30 + n * DEADLINE_PER_ROUND_TRIP)
        if not line:
            raise RuntimeError("the child client exited")
        return float(line)

    async def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except asyncio.TimeoutError:
            self.proc.kill()
            await self.proc.wait()


class _TestsuiteOptions:
    mockserver_nofail = False
    mockserver_debug = False


class _TestsuiteConfig:
    """The few pytest config values testsuite's server reads."""

    option = _TestsuiteOptions()
    _ini: ClassVar[dict[str, Any]] = {
        "mockserver-tracing-enabled": False,
        "mockserver-trace-id-header": "X-YaTraceId",
        "mockserver-span-id-header": "X-YaSpanId",
        "mockserver-http-proxy-enabled": False,
    }

    def getini(self, name: str) -> Any:
        return self._ini[name]


@contextlib.asynccontextmanager
async def ours(client: aiohttp.ClientSession, child: ChildClient) -> AsyncIterator[dict[str, Batch]]:
    server = MockServer()
    server.start()
    session = server.new_session()
    try:

        @session.json_handler("/auth")
        def auth(request: Any) -> Any:
            return {"user": request.json["token"][:3]}

        @session.testpoint("tp")
        def tp(data: Any) -> Any:
            return data

        upstream = session.websocket("/feed")
        ws_client = aiohttp.ClientSession()  # its own: the WebSocket holds its connection
        ws = await ws_client.ws_connect(session.url("/feed"))
        conn = await upstream.wait_connection()

        async def http() -> None:
            async with client.post(session.url("/auth"), json=BODY) as response:
                await response.json()

        async def http_wait() -> None:
            await http()
            await auth.wait_call()

        async def testpoint() -> None:
            async with client.post(session.url("/testpoint"), json={"name": "tp", "data": 1}) as response:
                await response.json()
            tp.flush()

        async def ws_upstream() -> None:
            await ws.send_str("ping")
            await conn.send(await conn.recv())
            await ws.receive()

        async def flush() -> None:
            auth.flush()

        yield {
            "http": repeat(http),
            "http, child client": in_child(child, session.url("/auth")),
            "http+wait_call": repeat(http_wait),
            "testpoint": repeat(testpoint),
            "ws upstream": repeat(ws_upstream),
            "_flush": repeat(flush),
        }
        await ws.close()
        await ws_client.close()
    finally:
        await asyncio.to_thread(session.close)
        await asyncio.to_thread(server.stop)


@contextlib.asynccontextmanager
async def testsuite_mock(client: aiohttp.ClientSession, child: ChildClient) -> AsyncIterator[dict[str, Batch]]:
    from testsuite.mockserver import server as ts_server
    from testsuite.plugins.testpoint import TestpointFixture
    from testsuite.tracing import TraceidManager

    errors: list[Any] = []
    async with ts_server.create_server(host="127.0.0.1", port=0, pytestconfig=_TestsuiteConfig()) as server:
        with server.new_session(asyncexc_append=errors.append, traceid_manager=TraceidManager("bench", set())) as sess:
            mockserver = ts_server.MockserverFixture(server, sess)
            base = server.server_info.base_url

            @mockserver.json_handler("/auth")
            def auth(request: Any) -> Any:
                return {"user": request.json["token"][:3]}

            points = TestpointFixture(checker_factory=lambda name: None)

            @mockserver.json_handler("/testpoint")
            async def testpoint_handler(request: Any) -> Any:
                body = request.json
                handler = points.get(body["name"])
                if handler is None:
                    return {"data": None, "handled": False}
                return {"data": await handler(body["data"]), "handled": True}

            @points("tp")
            def tp(data: Any) -> Any:
                return data

            async def http() -> None:
                async with client.post(base + "auth", json=BODY) as response:
                    await response.json()

            async def http_wait() -> None:
                await http()
                await auth.wait_call()

            async def testpoint() -> None:
                async with client.post(base + "testpoint", json={"name": "tp", "data": 1}) as response:
                    await response.json()
                tp.flush()
                testpoint_handler.flush()

            async def flush() -> None:
                auth.flush()

            yield {
                "http": repeat(http),
                "http, child client": in_child(child, base + "auth"),
                "http+wait_call": repeat(http_wait),
                "testpoint": repeat(testpoint),
                "_flush": repeat(flush),
            }
    if errors:
        raise RuntimeError(f"testsuite's mockserver reported errors: {errors[:3]}")


async def timed(batch: Batch, n: int) -> tuple[float, float]:
    """Wall and CPU seconds (this process, every thread) of ``n`` round trips."""
    started, cpu = time.perf_counter(), time.process_time()
    measured = await batch(n)
    wall = time.perf_counter() - started if measured is None else measured
    return wall, time.process_time() - cpu


Results = dict[tuple[str, str], list[float]]


async def measure(rounds: int, per_round: int, batches: int) -> tuple[Results, Results]:
    """Wall and CPU seconds per round trip, one value per round, by (implementation, mode)."""
    connector = aiohttp.TCPConnector(limit=1)
    child = await ChildClient.start()
    try:
        async with aiohttp.ClientSession(connector=connector) as client:
            return await _measure(client, child, rounds, per_round, batches)
    finally:
        await child.stop()


async def _measure(
    client: aiohttp.ClientSession, child: ChildClient, rounds: int, per_round: int, batches: int
) -> tuple[Results, Results]:
    results: Results = {}
    cpu_results: Results = {}
    async with ours(client, child) as a, testsuite_mock(client, child) as b:
        impls = {"pytest_wsservice": a, "testsuite": b}
        modes = [m for m in a if not m.startswith("_")]
        batch = max(1, per_round // batches)
        for warmup in (True,) + (False,) * rounds:
            totals = {(impl, mode): [0.0, 0.0] for impl in impls for mode in modes if mode in impls[impl]}
            for _ in range(batches):
                for mode in modes:
                    for impl, steps in impls.items():
                        if mode in steps:
                            wall, cpu = await timed(steps[mode], batch)
                            totals[impl, mode][0] += wall
                            totals[impl, mode][1] += cpu
                            await steps["_flush"](1)
            if not warmup:
                for key, (wall, cpu) in totals.items():
                    results.setdefault(key, []).append(wall / (batch * batches))
                    cpu_results.setdefault(key, []).append(cpu / (batch * batches))
    return results, cpu_results


def _columns(results: Results, mode: str) -> tuple[str, str, str]:
    a = results.get(("pytest_wsservice", mode), [])
    b = results.get(("testsuite", mode), [])
    ratio = f"{median([x / y for x, y in zip(a, b, strict=True)]):.2f}" if a and b else "-"
    return (f"{median(a) * 1e6:.0f}" if a else "-"), (f"{median(b) * 1e6:.0f}" if b else "n/a"), ratio


def report(results: Results, cpu_results: Results, argv: list[str]) -> str:
    modes = list(dict.fromkeys(mode for _, mode in results))
    lines = [
        "Mockserver round trips: median µs per round trip, wall and CPU (this process, all threads);",
        "ratio = median of the per-round ratios ours / testsuite (under 1: ours is faster)",
        f"{'mode':<20} {'ours wall':>10} {'ts wall':>8} {'ratio':>6}   {'ours CPU':>9} {'ts CPU':>7} {'ratio':>6}",
    ]
    for mode in modes:
        wall = _columns(results, mode)
        cpu = _columns(cpu_results, mode)
        lines.append(f"{mode:<20} {wall[0]:>10} {wall[1]:>8} {wall[2]:>6}   {cpu[0]:>9} {cpu[1]:>7} {cpu[2]:>6}")
    lines.append("")
    lines.append("reproduce: python -m bench.mockserver " + " ".join(argv))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.mockserver", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="measured rounds (after one warm-up), default 7")
    parser.add_argument("--requests", type=int, default=1000, help="round trips per mode per round, default 1000")
    parser.add_argument("--batches", type=int, default=10, help="alternations per round, default 10")
    args = parser.parse_args(argv)
    deadline = DEADLINE_PER_ROUND_TRIP * args.requests * (args.rounds + 1) * 8 + 30
    try:
        results, cpu_results = asyncio.run(
            asyncio.wait_for(measure(args.rounds, args.requests, args.batches), deadline)
        )
    except asyncio.TimeoutError:
        print(f"bench.mockserver: the run did not finish within {deadline:.0f} seconds", file=sys.stderr)
        return 1
    shown = sys.argv[1:] if argv is None else argv
    print(report(results, cpu_results, shown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
