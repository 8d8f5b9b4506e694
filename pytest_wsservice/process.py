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
- an :class:`OrphanGuard`, if given: a tiny ``/bin/sh`` in its own session that SIGKILLs
  the service's process group when this process dies, whatever the way (SIGKILL included).
  The parent-death signal reaches only the service; the guard reaches what it started;
- once ready through the HTTP or TCP probe, the listener on the port is checked to belong to
  the service's own session (Linux, ``/proc``), so a probe answered by another process
  (another xdist worker's service) is never taken for this service;
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
from typing import IO, TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence

from .errors import ServicePortInUse, ServiceStartError, ServiceStartTimeout
from .ports import describe_pid, listener_inodes, port_in_use, socket_holders
from .readiness import NotifySocket, Probe, wait_until_ready

if TYPE_CHECKING:
    from yarl import URL

__all__ = [
    "LogFollower",
    "OrphanGuard",
    "ServiceHandle",
    "ServiceProcess",
    "StartingService",
    "StopResult",
    "describe_returncode",
    "read_log_since",
    "read_log_tail",
]

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
        pid: The service's process id (also its process group id); ``None`` for a
            service the plugin did not start (``--service-url``).
        host: The address its listener is reached on, for example ``127.0.0.1``.
        port: The listener port.
        base_url: ``http://HOST:PORT/`` as a :class:`yarl.URL`.
        log_path: The file its stdout, stderr and log go to; ``None`` for a service the
            plugin did not start, unless ``--service-logs-file`` names its log.
        config_path: The patched static config it was started with, if any.
        command: The argv it was started with.
        config: The patched static config it was started with, as a dict, if known.
    """

    pid: int | None
    host: str
    port: int
    base_url: URL
    log_path: Path | None
    config_path: Path | None = None
    command: tuple[str, ...] = field(default=())
    config: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)


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
    ready; :meth:`launch` is its first half). Use it as a context manager to stop it on exit.
    """

    def __init__(
        self,
        popen: subprocess.Popen[bytes],
        *,
        command: Sequence[str],
        log_path: Path,
        log_offset: int,
        guard: OrphanGuard | None = None,
    ) -> None:
        self._popen = popen
        self._guard = guard
        self.command = tuple(command)
        self.log_path = log_path
        #: Size of the log file before the process started: its own output begins here.
        self.log_offset = log_offset
        self._handle: ServiceHandle | None = None
        self._pidfd: int | None = None
        self._stop_result: StopResult | None = None
        self._foreign_holder: int | None = None
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
        guard: OrphanGuard | None = None,
    ) -> ServiceProcess:
        """Start the command and return at once.

        Args:
            command: The argv; ``command[0]`` is looked up on ``PATH``. Never run by a shell.
            log_path: stdout and stderr are appended here; missing directories are created.
            env: Variables added to (or overriding) this process's environment.
            cwd: The working directory, by default this process's.
            pass_fds: File descriptors the child inherits.
            guard: Watches the process group from the moment it exists until it is
                stopped, and kills it if this process dies first.

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
        if guard is not None:
            guard.watch(popen.pid)
        return cls(popen, command=command, log_path=log_path, log_offset=log_offset, guard=guard)

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
        guard: OrphanGuard | None = None,
        check_listener: bool = True,
        config: Mapping[str, Any] | None = None,
    ) -> ServiceProcess:
        """Spawn the command and wait until the service is ready.

        Readiness is whichever comes first: ``READY=1`` on a private ``NOTIFY_SOCKET``
        (unless ``notify`` is false) sent by a process of the service's session,
        ``GET ping_path`` answering 200 (if given), or else a TCP connect to
        ``host:port``. Each time the probe connects, the listener on ``host:port`` must
        belong to the service's session (see :meth:`foreign_listener`); one of another
        process fails the start at once. If anything goes wrong the process group is
        killed before the error is raised: nothing is left running.

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
            guard: An :class:`OrphanGuard` that kills the group if this process dies.
            check_listener: Whether to check who holds the listener (see above).
            config: Recorded in :attr:`handle`.

        Raises:
            ServiceStartError: The executable is missing, or the service exited before it
                was ready (with its exit status and log tail).
            ServicePortInUse: The port is held by a process outside the service: the
                service exited while another process holds the port, or the probe was
                answered by another process.
            ServiceStartTimeout: It was not ready within ``timeout`` seconds; the message
                says what was probed and quotes the log tail.
        """
        starting = cls.launch(
            command, log_path=log_path, port=port, host=host, ping_path=ping_path, env=env, cwd=cwd,
            notify=notify, guard=guard, check_listener=check_listener,
        )
        return starting.wait_ready(timeout, base_url=base_url, config_path=config_path, config=config)

    @classmethod
    def launch(
        cls,
        command: Sequence[str],
        *,
        log_path: str | os.PathLike[str],
        port: int,
        host: str = "127.0.0.1",
        ping_path: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        notify: bool = True,
        guard: OrphanGuard | None = None,
        check_listener: bool = True,
    ) -> StartingService:
        """Spawn the command with its readiness signals in place, and return at once.

        The first half of :meth:`start`: what the service sends (``READY=1``) waits in the
        notify socket until :meth:`StartingService.wait_ready` reads it, whose deadline
        counts from this spawn. The plugin uses it to start the service while pytest
        collects tests. Arguments as for :meth:`start`.

        Raises:
            ServiceStartError: As :meth:`spawn`.
        """
        started_at = time.monotonic()
        notify_socket = NotifySocket() if notify else None
        try:
            child_env = dict(env or {})
            if notify_socket is not None:
                child_env.update(notify_socket.env())
            process = cls.spawn(command, log_path=log_path, env=child_env, cwd=cwd, guard=guard)
        except BaseException:
            if notify_socket is not None:
                notify_socket.close()
            raise
        return StartingService(
            process, notify_socket, started_at=started_at, host=host, port=port, ping_path=ping_path,
            check_listener=check_listener,
        )

    def failure(
        self, kind: type[ServiceStartError], what: str, returncode: int | None = None, **attributes: Any
    ) -> ServiceStartError:
        """Build an error saying ``what`` happened to this process, quoting its log's tail.

        Args:
            kind: ``ServiceStartError`` or a subclass.
            what: For example ``"exited with status 2 before it was ready"``.
            returncode: The exit status to record on the error.
            attributes: More keyword arguments for ``kind`` (``port=`` for
                :class:`ServicePortInUse`).
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
            **attributes,
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

    def wait_exit(self, timeout: float) -> int | None:
        """Wait up to ``timeout`` seconds for the process to exit; its status, or ``None``."""
        self._wait(time.monotonic() + timeout)
        return self.poll()

    def in_session(self, pid: int) -> bool:
        """Whether ``pid`` is this service or a process it started (its session, Linux)."""
        return pid == self.pid or process_session(pid) == self.pid

    def _identify(self, host: str, port: int) -> Callable[[], str | None]:
        def identify() -> str | None:
            foreign = self.foreign_listener(host, port)
            if foreign is None:
                return None
            self._foreign_holder = foreign[0]
            return f"a listening socket of {foreign[1]}"

        return identify

    def foreign_listener(self, host: str, port: int) -> tuple[int, str] | None:
        """Return ``(pid, description)`` of a process outside the service that listens where
        a connection to ``host:port`` lands, or ``None``.

        ``None`` also when it cannot be told: not Linux, or the listener's holder is not
        visible to this user (another user's process, such as ``docker-proxy``).
        """
        inodes = listener_inodes(host, port)
        if not inodes:
            return None
        own = socket_holders(inodes, [self.pid])
        if len(own) < len(inodes):
            own.update(socket_holders(inodes - own.keys(), session_members(self.pid)))
        others = socket_holders(inodes - own.keys())
        for pid in others.values():
            return pid, describe_pid(pid)
        return None

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
        try:
            self._signal_group(signal.SIGTERM)
            stopped = self._wait(deadline) and self._wait_group_empty(deadline)
        except BaseException:
            self.kill()  # interrupted (Ctrl-C, SIGTERM to pytest): leave nothing running
            raise
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
        self._release()
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
        self._release()

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

    def _release(self) -> None:
        self._close_pidfd()
        if self._guard is not None and not _group_alive(self.pid):
            self._guard.forget(self.pid)  # else the guard still kills it when we die
            self._guard = None

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


