"""The sample service's own start-up: spawn to the first ``/ping`` answered 200, and its imports.

Run from the repository root::

    python bench/sample_startup.py                       # this checkout, 21 runs
    python bench/sample_startup.py --runs 31 --tree before=/tmp/old --tree after=.

Each ``--tree LABEL=DIR`` names a source tree holding a ``sample_service`` package; the trees
run interleaved (a, b, a, b, ...) after one warm-up round that is thrown away, each run from
a fresh interpreter with ``DIR`` first on its path. A run starts the clock just before
``Popen``, polls ``GET /ping`` over a fresh TCP connection every millisecond, and stops it
at the first ``200``. Printed per tree: the median and quartiles of spawn-to-ready, the
median wall time of ``python -m sample_service --help``, and the import time
(``-X importtime``, sum of the top-level imports) of ``--help`` and of a full start, the
CPU used by the time it is ready, and how long it takes to exit after SIGTERM (sent once it
is ready, with no connection open).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEADLINE = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(tree: Path, directory: Path, port: int) -> Path:
    """The echo part of ``tree``'s bundled config with ``port`` and logs to @null (JSON is YAML).

    Only the components both old and new trees have are kept (server, logging, dynamic
    config fallbacks, ping, the echo chat), so that trees from different commits compare.
    """
    import yaml

    config = yaml.safe_load((tree / "sample_service" / "static_config.yaml").read_text())
    manager = config["components_manager"]
    kept = ("server", "logging", "dynamic-config-fallbacks", "handler-ping", "websocket-handler")
    components = {name: part for name, part in manager["components"].items() if name in kept}
    manager["components"] = components
    components["server"]["listener"]["port"] = port
    components["logging"]["loggers"]["default"]["file_path"] = "@null"
    fallback = components.get("dynamic-config-fallbacks", {})
    if "fallback-path" in fallback:
        fallback["fallback-path"] = str(tree / "sample_service" / fallback["fallback-path"])
    path = directory / f"config-{port}.yaml"
    path.write_text(json.dumps(config))
    return path


def ping_ok(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
            sock.sendall(b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return sock.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def env_for(tree: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(tree)
    env.pop("NOTIFY_SOCKET", None)
    return env


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def spawn_to_ready(tree: Path, directory: Path, extra: list[str] | None = None) -> tuple[float, float, bytes, float]:
    """Seconds from just before ``Popen`` to the first 200 on ``/ping``, CPU seconds used by
    then, stderr, and seconds from SIGTERM (sent once ready) to the process reaped.

    The CPU figure hardly depends on what else the machine runs; the wall figure does.
    """
    port = free_port()
    config = write_config(tree, directory, port)
    command = [sys.executable, *(extra or []), "-m", "sample_service", "-c", str(config)]
    started = time.perf_counter()
    proc = subprocess.Popen(command, cwd=tree, env=env_for(tree), stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while not ping_ok(port):
            if proc.poll() is not None:
                output = proc.communicate()[1].decode(errors="replace")[-2000:]
                raise SystemExit(
                    f"the service from {tree} exited with {proc.returncode} before answering /ping:\n{output}"
                )
            if time.perf_counter() - started > DEADLINE:
                raise SystemExit(f"the service from {tree} did not answer /ping within {DEADLINE}s")
            time.sleep(0.001)
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(proc.pid)
    finally:
        stopping = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=DEADLINE)
        stopped = time.perf_counter() - stopping
    return elapsed, cpu, stderr, stopped


def import_total(stderr: bytes) -> float:
    """Milliseconds spent in top-level imports, from ``-X importtime`` output."""
    total = 0
    for line in stderr.decode(errors="replace").splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|")
        if name.startswith(" ") and not name.startswith("  ") and cumulative.strip().isdigit():
            total += int(cumulative)
    return total / 1000


def help_run(tree: Path, importtime: bool) -> tuple[float, float]:
    command = [sys.executable, *(["-X", "importtime"] if importtime else []), "-m", "sample_service", "--help"]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=tree, env=env_for(tree), capture_output=True, check=True, timeout=DEADLINE)
    return time.perf_counter() - started, import_total(done.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=21, help="measured rounds, at least 2 (default %(default)s)")
    parser.add_argument("--tree", action="append", default=[], metavar="LABEL=DIR", help="a source tree to measure")
    args = parser.parse_args()
    if args.runs < 2:
        parser.error("--runs must be at least 2 (quartiles need two figures)")
    trees: dict[str, Path] = {}
    for item in args.tree or [f"current={Path(__file__).resolve().parent.parent}"]:
        label, _, directory = item.partition("=")
        trees[label] = Path(directory).resolve()
    ready: dict[str, list[float]] = {label: [] for label in trees}
    cpus: dict[str, list[float]] = {label: [] for label in trees}
    helps: dict[str, list[float]] = {label: [] for label in trees}
    help_imports: dict[str, list[float]] = {label: [] for label in trees}
    start_imports: dict[str, list[float]] = {label: [] for label in trees}
    exits: dict[str, list[float]] = {label: [] for label in trees}
    with tempfile.TemporaryDirectory(prefix="sample-startup-") as tmp:
        for round_no in range(args.runs + 1):
            for label, tree in trees.items():
                elapsed, cpu, _, stopped = spawn_to_ready(tree, Path(tmp))
                wall, _ = help_run(tree, importtime=False)
                _, imports = help_run(tree, importtime=True)
                _, _, stderr, _ = spawn_to_ready(tree, Path(tmp), ["-X", "importtime"])
                if round_no == 0:
                    continue  # warm-up
                ready[label].append(elapsed)
                cpus[label].append(cpu)
                exits[label].append(stopped)
                helps[label].append(wall)
                help_imports[label].append(imports)
                start_imports[label].append(import_total(stderr))
    print(f"{args.runs} interleaved runs each (python {sys.version.split()[0]})")
    print(
        f"{'tree':<10} {'spawn->/ping 200 median':>24} {'q1..q3':>17} {'--help wall':>12} "
        f"{'--help imports':>15} {'start imports':>14} {'CPU to ready':>13} {'SIGTERM->exit':>14}"
    )
    for label in trees:
        q1, _, q3 = statistics.quantiles(ready[label], n=4)
        print(
            f"{label:<10} {statistics.median(ready[label]) * 1000:>21.1f} ms {q1 * 1000:>7.1f}..{q3 * 1000:.1f} ms"
            f" {statistics.median(helps[label]) * 1000:>9.1f} ms {statistics.median(help_imports[label]):>12.1f} ms"
            f" {statistics.median(start_imports[label]):>11.1f} ms"
            f" {statistics.median(cpus[label]) * 1000:>10.0f} ms"
            f" {statistics.median(exits[label]) * 1000:>11.1f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
