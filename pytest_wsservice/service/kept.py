"""A kept service (``--service-reuse``) as the session sees it: :class:`KeptProcess`. No pytest.

The service is the keeper's child, not this process's (:mod:`.keeper`), so it is watched
through ``/proc`` and a pidfd, never reaped here. It has what :class:`~.startup.StartingService`
needs to wait for it (the same probe and listener check as any start) and what
:class:`~.session.ServiceSession` needs to hand it to tests; :meth:`KeptProcess.detach` leaves
it running at the session's end, while :meth:`KeptProcess.stop` and :meth:`KeptProcess.kill`
stop it for good (through its keeper, which removes the state file).
"""

from __future__ import annotations

import contextlib
import os
import select
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ServiceStartError
from .exits import StopResult
from .failures import start_failure
from .handle import ServiceHandle, ready_handle
from .logfile import TAIL_LINES, read_log_tail
from .ports import listener_holder
from .procfs import process_session, process_state
from .reuse import KeptState, stop_kept, touch_state

if TYPE_CHECKING:
    from yarl import URL

    from .tls import TlsFiles

__all__ = ["KeptProcess"]

#: The exit status recorded for a kept service that is gone (its keeper, not us, reaped it).
GONE = 0


class KeptProcess:
    """The kept service of state file ``path`` (see the module docstring)."""

    #: Tells the session not to stop it at its end (see :meth:`detach`).
    kept = True

    def __init__(
        self, state: KeptState, path: Path, command: Sequence[str], *, grace: float = 5.0, lock: int | None = None
    ) -> None:
        self.state = state
        self._lock = lock  # hold_state()'s descriptor: the keeper does not stop it as idle meanwhile
        self.path = path
        self.command = tuple(command)
        self.log_path = Path(state.log_path)
        try:
            self.log_offset = self.log_path.stat().st_size
        except OSError:
            self.log_offset = 0
        self.mark: str | None = state.mark
        self.foreign_holder: int | None = None
        self.daemonized: int | None = None
        self._grace = grace
        self._handle: ServiceHandle | None = None
        self._gone = False
        self._pidfd: int | None = None
        with contextlib.suppress(AttributeError, OSError):
            self._pidfd = os.pidfd_open(state.service_pid)

    @property
    def pid(self) -> int:
        return self.state.service_pid

    @property
    def pidfd(self) -> int | None:
        return self._pidfd

    @property
    def handle(self) -> ServiceHandle:
        if self._handle is None:
            raise RuntimeError("the kept service is not ready yet")
        return self._handle

    def poll(self) -> int | None:
        """``None`` while the service runs; :data:`GONE` once it has exited (its status is its keeper's)."""
        if not self._gone:
            if self._pidfd is not None:
                self._gone = bool(select.select([self._pidfd], [], [], 0)[0])
            else:
                self._gone = process_state(self.pid) in (None, "Z", "X")
        return GONE if self._gone else None

    def suspended(self) -> bool:
        return process_state(self.pid) in ("T", "t")

    def wait_exit(self, timeout: float) -> int | None:
        return self.poll()  # not ours to wait for: it is stopped by its keeper

    def log_tail(self, lines: int = TAIL_LINES) -> str:
        return read_log_tail(self.log_path, lines, since=self.log_offset)

    def in_session(self, pid: int) -> bool:
        return pid == self.pid or process_session(pid) == self.pid

    def identify_listener(self, host: str, port: int) -> Callable[[], str | None]:
        def identify() -> str | None:
            foreign = listener_holder(host, port, outside_session=self.pid)
            if foreign is None:
                return None
            self.foreign_holder = foreign[0]
            return f"a listening socket of {foreign[1]}"

        return identify

    def failure(
        self, kind: type[ServiceStartError], what: str, returncode: int | None = None, **attributes: Any
    ) -> ServiceStartError:
        where = (self.pid, self.command, self.log_path, self.log_offset, self.mark, self.daemonized)
        return start_failure(
            *where, kind=kind, what=f"(kept by --service-reuse) {what}", returncode=returncode, attributes=attributes
        )

    def mark_ready(
        self,
        host: str,
        port: int,
        base_url: URL | None = None,
        config_path: str | os.PathLike[str] | None = None,
        config: Mapping[str, Any] | None = None,
        tls: TlsFiles | None = None,
    ) -> ServiceHandle:
        self._handle = ready_handle(
            self.pid, self.command, self.log_path, host, port, base_url, config_path, config, tls
        )
        return self._handle

    def detach(self) -> None:
        """Leave the service running for the next run; its idle time counts from now."""
        touch_state(self.path)
        self._close()

    def stop(self, grace: float | None = None) -> StopResult:
        """Stop it for good, through its keeper (the state file is removed)."""
        exited = self.poll() is not None
        self._close()
        stop_kept(self.path, self._grace if grace is None else grace, self.state)
        self._gone = True
        self._close()
        return StopResult(GONE, exited_on_its_own=exited)

    def kill(self) -> None:
        self.stop(0.0)

    def _close(self) -> None:
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None

    def __del__(self) -> None:
        self._close()