class StartingService:
    """A service spawned by :meth:`ServiceProcess.launch`, not yet known to be ready.

    Call :meth:`wait_ready` once to get the ready :class:`ServiceProcess`, or
    :meth:`abandon` to stop it. Either way the notify socket is closed.
    """

    def __init__(
        self,
        process: ServiceProcess,
        notify: NotifySocket | None,
        *,
        started_at: float,
        host: str,
        port: int,
        ping_path: str | None,
        check_listener: bool,
    ) -> None:
        self.process = process
        self.started_at = started_at
        self.host = host
        self.port = port
        self.ping_path = ping_path
        self._notify = notify
        self._check_listener = check_listener

    def wait_ready(
        self,
        timeout: float,
        *,
        base_url: URL | None = None,
        config_path: str | os.PathLike[str] | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> ServiceProcess:
        """Wait until the service is ready, ``timeout`` seconds after it was spawned at most.

        Args and Raises: as :meth:`ServiceProcess.start`. If anything goes wrong the
        process group is killed before the error is raised.
        """
        process, host, port, ping_path = self.process, self.host, self.port, self.ping_path
        notify_socket, self._notify = self._notify, None
        try:
            result = wait_until_ready(
                poll=process.poll,
                timeout=max(0.0, self.started_at + timeout - time.monotonic()),
                probe=Probe(host, port, ping_path, identify=process._identify(host, port) if self._check_listener else None),
                notify=notify_socket,
                exit_fd=process._pidfd,
                accept_sender=process.in_session,
            )
            if result.outcome == "exited":
                assert result.returncode is not None
                what = f"{describe_returncode(result.returncode)} before it was ready"
                holder = _port_holder(host, port)
                if holder is not None:
                    raise process.failure(
                        ServicePortInUse, f"{what}: port {port} on {host} is in use by {holder[1]}",
                        result.returncode, port=port, holder=holder[0],
                    )
                raise process.failure(ServiceStartError, what, result.returncode)
            if result.outcome == "timeout":
                process.kill()  # stop its writing before the tail is read
                raise process.failure(ServiceStartTimeout, f"was not ready within {timeout:g} s; {result.detail}")
            if result.outcome == "foreign":
                process.kill()
                holder = process._foreign_holder
                raise process.failure(
                    ServicePortInUse,
                    f"is not what listens on port {port}: the probe ({Probe(host, port, ping_path).describe()}) "
                    f"connected to {result.detail}, outside the service's session",
                    port=port, holder=holder,
                )
            process._handle = _make_handle(process, host, port, base_url, config_path, config)
            return process
        except BaseException:
            # Whatever happened (an error, Ctrl-C), leave nothing running.
            process.kill()
            raise
        finally:
            if notify_socket is not None:
                notify_socket.close()

    def abandon(self, grace: float = 5.0) -> None:
        """Stop the process group (SIGTERM, then SIGKILL after ``grace`` s) and close the socket."""
        try:
            self.process.stop(grace=grace)
        finally:
            if self._notify is not None:
                self._notify.close()
                self._notify = None


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


def read_log_since(path: str | os.PathLike[str], since: int, max_lines: int = 500) -> str:
    """Return what was appended to a log file after byte ``since``: at most the last
    ``max_lines`` lines, with a note saying how many earlier ones were left out.

    Reads at most the last 1 MiB, so a chatty test costs no more than that. A missing
    file reads as empty.
    """
    try:
        with open(path, "rb") as log:
            size = log.seek(0, os.SEEK_END)
            start = max(since, size - 1024 * 1024)
            log.seek(start)
            data = log.read()
    except OSError:
        return ""
    lines = data.decode("utf-8", "replace").splitlines()
    if start > since:
        lines = lines[1:]  # the first line read is probably cut
    left_out = len(lines) - max_lines
    if start > since or left_out > 0:
        lines = lines[-max_lines:]
        more = "more" if start > since else str(left_out)
        lines.insert(0, f"[... {more} earlier lines in {os.fspath(path)} ...]")
    return "\n".join(lines)


def _proc_stats() -> Iterator[tuple[int, list[bytes]]]:
    """Yield ``(pid, fields after "pid (comm)")`` for every process in ``/proc``:
    state, ppid, pgrp, session, ..."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return
    for name in entries:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as stat_file:
                stat = stat_file.read()
        except OSError:
            continue
        yield int(name), stat.rsplit(b")", 1)[-1].split()


def process_session(pid: int) -> int | None:
    """Return the session id of a live process, or ``None`` (gone, a zombie, not Linux)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat_file:
            fields = stat_file.read().rsplit(b")", 1)[-1].split()
    except OSError:
        return None
    return int(fields[3]) if len(fields) > 3 and fields[0] != b"Z" else None


def session_members(sid: int) -> list[int]:
    """Return the live processes of session ``sid`` (Linux; empty elsewhere)."""
    wanted = str(sid).encode()
    return [pid for pid, fields in _proc_stats() if len(fields) > 3 and fields[3] == wanted and fields[0] != b"Z"]


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
    wanted = str(pgid).encode()
    return any(len(fields) > 2 and fields[2] == wanted and fields[0] != b"Z" for _, fields in _proc_stats())


def _port_holder(host: str, port: int) -> tuple[int | None, str] | None:
    """If some process holds ``host:port``, return its pid (if visible) and a description."""
    try:
        if not port_in_use(host, port):
            return None
    except OSError:
        return None
    holders = socket_holders(listener_inodes(host, port) or set())
    for pid in holders.values():
        return pid, describe_pid(pid)
    return None, "another process"


# --------------------------------------------------------------------------- orphans

#: The guard's program: remember the groups it is told about; when its input ends (the
#: process that started it is gone, however it died), SIGKILL the groups still listed.
_GUARD_SCRIPT = """
trap '' INT TERM HUP
groups=' '
while read -r op pgid; do
  case "$op" in
    watch) groups="$groups$pgid " ;;
    forget) kept=' '; for g in $groups; do [ "$g" = "$pgid" ] || kept="$kept$g "; done; groups=$kept ;;
  esac
done
for g in $groups; do kill -s KILL -- "-$g" 2>/dev/null; done
"""


class OrphanGuard:
    """Kills the service's process group if this process dies without stopping it.

    The kernel's parent-death signal (see the module docstring) reaches only the
    service itself, not what the service started. The guard is a ``/bin/sh`` loop in a
    session of its own (so a signal to this process's group does not reach it) that
    reads ``watch PGID`` / ``forget PGID`` lines from a pipe whose only writer is this
    process. When the pipe ends, because this process exited or was killed in any way,
    it SIGKILLs the groups still watched. A stopped group is forgotten first, so the
    guard never signals a group id the system has since given to someone else.

    Create one with :meth:`start`; it costs one ``sh`` process and a pipe.
    """

    def __init__(self, popen: subprocess.Popen[bytes], write_fd: int) -> None:
        self._popen = popen
        self._fd: int | None = write_fd

    @classmethod
    def start(cls) -> OrphanGuard | None:
        """Start the guard; ``None`` where there is no ``/bin/sh``."""
        if not os.path.exists("/bin/sh"):
            return None
        read_fd, write_fd = os.pipe()  # not inheritable: no other child keeps it open
        try:
            popen = subprocess.Popen(
                ["/bin/sh", "-c", _GUARD_SCRIPT],
                stdin=read_fd,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError:
            os.close(write_fd)
            return None
        finally:
            os.close(read_fd)
        return cls(popen, write_fd)

    @property
    def pid(self) -> int:
        return self._popen.pid

    def watch(self, pgid: int) -> None:
        """Kill group ``pgid`` if this process dies before :meth:`forget`."""
        self._send(f"watch {pgid}\n")

    def forget(self, pgid: int) -> None:
        """Stop watching group ``pgid`` (it has been stopped)."""
        self._send(f"forget {pgid}\n")

    def _send(self, line: str) -> None:
        if self._fd is None:
            return
        try:
            os.write(self._fd, line.encode("ascii"))  # a few bytes: one atomic write
        except OSError:
            pass  # the guard is gone; the parent-death signal still covers the service

    def close(self, timeout: float = 1.0) -> None:
        """End the guard: it kills the groups still watched, and exits."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        try:
            self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self._popen.kill()
            self._popen.wait()


# --------------------------------------------------------------------------- showing the log live


class LogFollower:
    """Copies what is appended to a log file to a stream as it is written (``pytest -s``).

    A daemon thread reads new bytes every ``interval`` seconds and writes whole lines,
    each with ``prefix``. Restarted services append to the same file, so one follower
    shows them all.
    """

    def __init__(
        self, path: str | os.PathLike[str], stream: IO[str], *, prefix: str = "", interval: float = 0.1, offset: int = 0
    ) -> None:
        self.path = Path(path)
        self._stream = stream
        self._prefix = prefix
        self._interval = interval
        self._offset = offset
        self._partial = b""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wsservice-log-follower", daemon=True)

    def start(self) -> LogFollower:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._copy()
        self._copy(final=True)

    def _copy(self, final: bool = False) -> None:
        try:
            with open(self.path, "rb") as log:
                log.seek(self._offset)
                data = log.read(1024 * 1024)
        except OSError:
            return
        self._offset += len(data)
        *lines, self._partial = (self._partial + data).split(b"\n")
        if final and self._partial:
            lines.append(self._partial)
            self._partial = b""
        text = "".join(f"{self._prefix}{line.decode('utf-8', 'replace')}\n" for line in lines)
        if text:
            try:
                self._stream.write(text)
                self._stream.flush()
            except (OSError, ValueError):
                self._stop.set()  # the stream is closed: nothing more to show

    def close(self, timeout: float = 1.0) -> None:
        """Show what is left, then stop the thread (waiting at most ``timeout`` seconds)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)


def _make_handle(
    process: ServiceProcess,
    host: str,
    port: int,
    base_url: URL | None,
    config_path: str | os.PathLike[str] | None,
    config: Mapping[str, Any] | None = None,
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
        config=config,
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
