"""Where the bundled sample service is, and how to start *that* one.

The wheel installs ``sample_service`` as a top-level package next to ``pytest_wsservice``.
A user's project may have a ``sample_service`` package of its own: found first on
``sys.path`` (pytest puts the rootdir there; ``python -m`` puts the current directory
there), it would stand in for ours. So the plugin finds the bundled package by its place
beside this package, not by import, and starts it with a launcher that drops the current
directory from the child's ``sys.path`` before importing it (``python -P`` does that, but
only from Python 3.11).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from ..errors import ServiceConfigError

__all__ = ["SAMPLE_PACKAGE", "bundled_sample_dir", "bundled_static_config", "sample_argv", "sample_command"]

SAMPLE_PACKAGE = "sample_service"

#: Run by ``python -c``: the directory that holds the bundled package goes first on ``sys.path``
#: (before the current directory and ``$PYTHONPATH``), then the package runs as ``python -m`` would.
_LAUNCHER = (
    "import runpy, sys; sys.path.insert(0, {where!r}); "
    "runpy.run_module({package!r}, run_name='__main__', alter_sys=True)"
)


def bundled_sample_dir() -> Path | None:
    """The directory of the bundled ``sample_service`` package, or ``None`` if it is not installed.

    It is looked for beside ``pytest_wsservice`` first (the wheel and the source tree lay
    them out so), then by import.
    """
    beside = Path(__file__).resolve().parent.parent.parent / SAMPLE_PACKAGE
    if (beside / "__main__.py").is_file() and (beside / "static_config.yaml").is_file():
        return beside
    spec = importlib.util.find_spec(SAMPLE_PACKAGE)  # locate it without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    found = Path(next(iter(spec.submodule_search_locations)))
    return found if (found / "static_config.yaml").is_file() else None


def bundled_static_config() -> Path:
    """The bundled sample's ``static_config.yaml``, the plugin's default config.

    Raises:
        ServiceConfigError: The bundled sample is not installed.
    """
    directory = bundled_sample_dir()
    if directory is None:
        raise ServiceConfigError(
            "no static config given: pass --service-config PATH (or set service_config in the ini file); "
            "the bundled sample_service, the default, is not installed."
        )
    return directory / "static_config.yaml"


def sample_argv() -> list[str]:
    """The argv that starts the bundled sample, by this Python (``--config PATH`` goes after it).

    ``python -m sample_service`` when the bundled package cannot be located (it is then
    not installed, and the start reports that).
    """
    directory = bundled_sample_dir()
    if directory is None:
        return [sys.executable, "-m", SAMPLE_PACKAGE]
    return [sys.executable, "-c", _LAUNCHER.format(where=str(directory.parent), package=SAMPLE_PACKAGE)]


def sample_command(config_path: str) -> list[str]:
    """The argv that starts the bundled sample with ``config_path``, by this Python."""
    return [*sample_argv(), "--config", config_path]
