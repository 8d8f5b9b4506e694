"""``--service-reuse``: the kept service's state file, its identity, adoption and stop. No pytest.

A kept service outlives the pytest run that started it. It is owned by a detached keeper
process (:mod:`.keeper`), and described by one state file per user, project (pytest's
rootdir) and xdist worker::

    $XDG_RUNTIME_DIR/pytest-wsservice/<sha256 of rootdir>.json    (else ~/.cache/pytest-wsservice/)

The directory is made 0700 and the file 0600 (it holds the tests-control secret): a
directory or file that others can read is refused, never used. Next to the file, a
directory of the same name (``<sha256>/``, 0700) holds the kept service's patched config
and log.

The file names the keeper's and the service's pids, the listener, the log and config
paths, the mark in the service's environment (:mod:`.descendants`), the recipe's
:func:`identity` and the secret. A run adopts the service only if its own recipe has the
same identity and :func:`adoption_problem` finds nothing wrong; anything else stops what is
left (:func:`stop_kept`) and starts afresh.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import select
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ServiceConfigError, ServiceStartError
from .descendants import carries_mark
from .procfs import group_alive, process_state

__all__ = [
    "DEFAULT_IDLE",
    "MODES",
    "KeptState",
    "adoption_problem",
    "deciding",
    "hold_state",
    "identity",
    "idle_lock",
    "parse_reuse_mode",
    "read_state",
    "spawn_keeper",
    "state_path",
    "stop_kept",
    "touch_state",
    "work_dir",
    "write_state",
]

#: Seconds a kept service waits for the next run before it stops (``--service-reuse-idle``).
DEFAULT_IDLE = 600.0
#: ``--service-reuse`` values, as parsed: off, on (not under CI or xdist), force, stop.
MODES = {"no": "no", "off": "no", "false": "no", "0": "no", "yes": "yes", "on": "yes", "true": "yes", "1": "yes"}
MODES.update({"force": "force", "stop": "stop"})
#: The keeper's module, also how its command line is recognised.
KEEPER_MODULE = "pytest_wsservice.service.keeper"
#: Environment variables that change from shell to shell without changing the service.
VOLATILE = frozenset(
    {"_", "OLDPWD", "PWD", "SHLVL", "COLUMNS", "LINES", "TERM", "COLORTERM", "WINDOWID", "DISPLAY", "XAUTHORITY"}
    | {"SSH_CLIENT", "SSH_CONNECTION", "SSH_TTY", "SSH_AUTH_SOCK", "TMUX", "TMUX_PANE", "STY", "WINDOW", "PS1"}
    | {"TERM_PROGRAM", "TERM_PROGRAM_VERSION", "TERM_SESSION_ID", "LS_COLORS", "HISTFILE", "PROMPT_COMMAND"}
    | {"NOTIFY_SOCKET", "CI"}
)
#: How long the keeper may take to say it has spawned the service.
KEEPER_START_TIMEOUT = 10.0


def parse_reuse_mode(value: str, origin: str) -> str:
    """``--service-reuse`` as ``"no"``, ``"yes"``, ``"force"`` or ``"stop"``; ServiceConfigError otherwise."""
    mode = MODES.get(value.strip().lower())
    if mode is None:
        raise ServiceConfigError(f"{origin} is {value!r}; it should be yes, no, force or stop.")
    return mode


@dataclass(frozen=True)
class KeptState:
    """What the state file says about a kept service (see the module docstring)."""

    keeper_pid: int
    service_pid: int
    host: str
    port: int
    log_path: str
    config_path: str | None
    recipe_hash: str
    mark: str
    idle: float
    secret: str = field(default="", repr=False)

    def describe(self) -> str:
        return f"pid {self.service_pid}, port {self.port}"


def _state_base() -> Path:
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if runtime and os.path.isabs(runtime) and os.path.isdir(runtime):
        return Path(runtime) / "pytest-wsservice"
    return Path.home() / ".cache" / "pytest-wsservice"


def state_path(rootdir: Path, worker_id: str | None = None) -> Path:
    """The state file of the project at ``rootdir`` (and xdist worker), in a private directory."""
    key = hashlib.sha256(os.fsencode(Path(rootdir).absolute())).hexdigest()
    return _private_dir(_state_base()) / (f"{key}.{worker_id}.json" if worker_id else f"{key}.json")


def project_states(rootdir: Path) -> list[Path]:
    """Every state file of the project at ``rootdir`` (its own and its xdist workers')."""
    path = state_path(rootdir)
    return sorted(path.parent.glob(f"{path.name[:-5]}*.json"))


def work_dir(path: Path) -> Path:
    """The private directory beside state file ``path``: the kept service's config and log."""
    return _private_dir(path.with_suffix(""))


def _private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.stat()
    if info.st_uid != os.getuid() or stat.S_IMODE(info.st_mode) & 0o077:
        if info.st_uid == os.getuid():
            path.chmod(0o700)
        else:
            raise ServiceConfigError(
                f"{path} belongs to another user, so the kept service's state cannot be private there; set "
                "XDG_RUNTIME_DIR to a directory of yours."
            )
    return path


def read_state(path: Path) -> KeptState | None:
    """The state in ``path``, or ``None`` if there is none; a file others could read, or one
    that does not parse, is removed (and ``None`` returned)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        with os.fdopen(fd, "rb", closefd=False) as stream:
            data = json.loads(stream.read(65536))
        if info.st_uid != os.getuid() or stat.S_IMODE(info.st_mode) & 0o077:
            raise ValueError("not private")
        return KeptState(**data)
    except (OSError, ValueError, TypeError):
        with contextlib.suppress(OSError):
            path.unlink()
        return None
    finally:
        os.close(fd)


def hold_state(path: Path) -> tuple[int, KeptState] | None:
    """Open the state file and hold a shared lock on it: while a run holds it, the keeper does
    not stop the service for being idle. The descriptor (close it to let go) and the state,
    or ``None`` if there is no (valid) state file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)  # the keeper holds LOCK_EX only while it removes the file
        if os.fstat(fd).st_ino != os.stat(path).st_ino:
            raise OSError("replaced")
    except OSError:
        os.close(fd)
        return None
    state = read_state(path)
    if state is None:
        os.close(fd)
        return None
    return fd, state


