"""Loading and writing the config's YAML (issue 13 items 11, 14, 15): bounded, typed, private, one-paragraph errors."""

from __future__ import annotations

import datetime
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_wsservice.errors import ServiceConfigError
from pytest_wsservice.service.config import build_service_config, load_static_config, write_service_config
from pytest_wsservice.service.files import prepare_log_file

LAYOUT = "components_manager:\n  components:\n"


def bomb(levels: int = 9) -> str:
    """A 'billion laughs' document: about 500 bytes that stand for 9**9 strings."""
    lines = [
        LAYOUT.rstrip("\n"),
        "    x:",
        '      l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]',
    ]
    for level in range(1, levels + 1):
        lines.append(f"      l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_at_once(tmp_path: Path, scaled: Any) -> None:
    """A 1 KB alias bomb is refused with one paragraph naming the file, quickly (it used to hang pytest)."""
    path = tmp_path / "bomb.yaml"
    path.write_text(bomb())
    assert path.stat().st_size < 1024
    code = f"""
        from pytest_wsservice.service.config import load_static_config
        try:
            load_static_config({str(path)!r})
        except Exception as error:
            print(error)
    """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=scaled(10)
    )
    assert result.stdout == (
        f"static config {path} has YAML aliases (*name) that expand it by more than 100000 values beyond what is "
        "written: an alias bomb, or repeated blocks that should be written out; the plugin refuses to load it.\n"
    )


def test_a_merge_key_bomb_is_refused(tmp_path: Path) -> None:
    """Merge keys (<<: [*a, *a]) that double at each level are refused before PyYAML flattens them."""
    lines = [LAYOUT.rstrip("\n"), "    m0: &m0 {a: 1, b: 2}"]
    lines += [f"    m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}], k{i}: {i}}}" for i in range(1, 40)]
    path = tmp_path / "merge.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ServiceConfigError, match="expand it by more than 100000 values"):
        load_static_config(path)


def test_a_self_referring_alias_is_refused(tmp_path: Path) -> None:
    """An anchor used inside its own value would never end: refused, naming the line."""
    path = tmp_path / "loop.yaml"
    path.write_text(LAYOUT + "    x: &loop [1, *loop]\n")
    with pytest.raises(ServiceConfigError) as excinfo:
        load_static_config(path)
    assert str(excinfo.value) == (
        f"static config {path} has an alias that refers to the value holding it (the anchor at line 3, column 8), "
        "a value that never ends; write the value out instead."
    )


def test_ordinary_aliases_and_merges_still_load(tmp_path: Path) -> None:
    """Aliases a real config uses (a shared block, a merge) load as before."""
    path = tmp_path / "ok.yaml"
    path.write_text(LAYOUT + "    base: &base {level: info, size: 3}\n    a: {<<: *base, size: 4}\n    b: *base\n")
    components = load_static_config(path)["components_manager"]["components"]
    assert components["a"] == {"level": "info", "size": 4} and components["b"] == {"level": "info", "size": 3}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("root:\nbin:\ndaemon:\n", " has no components_manager key at the top level."),
        ("components_manager: [1]\n", ": components_manager is a YAML list; it should be a mapping."),
        (
            "components_manager:\n  task_processors: {}\n",
            ": components_manager has no components; it should be a mapping.",
        ),
        ("components_manager:\n  components: x\n", ": components_manager has components as a YAML string; it should"),
    ],
)
def test_what_is_not_a_userver_config_is_refused(tmp_path: Path, text: str, message: str) -> None:
    """A text file of key: lines (like /etc/shadow) or a wrong layout is refused, naming the user's file."""
    path = tmp_path / "shadow"
    path.write_text(text)
    with pytest.raises(ServiceConfigError) as excinfo:
        load_static_config(path, origin="from --service-config")
    assert str(excinfo.value).startswith(f"static config {path} (from --service-config){message}")
    assert "check that this is the right file" in str(excinfo.value)


