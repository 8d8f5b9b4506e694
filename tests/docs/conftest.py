"""Fixtures of the documentation tests: pytester projects that load pytest-wsservice."""

from __future__ import annotations

import pytest

from tests.plugin.control.control_helpers import BASE_INI


@pytest.fixture
def control_project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester directory with an ini and a root conftest that loads the plugin."""
    pytester.makeini(BASE_INI)
    pytester.makeconftest("pytest_plugins = ['pytest_wsservice']\n")
    return pytester
