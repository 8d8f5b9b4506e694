"""Start, watch and stop the service process; usable without pytest.

::

    from pytest_wsservice.service.process import ServiceProcess

    command = ["python", "-m", "sample_service", "--config", "patched.yaml"]
    with ServiceProcess.start(command, log_path="service.log", port=8080, ping_path="/ping") as service:
        print(service.handle.base_url)

How the process is run, and why:

- no shell: the command is an argv list, so nothing is re-split or expanded;
- its own session and process group, so stopping it reaches every process it started;
- the kernel's parent-death signal and an optional :class:`~.guard.OrphanGuard` (see
  :mod:`.guard`): if the Python process that started it dies, however, so does the service
  and whatever it started;
- once ready through the HTTP or TCP probe, the listener on the port is checked to belong to
  the service's own session (Linux, ``/proc``), so a probe answered by another process
  (another xdist worker's service) is never taken for this service (:mod:`.startup`);
- stdout and stderr are appended to one log file; error messages quote its last lines;
  :mod:`.exits` puts in words how it ended.
"""

from __future__ import annotations

import contextlib
import os
import select
import shlex
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ServiceStartError
from .descendants import MARK_VARIABLE, carries_mark, kill_marked, new_mark
from .exits import StopResult, describe_returncode
from .failures import start_failure
from .guard import OrphanGuard, parent_death_signal
from .handle import ServiceHandle, ready_handle
from .logfile import TAIL_LINES, read_log_tail
from .logwrite import open_service_log
from .ports import listener_holder
from .procfs import group_alive, process_session, process_state
from .spawnerrors import describe_spawn_error
from .startup import NotifySocket, StartingService
from .tls import TlsFiles

if TYPE_CHECKING:
    from yarl import URL

__all__ = ["KILL_TIMEOUT", "ServiceProcess", "StartingService", "StopResult", "describe_returncode"]

