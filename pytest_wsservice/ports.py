"""Compatibility: ports live in :mod:`pytest_wsservice.service.ports`, ``/proc`` readers in
:mod:`pytest_wsservice.service.procfs`."""

from __future__ import annotations

from .service.ports import free_port, port_holder, port_in_use, worker_index, worker_port
from .service.procfs import describe_pid, listener_inodes, socket_holders

__all__ = [
    "describe_pid",
    "free_port",
    "listener_inodes",
    "port_holder",
    "port_in_use",
    "socket_holders",
    "worker_index",
    "worker_port",
]
