"""Plain helpers of the runtime-control tests (fixtures live in conftest.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

#: The ini of every inner pytester run; pytest-asyncio's mode stays at its default (strict).
BASE_INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"


def sample_dir() -> Path:
    """The installed sample service's directory (its static config lives there)."""
    spec = importlib.util.find_spec("sample_service")
    assert spec is not None and spec.submodule_search_locations, "sample_service is not installed"
    return Path(next(iter(spec.submodule_search_locations)))
