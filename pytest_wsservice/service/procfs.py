"""Readers of Linux's ``/proc``: process sessions and groups, listening sockets and who holds them.

Every function here answers "cannot tell" (``None``, an empty list, ``False``) where
``/proc`` cannot be read (not Linux, another user's process), never raises for that.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator

__all__ = [
    "describe_pid",
    "group_alive",
    "listener_inodes",
    "proc_stats",
    "process_session",
    "session_members",
    "socket_holders",
]

_LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp's st column


def proc_stats() -> Iterator[tuple[int, list[bytes]]]:
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
    return [pid for pid, fields in proc_stats() if len(fields) > 3 and fields[3] == wanted and fields[0] != b"Z"]


def group_alive(pgid: int) -> bool:
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
    return any(len(fields) > 2 and fields[2] == wanted and fields[0] != b"Z" for _, fields in proc_stats())


def _proc_address(text: str) -> bytes:
    """Decode an address of /proc/net/tcp{,6}: 32-bit words in host byte order, in hex."""
    raw = bytes.fromhex(text)
    if sys.byteorder == "little":
        raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return raw


def _accepting_addresses(host: str) -> set[bytes]:
    """The local addresses whose listener accepts a connection to ``host``."""
    if ":" in host:
        packed = socket.inet_pton(socket.AF_INET6, host)
        return {packed, bytes(16)}
    packed = socket.inet_pton(socket.AF_INET, host)
    # An IPv6 wildcard listener (dual stack) takes IPv4 connections too.
    return {packed, bytes(4), bytes(16), b"\0" * 10 + b"\xff\xff" + packed}


def listener_inodes(host: str, port: int) -> set[int] | None:
    """Return the socket inodes listening where a connection to ``host:port`` can land.

    That is the listeners on ``host:port`` itself and on the wildcard address.

    Returns:
        A set of inode numbers (empty: nobody listens), or ``None`` where ``/proc/net``
        cannot be read (not Linux).
    """
    try:
        wanted = _accepting_addresses(host)
    except OSError:
        return None
    inodes: set[int] = set()
    readable = False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as lines:
                next(lines, None)  # the header
                rows = list(lines)
        except OSError:
            continue
        readable = True
        for row in rows:
            fields = row.split()
            if len(fields) < 10 or fields[3] != _LISTEN:
                continue
            address, _, port_hex = fields[1].partition(":")
            if int(port_hex, 16) == port and _proc_address(address) in wanted:
                inodes.add(int(fields[9]))
    return inodes if readable else None


def socket_holders(inodes: set[int], pids: list[int] | None = None) -> dict[int, int]:
    """Map each socket inode to a process that has it open.

    Args:
        inodes: Socket inodes, as from :func:`listener_inodes`.
        pids: The processes to look at; every process in ``/proc`` when ``None``.
            Processes of other users cannot be looked at and are skipped.
    """
    found: dict[int, int] = {}
    if not inodes:
        return found
    if pids is None:
        try:
            pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
        except OSError:
            return found
    targets = {f"socket:[{inode}]": inode for inode in inodes}
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            inode = targets.get(link)
            if inode is not None and inode not in found:
                found[inode] = pid
                if len(found) == len(targets):
                    return found
    return found


def describe_pid(pid: int) -> str:
    """Say which process ``pid`` is, for messages: ``pid 123 (python3 -m http.server)``."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            words = [part.decode("utf-8", "replace") for part in cmdline.read().split(b"\0") if part]
    except OSError:
        words = []
    command = " ".join(words)
    if len(command) > 120:
        command = command[:117] + "..."
    return f"pid {pid} ({command})" if command else f"pid {pid}"
