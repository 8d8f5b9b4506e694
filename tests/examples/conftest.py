"""The examples' dependencies, installed once per cache (see example_envs)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

from tests.examples.example_envs import InstallError, node_modules, starlette_site


def _cache_root(config: pytest.Config) -> Path:
    """pytest's cache dir; without the cacheprovider (-p no:cacheprovider), a per-user temp dir.

    Either way the installs are built under a file lock and renamed into place, so xdist
    workers sharing the directory are safe.
    """
    cache = getattr(config, "cache", None)  # set by the cacheprovider plugin
    if cache is not None:
        return Path(cache.mkdir("wsservice-examples"))
    # Per Python version: the installs hold compiled modules (uvicorn's extras).
    root = (
        Path(tempfile.gettempdir()) / f"wsservice-examples-{os.getuid()}-py{sys.version_info[0]}{sys.version_info[1]}"
    )
    root.mkdir(mode=0o700, exist_ok=True)
    return root


@pytest.fixture(scope="session")
def starlette_site_dir(pytestconfig: pytest.Config) -> Path:
    """The Starlette example's requirements, installed by pip --target into pytest's cache."""
    try:
        return starlette_site(_cache_root(pytestconfig))
    except InstallError as error:
        pytest.fail(f"cannot install the Starlette example's requirements: {error}", pytrace=False)


@pytest.fixture(scope="session")
def node_modules_dir(pytestconfig: pytest.Config) -> Path:
    """The Node example's node_modules, made by npm ci into pytest's cache."""
    try:
        return node_modules(_cache_root(pytestconfig))
    except InstallError as error:
        pytest.fail(f"cannot install the Node example's packages: {error}", pytrace=False)
