"""The client fixtures: ``websocket_client``, ``service_client`` and their deadlines.

Function scope, bound to no event loop: each builds a client of
:mod:`pytest_wsservice.clients` for the current ``service_handle``. websockets and
aiohttp are imported inside the fixtures, so a run that uses none pays nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from .settings import settings_of
from .state import TRANSCRIPTS

if TYPE_CHECKING:
    import ssl
    from collections.abc import Iterable

    from ..clients.http import ServiceClient
    from ..clients.websocket import WebSocketClient
    from ..service.handle import ServiceHandle


#: The modules each client fixture imports when it first runs (see :func:`import_clients_for`).
CLIENT_MODULES = {
    "websocket_client": ("pytest_wsservice.clients.websocket",),
    "service_client": ("pytest_wsservice.clients.http", "pytest_wsservice.clients.tests_control"),
}


def import_clients_for(fixture_names: Iterable[str]) -> None:
    """Import now the client modules that these fixtures will import when they run.

    Called while an early-started service starts (:mod:`.early`): the fixtures run only
    once the service is ready, and the import (websockets: ~25 ms; aiohttp's client: ~100 ms)
    would then come on top of the wait instead of beside it. A module that fails to import
    is left for the fixture to report.
    """
    import importlib

    names = set(fixture_names)
    for fixture, modules in CLIENT_MODULES.items():
        if fixture in names:
            for module in modules:
                try:
                    importlib.import_module(module)
                except Exception:
                    return


@pytest.fixture(scope="session")
def websocket_timeout(pytestconfig: pytest.Config) -> float:
    """Default seconds for opening a WebSocket and for each ``recv``: ``--websocket-timeout`` (10).

    Override this to compute the deadline in code.
    """
    return settings_of(pytestconfig).require("websocket-timeout").websocket_timeout


@pytest.fixture(scope="session")
def service_client_timeout(websocket_timeout: float) -> float:
    """Default seconds for each request of ``service_client``: the ``websocket_timeout``.

    Override this to give HTTP requests their own deadline.
    """
    return websocket_timeout


@pytest.fixture
def websocket_client(
    request: pytest.FixtureRequest, service_handle: ServiceHandle, websocket_timeout: float
) -> WebSocketClient:
    """A WebSocket client for the service: ``async with websocket_client.get('chat') as chat``.

    Function scope; it holds no connection until ``get()`` is entered, so it is bound
    to no event loop. Override this to connect somewhere else. The transcripts of the
    connections it opens go into the test's report if the test fails.
    """
    from ..clients.websocket import WebSocketClient

    client = WebSocketClient(service_handle.base_url, timeout=websocket_timeout, ssl=_tls_context(service_handle))
    request.node.stash[TRANSCRIPTS] = client.transcripts
    return client


@pytest.fixture
def service_client(service_handle: ServiceHandle, service_client_timeout: float) -> ServiceClient:
    """An HTTP client for the service: ``response = await service_client.get('/ping')``.

    Function scope, bound to no event loop. Override this to connect somewhere else.
    """
    from ..clients.http import ServiceClient
    from ..clients.tests_control import TestsControl

    return ServiceClient(
        service_handle.base_url,
        timeout=service_client_timeout,
        ssl=_tls_context(service_handle),
        log_path=service_handle.log_path,
        tests_control=TestsControl.for_handle(service_handle, timeout=service_client_timeout),
    )


def _tls_context(handle: ServiceHandle) -> ssl.SSLContext | None:
    """The client context trusting the run's CA (``--service-tls``); ``None`` otherwise, which
    leaves an ``https``/``wss`` ``--service-url`` to the system's trusted certificates."""
    return handle.tls.client_context() if handle.tls is not None else None
