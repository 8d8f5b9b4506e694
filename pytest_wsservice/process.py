"""Compatibility: the process pieces now live in :mod:`pytest_wsservice.service`
(``process``, ``startup``, ``handle``, ``exits``, ``guard``, ``logfile``)."""

from __future__ import annotations

from .service.exits import StopResult, describe_returncode
from .service.guard import OrphanGuard
from .service.handle import ServiceHandle
from .service.logfile import LogFollower, read_log_since, read_log_tail
from .service.process import ServiceProcess
from .service.startup import StartingService

__all__ = [
    "LogFollower",
    "OrphanGuard",
    "ServiceHandle",
    "ServiceProcess",
    "StartingService",
    "StopResult",
    "describe_returncode",
    "read_log_since",
    "read_log_tail",
]
