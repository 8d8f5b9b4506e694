"""Bad or hostile input gets one clear error, never a traceback, a hang or a leaked secret (issue 13 items 2, 11-15;
issue 15 item 1, the plugin's side). Each test runs the plugin as a user would: pytester, with the real sample."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.plugin.plugin_helpers import TUTORIAL_TEST

PASSWORD = "S3cr3t-P@ssw0rd"


def edit_config(path: Path, **handler: Any) -> None:
    """Set keys of the sample's websocket-handler in the static config at ``path`` (written back as YAML)."""
    config = yaml.safe_load(path.read_text())
    config["components_manager"]["components"]["websocket-handler"].update(handler)
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def test_a_secret_from_a_var_is_not_echoed(project: pytest.Pytester, sample_config: Path) -> None:
    """max-remote-payload: $db_password with the password in the vars file: the failing test's report names the
    var, never the password (it used to show ``got 'S3cr3t-P@ssw0rd' (str)``)."""
    edit_config(sample_config, **{"max-remote-payload": "$db_password"})
    vars_file = sample_config.parent / "vars.yaml"
    vars_file.write_text(f"db_password: {PASSWORD}\n")
    project.makepyfile(TUTORIAL_TEST)
    result = project.runpytest_subprocess(
        f"--service-config={sample_config}", f"--service-config-vars={vars_file}", "--asyncio-mode=auto"
    )
    result.assert_outcomes(errors=1)
    output = result.stdout.str() + result.stderr.str()
    assert "config var 'db_password'" in output
    assert PASSWORD not in output


def test_the_patched_config_and_the_log_are_private(project: pytest.Pytester) -> None:
    """The patched config and the log file the plugin creates are readable by their owner only (0600)."""
    project.makepyfile(
        """
        import stat

        def test_modes(service_handle, service_config_path_temp, service_logs_file):
            assert stat.S_IMODE(service_config_path_temp.stat().st_mode) == 0o600
            assert stat.S_IMODE(service_logs_file.stat().st_mode) == 0o600
        """
    )
    project.runpytest_inprocess().assert_outcomes(passed=1)


