"""Measure a spawned Python service with the coverage that measures the tests.

When pytest runs under coverage.py (``pytest --cov=...`` with pytest-cov, or
``coverage run -m pytest``), :func:`coverage_env` returns the environment that makes a
Python service started by the plugin measure itself with the same settings, and write its
data next to the tests' data, where pytest-cov (or ``coverage combine``) combines it into
the same report. The user configures nothing.

How it works: coverage.py (7.13 or later) installs ``a1_coverage.pth`` into the
site-packages it is installed in; that file starts coverage at interpreter start-up when
``COVERAGE_PROCESS_CONFIG`` is set. The plugin sets that variable to the running
coverage's configuration, with ``parallel`` on (each process writes its own
``.coverage.<host>.pid<pid>.<random>`` file) and ``sigterm`` on (the data is also saved
when SIGTERM kills a process that has no handler of its own).

Limits:

- only a Python service whose interpreter has coverage 7.13 or later installed is
  measured (the plugin's own Python, or a venv with coverage in it); any other service is
  started exactly as without coverage;
- the data is written when the service exits: a clean exit, or death by SIGTERM. A
  service that is killed with SIGKILL (it ignored SIGTERM for the whole stop timeout, or a
  test killed it) writes nothing;
- ``os._exit`` and ``exec`` in the service skip the write as well.

Nothing happens, and coverage is not imported, when the tests do not run under coverage.
"""

from __future__ import annotations

import copy
import os
import sys

__all__ = ["COVERAGE_ENV_VAR", "coverage_env"]

#: The variable coverage.py's start-up hook reads.
COVERAGE_ENV_VAR = "COVERAGE_PROCESS_CONFIG"

_PARENT_NOISE = ("module-not-imported", "no-data-collected")


def coverage_env() -> dict[str, str]:
    """The environment that makes a Python child measure itself, or ``{}`` without coverage.

    Only a coverage.py that is already imported and measuring is looked at: this never
    imports coverage itself.
    """
    module = sys.modules.get("coverage")
    if module is None or os.environ.get("COV_CORE_SOURCE"):  # pytest-cov < 7 measures subprocesses itself
        return {}
    current = getattr(getattr(module, "Coverage", None), "current", None)
    cov = current() if callable(current) else None
    if cov is None or not getattr(cov, "_started", True):
        return {}
    # The tests' own process never imports the service's modules: its coverage would warn
    # that they were never imported, or that it collected no data, although the service's
    # data fills the report.
    disabled = getattr(cov.config, "disable_warnings", None)
    if isinstance(disabled, list):
        disabled.extend(slug for slug in _PARENT_NOISE if slug not in disabled)
    config = copy.copy(cov.config)
    config.parallel = True
    config.sigterm = True
    try:
        data = config.serialize()
    except (AttributeError, TypeError, ValueError):  # a coverage older than 7.10.3: nothing to serialize
        return {}
    return {COVERAGE_ENV_VAR: str(data)}
