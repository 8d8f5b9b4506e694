"""Loopback ports for the service's listener, and who holds a port.

Each pytest process (the controller or an xdist worker) picks its own port; nothing is
shared between workers, neither a file nor a counter, so workers need no coordination.

How a free port is handed out, and why this way: any service that reads the static
config must work, including ones that cannot take over a listening socket (systemd's
``LISTEN_FDS``) or report a port they chose themselves. So :func:`free_port` binds port 0,
reads the port the kernel chose at random from the ephemeral range, and closes the socket.
Between that close and the service's own ``bind()`` another process could take the port.
That race is rare, and it is caught, not ignored: the service either fails to bind (it
exits, and :func:`port_in_use` then finds the port held by someone else) or the readiness
check finds the listener owned by a process outside the service (:func:`listener_inodes`,
:func:`socket_holders`). When the port was the plugin's to choose, the start is retried on
a fresh port within the same deadline.

The ``/proc`` lookups are Linux only; elsewhere they return ``None`` ("cannot tell").
"""

from __future__ import annotations

import errno
import os
import re
import socket
import sys

__all__ = [
    "describe_pid",
    "free_port",
    "listener_inodes",
    "port_in_use",
    "socket_holders",
    "worker_index",
    "worker_port",
]

_LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp's st column


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on ``host`` right now.

    Args:
        host: A loopback address, IPv4 or IPv6.

    Raises:
        OSError: ``host`` cannot be bound (for example ``::1`` without IPv6).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def port_in_use(host: str, port: int) -> bool:
    """Whether some process listens on (or has bound) ``host:port`` right now.

    The test binds with ``SO_REUSEADDR``, as servers do, so connections of a process that
    has exited (``TIME_WAIT``) do not count as "in use".
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return True
            raise
    return False


def worker_index(worker_id: str | None) -> int:
    """Return the number of an xdist worker id (``"gw3"`` -> 3); 0 outside xdist."""
    match = re.fullmatch(r"gw(\d+)", worker_id or "")
    return int(match.group(1)) if match else 0


def worker_port(port: int, worker_id: str | None) -> int:
    """Return the port an xdist worker uses when the user fixed ``port``.

    Worker ``gwN`` uses ``port + N`` so that workers do not fight over one port;
    outside xdist this is ``port`` itself.

    Raises:
        ValueError: The result is not a valid port.
    """
    result = port + worker_index(worker_id)
    if not 0 < result < 65536:
        raise ValueError(f"port {port} + worker index {worker_index(worker_id)} = {result} is not a valid port")
    return result


# --------------------------------------------------------------------------- who holds a port


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
