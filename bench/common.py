"""Shared helpers of the benchmarks: timing, pytest runs, the sample config, peak RSS.

Nothing here imports pytest_wsservice: the benchmarks of the hand-written and testsuite
harnesses must run (and be measured) without it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

#: Any pytest run of a benchmark suite that takes longer than this is a failure, not a figure.
PYTEST_RUN_DEADLINE = 300.0


class BenchError(RuntimeError):
    """A benchmark could not produce a figure (a suite failed, a tool is missing)."""


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def has_module(name: str) -> bool:
    """Tell whether ``name`` is importable by the benchmark's interpreter, without importing it."""
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def sample_config_path() -> Path:
    """The static config bundled with the sample service."""
    import sample_service  # the package only; cheap, and tells us where it is installed

    paths = [Path(p) for p in getattr(sample_service, "__path__", [])]
    for directory in paths:
        candidate = directory / "static_config.yaml"
        if candidate.is_file():
            return candidate
    raise BenchError(f"no static_config.yaml in the sample_service package ({paths}); is it written yet?")


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a benchmark child: ours without anything that changes pytest's behaviour.

    PYTHONDONTWRITEBYTECODE is dropped too: with it, every run recompiles every module of
    the project and pytest assertion-rewrites the plugin and the test files again, a cost
    that a developer's machine (which caches bytecode) does not pay. The warm-up round of
    each comparison fills the caches.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "WSSERVICE_"))}
    for name in ("PYTHONBREAKPOINT", "PYTHONDONTWRITEBYTECODE"):
        env.pop(name, None)
    env.update(extra)
    return env


@dataclass
class PytestRun:
    wall: float
    #: user + system CPU seconds of pytest and of the children it reaped (the service):
    #: much less sensitive than the wall to other work on the machine.
    cpu: float
    passed: int
    output: str
    peak: PeakRss | None = None


_PASSED = re.compile(r"(\d+) passed")


def run_pytest(
    suite_dir: Path,
    args: Sequence[str] = (),
    *,
    expect_passed: int,
    env: dict[str, str] | None = None,
    deadline: float = PYTEST_RUN_DEADLINE,
    sample_rss: bool = False,
) -> PytestRun:
    """Run ``python -m pytest -q ARGS`` in ``suite_dir`` and return its wall and CPU time.

    The wall is measured around the whole process (interpreter start to exit), which is
    what a developer waits for. A run that fails, or passes another number of tests than
    expected, raises BenchError with the tail of its output: a figure from a broken run
    would be meaningless. With ``sample_rss``, peak RSS of pytest and of the service is
    sampled too (that costs a little CPU, so timed runs do not do it).
    """
    # -x: a broken run stops at its first failure instead of reporting thousands of them.
    command = [PYTHON, "-m", "pytest", "-q", "-x", *args]
    with tempfile.TemporaryFile("w+") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            command,
            cwd=suite_dir,
            env=env if env is not None else child_env(),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
        # wait4 instead of proc.wait(): it also returns the CPU the run used.
        timer = threading.Timer(deadline, proc.kill)
        timer.start()
        try:
            with RssSampler(proc.pid) if sample_rss else contextlib.nullcontext() as sampler:
                _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        output = out.read()
    if wall >= deadline:
        raise BenchError(f"pytest in {suite_dir} did not finish within {deadline:.0f} s: {' '.join(command)}")
    found = _PASSED.findall(output)
    passed = int(found[-1]) if found else 0
    if proc.returncode != 0 or passed != expect_passed:
        tail = "\n".join(output.splitlines()[-40:])
        raise BenchError(
            f"pytest in {suite_dir} exited {proc.returncode} with {passed} passed "
            f"(expected {expect_passed}); command: {' '.join(command)}\n{tail}"
        )
    return PytestRun(
        wall=wall,
        cpu=usage.ru_utime + usage.ru_stime,
        passed=passed,
        output=output,
        peak=sampler.peak if sampler is not None else None,
    )


@contextlib.contextmanager
def temp_dir(prefix: str, keep: bool = False) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=f"wsbench-{prefix}-"))
    try:
        yield path
    finally:
        if not keep:
            shutil.rmtree(path, ignore_errors=True)


# --- peak RSS of a process tree ------------------------------------------------------------


