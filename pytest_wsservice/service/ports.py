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
import re
import socket

from .procfs import describe_pid, listener_inodes, session_members, socket_holders

__all__ = [
    "free_port",
    "listener_holder",
    "port_holder",
    "port_in_use",
    "worker_index",
    "worker_port",
]


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
        port: int = probe.getsockname()[1]
        return port


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


def listener_holder(host: str, port: int, *, outside_session: int | None = None) -> tuple[int, str] | None:
    """Return ``(pid, description)`` of a process listening where a connection to
    ``host:port`` lands, or ``None`` (nobody, or it cannot be told: not Linux, or the
    holder is another user's process, such as ``docker-proxy``).

    Args:
        outside_session: Ignore that process and the processes of its session (the
            service's own): only a *foreign* listener is returned.
    """
    inodes = listener_inodes(host, port)
    if not inodes:
        return None
    if outside_session is not None:
        own = socket_holders(inodes, [outside_session])
        if len(own) < len(inodes):
            own.update(socket_holders(inodes - own.keys(), session_members(outside_session)))
        inodes = inodes - own.keys()
    for pid in socket_holders(inodes).values():
        return pid, describe_pid(pid)
    return None


def port_holder(host: str, port: int) -> tuple[int | None, str] | None:
    """If ``host:port`` cannot be bound because some process holds it, say who.

    The single "who holds this port" lookup: ``None`` if the port is free (or cannot be
    bound at all, which the service will explain itself); else the holder's pid (``None``
    if not visible) and a description such as ``"pid 123 (python3 -m http.server)"`` or
    ``"another process"``.
    """
    try:
        if not port_in_use(host, port):
            return None
    except OSError:
        return None
    return listener_holder(host, port) or (None, "another process")
