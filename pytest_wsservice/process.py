"""Start, watch and stop the service process; usable without pytest.

::

    from pytest_wsservice.process import ServiceProcess

    with ServiceProcess.start(
        ["python", "-m", "sample_service", "--config", "patched.yaml"],
        log_path="service.log", port=8080, ping_path="/ping",
    ) as service:
        print(service.handle.base_url)

How the process is run, and why:

- no shell: the command is an argv list, so nothing is re-split or expanded;
- its own session and process group, so stopping it reaches every process it started;
- on Linux, the kernel's parent-death signal (``PR_SET_PDEATHSIG`` = SIGKILL): if the
  Python process that started it is killed outright, the service dies with it. The kernel
  ties that signal to the *thread* that forked, so it is set only when starting from the
  main thread (pytest fixtures run there); started from another thread, the service would
  otherwise die when that thread ends;
- stdout and stderr are appended to one log file; error messages quote its last lines.
"""

from __future__ import annotations

import os
import select
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

from .errors import ServiceStartError, ServiceStartTimeout
from .readiness import NotifySocket, Probe, wait_until_ready

if TYPE_CHECKING:
    from yarl import URL

__all__ = ["ServiceHandle", "ServiceProcess", "StopResult", "describe_returncode"]

#: Lines of log quoted in error messages.
TAIL_LINES = 50
#: After SIGKILL the group is gone within milliseconds; this bounds the wait anyway.
KILL_TIMEOUT = 5.0
_PR_SET_PDEATHSIG = 1


def describe_returncode(returncode: int) -> str:
    """Say in words how a process ended: ``"exited with status 2"``,
    ``"was killed by signal SIGKILL"``."""
    if returncode >= 0:
        return f"exited with status {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"number {-returncode}"
    return f"was killed by signal {name}"


@dataclass(frozen=True)
class ServiceHandle:
    """A running service, as tests see it (what ``service_start`` returns).

    Attributes:
        pid: The service's process id (also its process group id).
        host: The address its listener is reached on, for example ``127.0.0.1``.
        port: The listener port.
        base_url: ``http://HOST:PORT/`` as a :class:`yarl.URL`.
        log_path: The file its stdout, stderr and log go to.
        config_path: The patched static config it was started with, if any.
        command: The argv it was started with.
    """

    pid: int
    host: str
    port: int
    base_url: URL
    log_path: Path
    config_path: Path | None = None
    command: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class StopResult:
    """How a stopped service ended.

    Attributes:
        returncode: The exit status, negative for a signal.
        exited_on_its_own: The process had already exited when it was asked to stop.
        killed_after_grace: It ignored SIGTERM for the grace period and got SIGKILL.
    """

    returncode: int
    exited_on_its_own: bool = False
    killed_after_grace: bool = False

    @property
    def clean(self) -> bool:
        """Whether this is an ordinary stop: SIGTERM ended it (status 0, or the signal)."""
        return (
            not self.exited_on_its_own
            and not self.killed_after_grace
            and self.returncode in (0, -signal.SIGTERM)
        )

    def describe(self, grace: float | None = None) -> str:
        """Say in words how it ended, for example ``"exited with status 3 on its own"``."""
        words = describe_returncode(self.returncode)
        if self.exited_on_its_own:
            return f"{words} on its own, before it was asked to stop"
        if self.killed_after_grace:
            within = f" within {grace:g} s" if grace is not None else ""
            return f"did not stop{within} after SIGTERM and {describe_returncode(self.returncode)}"
        return f"{words} when asked to stop with SIGTERM"


