"""Fixtures for the sample service's own functional tests: a real process on a real socket.

``sample_service`` (session) is one service started from a config written to a temp dir;
``spawn_sample`` starts extra services for tests that stop, signal or misconfigure one;
``raw_ws`` opens raw TCP connections that speak hand-built WebSocket frames, for the
protocol-violation cases a well-behaved client library refuses to produce.

These fixtures are deliberately small and independent of the pytest_wsservice plugin, so
that the service is tested on its own; the plugin's fixtures may replace them later.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.sample_service.sample_helpers import (
    START_TIMEOUT,
    RawWebSocket,
    SampleProcess,
    config_dict,
    free_port,
    kill_group,
    start_sample,
    write_config,
)


@pytest.fixture(scope="session")
def sample_service(
    tmp_path_factory: pytest.TempPathFactory, scaled: Callable[[float], float]
) -> Iterator[SampleProcess]:
    """The service shared by the tests that do not stop or reconfigure it.

    Its websocket-handler has max-remote-payload 4096 and fragment-size 1000.
    """
    directory = tmp_path_factory.mktemp("sample-service")
    port = free_port()
    log_path = directory / "service.log"
    config_path = write_config(directory, config_dict(port, str(log_path)))
    service = start_sample(config_path, port, log_path, scaled(START_TIMEOUT))
    yield service
    service.stop(scaled(10))


@pytest.fixture
def spawn_sample(tmp_path: Path, scaled: Callable[[float], float]) -> Iterator[Callable[..., SampleProcess]]:
    """Start a service of this test's own from ``config_dict(port, **options)``; stop it at teardown."""
    started: list[SampleProcess] = []

    def spawn(*, env: dict[str, str] | None = None, **options: Any) -> SampleProcess:
        port = free_port()
        log_path = tmp_path / f"service-{len(started)}.log"
        config = config_dict(port, str(log_path), **options)
        config_path = write_config(tmp_path, config, name=f"static_config_{len(started)}.yaml")
        service = start_sample(config_path, port, log_path, scaled(START_TIMEOUT), env=env)
        started.append(service)
        return service

    yield spawn
    for service in started:
        if service.proc.poll() is None:
            kill_group(service.proc)


@pytest.fixture
def raw_ws(scaled: Callable[[float], float]) -> Iterator[Callable[..., RawWebSocket]]:
    """Open raw connections to a port: ``raw_ws(port)``, optionally already upgraded on /chat."""
    opened: list[RawWebSocket] = []

    def open_raw(port: int, *, upgraded: bool = True, timeout: float = 5.0) -> RawWebSocket:
        conn = RawWebSocket(port, scaled(timeout))
        opened.append(conn)
        if upgraded:
            status, _, _ = conn.handshake()
            assert status == 101
        return conn

    yield open_raw
    for conn in opened:
        conn.close()
