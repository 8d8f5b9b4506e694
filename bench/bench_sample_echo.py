"""Echo rate and start-up time of the sample service against minimal echo servers (issue 2).

Run from the repository root::

    python bench/bench_sample_echo.py            # about a minute on 2 cores
    python bench/bench_sample_echo.py --quick    # a smoke check; figures not for quoting

Three servers run side by side, each as its own process on 127.0.0.1:

- ``sample``: ``python -m sample_service`` on a copy of the bundled static config;
- ``aiohttp``: a minimal aiohttp echo handler (``async for msg in ws: send it back``);
- ``websockets``: a minimal websockets echo handler (``async for m in ws: await ws.send(m)``).

(The two minimal servers are this script, started with ``--serve NAME PORT``.)

The client is a raw blocking socket with prebuilt masked frames, so that it costs far less
per message than any of the servers and the figures are the servers' rates, not the
client's. One connection per server stays open; per round and per server:

- sequential: send one 32-byte text message, read its echo, repeat (``--seq`` times);
- pipelined: keep up to ``--window`` messages in flight until ``--pipe`` have come back.

Each round is cut into 10 slices and the servers take turns slice by slice, in a rotating
order, so that load from elsewhere on the machine hits all three alike. Every echoed byte is
checked. The figure per server is the median over rounds; the ratio is the median of
per-round ratios of the sample's rate to the faster minimal server's rate in that round
(target: at least 0.9). The servers' CPU time per message (from /proc) is printed too: it
does not depend on what else the machine runs.

By default the client and the servers all run on CPU 0 (``--pin``): a round trip then costs
CPU time only, instead of depending on whether the scheduler put client and server on one
CPU or two.

Then the start-up time: from ``Popen`` of ``python -m sample_service`` (and, for reference,
of the minimal aiohttp server) to the first ``200`` on ``/ping``, polled every millisecond;
median of ``--spawns`` starts, interleaved.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PAYLOAD_SIZE = 32
MASK = b"\x37\xfa\x21\x3d"
DEADLINE = 20.0  # seconds for any one start, handshake or measurement


# ---------------------------------------------------------------- minimal servers


def settle_allocator_if_asked() -> None:
    """With --settled-minimal, give a minimal server the sample service's allocator setting.

    The sample service allocates and frees 1 MiB at start so that glibc serves asyncio's
    256 KiB read buffers from the heap (see sample_service/__main__.py). A minimal server
    without it pays mmap/munmap and two page faults per read until glibc raises its mmap
    threshold by itself, which happens or not depending on the traffic it has seen.
    """
    if os.environ.get("BENCH_SETTLE_ALLOCATOR") == "1":
        bytearray(1 << 20)


def serve_aiohttp(port: int) -> None:
    settle_allocator_if_asked()
    from aiohttp import WSMsgType, web

    async def chat(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                await ws.send_str(msg.data)
            elif msg.type is WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
        return ws

    async def ping(request: web.Request) -> web.Response:
        return web.Response()

    app = web.Application()
    app.router.add_get("/chat", chat)
    app.router.add_get("/ping", ping)
    # No access log, as in the sample service.
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def serve_websockets(port: int) -> None:
    settle_allocator_if_asked()
    import asyncio

    from websockets.asyncio.server import serve

    async def echo(ws) -> None:
        async for message in ws:
            await ws.send(message)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = loop.create_future()
        loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
        # No keepalive pings: the benchmark client does not answer them, and the other two
        # servers send none either.
        async with serve(echo, "127.0.0.1", port, compression=None, ping_interval=None):
            await stop

    asyncio.run(main())


# ---------------------------------------------------------------- raw client


def masked_text_frame(payload: bytes) -> bytes:
    assert len(payload) < 126
    body = bytes(b ^ MASK[i % 4] for i, b in enumerate(payload))
    return bytes((0x81, 0x80 | len(payload))) + MASK + body


def echo_frame(payload: bytes) -> bytes:
    return bytes((0x81, len(payload))) + payload


def messages(count: int) -> list[bytes]:
    return [f"{i:0{PAYLOAD_SIZE}d}".encode() for i in range(count)]


def recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks = []
    while size:
        chunk = sock.recv(size)
        if not chunk:
            raise ConnectionError("server closed the connection mid-benchmark")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def open_chat(port: int, path: str = "/chat") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError(f"no handshake answer from port {port}")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(f"handshake refused on port {port}: {head[:80]!r}")
    assert head.endswith(b"\r\n\r\n"), "server sent data before the first message"
    return sock


def close_chat(sock: socket.socket) -> None:
    try:
        sock.sendall(b"\x88\x82" + MASK + bytes(b ^ MASK[i] for i, b in enumerate(struct.pack("!H", 1000))))
        sock.settimeout(2.0)
        while sock.recv(4096):
            pass
    except OSError:
        pass
    finally:
        sock.close()


class Workload:
    """Prebuilt frames and expected echoes for ``count`` distinct 32-byte text messages."""

    def __init__(self, count: int) -> None:
        payloads = messages(count)
        self.count = count
        self.frames = [masked_text_frame(p) for p in payloads]
        self.echoes = [echo_frame(p) for p in payloads]
        self.stream = b"".join(self.frames)
        self.expected = b"".join(self.echoes)


def sequential_time(sock: socket.socket, work: Workload) -> float:
    """Seconds for ``work.count`` round trips, one message in flight at a time."""
    size = len(work.echoes[0])
    start = time.perf_counter()
    for frame, echo in zip(work.frames, work.echoes, strict=False):
        sock.sendall(frame)
        if recv_exact(sock, size) != echo:
            raise AssertionError("wrong echo")
    return time.perf_counter() - start


def pipelined_time(sock: socket.socket, work: Workload, window: int, batch: int = 50) -> float:
    """Seconds until all of ``work`` came back, with up to ``window`` messages in flight."""
    frame_size = len(work.frames[0])
    echo_size = len(work.echoes[0])
    received = bytearray()
    sent = 0
    start = time.perf_counter()
    while len(received) < len(work.expected):
        if sent < work.count and sent - len(received) // echo_size + batch <= window:
            n = min(batch, work.count - sent)
            sock.sendall(work.stream[sent * frame_size : (sent + n) * frame_size])
            sent += n
            continue
        chunk = sock.recv(262144)
        if not chunk:
            raise ConnectionError("server closed the connection mid-benchmark")
        received += chunk
    elapsed = time.perf_counter() - start
    if received != work.expected:
        raise AssertionError("wrong echo stream")
    return elapsed


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_sample_config(directory: Path, port: int) -> Path:
    import yaml

    bundled = REPO / "sample_service" / "static_config.yaml"
    config = yaml.safe_load(bundled.read_text())
    components = config["components_manager"]["components"]
    components["server"]["listener"]["port"] = port
    # Logged as under the plugin: to a file, at info (one line per connection).
    components["logging"]["loggers"]["default"].update(file_path=str(directory / f"sample-{port}.log"), level="info")
    shutil.copy(REPO / "sample_service" / "dynamic_config_fallback.json", directory)
    path = directory / f"static_config_{port}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def command(name: str, port: int, directory: Path) -> list[str]:
    if name == "sample":
        return [sys.executable, "-m", "sample_service", "-c", str(write_sample_config(directory, port))]
    return [sys.executable, str(Path(__file__).resolve()), "--serve", name, str(port)]


def http_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
            sock.sendall(b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return sock.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


#: CPU placement (``--pin``): "same" runs the client and every server on CPU 0, so that a
#: round trip costs CPU time only and the figures compare the servers' cost per message;
#: "split" puts the client on CPU 0 and the servers on CPU 1; "none" leaves it to the
#: scheduler. Unpinned, the sequential rate on a 2-CPU VM jumped between about 9k, 20k and
#: 42k round trips per second from run to run, with where the scheduler placed the two
#: processes; split, cross-CPU wake-ups made it about 4k and latency-bound.
PIN = "same"
SERVER_CPU = {"same": 0, "split": 1}


def popen(cmd: list[str], pin: bool = True) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, cwd=REPO, stdin=subprocess.DEVNULL)
    if pin and PIN in SERVER_CPU:
        with contextlib.suppress(OSError):  # the process may already be gone; its start-up reports why
            os.sched_setaffinity(proc.pid, {SERVER_CPU[PIN]})
    return proc


def start(name: str, directory: Path) -> tuple[subprocess.Popen, int]:
    """Start a server and wait (deadline DEADLINE) until a WebSocket handshake succeeds."""
    port = free_port()
    proc = popen(command(name, port, directory))
    deadline = time.monotonic() + DEADLINE
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} server exited with status {proc.returncode} before it was ready")
        try:
            close_chat(open_chat(port))
            return proc, port
        except OSError:
            if time.monotonic() > deadline:
                stop(proc)
                raise RuntimeError(f"{name} server did not accept a WebSocket on port {port} within {DEADLINE}s")
            time.sleep(0.01)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def spawn_to_ready(name: str, directory: Path) -> float:
    """Seconds from Popen to the first 200 on /ping."""
    port = free_port()
    cmd = command(name, port, directory)
    start_time = time.perf_counter()
    proc = popen(cmd, pin=False)  # start-up is timed as pytest would see it: unpinned
    try:
        deadline = time.monotonic() + DEADLINE
        while not http_ping(port):
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with status {proc.returncode} during start-up")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not answer /ping on port {port} within {DEADLINE}s")
            time.sleep(0.001)
        return time.perf_counter() - start_time
    finally:
        stop(proc)


# ---------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds (default %(default)s)")
    parser.add_argument("--seq", type=int, default=5000, help="sequential round trips per server and round")
    parser.add_argument("--pipe", type=int, default=50000, help="pipelined messages per server and round")
    parser.add_argument("--window", type=int, default=500, help="pipelined messages in flight at most")
    parser.add_argument("--spawns", type=int, default=10, help="start-ups to time per server")
    parser.add_argument("--quick", action="store_true", help="2 rounds, small counts, 3 start-ups")
    parser.add_argument(
        "--pin",
        choices=["same", "split", "none"],
        default="same",
        help="same: client and servers on CPU 0 (default); split: client on CPU 0, servers on CPU 1; none: unpinned",
    )
    parser.add_argument(
        "--settled-minimal",
        action="store_true",
        help="give the minimal servers the sample service's allocator setting too (compare the rest)",
    )
    parser.add_argument("--serve", nargs=2, metavar=("NAME", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.serve:
        name, port = args.serve[0], int(args.serve[1])
        {"aiohttp": serve_aiohttp, "websockets": serve_websockets}[name](port)
        return 0
    global PIN
    PIN = args.pin if hasattr(os, "sched_setaffinity") else "none"
    if PIN == "split" and (os.cpu_count() or 1) < 2:
        PIN = "same"
    if PIN != "none":
        os.sched_setaffinity(0, {0})
    if args.settled_minimal:
        os.environ["BENCH_SETTLE_ALLOCATOR"] = "1"  # inherited by the minimal servers
    if args.quick:
        args.rounds, args.seq, args.pipe, args.spawns = 2, 500, 5000, 3

    import aiohttp
    import websockets

    reproduce = " ".join(["python", "bench/bench_sample_echo.py", *sys.argv[1:]])
    print(
        f"CPython {sys.version.split()[0]}, aiohttp {aiohttp.__version__}, websockets {websockets.__version__}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}, "
        + {"same": "client and servers on CPU 0", "split": "client on CPU 0, servers on CPU 1", "none": "not pinned"}[
            PIN
        ]
        + (", minimal servers with the sample's allocator setting" if args.settled_minimal else "")
    )
    print(f"reproduce: {reproduce}")

    names = ["sample", "aiohttp", "websockets"]
    modes = ("sequential", "pipelined")
    # Per round, the measurements are cut into slices and the servers take turns slice by
    # slice (in a rotating order), so that a burst of load from elsewhere on the machine
    # lands on all three alike; a round's rate is its messages over its summed slice times.
    slices = 10
    seq_work = Workload(max(1, args.seq // slices))
    pipe_work = Workload(max(1, args.pipe // slices))
    rates: dict[tuple[str, str], list[float]] = {(n, m): [] for n in names for m in modes}
    # Server CPU seconds and messages, summed over all rounds: /proc counts in 10 ms ticks,
    # too coarse for one round.
    cpu_total: dict[tuple[str, str], float] = {(n, m): 0.0 for n in names for m in modes}
    msg_total: dict[tuple[str, str], int] = {(n, m): 0 for n in names for m in modes}
    ratios: dict[str, list[float]] = {m: [] for m in modes}
    with tempfile.TemporaryDirectory(prefix="bench-sample-echo-") as tmp:
        directory = Path(tmp)
        procs = {}
        socks: dict[str, socket.socket] = {}
        try:
            for name in names:
                procs[name] = start(name, directory)
                socks[name] = open_chat(procs[name][1])
            # One throw-away round warms the servers (bytecode, allocator, caches).
            for name in names:
                sequential_time(socks[name], seq_work)
                pipelined_time(socks[name], pipe_work, args.window)
            for round_no in range(args.rounds):
                this_round: dict[tuple[str, str], float] = {}
                for mode in modes:
                    elapsed = dict.fromkeys(names, 0.0)
                    cpu_before = {n: cpu_seconds(procs[n][0].pid) for n in names}
                    for slice_no in range(slices):
                        shift = (round_no + slice_no) % len(names)
                        for name in names[shift:] + names[:shift]:
                            if mode == "sequential":
                                elapsed[name] += sequential_time(socks[name], seq_work)
                            else:
                                elapsed[name] += pipelined_time(socks[name], pipe_work, args.window)
                    count = slices * (seq_work.count if mode == "sequential" else pipe_work.count)
                    for name in names:
                        this_round[name, mode] = count / elapsed[name]
                        cpu_total[name, mode] += cpu_seconds(procs[name][0].pid) - cpu_before[name]
                        msg_total[name, mode] += count
                for key, value in this_round.items():
                    rates[key].append(value)
                for mode in modes:
                    best = max(this_round["aiohttp", mode], this_round["websockets", mode])
                    ratios[mode].append(this_round["sample", mode] / best)
                print(
                    f"round {round_no + 1}/{args.rounds}: "
                    + ", ".join(
                        f"{n} {this_round[n, 'sequential']:.0f}/{this_round[n, 'pipelined']:.0f}" for n in names
                    )
                    + " msg/s (sequential/pipelined)"
                )
        finally:
            for sock in socks.values():
                close_chat(sock)
            for proc, _ in procs.values():
                stop(proc)

        if PIN != "none":
            os.sched_setaffinity(0, range(os.cpu_count() or 1))
        spawn: dict[str, list[float]] = {"sample": [], "aiohttp": []}
        spawn_to_ready("sample", directory)  # warm the bytecode and disk caches
        for _ in range(args.spawns):
            for name in spawn:
                spawn[name].append(spawn_to_ready(name, directory))

    med = statistics.median
    print()
    print(
        f"echo rate, 32-byte text, median of {args.rounds} interleaved rounds; server CPU time per message over all rounds"
    )
    print(f"{'server':<12} {'sequential msg/s':>17} {'pipelined msg/s':>16} {'server CPU us/msg (seq / pipe)':>32}")
    for name in names:
        print(
            f"{name:<12} {med(rates[name, 'sequential']):>17.0f} {med(rates[name, 'pipelined']):>16.0f} "
            f"{cpu_total[name, 'sequential'] / msg_total[name, 'sequential'] * 1e6:>20.1f} / "
            f"{cpu_total[name, 'pipelined'] / msg_total[name, 'pipelined'] * 1e6:.1f}"
        )
    for mode, values in ratios.items():
        verdict = "holds" if med(values) >= 0.9 else "DOES NOT HOLD"
        print(
            f"ratio sample / faster minimal server, {mode}: {med(values):.3f} "
            f"(per round {min(values):.3f}-{max(values):.3f}; target >= 0.9: {verdict})"
        )
    print()
    print(f"spawn to first 200 on /ping, median of {args.spawns}:")
    for name, values in spawn.items():
        print(f"  {name:<10} {med(values) * 1000:.1f} ms (min {min(values) * 1000:.1f}, max {max(values) * 1000:.1f})")
    print(f"reproduce: {reproduce}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