class ServiceProcess:
    """The service as a process: spawn it, wait until it is ready, stop its whole group.

    Create one with :meth:`spawn` (no waiting) or :meth:`start` (spawn and wait until
    ready). Use it as a context manager to stop it on exit.
    """

    def __init__(
        self,
        popen: subprocess.Popen[bytes],
        *,
        command: Sequence[str],
        log_path: Path,
        log_offset: int,
    ) -> None:
        self._popen = popen
        self.command = tuple(command)
        self.log_path = log_path
        #: Size of the log file before the process started: its own output begins here.
        self.log_offset = log_offset
        self._handle: ServiceHandle | None = None
        self._pidfd: int | None = None
        self._stop_result: StopResult | None = None
        try:
            self._pidfd = os.pidfd_open(popen.pid)  # type: ignore[attr-defined]
        except (AttributeError, OSError):
            pass  # not Linux >= 5.3: waits fall back to polling

    # ----------------------------------------------------------------- starting

    @classmethod
    def spawn(
        cls,
        command: Sequence[str],
        *,
        log_path: str | os.PathLike[str],
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        pass_fds: Sequence[int] = (),
    ) -> ServiceProcess:
        """Start the command and return at once.

        Args:
            command: The argv; ``command[0]`` is looked up on ``PATH``. Never run by a shell.
            log_path: stdout and stderr are appended here; missing directories are created.
            env: Variables added to (or overriding) this process's environment.
            cwd: The working directory, by default this process's.
            pass_fds: File descriptors the child inherits.

        Raises:
            ServiceStartError: The executable is missing or not executable, or the log
                file cannot be opened; the message is one line naming it.
        """
        command = [os.fspath(arg) for arg in command]
        if not command:
            raise ServiceStartError("cannot start the service: the command is empty.")
        log_path = Path(log_path).absolute()
        try:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            log = open(log_path, "ab")
        except OSError as error:
            raise ServiceStartError(
                f"cannot start the service: its log file {log_path} cannot be opened: {error.strerror}."
            ) from None
        child_env = dict(os.environ)
        # An inherited NOTIFY_SOCKET belongs to whoever started us (systemd), not to the service.
        child_env.pop("NOTIFY_SOCKET", None)
        child_env.update(env or {})
        with log:
            log_offset = log.seek(0, os.SEEK_END)
            try:
                popen = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    env=child_env,
                    cwd=cwd,
                    pass_fds=tuple(pass_fds),
                    start_new_session=True,
                    preexec_fn=_parent_death_signal(),
                )
            except FileNotFoundError as error:
                missing = os.fspath(error.filename) if error.filename is not None else command[0]
                what = "working directory" if cwd is not None and missing == os.fspath(cwd) else "executable"
                raise ServiceStartError(
                    f"cannot start the service: {what} {missing!r} was not found (command: {shlex.join(command)})."
                ) from None
            except PermissionError:
                raise ServiceStartError(
                    f"cannot start the service: {command[0]!r} is not executable (command: {shlex.join(command)})."
                ) from None
            except OSError as error:
                raise ServiceStartError(
                    f"cannot start the service: {error.strerror} (command: {shlex.join(command)})."
                ) from None
        return cls(popen, command=command, log_path=log_path, log_offset=log_offset)

    @classmethod
    def start(
        cls,
        command: Sequence[str],
        *,
        log_path: str | os.PathLike[str],
        port: int,
        host: str = "127.0.0.1",
        ping_path: str | None = None,
        config_path: str | os.PathLike[str] | None = None,
        base_url: URL | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        timeout: float = 30.0,
        notify: bool = True,
    ) -> ServiceProcess:
        """Spawn the command and wait until the service is ready.

        Readiness is whichever comes first: ``READY=1`` on a private ``NOTIFY_SOCKET``
        (unless ``notify`` is false), ``GET ping_path`` answering 200 (if given), or else a
        TCP connect to ``host:port``. If anything goes wrong the process group is killed
        before the error is raised: nothing is left running.

        Args:
            command: The argv, as for :meth:`spawn`.
            log_path: Where stdout and stderr are appended.
            port: The listener port.
            host: The listener address to probe.
            ping_path: The ping handler's path (``/ping``), or ``None`` for a TCP probe.
            config_path: Recorded in :attr:`handle`.
            base_url: Recorded in :attr:`handle`; ``http://host:port/`` by default.
            env: Extra environment variables.
            cwd: The working directory.
            timeout: The deadline, in seconds.
            notify: Whether to offer a ``NOTIFY_SOCKET``.

        Raises:
            ServiceStartError: The executable is missing, or the service exited before it
                was ready (with its exit status and log tail).
            ServiceStartTimeout: It was not ready within ``timeout`` seconds; the message
                says what was probed and quotes the log tail.
        """
        notify_socket = NotifySocket() if notify else None
        process: ServiceProcess | None = None
        try:
            child_env = dict(env or {})
            if notify_socket is not None:
                child_env.update(notify_socket.env())
            process = cls.spawn(command, log_path=log_path, env=child_env, cwd=cwd)
            result = wait_until_ready(
                poll=process.poll,
                timeout=timeout,
                probe=Probe(host, port, ping_path),
                notify=notify_socket,
                exit_fd=process._pidfd,
            )
            if result.outcome == "exited":
                assert result.returncode is not None
                what = f"{describe_returncode(result.returncode)} before it was ready"
                raise process.failure(ServiceStartError, what, result.returncode)
            if result.outcome == "timeout":
                process.kill()  # stop its writing before the tail is read
                raise process.failure(ServiceStartTimeout, f"was not ready within {timeout:g} s; {result.detail}")
            process._handle = _make_handle(process, host, port, base_url, config_path)
            return process
        except BaseException:
            # Whatever happened (an error, Ctrl-C), leave nothing running.
            if process is not None:
                process.kill()
            raise
        finally:
            if notify_socket is not None:
                notify_socket.close()

    def failure(
        self, kind: type[ServiceStartError], what: str, returncode: int | None = None
    ) -> ServiceStartError:
        """Build an error saying ``what`` happened to this process, quoting its log's tail.

        Args:
            kind: ``ServiceStartError`` or a subclass.
            what: For example ``"exited with status 2 before it was ready"``.
            returncode: The exit status to record on the error.
        """
        tail = self.log_tail(TAIL_LINES)
        if not tail:
            about_log = f"It wrote nothing to its log {self.log_path}."
        else:
            count = tail.count("\n") + 1
            about_log = f"Last {count} line{'s' if count != 1 else ''} of its log {self.log_path}:\n{tail}"
        return kind(
            f"The service (pid {self.pid}, command: {shlex.join(self.command)}) {what}.\n{about_log}",
            returncode=returncode,
            log_tail=tail,
        )

    # ----------------------------------------------------------------- watching

    @property
    def pid(self) -> int:
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        """The exit status once the process has been reaped (negative for a signal)."""
        return self._popen.returncode

    @property
    def handle(self) -> ServiceHandle:
        """What tests use: pid, port, base URL, log and config paths.

        Raises:
            RuntimeError: The process came from :meth:`spawn`, which knows no port.
        """
        if self._handle is None:
            raise RuntimeError("ServiceProcess.handle exists only for a process made by ServiceProcess.start()")
        return self._handle

    def poll(self) -> int | None:
        """Return the exit status if the process has ended, reaping it; else ``None``."""
        return self._popen.poll()

    def log_tail(self, lines: int = TAIL_LINES) -> str:
        """Return the last ``lines`` lines this process wrote to its log file."""
        return read_log_tail(self.log_path, lines, since=self.log_offset)

    # ----------------------------------------------------------------- stopping

    def stop(self, grace: float = 5.0) -> StopResult:
        """Stop the whole process group and reap the process.

        SIGTERM goes to the group; whatever is still running ``grace`` seconds later gets
        SIGKILL. Calling it again returns the first result.

        Returns:
            How the process ended; :attr:`StopResult.clean` says whether that was ordinary.
        """
        if self._stop_result is not None:
            return self._stop_result
        exited_on_its_own = self.poll() is not None
        deadline = time.monotonic() + grace
        self._signal_group(signal.SIGTERM)
        stopped = self._wait(deadline) and self._wait_group_empty(deadline)
        if not stopped:
            self._signal_group(signal.SIGKILL)
            kill_deadline = time.monotonic() + KILL_TIMEOUT
            self._wait(kill_deadline)
            self._wait_group_empty(kill_deadline)
        returncode = self.poll()
        if returncode is None:  # unkillable (stuck in the kernel): do not hang on it
            returncode = -signal.SIGKILL
        self._stop_result = StopResult(
            returncode=returncode,
            exited_on_its_own=exited_on_its_own,
            killed_after_grace=not stopped and not exited_on_its_own,
        )
        self._close_pidfd()
        return self._stop_result

    def kill(self) -> None:
        """SIGKILL the whole process group now and reap the process."""
        if self._stop_result is not None:
            return
        already_exited = self.poll() is not None
        self._signal_group(signal.SIGKILL)
        deadline = time.monotonic() + KILL_TIMEOUT
        self._wait(deadline)
        self._wait_group_empty(deadline)
        returncode = self.poll()
        self._stop_result = StopResult(
            returncode=-signal.SIGKILL if returncode is None else returncode,
            exited_on_its_own=already_exited,
        )
        self._close_pidfd()

    def _signal_group(self, signum: int) -> None:
        # The child called setsid(), so its pid is the id of its group and session.
        try:
            os.killpg(self.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass  # the group is gone (PermissionError: only a zombie leader was left, on macOS)

    def _wait(self, deadline: float) -> bool:
        """Wait until the process exits (reaping it) or the deadline; return whether it did."""
        while self.poll() is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if self._pidfd is not None:
                select.select([self._pidfd], [], [], remaining)
            else:
                try:
                    self._popen.wait(remaining)
                except subprocess.TimeoutExpired:
                    return False
        return True

    def _wait_group_empty(self, deadline: float) -> bool:
        """Wait until no live process is left in the group, e.g. grandchildren; poll with backoff."""
        interval = 0.001
        while _group_alive(self.pid):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(interval, remaining))
            interval = min(interval * 2, 0.05)
        return True

    def _close_pidfd(self) -> None:
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None

    def __enter__(self) -> ServiceProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __del__(self) -> None:
        self._close_pidfd()

    def __repr__(self) -> str:
        state = "running" if self.returncode is None else describe_returncode(self.returncode)
        return f"<ServiceProcess pid={self.pid} {state}: {shlex.join(self.command)}>"


