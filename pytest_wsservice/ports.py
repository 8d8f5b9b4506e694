"""Loopback ports for the service's listener, one per pytest-xdist worker.

Each pytest process (the controller or an xdist worker) picks its own port; nothing is
shared between workers, neither a file nor a counter, so workers need no coordination.

Known race: :func:`free_port` binds port 0, reads the port the kernel chose and closes the
socket. Between that close and the service's own ``bind()`` another process could take
the same port. Linux hands out ephemeral ports in a randomised order, so this is rare, but
it is not impossible; a service that loses the race exits with "address already in use"
and the start fails with its log tail. (A later change hands the port over without a gap.)
"""

from __future__ import annotations

import re
import socket

__all__ = ["free_port", "worker_index", "worker_port"]


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
