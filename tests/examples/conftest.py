"""The examples' dependencies, installed once per cache (see example_envs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.examples.example_envs import InstallError, node_modules, starlette_site


def _cache_root(config: pytest.Config) -> Path:
    assert config.cache is not None, "the cacheprovider plugin is needed (do not run with -p no:cacheprovider)"
    return Path(config.cache.mkdir("wsservice-examples"))


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