def test_userver_var_semantics_through_the_plugin(
    project: pytest.Pytester, sample_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """userver's own config has testpoint-url: $mockserver/testpoint: the plugin leaves it as written and the
    service starts (it used to be fatal); key#env reads pytest's environment before key#fallback."""
    config = yaml.safe_load(sample_config.read_text())
    components = config["components_manager"]["components"]
    components["tests-control"]["testpoint-url"] = "$mockserver/testpoint"
    components["websocket-handler"].update(
        {"max-remote-payload": "$size", "max-remote-payload#env": "CHAT_SIZE", "max-remote-payload#fallback": 10}
    )
    sample_config.write_text(yaml.safe_dump(config, sort_keys=False))
    monkeypatch.setenv("CHAT_SIZE", "4096")
    project.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio
        async def test_it(service_config, websocket_client):
            components = service_config["components_manager"]["components"]
            assert components["tests-control"]["testpoint-url"] == "$mockserver/testpoint"
            assert components["websocket-handler"]["max-remote-payload"] == 4096
            assert "max-remote-payload#fallback" not in components["websocket-handler"]
            async with websocket_client.get("chat") as chat:
                await chat.send("x" * 4000)  # over the #fallback's 10 bytes: the environment's value is used
                assert await chat.recv() == "x" * 4000
        """
    )
    project.runpytest_subprocess(f"--service-config={sample_config}").assert_outcomes(passed=1)


def test_yaml_types_reach_the_service(project: pytest.Pytester, sample_config: Path) -> None:
    """A date and !!binary under a component are valid YAML: kept through load, patch and write, and the real
    service starts (they used to be refused as values 'which YAML cannot store')."""
    text = sample_config.read_text().replace(
        "    websocket-handler:",
        "    release-notes:\n      released: 2024-01-01\n      blob: !!binary aGVsbG8=\n    websocket-handler:",
        1,
    )
    sample_config.write_text(text)
    project.makepyfile(
        """
        import datetime
        import yaml

        def test_it(service_handle, service_config, service_config_path_temp):
            notes = {"released": datetime.date(2024, 1, 1), "blob": b"hello"}
            assert service_config["components_manager"]["components"]["release-notes"] == notes
            written = yaml.safe_load(service_config_path_temp.read_text())
            assert written["components_manager"]["components"]["release-notes"] == notes
        """
    )
    project.runpytest_inprocess(f"--service-config={sample_config}").assert_outcomes(passed=1)


@pytest.mark.parametrize("exit_in", ["early start", "fixtures"])
def test_system_exit_in_a_config_hook_is_a_hook_error(project: pytest.Pytester, exit_in: str) -> None:
    """SystemExit raised by a config hook, at the early start or in the fixtures, is reported like any hook error
    (it used to give INTERNALERROR)."""
    hooks = "[bad]" if exit_in == "early start" else "['bad_hook']"
    project.makeconftest(
        f"""
        import sys
        import pytest

        pytest_plugins = ['pytest_wsservice']

        def bad(config, config_vars):
            sys.exit(3)

        @pytest.fixture(scope="session")
        def bad_hook():
            return bad

        WSSERVICE_CONFIG_HOOKS = {hooks}
        """
    )
    project.makepyfile("def test_it(service_handle):\n    pass\n")
    result = project.runpytest_subprocess()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*ServiceConfigError: config hook conftest.bad* failed on static config *: SystemExit: 3"]
    )
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


def test_keyboard_interrupt_in_a_config_hook_still_interrupts(project: pytest.Pytester) -> None:
    """KeyboardInterrupt is not turned into a hook error: the run stops as on Ctrl-C."""
    project.makeconftest(
        """
        pytest_plugins = ['pytest_wsservice']

        def stop(config, config_vars):
            raise KeyboardInterrupt

        WSSERVICE_CONFIG_HOOKS = [stop]
        """
    )
    project.makepyfile("def test_it(service_handle):\n    pass\n")
    result = project.runpytest_subprocess("--service-early-start=no")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert "ServiceConfigError" not in result.stdout.str()


@pytest.mark.parametrize(
    ("option", "value"),
    [("--service-start-timeout", "inf"), ("--service-start-timeout", "1e400"), ("--websocket-timeout", "inf")],
)
def test_an_infinite_timeout_is_refused(project: pytest.Pytester, option: str, value: str) -> None:
    """inf and 1e400 used to be accepted, and hung forever: a finite number up to 3600 s is required."""
    project.makepyfile("def test_it(service_start_timeout, websocket_timeout):\n    pass\n")
    result = project.runpytest_inprocess(f"{option}={value}")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [f"*ServiceConfigError: {option} is '{value}'; it should be a positive number of seconds, at most 3600."]
    )


def test_logs_into_a_pipe_are_one_paragraph(project: pytest.Pytester, scaled: Any) -> None:
    """`pytest -s --service-logs-file=/dev/stderr` with stderr a pipe used to raise io.UnsupportedOperation."""
    project.makepyfile("def test_it(service_handle):\n    pass\n")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-s", "--service-logs-file=/dev/stderr", "-p", "no:cacheprovider"],
        cwd=project.path,
        capture_output=True,
        text=True,
        timeout=scaled(60),
    )
    assert "ServiceConfigError: --service-logs-file is /dev/stderr, which is a pipe, not a file:" in result.stdout
    assert "UnsupportedOperation" not in result.stdout + result.stderr
    assert "1 error" in result.stdout


def test_a_config_dir_that_is_not_utf8(project: pytest.Pytester, sample_config: Path) -> None:
    """A config under a directory whose name is not UTF-8: one paragraph naming the key and the path
    (it used to be a UnicodeEncodeError traceback from PyYAML)."""
    directory = Path(os.fsdecode(os.fsencode(str(project.path)) + b"/conf-\xff"))
    directory.mkdir()
    for name in ("static_config.yaml", "dynamic_config_fallback.json"):
        (directory / name).write_bytes((sample_config.parent / name).read_bytes())
    project.makepyfile("def test_it(service_handle):\n    pass\n")
    result = project.runpytest_subprocess(f"--service-config={directory / 'static_config.yaml'}")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ServiceConfigError: cannot write the patched config *: components_manager.components."
            "dynamic-config-fallbacks.fallback-path holds a name that is not valid UTF-8 (*/conf-\\xff/"
            "dynamic_config_fallback.json)*rename that directory*"
        ]
    )
    assert "UnicodeEncodeError" not in result.stdout.str()


def test_an_alias_bomb_does_not_hang_pytest(project: pytest.Pytester, scaled: Any) -> None:
    """A 1 KB alias bomb as --service-config: refused at once, naming the user's file (it used to hang)."""
    from tests.unit.service.test_yamlio import bomb

    (project.path / "bomb.yaml").write_text(bomb())
    project.makepyfile("def test_it(service_handle):\n    pass\n")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--service-config=bomb.yaml", "-p", "no:cacheprovider"],
        cwd=project.path,
        capture_output=True,
        text=True,
        timeout=scaled(60),
    )
    assert f"static config {project.path / 'bomb.yaml'} (from --service-config) has YAML aliases" in result.stdout


def test_a_text_file_of_key_lines_is_not_a_config(project: pytest.Pytester) -> None:
    """A file of ``key:`` lines (like /etc/shadow) is refused, naming it; nothing of it reaches a patched copy."""
    (project.path / "shadow").write_text("root:\ndaemon:\n")
    project.makepyfile("def test_it(service_handle):\n    pass\n")
    result = project.runpytest_inprocess("--service-config=shadow")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            f"*ServiceConfigError: static config {project.path / 'shadow'} (from --service-config) has no "
            "components_manager key at the top level.*"
        ]
    )
    assert not [path for path in project.path.rglob("static_config.yaml") if stat.S_ISREG(path.stat().st_mode)]
