"""Fixtures of the mockserver engine's unit tests: a real server on loopback, no plugin."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pytest_wsservice.mockserver import MockServer, MockserverSession


@pytest.fixture(scope="module")
def server(scaled) -> Iterator[MockServer]:
    """One mockserver per test module, started and stopped synchronously."""
    mock = MockServer()
    mock.start(timeout=scaled(10))
    yield mock
    mock.stop(timeout=scaled(10))
    assert not mock.running


@pytest.fixture
def session(server, scaled) -> Iterator[MockserverSession]:
    """The per-test view; a test that left problems behind must have closed it and checked them."""
    view = server.new_session(default_timeout=scaled(5))
    yield view
    if not view.closed:
        assert view.close(timeout=scaled(10)) == []
