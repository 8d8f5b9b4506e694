"""The error a failed start raises: what happened to the process, and its log's tail.

A listener that carries the service's mark (see :mod:`.descendants`) but is outside its
process group means the service daemonized: that is said as such, as a
:class:`~pytest_wsservice.errors.ServiceStartError` (not retried on another port), rather
than as a port taken by someone else.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Any

from ..errors import ServicePortInUse, ServiceStartError
from .descendants import carries_mark, marked_processes
from .logfile import TAIL_LINES, read_log_tail
from .logwrite import disk_full_note

__all__ = ["start_failure"]

_DAEMON_ADVICE = (
    ": the plugin can neither watch nor stop a daemon, so it killed it. Run the service in the foreground "
    "(daemons usually have an option for that, such as --foreground or --nodaemon)"
)


def _group_of(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def start_failure(
    pid: int,
    command: tuple[str, ...],
    log_path: Path,
    log_offset: int,
    mark: str | None,
    daemon: int | None,
    *,
    kind: type[ServiceStartError],
    what: str,
    returncode: int | None,
    attributes: dict[str, Any],
) -> ServiceStartError:
    """Build the error for :meth:`ServiceProcess.failure` (see there)."""
    pid_group = pid  # the service called setsid(): its pid is its group's id
    holder = attributes.get("holder")
    if holder is not None and holder == daemon:
        pass  # known to carry the mark (it may be gone by now)
    elif holder is None or mark is None or not carries_mark(holder, mark):
        holder = None
    if issubclass(kind, ServicePortInUse) and holder is not None:
        kind, attributes = ServiceStartError, {}
        what = f"daemonized (its listener pid {holder} left its process group){_DAEMON_ADVICE}"
    elif kind is ServiceStartError and mark is not None:
        left = [pid for pid in marked_processes(mark) if _group_of(pid) not in (None, pid_group)]
        if left:
            what = f"{what}: it daemonized (its pid {left[0]} left its process group){_DAEMON_ADVICE}"
    tail = read_log_tail(log_path, TAIL_LINES, since=log_offset)
    if not tail:
        about_log = f"It wrote nothing to its log {log_path}."
    else:
        count = tail.count("\n") + 1
        about_log = f"Last {count} line{'s' if count != 1 else ''} of its log {log_path}:\n{tail}"
    full = disk_full_note(log_path)
    if full is not None:
        about_log = f"{about_log}\n{full}"
    return kind(
        f"The service (pid {pid}, command: {shlex.join(command)}) {what}.\n{about_log}",
        returncode=returncode,
        log_tail=tail,
        **attributes,
    )
