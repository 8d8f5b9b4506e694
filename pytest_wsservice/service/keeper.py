"""The keeper of a kept service (``--service-reuse``): ``python -m pytest_wsservice.service.keeper STATE``.

Started by the plugin with the service's spec as JSON on stdin, it detaches (a session of
its own, and a second fork so that it is nobody's child), spawns the service in a process
group of its own (with the kernel's parent-death signal: if the keeper is killed, so is the
service), writes the state file (:mod:`.reuse`, 0600) and answers on stdout with the state
(without the secret). Then it owns the service: it removes the state file and stops the
service's group (SIGTERM, then SIGKILL after the stop timeout) when

- the service exits (a line in the service's log says so);
- the keeper gets SIGTERM, SIGINT or SIGHUP (``--service-reuse=stop``);
- the state file has not been touched for the idle time (each run that adopts the service
  touches it, and so does its end), or it was removed or now names another keeper.

It imports no pytest, and is outside the plugin's orphan guard on purpose: it is the one
thing that outlives a pytest run, because the user asked for it.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .descendants import MARK_VARIABLE, kill_marked, new_mark
from .guard import parent_death_signal
from .logwrite import open_service_log
from .procfs import group_alive
from .reuse import KeptState, idle_lock, read_state, remove_state, write_state

#: The longest sleep between two looks at the state file when no pidfd says the service exited.
POLL = 0.05
#: The longest sleep between two looks at the state file otherwise.
LOOK = 1.0


def _note(log_path: str, text: str) -> None:
    with contextlib.suppress(OSError), open(log_path, "a") as log:
        log.write(f"[pytest-wsservice keeper {os.getpid()}] {text}\n")


def _spawn(spec: dict[str, Any], path: Path) -> tuple[subprocess.Popen[bytes], KeptState]:
    log = open_service_log(Path(spec["log_path"]))
    env = dict(os.environ)
    env.pop("NOTIFY_SOCKET", None)
    env.update(spec.get("env") or {})
    env[MARK_VARIABLE] = mark = new_mark()
    with log:
        popen = subprocess.Popen(
            spec["command"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=env,
            start_new_session=True,
            preexec_fn=parent_death_signal(),
        )
    state = KeptState(
        keeper_pid=os.getpid(),
        service_pid=popen.pid,
        host=spec["host"],
        port=int(spec["port"]),
        log_path=spec["log_path"],
        config_path=spec.get("config_path"),
        recipe_hash=spec["recipe_hash"],
        mark=mark,
        idle=float(spec["idle"]),
        secret=spec["secret"],
    )
    write_state(path, state)
    return popen, state


def _stop(popen: subprocess.Popen[bytes], state: KeptState, grace: float) -> None:
    """SIGTERM to the service's group, SIGKILL after ``grace`` s; what it left is killed too."""
    for signum in (signal.SIGTERM, signal.SIGCONT):
        with contextlib.suppress(OSError):
            os.killpg(popen.pid, signum)
    try:
        popen.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(OSError):
            os.killpg(popen.pid, signal.SIGKILL)
        popen.wait()
    deadline = time.monotonic() + grace
    while group_alive(popen.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    with contextlib.suppress(OSError):
        os.killpg(popen.pid, signal.SIGKILL)
    kill_marked(state.mark, 2.0)


def _watch(popen: subprocess.Popen[bytes], state: KeptState, path: Path, grace: float) -> int:
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda *args: None)
    pidfd = None
    with contextlib.suppress(AttributeError, OSError):
        pidfd = os.pidfd_open(popen.pid)
    why = ""
    while not why:
        returncode = popen.poll()
        if returncode is not None:
            _note(state.log_path, f"the kept service (pid {popen.pid}) exited with status {returncode}")
            remove_state(path, state.keeper_pid)
            return 0
        current = read_state(path)
        if current is None or current.keeper_pid != state.keeper_pid:
            why = "its state file was removed or replaced"
            break
        try:
            remaining = os.stat(path).st_mtime + state.idle - time.time()
        except OSError:
            continue
        if remaining <= 0:
            lock = idle_lock(path)
            if lock is None:  # a run holds it: in use, not idle
                remaining = LOOK
            else:
                remove_state(path, state.keeper_pid)
                os.close(lock)
                why = f"it was not used for {state.idle:g} s"
                break
        fds = [wake_read] if pidfd is None else [wake_read, pidfd]
        ready, _, _ = select.select(fds, [], [], min(remaining, LOOK if pidfd is not None else POLL))
        if wake_read in ready:
            why = "its keeper got a signal (--service-reuse=stop)"
    remove_state(path, state.keeper_pid)
    _note(state.log_path, f"stopping the kept service (pid {popen.pid}): {why}")
    _stop(popen, state, grace)
    return 0


def main(argv: list[str]) -> int:
    path = Path(argv[1])
    spec = json.loads(sys.stdin.buffer.read())
    if os.fork() != 0:
        os._exit(0)  # the plugin reaps this process at once; the keeper goes on as nobody's child
    try:
        popen, state = _spawn(spec, path)
    except Exception as error:
        sys.stdout.write(f"{error}\n")
        return 1
    answer = {key: value for key, value in asdict(state).items() if key != "secret"}
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    return _watch(popen, state, path, float(spec.get("stop_timeout", 5.0)))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
