"""Shared helpers of the project's own test suite."""

from __future__ import annotations

import os

import aiohttp  # noqa: F401
import pytest
import trustme  # noqa: F401
import websockets  # noqa: F401
import yaml  # noqa: F401
import yarl  # noqa: F401

# Loaded here, for every test directory: pytester's in-process runs unload every module first
# imported inside them, and C extensions (PyYAML's, aiohttp's, yarl's, cryptography's under
# trustme) do not survive being imported a second time.

#: Every timeout in the test suite is multiplied by this factor; raise it on a slow machine,
#: for example ``WSSERVICE_TESTS_TIMEOUT_FACTOR=5 pytest``.
TIMEOUT_FACTOR = float(os.environ.get("WSSERVICE_TESTS_TIMEOUT_FACTOR", "1"))


@pytest.fixture(scope="session")
def scaled():
    """Return a function that scales a timeout in seconds by WSSERVICE_TESTS_TIMEOUT_FACTOR."""

    def scale(seconds: float) -> float:
        return seconds * TIMEOUT_FACTOR

    return scale