def idle_lock(path: Path) -> int | None:
    """For the keeper: an exclusive lock on the state file if no run holds it (a descriptor
    to close), else ``None``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


@contextlib.contextmanager
def deciding(path: Path, timeout: float = 10.0) -> Iterator[None]:
    """Hold ``<state>.lock`` while a run decides whether to adopt or start the kept service,
    so that two runs started together do not both start one (the second adopts the first's).
    After ``timeout`` s the run decides anyway (the holder is stuck)."""
    fd = os.open(path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.01)
        yield
    finally:
        os.close(fd)


def write_state(path: Path, state: KeptState) -> None:
    """Write ``state`` to ``path`` atomically, readable by its owner only."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        temp.unlink()
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as stream:
        json.dump(asdict(state), stream)
    os.replace(temp, path)


def touch_state(path: Path) -> None:
    """Mark the kept service as used now: its idle time counts from here."""
    with contextlib.suppress(OSError):
        os.utime(path)


def remove_state(path: Path, keeper_pid: int | None = None) -> None:
    """Remove the state file (only if it still names ``keeper_pid``, when given)."""
    if keeper_pid is not None:
        current = read_state(path)
        if current is None or current.keeper_pid != keeper_pid:
            return
    with contextlib.suppress(OSError):
        path.unlink()


def identity(command: Sequence[str], config: Mapping[str, Any], env: Mapping[str, str] | None, version: str) -> str:
    """The recipe's identity: sha256 of the command, the patched config, the working
    directory, the service's environment (this one minus ``PYTEST_*`` and :data:`VOLATILE`,
    plus ``env``) and the plugin's version."""
    environment = {k: v for k, v in os.environ.items() if k not in VOLATILE and not k.startswith("PYTEST_")}
    environment.update(env or {})
    payload = {"command": list(command), "config": config, "cwd": os.getcwd(), "env": environment, "v": version}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def is_keeper(pid: int, path: Path | None = None) -> bool:
    """Whether ``pid`` is a keeper process (of state file ``path``, if given), not a reused pid."""
    args = _cmdline(pid).split(b"\0")
    return KEEPER_MODULE.encode() in args and (path is None or os.fsencode(path) in args)


def adoption_problem(state: KeptState, path: Path | None = None) -> str | None:
    """Why the kept service cannot be adopted as it is, or ``None``: its keeper and the service
    (recognised by its mark) run, and the service is not stopped. The caller then waits for
    it as for any start (a service another run has just started may not listen yet): the
    probe, whose listener check (:func:`~.ports.listener_holder`) proves the listener is
    the service's."""
    pid = state.service_pid
    if not is_keeper(state.keeper_pid, path):
        return f"its keeper (pid {state.keeper_pid}) is not running"
    if process_state(pid) in (None, "Z", "X") or not carries_mark(pid, state.mark):
        return f"the service (pid {pid}) is not running"
    if process_state(pid) in ("T", "t"):
        return f"the service (pid {pid}) is stopped (SIGSTOP)"
    return None  # whether it listens, and whose listener it is, the probe checks as for any start


def _wait_gone(pid: int, deadline: float, check: Any) -> bool:
    while check(pid):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(0.01, remaining))
    return True


