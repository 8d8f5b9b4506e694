"""Fixtures of the runtime-control tests: pytester projects and configs with or without tests-control."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.plugin.control.control_helpers import BASE_INI, sample_dir


@pytest.fixture
def control_project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester directory with an ini and a root conftest that loads the plugin."""
    pytester.makeini(BASE_INI)
    pytester.makeconftest("pytest_plugins = ['pytest_wsservice']\n")
    return pytester


@pytest.fixture
def write_sample_config(tmp_path: Path) -> Callable[[Callable[[dict[str, Any]], None]], Path]:
    """Return a function that writes the bundled config, changed by ``edit(components)``, into a temp dir."""

    def write(edit: Callable[[dict[str, Any]], None]) -> Path:
        source = sample_dir()
        target = tmp_path / "service"
        target.mkdir(exist_ok=True)
        (target / "dynamic_config_fallback.json").write_bytes((source / "dynamic_config_fallback.json").read_bytes())
        config = yaml.safe_load((source / "static_config.yaml").read_text())
        edit(config["components_manager"]["components"])
        path = target / "static_config.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    return write
