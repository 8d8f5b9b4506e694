"""The pytest side of runtime control: the ``dynamic_config`` fixture and the ``config`` marker.

::

    @pytest.mark.config(WEBSOCKET_ECHO_PREFIX='> ')
    async def test_prefix(websocket_client):
        async with websocket_client.get('chat') as chat:
            await chat.send('hi')
            assert await chat.recv() == '> hi'

Both talk to the service's ``tests-control`` component
(:mod:`pytest_wsservice.clients.tests_control`). The fixture is sync: it reads the values when
the test starts and puts back the ones the test changed when it ends, each with one
blocking request to the service on loopback, with a deadline. So it is bound to no event
loop, works under every pytest-asyncio loop scope, and a failed or interrupted test
leaves no value changed for the next one.

Loaded as a plugin module by ``pytest_wsservice``; it imports nothing heavy.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ..clients.tests_control import DynamicConfig
    from ..service.handle import ServiceHandle

#: The marker that sets dynamic config values for one test, as in userver's testsuite.
CONFIG_MARKER = "config"

_FIXTURE = "dynamic_config"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{CONFIG_MARKER}(NAME=value, ...): set these dynamic config values in the service for this test; the values "
        "of before are put back after it. Needs the service's tests-control component.",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A test with the marker gets the fixture that applies it, without having to ask.
    # A new list for the item: parametrized siblings share the old one.
    for item in items:
        if (
            isinstance(item, pytest.Function)
            and item.get_closest_marker(CONFIG_MARKER) is not None
            and _FIXTURE not in item.fixturenames
        ):
            item.fixturenames = [*item.fixturenames, _FIXTURE]


def _marker_values(item: pytest.Item) -> dict[str, Any]:
    """The values of every ``config`` marker on the test; the closest marker wins a name."""
    where = f"@pytest.mark.{CONFIG_MARKER} on {item.nodeid}"
    values: dict[str, Any] = {}
    for mark in reversed(list(item.iter_markers(CONFIG_MARKER))):  # outermost first
        for arg in mark.args:
            if not isinstance(arg, Mapping):
                raise pytest.UsageError(
                    f"{where} takes values by name, @pytest.mark.{CONFIG_MARKER}(NAME=value), or one dict of them; "
                    f"got {arg!r}."
                )
            values.update(arg)
        values.update(mark.kwargs)
    return values


@pytest.fixture
def dynamic_config(
    request: pytest.FixtureRequest,
    service_handle: ServiceHandle,
    service_config: dict[str, Any],
    service_config_path: Path,
    service_client_timeout: float,
) -> Iterator[DynamicConfig]:
    """The service's dynamic config for this test: ``get(name)``, ``set_values({...})``.

    Function scope, sync. The test's ``@pytest.mark.config(NAME=value)`` values are set
    before it starts; whatever the test or the marker changed is put back after it, also
    when it fails. Needs the service's tests-control component (the bundled config has
    one). Override this to reach the dynamic config some other way.
    """
    from ..clients.tests_control import DynamicConfig, TestsControl

    values = _marker_values(request.node)
    feature = f"@pytest.mark.{CONFIG_MARKER} on {request.node.nodeid}" if values else "the dynamic_config fixture"
    control = TestsControl.for_handle(
        service_handle, timeout=service_client_timeout, config=service_config, config_file=service_config_path
    )
    control.require(feature)
    config = DynamicConfig(control)
    config.load()
    if values:
        try:
            config.apply_blocking(values, what=feature)
        except BaseException:
            # A refused value changed nothing, but a request cut short may have.
            with contextlib.suppress(Exception):  # the error that brought us here says more
                config.restore()
            raise
    yield config
    config.restore()
