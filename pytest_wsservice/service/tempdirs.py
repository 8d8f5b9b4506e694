"""Private temp dirs (``wsservice-XXXX``) that are cleaned up even after pytest was killed.

:class:`~.probe.NotifySocket` keeps its socket in such a dir and removes it when closed;
if pytest is killed while the service starts, the dir stays. So each dir records its owner
(the pid and the kernel's start time of the process that made it, in a file named
``owner``), and the first dir made by a process removes the stale ones: those of this user
whose owner is gone. A dir whose owner still runs (a concurrent session) is kept, and so is
one without an ``owner`` file (being made right now, or made by an older version).
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile

__all__ = ["PREFIX", "make_private_dir", "remove_stale_dirs"]

#: The name of every such dir begins with this.
PREFIX = "wsservice-"

_cleaned = False


def make_private_dir() -> str:
    """Make a fresh ``0700`` dir in the temp dir, recording its owner; the stale ones go first."""
    global _cleaned
    if not _cleaned:
        _cleaned = True
        remove_stale_dirs()
    path = tempfile.mkdtemp(prefix=PREFIX)
    with open(os.path.join(path, "owner"), "w") as owner:
        owner.write(_identity(os.getpid()) or str(os.getpid()))
    return path


def remove_stale_dirs(directory: str | None = None) -> list[str]:
    """Remove this user's ``wsservice-*`` dirs whose owner process is gone; return their paths."""
    directory = directory if directory is not None else tempfile.gettempdir()
    removed: list[str] = []
    try:
        names = [name for name in os.listdir(directory) if name.startswith(PREFIX)]
    except OSError:
        return removed
    for name in names:
        path = os.path.join(directory, name)
        try:
            info = os.lstat(path)
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
                continue
            with open(os.path.join(path, "owner")) as owner:
                recorded = owner.read().strip()
        except OSError:
            continue  # no owner file: being made now, or not ours to judge
        pid = recorded.split(" ", 1)[0]
        if not pid.isdigit() or _alive(int(pid), recorded):
            continue  # its owner runs
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _alive(pid: int, recorded: str) -> bool:
    if " " in recorded:  # with its start time (Linux)
        return _identity(pid) == recorded
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _identity(pid: int) -> str | None:
    """``"PID STARTTIME"`` for a live process (Linux), so that a reused pid is told apart; else ``None``."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat_file:
            fields = stat_file.read().rsplit(b")", 1)[-1].split()
    except OSError:
        return None
    if len(fields) < 20 or fields[0] == b"Z":
        return None
    return f"{pid} {fields[19].decode()}"