def test_yaml_types_are_kept_through_load_patch_and_write(tmp_path: Path) -> None:
    """A date, a timestamp, !!binary and !!set under a component survive load, hooks, $vars and the write."""
    path = tmp_path / "static.yaml"
    path.write_text(
        LAYOUT + "    release:\n      released: 2024-01-01\n      at: 2024-01-01T10:00:00Z\n"
        "      blob: !!binary aGVsbG8=\n      tags: !!set {a, b}\n      when: $day\n"
    )

    def hook(config: dict, config_vars: dict) -> None:
        config_vars["day"] = datetime.date(2025, 2, 3)

    config = build_service_config(load_static_config(path), {}, [("hook", hook)])
    release = config["components_manager"]["components"]["release"]
    expected = {
        "released": datetime.date(2024, 1, 1),
        "at": datetime.datetime(2024, 1, 1, 10, tzinfo=datetime.timezone.utc),
        "blob": b"hello",
        "tags": {"a", "b"},
        "when": datetime.date(2025, 2, 3),
    }
    assert release == expected
    written = write_service_config(config, tmp_path / "out" if (tmp_path / "out").mkdir() is None else tmp_path)
    assert yaml.safe_load(written.read_text())["components_manager"]["components"]["release"] == expected
    assert "released: 2024-01-01\n" in written.read_text() and "!!binary" in written.read_text()


def test_a_non_utf8_directory_name_is_one_paragraph(tmp_path: Path) -> None:
    """A path under a directory whose name is not UTF-8 cannot go into the YAML: the key and the path are named."""
    directory = os.fsdecode(os.fsencode(str(tmp_path)) + b"/conf-\xff")
    config = {"components_manager": {"components": {"x": {"file-path": f"{directory}/data.json"}}}}
    with pytest.raises(ServiceConfigError) as excinfo:
        write_service_config(config, tmp_path)
    assert str(excinfo.value).startswith(
        f"cannot write the patched config {tmp_path / 'static_config.yaml'}: components_manager.components.x.file-path"
        f" holds a name that is not valid UTF-8 ({tmp_path}/conf-\\xff/data.json), and a static config is UTF-8 text."
    )


def test_a_directory_that_cannot_hold_the_copy(tmp_path: Path) -> None:
    """The temp dir is not a directory (or read-only): one paragraph naming the path, nothing left behind."""
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    with pytest.raises(ServiceConfigError) as excinfo:
        write_service_config({"a": 1}, not_a_directory)
    assert str(excinfo.value).startswith(
        f"cannot write the patched config {not_a_directory / 'static_config.yaml'}: Not a directory (ENOTDIR). "
        f"It goes into the session's temp dir {not_a_directory}"
    )


def test_a_full_disk_leaves_no_partial_file(tmp_path: Path, scaled: Any) -> None:
    """A write that fails half-way (the file size limit stands in for a full disk: EFBIG, as ENOSPC would come)
    is one paragraph, and the .static_config.yaml.PID.tmp file is removed."""
    code = f"""
        import resource, signal
        from pytest_wsservice.service.config import write_service_config
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (10, 10))
        try:
            write_service_config({{"key": "x" * 1000}}, {str(tmp_path)!r})
        except Exception as error:
            print(type(error).__name__, error)
    """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=scaled(20)
    )
    assert result.stdout.startswith(
        f"ServiceConfigError cannot write the patched config {tmp_path / 'static_config.yaml'}: File too large (EFBIG)."
    ), result.stdout + result.stderr
    assert "--basetemp=DIR" in result.stdout
    assert list(tmp_path.iterdir()) == []


def test_the_copy_is_private(tmp_path: Path) -> None:
    """The patched config is readable by its owner only, even over a leftover partial file of another mode."""
    (tmp_path / f".static_config.yaml.{os.getpid()}.tmp").write_text("old")
    (tmp_path / f".static_config.yaml.{os.getpid()}.tmp").chmod(0o644)
    path = write_service_config({"a": 1}, tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["static_config.yaml"]


def test_a_new_log_file_is_private_and_an_existing_one_keeps_its_mode(tmp_path: Path) -> None:
    """The plugin creates the log 0600 (with its directories); a file the user made keeps its mode."""
    created = prepare_log_file(tmp_path / "logs" / "service.log")
    assert stat.S_IMODE(created.stat().st_mode) == 0o600
    mine = tmp_path / "mine.log"
    mine.write_text("")
    mine.chmod(0o644)
    prepare_log_file(mine)
    assert stat.S_IMODE(mine.stat().st_mode) == 0o644


def test_a_pipe_cannot_be_the_log(tmp_path: Path) -> None:
    """A pipe (what /dev/stderr is under `pytest -s | cat`) is refused, naming the option and what to do."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(ServiceConfigError) as excinfo:
        prepare_log_file(fifo, origin="--service-logs-file")
    assert str(excinfo.value).startswith(f"--service-logs-file is {fifo}, which is a pipe, not a file:")
    assert "run pytest with -s" in str(excinfo.value)
    assert prepare_log_file(Path("/dev/null")) == Path("/dev/null")  # a seekable device is fine
