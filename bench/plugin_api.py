"""The few places where the benchmarks call pytest_wsservice outside pytest.

Kept in one module so that a change of the plugin's Python API touches one file, and so
that the rest of bench/ imports nothing of the plugin until a benchmark needs it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .common import has_module


def available() -> bool:
    """True once the plugin's process and client modules exist."""
    return all(has_module(f"pytest_wsservice.{m}") for m in ("service.process", "service.startup", "clients.websocket"))


def websocket_client(base_url: str, timeout: float = 10.0) -> Any:
    """The client that the ``websocket_client`` fixture hands to tests, for ``base_url``."""
    import yarl

    from pytest_wsservice.clients.websocket import WebSocketClient

    return WebSocketClient(yarl.URL(base_url), timeout=timeout)


@contextlib.contextmanager
def start_service(config_path: Path, port: int, directory: Path) -> Iterator[Any]:
    """Start the sample service from ``config_path`` as ``service_start`` does; stop it on exit."""
    from pytest_wsservice.service.process import ServiceProcess

    from .common import service_command

    # As the service_start fixture does: READY=1 on a notify socket, or 200 from the ping handler.
    with ServiceProcess.start(
        service_command(config_path),
        log_path=directory / "output.log",
        port=port,
        ping_path="/ping",
        config_path=config_path,
        timeout=30.0,
    ) as service:
        yield service.handle
