"""Fixtures for the lifecycle tests: pytester projects that load pytest-wsservice."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.plugin.lifecycle.lifecycle_helpers import BASE_INI, CONFTEST


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester directory with an ini and a root conftest that loads the plugin."""
    pytester.makeini(BASE_INI)
    pytester.makeconftest(CONFTEST)
    return pytester


@pytest.fixture
def sample_dir() -> Path:
    """The installed sample service's directory (its static config lives there)."""
    spec = importlib.util.find_spec("sample_service")
    assert spec is not None and spec.submodule_search_locations, "sample_service is not installed"
    return Path(next(iter(spec.submodule_search_locations)))
