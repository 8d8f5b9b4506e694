"""Helpers for the plugin's own tests: pytester projects that load pytest-wsservice."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.plugin.plugin_helpers import BASE_INI


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester directory with an ini and a root conftest that loads the plugin."""
    pytester.makeini(BASE_INI)
    pytester.makeconftest("pytest_plugins = ['pytest_wsservice']\n")
    return pytester


@pytest.fixture
def sample_config(tmp_path: Path) -> Path:
    """A copy of the sample service's static config, with its fallback JSON next to it."""
    spec = importlib.util.find_spec("sample_service")
    assert spec is not None and spec.submodule_search_locations, "sample_service is not installed"
    source = Path(next(iter(spec.submodule_search_locations)))
    target = tmp_path / "service"
    target.mkdir()
    for name in ("static_config.yaml", "dynamic_config_fallback.json"):
        (target / name).write_bytes((source / name).read_bytes())
    return target / "static_config.yaml"
