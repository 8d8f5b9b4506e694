"""Every process the service started, even one that left its process group (a daemon).

Stopping the service's process group reaches what it started, unless a process called
``setsid()`` (or ``setpgid()``), as a self-daemonizing service does: fork, ``setsid``,
serve in the child, exit in the parent. To find those, each service is started with a
random mark in its environment (:data:`MARK_VARIABLE`), which its descendants inherit;
:func:`marked_processes` finds them in ``/proc`` (Linux; the processes of this user), and
:func:`kill_marked` ends them. The orphan guard (:mod:`.guard`) does the same if pytest dies.

What this does not reach: a descendant that clears its environment (or ``execve``\\s with
an empty one) and leaves the group, and processes of another user. See "Processes and
logs" in ``docs/security.md``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import time

__all__ = ["MARK_VARIABLE", "carries_mark", "kill_marked", "marked_processes", "new_mark"]

#: The environment variable that marks the service's processes.
MARK_VARIABLE = "WSSERVICE_INSTANCE"


def new_mark() -> str:
    """A fresh random mark for one service process (and what it starts)."""
    return f"{os.getpid()}-{secrets.token_hex(8)}"


def carries_mark(pid: int, mark: str) -> bool:
    """Whether process ``pid`` carries ``mark`` in its environment (``False`` if it cannot be read)."""
    needle = f"{MARK_VARIABLE}={mark}".encode()
    try:
        with open(f"/proc/{pid}/environ", "rb") as environ:
            return needle in environ.read().split(b"\0")
    except OSError:
        return False


def marked_processes(mark: str) -> list[int]:
    """The live processes (not zombies) that carry ``mark``, this one excepted (Linux; else empty)."""
    needle = f"{MARK_VARIABLE}={mark}".encode()
    me = os.getpid()
    found: list[int] = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return found
    for name in names:
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as environ:
                if needle not in environ.read():
                    continue
            with open(f"/proc/{name}/stat", "rb") as stat:
                if stat.read().rsplit(b")", 1)[-1].split()[:1] == [b"Z"]:
                    continue
        except OSError:
            continue
        found.append(int(name))
    return found


def kill_marked(mark: str, timeout: float) -> list[int]:
    """SIGKILL every process that carries ``mark``; wait up to ``timeout`` s until they are gone.

    Returns:
        The pids that were killed.
    """
    killed = marked_processes(mark)
    if not killed:
        return killed
    for pid in killed:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    interval = 0.001
    while marked_processes(mark) and time.monotonic() < deadline:
        time.sleep(interval)
        interval = min(interval * 2, 0.05)
    return killed
