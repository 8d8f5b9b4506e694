"""Plain helpers for the lifecycle tests: service wrappers, pytest subprocesses, leftovers."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import psutil

#: The ini every inner run starts from (pytest-asyncio's loop scope set, so it does not warn).
BASE_INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
CONFTEST = "pytest_plugins = ['pytest_wsservice']\n"
#: Inner runs name this env var; every process they start inherits it.
RUN_MARK = "WSSERVICE_LIFECYCLE_RUN"


def pid_alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def write_wrapper(directory: Path, name: str = "wrapper.sh") -> Path:
    """Write a service wrapper, as real deployments have: it starts a grandchild
    (``sleep``), records its pid in ``$GRANDCHILD_FILE`` (if set), then becomes the
    sample service with ``exec``. Its command takes the patched config's path."""
    script = directory / name
    script.write_text(
        textwrap.dedent(
            f"""\
            #!/bin/sh
            sleep 300 &
            if [ -n "$GRANDCHILD_FILE" ]; then echo $! > "$GRANDCHILD_FILE"; fi
            exec {shlex.quote(sys.executable)} -m sample_service --config "$1"
            """
        )
    )
    script.chmod(0o755)
    return script


def wait_for_file(path: Path, timeout: float, process: subprocess.Popen[Any] | None = None) -> str:
    """Wait until ``path`` has content; fail if ``process`` ends first or the deadline passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text()
        if process is not None and process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise AssertionError(f"the inner pytest ended ({process.returncode}) before writing {path}:\n{output}")
        time.sleep(0.01)
    raise AssertionError(f"{path} was not written within {timeout} s")


def processes_of_run(mark: str) -> list[psutil.Process]:
    """Every live (non-zombie) process whose environment carries ``RUN_MARK=mark``."""
    found = []
    for process in psutil.process_iter():
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                continue
            if process.environ().get(RUN_MARK) == mark:
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def assert_nothing_left(mark: str, within: float) -> None:
    """Assert that no process of the run is alive ``within`` seconds from now."""
    deadline = time.monotonic() + within
    while True:
        left = processes_of_run(mark)
        if not left:
            return
        if time.monotonic() >= deadline:
            described = []
            for process in left:
                try:
                    described.append(f"{process.pid} {process.cmdline()}")
                except psutil.Error:
                    described.append(str(process.pid))
            raise AssertionError(f"processes of the run left after {within} s: {described}")
        time.sleep(0.02)


def _default_sigint() -> None:
    """In the child: SIGINT back to its default, so Python turns it into KeyboardInterrupt.

    A suite started as a background job of a non-interactive shell (``nohup pytest &``, some CI
    runners) inherits SIGINT ignored, and so would the inner pytest, which then never sees Ctrl-C.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class InnerRun:
    """A ``python -m pytest`` subprocess in ``directory``, marked with a fresh RUN_MARK.

    Use it as a context manager: leaving the block kills a run that is still going (and so,
    through the plugin's guard, its service), so a failed assertion never leaks processes.
    """

    def __init__(self, directory: Path, *args: str, new_session: bool = False) -> None:
        self.mark = uuid.uuid4().hex
        env = dict(os.environ, **{RUN_MARK: self.mark})
        env.pop("PYTEST_XDIST_WORKER", None)
        env.pop("PYTEST_ADDOPTS", None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
            cwd=directory,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=new_session,
            preexec_fn=_default_sigint,
        )

    def __enter__(self) -> InnerRun:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()  # killed or already ended: no pipe can hold it up
        if self.process.stdout is not None:
            self.process.stdout.close()

    def signal(self, signum: int, *, group: bool = False) -> None:
        if group:
            os.killpg(self.process.pid, signum)
        else:
            self.process.send_signal(signum)

    def finish(self, timeout: float) -> tuple[int, str]:
        """Wait for the run to end; return its exit status and output."""
        try:
            output, _ = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            # pytest's faulthandler dumps every thread's stack on SIGABRT: say where the run was stuck.
            self.process.send_signal(signal.SIGABRT)
            try:
                output, _ = self.process.communicate(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                output, _ = self.process.communicate()
            raise AssertionError(f"the inner pytest did not end within {timeout} s:\n{output}") from None
        return self.process.returncode, output


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


__all__ = [
    "BASE_INI",
    "CONFTEST",
    "RUN_MARK",
    "InnerRun",
    "assert_nothing_left",
    "pid_alive",
    "processes_of_run",
    "read_json",
    "wait_for_file",
    "write_wrapper",
]
