"""ServiceSession with a recipe from build_recipe(): starts, reuse, a death noticed, a restart, the end.

Real processes of the bundled sample service; no pytest fixture of the plugin is involved.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from pytest_wsservice.errors import ServiceExitedError
from pytest_wsservice.service.config import PatchListener, listener_address
from pytest_wsservice.service.recipe import RawSetting, build_recipe, parse_settings
from pytest_wsservice.service.session import ServiceSession


@pytest.fixture
def session(tmp_path: Path, sample_config: Path, scaled):  # type: ignore[no-untyped-def]
    settings = parse_settings({"service-config": RawSetting(str(sample_config), tmp_path, "--service-config")})
    recipe = build_recipe(settings, tmpdir=tmp_path)
    recipe = type(recipe)(**{**recipe.__dict__, "start_timeout": scaled(30)})
    services = ServiceSession(recipe)
    yield services
    services.close()


def test_one_service_shared_then_restarted_after_it_dies(session: ServiceSession, scaled) -> None:  # type: ignore[no-untyped-def]
    recipe = session.recipe
    first = session.ensure(recipe.default_config, "t.py::test_a")
    assert first.port == listener_address(recipe.default_config)[1] and session.owns(first)
    assert session.ensure(recipe.default_config, "t.py::test_b") is first  # alive, same config: shared
    assert session.starts == 1

    os.kill(first.pid, signal.SIGKILL)
    session.current.wait_exit(scaled(5))  # type: ignore[union-attr]
    error = session.check_after("t.py::test_b")
    assert isinstance(error, ServiceExitedError)
    assert "was killed by signal SIGKILL during t.py::test_b" in str(error)

    second = session.ensure(recipe.default_config, "t.py::test_c")
    assert second.pid != first.pid and session.starts == 2
    assert session.restarts == ["t.py::test_c: the service was killed by signal SIGKILL during t.py::test_b"]
    assert session.close() == []  # stopped by SIGTERM: nothing to report


def test_another_config_costs_a_restart_and_is_cached(session: ServiceSession, tmp_path: Path) -> None:
    recipe = session.recipe
    hook = PatchListener("127.0.0.1", listener_address(recipe.default_config)[1])

    def build() -> dict:  # type: ignore[type-arg]
        config = dict(recipe.default_config)
        config["marker"] = "yes"
        return config

    other = session.config_for([hook], build)
    assert session.config_for([hook], build) is other  # the same hooks: the same config, one service
    default = session.ensure(recipe.default_config, "t.py::test_a")
    marked = session.ensure(other, "t.py::test_marked")
    assert marked.pid != default.pid and marked.config_path != recipe.default_config_path
    assert session.restarts == ["t.py::test_marked: it needs another config"]