def _read_status_kib(pid: int, key: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith(key):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with (
                contextlib.suppress(OSError, ValueError),
                open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as f,
            ):
                found.extend(int(x) for x in f.read().split())
    except OSError:
        pass
    return found


@dataclass
class PeakRss:
    """The peak resident set (VmHWM) seen for the root process and for its service children."""

    root_kib: int = 0
    service_kib: int = 0
    service_pids: set[int] = field(default_factory=set)


class RssSampler:
    """Sample VmHWM of a process and of its descendants that run the sample service.

    VmHWM is the kernel's own high-water mark, so sampling every 20 ms only risks missing
    the last 20 ms of a process's life, never a spike in between.
    """

    def __init__(self, root_pid: int, service_marker: str = "sample_service", interval: float = 0.02) -> None:
        self.root_pid = root_pid
        self.marker = service_marker
        self.interval = interval
        self.peak = PeakRss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        root = _read_status_kib(self.root_pid, "VmHWM:")
        if root:
            self.peak.root_kib = max(self.peak.root_kib, root)
        pending = _children(self.root_pid)
        seen = 0
        while pending and seen < 200:  # bounded: a test tree is small
            pid = pending.pop()
            seen += 1
            if self.marker in _cmdline(pid):
                hwm = _read_status_kib(pid, "VmHWM:")
                if hwm:
                    self.peak.service_pids.add(pid)
                    self.peak.service_kib = max(self.peak.service_kib, hwm)
            pending.extend(_children(pid))


def machine_summary() -> str:
    import platform

    load = os.getloadavg()
    return (
        f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores, "
        f"load average {load[0]:.2f} at start"
    )


# --- the sample service started by hand (the floor the harnesses are compared with) ----------


def write_sample_config(directory: Path, port: int) -> tuple[Path, Path]:
    """Write the bundled static config with ``port`` and a log file in ``directory``.

    Returns the config path and the log path. Relative ``*-path`` values are made absolute,
    since the patched copy no longer sits beside the files they name.
    """
    import yaml

    base = sample_config_path()
    config = yaml.safe_load(base.read_text())
    components = config["components_manager"]["components"]
    components["server"]["listener"]["port"] = port
    log_path = directory / "service.log"
    components["logging"]["loggers"]["default"]["file_path"] = str(log_path)
    for component in components.values():
        for key, value in list((component or {}).items()):
            if isinstance(value, str) and key.endswith(("-path", "_path")) and not value.startswith("@"):
                component[key] = str(base.parent / value)
    path = directory / "static_config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, log_path


def service_command(config_path: Path) -> list[str]:
    return [PYTHON, "-m", "sample_service", "-c", str(config_path)]


def wait_for_ping(port: int, proc: subprocess.Popen, *, deadline: float = 30.0, interval: float = 0.01) -> None:
    """Poll ``GET /ping`` every ``interval`` seconds until 200, as the hand-written fixture does."""
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    give_up = time.monotonic() + deadline
    while True:
        try:
            opener.open(f"http://127.0.0.1:{port}/ping", timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None:
                raise BenchError(f"the sample service exited with {proc.returncode} before answering /ping")
            if time.monotonic() > give_up:
                raise BenchError(f"the sample service did not answer /ping on port {port} within {deadline} s")
            time.sleep(interval)


@dataclass
class RawService:
    proc: subprocess.Popen
    port: int
    log_path: Path

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/chat"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def stop(self) -> None:
        stop_process(self.proc)


def stop_process(proc: subprocess.Popen, grace: float = 10.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=grace)


def start_raw_service(directory: Path) -> RawService:
    """Start the sample service on a free port the hand-written way and wait for /ping."""
    port = free_port()
    config, log_path = write_sample_config(directory, port)
    proc = subprocess.Popen(service_command(config), stdin=subprocess.DEVNULL, env=child_env())
    try:
        wait_for_ping(port, proc)
    except BaseException:
        stop_process(proc)
        raise
    return RawService(proc, port, log_path)


_LOG_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(?:[.,](\d+))?")


def listening_moment(log_path: Path, *, deadline: float = 5.0) -> float:
    """The wall-clock time (``time.time()``) of the service's ``listening on`` log line.

    The stamp has millisecond resolution; the midpoint of that millisecond is returned.
    """
    import datetime

    give_up = time.monotonic() + deadline
    while True:
        with contextlib.suppress(OSError):
            for line in log_path.read_text(errors="replace").splitlines():
                if "listening on" in line:
                    match = _LOG_STAMP.match(line)
                    if not match:
                        raise BenchError(f"no time stamp on the listening line of {log_path}: {line!r}")
                    stamp = datetime.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S")
                    fraction = match.group(2) or ""
                    resolution = 10.0 ** -len(fraction) if fraction else 1.0
                    seconds = float(f"0.{fraction}") if fraction else 0.0
                    return stamp.timestamp() + seconds + resolution / 2  # local time, as logging writes
        if time.monotonic() > give_up:
            raise BenchError(f"no 'listening on' line in {log_path} after {deadline} s")
        time.sleep(0.01)
