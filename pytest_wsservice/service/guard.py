"""Nothing outlives the session: the orphan guard and the kernel's parent-death signal.

- The parent-death signal (``PR_SET_PDEATHSIG`` = SIGKILL, Linux): if the Python process
  that started the service is killed outright, the service dies with it. The kernel ties
  that signal to the *thread* that forked, so it is set only when starting from the main
  thread (pytest fixtures run there).
- The :class:`OrphanGuard`: the parent-death signal reaches only the service; the guard
  reaches what the service started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable

__all__ = ["OrphanGuard", "parent_death_signal"]

_PR_SET_PDEATHSIG = 1

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
        # A few bytes: one atomic write. OSError: the guard is gone; the parent-death
        # signal still covers the service.
        with contextlib.suppress(OSError):
            os.write(self._fd, line.encode("ascii"))

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


def parent_death_signal() -> Callable[[], None] | None:
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