def read_log_tail(path: str | os.PathLike[str], lines: int = TAIL_LINES, *, since: int = 0) -> str:
    """Return the last ``lines`` lines of a log file, ignoring its first ``since`` bytes.

    Reads at most the last 256 KiB, so a huge log costs no more than a small one. Bytes
    that are not UTF-8 are replaced; a missing file reads as empty.
    """
    try:
        with open(path, "rb") as log:
            size = log.seek(0, os.SEEK_END)
            start = max(since, size - 256 * 1024)
            log.seek(start)
            data = log.read()
    except OSError:
        return ""
    text = data.decode("utf-8", "replace")
    return "\n".join(text.splitlines()[-lines:]) if lines > 0 else ""


def _group_alive(pgid: int) -> bool:
    """Whether a process group has a member that is not a zombie."""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    if not sys.platform.startswith("linux"):
        return True
    # Orphaned grandchildren that died stay zombies, still in the group, until init reaps
    # them, which some container inits do only once a second. They are gone for our purpose.
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat_file:
                stat = stat_file.read()
        except OSError:
            continue
        fields = stat.rsplit(b")", 1)[-1].split()  # after "pid (comm)": state, ppid, pgrp, ...
        if len(fields) > 2 and fields[2] == str(pgid).encode() and fields[0] != b"Z":
            return True
    return False


def _make_handle(
    process: ServiceProcess, host: str, port: int, base_url: URL | None, config_path: str | os.PathLike[str] | None
) -> ServiceHandle:
    if base_url is None:
        from yarl import URL

        base_url = URL.build(scheme="http", host=host, port=port, path="/")
    return ServiceHandle(
        pid=process.pid,
        host=host,
        port=port,
        base_url=base_url,
        log_path=process.log_path,
        config_path=Path(config_path) if config_path is not None else None,
        command=process.command,
    )


def _parent_death_signal() -> Callable[[], None] | None:
    """Return a ``preexec_fn`` that makes the kernel SIGKILL the child when we die.

    Linux only, and only from the main thread (see the module docstring); else ``None``.
    """
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def set_parent_death_signal() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        # If the parent died between fork() and prctl(), nobody would send the signal.
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)

    return set_parent_death_signal