def stop_kept(path: Path, grace: float = 5.0, expected: KeptState | None = None) -> KeptState | None:
    """Stop the kept service of state file ``path`` and remove the file; what it described.

    SIGTERM to the keeper, which stops the service's group (SIGTERM, then SIGKILL after its
    grace); if the keeper is gone or does not end in time, the service's group (recognised
    by its mark) gets SIGKILL here. With ``expected``, that service is stopped, and the file
    removed only if it still describes it.
    """
    state = read_state(path)
    if expected is not None and (state is None or state.keeper_pid != expected.keeper_pid):
        state = expected
    elif state is None:
        return None
    else:
        remove_state(path)
    deadline = time.monotonic() + grace + 2.0
    if is_keeper(state.keeper_pid, path):
        with contextlib.suppress(OSError):
            os.kill(state.keeper_pid, signal.SIGTERM)
        _wait_gone(state.keeper_pid, deadline, lambda pid: is_keeper(pid, path))
    pid = state.service_pid
    if process_state(pid) not in (None, "Z", "X") and carries_mark(pid, state.mark):
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
    if is_keeper(state.keeper_pid, path):
        with contextlib.suppress(OSError):
            os.kill(state.keeper_pid, signal.SIGKILL)
    _wait_gone(pid, time.monotonic() + 2.0, group_alive)
    return state


def spawn_keeper(spec: Mapping[str, Any], path: Path) -> KeptState:
    """Start a detached keeper that spawns the service of ``spec`` and writes state file ``path``.

    The keeper runs in a session of its own, outside pytest's orphan guard and parent-death
    signal: it is meant to outlive this process. ``spec``: ``command``, ``env`` (added to
    this environment), ``log_path``, ``host``, ``port``, ``config_path``, ``recipe_hash``,
    ``secret``, ``idle``, ``stop_timeout``.

    Raises:
        ServiceStartError: The keeper could not spawn the service (the message says why).
    """
    popen = subprocess.Popen(
        [sys.executable, "-m", KEEPER_MODULE, os.fspath(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    assert popen.stdin is not None and popen.stdout is not None
    try:
        with popen.stdin:
            popen.stdin.write(json.dumps(dict(spec)).encode())
        ready, _, _ = select.select([popen.stdout], [], [], KEEPER_START_TIMEOUT)
        answer = popen.stdout.readline().decode(errors="replace").strip() if ready else ""
        popen.wait(KEEPER_START_TIMEOUT)  # the keeper's first process exits once the keeper is detached
    except BaseException:
        popen.kill()
        popen.wait()
        raise
    finally:
        popen.stdout.close()
    if not answer.startswith("{"):
        raise ServiceStartError(
            f"--service-reuse: cannot start the kept service: {answer[:500] or 'the keeper did not answer'}."
        )
    return KeptState(**json.loads(answer), secret=str(spec["secret"]))
