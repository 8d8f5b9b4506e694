"""The service's log file as the service writes it: opened once per start, owned by one session,
and watched for a full disk.

- :func:`open_service_log` opens the file for appending and takes an exclusive ``flock`` on
  it. The service inherits the open file, so the lock is held as long as any process of
  the service has it open; a second test session that is given the same
  ``--service-logs-file`` cannot take it and gets one clear error instead of mixing its
  lines into the other session's.
- :func:`disk_full_note` says when the file system holding the log is full: the service's
  writes then fail (``ENOSPC``) and the log silently stops growing.
"""

from __future__ import annotations

import fcntl
import os
import stat
from pathlib import Path
from typing import BinaryIO

from ..errors import ServiceStartError
from .procfs import describe_pid

__all__ = ["FULL_BELOW", "disk_full_note", "log_lock_holder", "open_service_log"]

#: A file system with less free space than this (in bytes) counts as full.
FULL_BELOW = 16 * 1024


def open_service_log(log_path: Path) -> BinaryIO:
    """Open ``log_path`` for appending (creating its directory) and lock it for this service.

    Raises:
        ServiceStartError: The file cannot be opened, or another session's service holds it.
    """
    try:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(log_path, "ab")  # noqa: SIM115  # the caller closes it
    except OSError as error:
        raise ServiceStartError(
            f"cannot start the service: its log file {log_path} cannot be opened: {error.strerror}."
        ) from None
    try:
        if stat.S_ISREG(os.fstat(log.fileno()).st_mode):  # a terminal or a pipe may be shared
            fcntl.flock(log.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = log_lock_holder(log_path)
        if holder == os.getpid():
            return log  # locked by this session: a process left by one of its services keeps it open
        log.close()
        by = f" (locked by {describe_pid(holder)})" if holder is not None else ""
        raise ServiceStartError(
            f"cannot start the service: its log file {log_path} is in use by another test session's service{by}. "
            "Two sessions writing one file would quote each other's lines in their reports: give each session its "
            "own --service-logs-file (or leave it out: each session then writes its own temp dir)."
        ) from None
    except OSError:
        pass  # a file system without flock: no check, as before
    return log


def log_lock_holder(log_path: Path) -> int | None:
    """The pid that took a ``flock`` on ``log_path``, from ``/proc/locks`` (Linux), or ``None``."""
    try:
        info = os.stat(log_path)
        with open("/proc/locks") as locks:
            rows = locks.read().splitlines()
    except OSError:
        return None
    wanted = f":{info.st_ino}"
    for row in rows:
        fields = row.split()
        if len(fields) > 5 and fields[1] == "FLOCK" and fields[5].endswith(wanted) and fields[4].isdigit():
            return int(fields[4])
    return None


def disk_full_note(log_path: Path) -> str | None:
    """A sentence saying that the file system holding ``log_path`` is full, or ``None``."""
    try:
        info = os.statvfs(log_path if log_path.exists() else log_path.parent)
    except OSError:
        return None
    free = info.f_bavail * info.f_frsize
    if free >= FULL_BELOW:
        return None
    return (
        f"The file system holding the service's log {log_path} is full ({free} bytes free): the service's writes "
        "to its log fail (ENOSPC), so the log is missing its last lines. Free some space, or put the log "
        "elsewhere with --service-logs-file."
    )
