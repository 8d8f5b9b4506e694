"""Fixtures of the engine's unit tests: no pytester, real files and real processes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


@pytest.fixture
def sample_dir() -> Path:
    """The installed sample service's directory (its static config lives there)."""
    spec = importlib.util.find_spec("sample_service")
    assert spec is not None and spec.submodule_search_locations, "sample_service is not installed"
    return Path(next(iter(spec.submodule_search_locations)))


@pytest.fixture
def sample_config(tmp_path: Path, sample_dir: Path) -> Path:
    """A copy of the sample service's static config, with its fallback JSON next to it."""
    target = tmp_path / "service"
    target.mkdir()
    for name in ("static_config.yaml", "dynamic_config_fallback.json"):
        (target / name).write_bytes((sample_dir / name).read_bytes())
    return target / "static_config.yaml"