#: After SIGKILL the group is gone within milliseconds; this bounds the wait anyway.
KILL_TIMEOUT = 5.0


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
        mark: str | None = None,
    ) -> None:
        self._popen = popen
        self._guard = guard
        #: The random mark in its environment (see :mod:`.descendants`).
        self.mark = mark
        self.command = tuple(command)
        self.log_path = log_path
        #: Size of the log file before the process started: its own output begins here.
        self.log_offset = log_offset
        self._handle: ServiceHandle | None = None
        self._pidfd: int | None = None
        self._stop_result: StopResult | None = None
        #: The pid of a foreign process found listening on the service's port, if any;
        #: in :attr:`daemonized` too if it carries the service's mark (it left the group).
        self.foreign_holder: int | None = None
        self.daemonized: int | None = None
        #: The processes outside its group that stopping it had to kill (see :mod:`.descendants`).
        self.escaped: list[int] = []
        with contextlib.suppress(AttributeError, OSError):  # not Linux >= 5.3: waits fall back to polling
            self._pidfd = os.pidfd_open(popen.pid)

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
        log = open_service_log(log_path)  # locked: one session per log file
        child_env = dict(os.environ)
        # An inherited NOTIFY_SOCKET belongs to whoever started us (systemd), not to the service.
        child_env.pop("NOTIFY_SOCKET", None)
        child_env.update(env or {})
        child_env[MARK_VARIABLE] = mark = new_mark()  # finds its descendants, daemons included
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
                    preexec_fn=parent_death_signal(),
                )
            except OSError as error:
                raise ServiceStartError(describe_spawn_error(error, command, cwd)) from None
        if guard is not None:
            guard.watch(popen.pid, mark)
        return cls(popen, command=command, log_path=log_path, log_offset=log_offset, guard=guard, mark=mark)

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
        tls: TlsFiles | None = None,
    ) -> ServiceProcess:
        """Spawn the command and wait until the service is ready.

        Readiness is whichever comes first: ``READY=1`` on a private ``NOTIFY_SOCKET``
        (unless ``notify`` is false) sent by a process of the service's session, ``GET
        ping_path`` answering 2xx (if given; a 404 fails at once), else a TCP connect to
        ``host:port``; with ``tls``, over verified TLS. The listener must belong to the
        service's session (:meth:`foreign_listener`). On any error the group is killed first.

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
            tls: The TLS files the service serves with (the probe trusts their CA only).

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
            command,
            log_path=log_path,
            port=port,
            host=host,
            ping_path=ping_path,
            env=env,
            cwd=cwd,
            notify=notify,
            guard=guard,
            check_listener=check_listener,
            tls=tls,
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
        tls: TlsFiles | None = None,
    ) -> StartingService[ServiceProcess]:
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
            process,
            notify_socket,
            started_at=started_at,
            host=host,
            port=port,
            ping_path=ping_path,
            check_listener=check_listener,
            tls=tls,
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
        where = (self.pid, self.command, self.log_path, self.log_offset, self.mark, self.daemonized)
        return start_failure(*where, kind=kind, what=what, returncode=returncode, attributes=attributes)

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

    @property
    def pidfd(self) -> int | None:
        """A pidfd of the process (Linux >= 5.3; readable once it exits), or ``None``."""
        return self._pidfd

    def mark_ready(
        self,
        host: str,
        port: int,
        base_url: URL | None = None,
        config_path: str | os.PathLike[str] | None = None,
        config: Mapping[str, Any] | None = None,
        tls: TlsFiles | None = None,
    ) -> ServiceHandle:
        """Record that the service is ready on ``host:port``: builds :attr:`handle`."""
        self._handle = ready_handle(
            self.pid, self.command, self.log_path, host, port, base_url, config_path, config, tls
        )
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

    def suspended(self) -> bool:
        """Whether the process is stopped (SIGSTOP, SIGTSTP: state ``T`` or ``t`` in ``/proc/PID/stat``)."""
        return process_state(self.pid) in ("T", "t")

    def in_session(self, pid: int) -> bool:
        """Whether ``pid`` is this service or a process it started (its session, Linux)."""
        return pid == self.pid or process_session(pid) == self.pid

    def identify_listener(self, host: str, port: int) -> Callable[[], str | None]:
        """A probe's ``identify``: describes a foreign listener on ``host:port`` (and remembers
        its pid in :attr:`foreign_holder`), or returns ``None`` if the listener is the service's."""

        def identify() -> str | None:
            foreign = self.foreign_listener(host, port)
            if foreign is None:
                return None
            self.foreign_holder = foreign[0]
            if self.mark is not None and carries_mark(foreign[0], self.mark):
                self.daemonized = foreign[0]
            return f"a listening socket of {foreign[1]}"

        return identify

    def foreign_listener(self, host: str, port: int) -> tuple[int, str] | None:
        """Return ``(pid, description)`` of a process outside the service that listens where
        a connection to ``host:port`` lands, or ``None``.

        ``None`` also when it cannot be told: not Linux, or the listener's holder is not
        visible to this user (another user's process, such as ``docker-proxy``).
        """
        return listener_holder(host, port, outside_session=self.pid)

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
        suspended = not exited_on_its_own and self.suspended()
        deadline = time.monotonic() + grace
        try:
            self._signal_group(signal.SIGTERM)
            self._signal_group(signal.SIGCONT)  # a stopped process gets SIGTERM only once it runs
            stopped = self._wait(deadline) and self._wait_group_empty(deadline)
        except BaseException:
            self.kill()  # interrupted (Ctrl-C, SIGTERM to pytest): leave nothing running
            raise
        if not stopped:
            self._signal_group(signal.SIGKILL)
            kill_deadline = time.monotonic() + KILL_TIMEOUT
            self._wait(kill_deadline)
            self._wait_group_empty(kill_deadline)
        self._kill_escaped()
        returncode = self.poll()
        if returncode is None:  # unkillable (stuck in the kernel): do not hang on it
            returncode = -signal.SIGKILL
        self._stop_result = StopResult(
            returncode=returncode,
            exited_on_its_own=exited_on_its_own,
            killed_after_grace=not stopped and not exited_on_its_own,
            was_suspended=suspended,
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
        self._kill_escaped()
        returncode = self.poll()
        self._stop_result = StopResult(
            returncode=-signal.SIGKILL if returncode is None else returncode,
            exited_on_its_own=already_exited,
        )
        self._release()

    def _kill_escaped(self) -> None:
        """SIGKILL what the service started outside its group (daemons: see :mod:`.descendants`)."""
        if self.mark is not None:
            self.escaped = kill_marked(self.mark, KILL_TIMEOUT)

    def _signal_group(self, signum: int) -> None:
        # The child called setsid(), so its pid is the id of its group and session.
        # ProcessLookupError: the group is gone; PermissionError: only a zombie leader was left (macOS).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)

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
        while group_alive(self.pid):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(interval, remaining))
            interval = min(interval * 2, 0.05)
        return True

    def _release(self) -> None:
        self._close_pidfd()
        if self._guard is not None and not group_alive(self.pid):
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
