"""Shared helpers of the project's own test suite."""

from __future__ import annotations

import os

import pytest

#: Every timeout in the test suite is multiplied by this factor; raise it on a slow machine,
#: for example ``WSSERVICE_TESTS_TIMEOUT_FACTOR=5 pytest``.
TIMEOUT_FACTOR = float(os.environ.get("WSSERVICE_TESTS_TIMEOUT_FACTOR", "1"))


@pytest.fixture(scope="session")
def scaled():
    """Return a function that scales a timeout in seconds by WSSERVICE_TESTS_TIMEOUT_FACTOR."""

    def scale(seconds: float) -> float:
        return seconds * TIMEOUT_FACTOR

    return scale
