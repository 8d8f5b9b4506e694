"""In a pytest-xdist worker: die with the controller, so the worker's service does too.

Without this, a worker whose controller was SIGKILLed runs on (with its service) until it
next talks to the controller: 5 to 10 s in our measurements. See
:func:`pytest_wsservice.service.guard.follow_parent`.
"""

from __future__ import annotations

import pytest

from .settings import worker_id


def pytest_configure(config: pytest.Config) -> None:
    if worker_id(config) is not None:
        from ..service.guard import follow_parent

        follow_parent()
