"""The engine of ``--service-reuse``: where the state lives, who may read it, the recipe's identity."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pytest_wsservice.errors import ServiceConfigError, ServiceStartError
from pytest_wsservice.service import reuse
from pytest_wsservice.service.reuse import KeptState


def a_state(**changes: object) -> KeptState:
    values: dict[str, object] = {
        "keeper_pid": 1,
        "service_pid": 2,
        "host": "127.0.0.1",
        "port": 8080,
        "log_path": "/nowhere/service.log",
        "config_path": None,
        "recipe_hash": "abc",
        "mark": "1-x",
        "idle": 600.0,
        "secret": "s3cret",
    }
    values.update(changes)
    return KeptState(**values)  # type: ignore[arg-type]


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    return tmp_path


def test_state_lives_in_a_private_directory_per_project_and_worker(runtime: Path, tmp_path: Path) -> None:
    path = reuse.state_path(tmp_path / "project")
    assert path.parent == runtime / "pytest-wsservice"
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.name.endswith(".json") and len(path.stem) == 64
    assert reuse.state_path(tmp_path / "other") != path
    worker = reuse.state_path(tmp_path / "project", "gw1")
    assert worker.name == f"{path.stem}.gw1.json"
    work = reuse.work_dir(path)
    assert work == path.with_suffix("") and stat.S_IMODE(work.stat().st_mode) == 0o700


def test_without_xdg_runtime_dir_the_state_is_under_the_home_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert reuse.state_path(tmp_path).parent == tmp_path / ".cache" / "pytest-wsservice"


def test_a_group_readable_directory_is_made_private(runtime: Path, tmp_path: Path) -> None:
    (runtime / "pytest-wsservice").mkdir(mode=0o755)
    (runtime / "pytest-wsservice").chmod(0o755)
    path = reuse.state_path(tmp_path)
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_state_file_is_written_0600_and_read_back(runtime: Path, tmp_path: Path) -> None:
    path = reuse.state_path(tmp_path)
    reuse.write_state(path, a_state())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert reuse.read_state(path) == a_state()
    assert "s3cret" not in repr(reuse.read_state(path))
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left


def test_a_state_file_others_can_read_is_removed_not_used(runtime: Path, tmp_path: Path) -> None:
    path = reuse.state_path(tmp_path)
    reuse.write_state(path, a_state())
    path.chmod(0o644)
    assert reuse.read_state(path) is None
    assert not path.exists()


def test_a_state_file_that_does_not_parse_is_removed(runtime: Path, tmp_path: Path) -> None:
    path = reuse.state_path(tmp_path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"{not json")
    os.close(fd)
    assert reuse.read_state(path) is None and not path.exists()
    assert reuse.hold_state(path) is None


def test_identity_ignores_volatile_variables_only(monkeypatch: pytest.MonkeyPatch) -> None:
    base = reuse.identity(["svc", "--config", "c.yaml"], {"a": 1}, {"X": "1"}, "1.0")
    monkeypatch.setenv("PWD", "/elsewhere")
    monkeypatch.setenv("PYTEST_CURRENT_TEST", "t.py::test (call)")
    monkeypatch.setenv("COLUMNS", "33")
    assert reuse.identity(["svc", "--config", "c.yaml"], {"a": 1}, {"X": "1"}, "1.0") == base
    assert reuse.identity(["svc", "--config", "d.yaml"], {"a": 1}, {"X": "1"}, "1.0") != base
    assert reuse.identity(["svc", "--config", "c.yaml"], {"a": 2}, {"X": "1"}, "1.0") != base
    assert reuse.identity(["svc", "--config", "c.yaml"], {"a": 1}, {"X": "2"}, "1.0") != base
    assert reuse.identity(["svc", "--config", "c.yaml"], {"a": 1}, {"X": "1"}, "1.1") != base
    monkeypatch.setenv("SERVICE_MODE", "fast")  # the service inherits it
    assert reuse.identity(["svc", "--config", "c.yaml"], {"a": 1}, {"X": "1"}, "1.0") != base


@pytest.mark.parametrize(
    ("value", "mode"),
    [("yes", "yes"), ("On", "yes"), ("1", "yes"), ("no", "no"), ("false", "no"), ("force", "force"), ("stop", "stop")],
)
def test_modes(value: str, mode: str) -> None:
    assert reuse.parse_reuse_mode(value, "--service-reuse") == mode


def test_an_unknown_mode_names_the_values() -> None:
    with pytest.raises(ServiceConfigError, match=r"--service-reuse is 'later'; it should be yes, no, force or stop\."):
        reuse.parse_reuse_mode("later", "--service-reuse")


def test_adoption_problem_for_a_dead_keeper() -> None:
    gone = a_state(keeper_pid=2**22 + 12345)
    assert reuse.adoption_problem(gone) == f"its keeper (pid {2**22 + 12345}) is not running"
    assert reuse.adoption_problem(a_state(keeper_pid=os.getpid())) == f"its keeper (pid {os.getpid()}) is not running"


def test_stop_without_state_is_a_no_op(runtime: Path, tmp_path: Path) -> None:
    assert reuse.stop_kept(reuse.state_path(tmp_path)) is None


def test_keeper_that_cannot_spawn_says_why(runtime: Path, tmp_path: Path) -> None:
    path = reuse.state_path(tmp_path)
    spec = {
        "command": [str(tmp_path / "no-such-service")],
        "env": {},
        "log_path": str(reuse.work_dir(path) / "service.log"),
        "host": "127.0.0.1",
        "port": 1,
        "config_path": None,
        "recipe_hash": "abc",
        "secret": "s3cret",
        "idle": 1.0,
        "stop_timeout": 1.0,
    }
    with pytest.raises(ServiceStartError, match=r"--service-reuse: cannot start the kept service: .*no-such-service"):
        reuse.spawn_keeper(spec, path)
    assert reuse.read_state(path) is None
