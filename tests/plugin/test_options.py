"""Options, their ini twins, defaults, bad values, and what --help/--fixtures show."""
# ruff: noqa: E501  (long lines are expected messages and inner test sources, kept verbatim)

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from tests.plugin.plugin_helpers import BASE_INI

PUBLIC_FIXTURES = (
    "service_config_path",
    "service_config_vars",
    "service_config_hooks",
    "service_config",
    "service_config_path_temp",
    "service_port",
    "service_baseurl",
    "service_env",
    "service_start",
    "service_client",
    "websocket_client",
)

OPTIONS = (
    "service-config",
    "service-config-vars",
    "service-command",
    "service-port",
    "service-start-timeout",
    "service-log-level",
    "service-logs-file",
    "websocket-timeout",
)


def run_with_option(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, source: str, name: str, value: str, body: str
) -> pytest.RunResult:
    """Run ``body`` as a test with the option set on the command line or in the ini file.

    pytest is invoked from ``sub/`` while the ini file sits in the project root, so relative
    paths resolve differently for the two sources. ``{base}`` in ``body`` is replaced by the
    directory the option's relative paths should resolve against.
    """
    sub = project.path / "sub"
    sub.mkdir(exist_ok=True)
    base = sub if source == "cli" else project.path
    args = [f"--{name}={value}"] if source == "cli" else []
    if source == "ini":
        project.makeini(BASE_INI + f"{name.replace('-', '_')} = {value}\n")
    test_file = project.makepyfile(
        test_option="from pathlib import Path\n\n" + textwrap.dedent(body).replace("{base}", str(base))
    )
    monkeypatch.chdir(sub)
    return project.runpytest_inprocess(str(test_file), *args)


MINIMAL_CONFIG = "components_manager:\n  components: {}\ngreeting: $greeting\ngreeting#fallback: fallback\n"

OPTION_CASES = {
    "service-config": (
        "cfg/static.yaml",
        """
        def test_it(service_config_path, service_config_yaml):
            assert service_config_path == Path("{base}/cfg/static.yaml")
            assert service_config_yaml["where"] == "{base}"
        """,
    ),
    "service-config-vars": (
        "cfg/vars.yaml",
        """
        def test_it(service_config_vars, service_config):
            assert service_config_vars == {"greeting": "{base}"}
            assert service_config["greeting"] == "{base}"
        """,
    ),
    "service-command": (
        "./bin/service --flag",
        """
        def test_it(service_command):
            # No --service-config and no {config}: a configless service, nothing appended.
            assert service_command == ["{base}/bin/service", "--flag"]
        """,
    ),
    "service-port": (
        "40123",
        """
        def test_it(service_port, service_config, service_baseurl):
            assert service_port == 40123
            assert service_config["components_manager"]["components"]["server"]["listener"]["port"] == 40123
            assert str(service_baseurl) == "http://127.0.0.1:40123/"
        """,
    ),
    "service-start-timeout": (
        "7.5",
        """
        def test_it(service_start_timeout):
            assert service_start_timeout == 7.5
        """,
    ),
    "service-log-level": (
        "WARNING",
        """
        def test_it(service_config):
            assert service_config["components_manager"]["components"]["logging"]["loggers"]["default"]["level"] == "warning"
        """,
    ),
    "service-logs-file": (
        "logs/svc.log",
        """
        def test_it(service_logs_file):
            assert service_logs_file == Path("{base}/logs/svc.log")
        """,
    ),
    "websocket-timeout": (
        "3",
        """
        def test_it(websocket_timeout, service_client_timeout):
            assert websocket_timeout == 3.0
            assert service_client_timeout == 3.0
        """,
    ),
}


@pytest.mark.parametrize("source", ["cli", "ini"])
@pytest.mark.parametrize("name", OPTIONS)
def test_option_and_ini_twin(project, monkeypatch, name, source):
    """Each option takes effect from the command line (paths relative to the invocation dir) and from the ini file
    (paths relative to the ini file).
    """
    value, body = OPTION_CASES[name]
    for base in (project.path, project.path / "sub"):
        (base / "cfg").mkdir(parents=True, exist_ok=True)
        (base / "cfg" / "static.yaml").write_text(MINIMAL_CONFIG + f"where: {base}\n")
        (base / "cfg" / "vars.yaml").write_text(f"greeting: {base}\n")
    if name != "service-config":
        project.makeconftest(
            "import pytest\npytest_plugins = ['pytest_wsservice']\n\n"
            "@pytest.fixture(scope='session')\n"
            "def service_config_path():\n"
            f"    return __import__('pathlib').Path({str(project.path / 'cfg' / 'static.yaml')!r})\n"
        )
    result = run_with_option(project, monkeypatch, source, name, value, body)
    result.assert_outcomes(passed=1)


def test_command_line_beats_ini(project):
    """A value on the command line overrides the same setting in the ini file."""
    project.makeini(BASE_INI + "service_start_timeout = 12\nwebsocket_timeout = 4\n")
    project.makepyfile(
        """
        def test_it(service_start_timeout, websocket_timeout):
            assert service_start_timeout == 2.0
            assert websocket_timeout == 4.0
        """
    )
    project.runpytest_inprocess("--service-start-timeout=2").assert_outcomes(passed=1)


def test_defaults(project):
    """Without options the bundled sample service, a free port, the config's log level and 30/10 s deadlines are used."""
    project.makepyfile(
        """
        import sys
        from pathlib import Path

        def test_it(service_config_path, service_command, service_config_path_temp, service_port, service_config,
                    service_start_timeout, websocket_timeout, service_log_level, service_logs_file, service_tmpdir,
                    service_env, service_host):
            assert service_config_path.name == "static_config.yaml"
            assert service_config_path.parent.name == "sample_service"
            assert service_command[0] == sys.executable and service_command[1] == "-c"
            assert "run_module('sample_service'" in service_command[2]
            assert service_command[3:] == ["--config", str(service_config_path_temp)]
            assert service_config_path_temp.parent == service_tmpdir
            components = service_config["components_manager"]["components"]
            assert components["server"]["listener"] == {
                "port": service_port, "host": "127.0.0.1", "task_processor": "main-task-processor"}
            assert service_port != 8080
            assert service_log_level is None
            assert components["logging"]["loggers"]["default"]["level"] == "debug"
            assert components["logging"]["loggers"]["default"]["file_path"] == "@stderr"
            assert service_logs_file == service_tmpdir / "service.log"
            assert (service_start_timeout, websocket_timeout) == (30.0, 10.0)
            assert service_env is None and service_host == "127.0.0.1"
        """
    )
    project.runpytest_inprocess().assert_outcomes(passed=1)


def test_command_with_config_placeholder(project):
    """{config} in --service-command is replaced by the patched config's path and nothing is appended."""
    project.makepyfile(
        """
        def test_it(service_command, service_config_path_temp):
            assert service_command == ["my-service", f"--static={service_config_path_temp}", "--name", "a b"]
        """
    )
    result = project.runpytest_inprocess("--service-command", "my-service --static={config} --name 'a b'")
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("arg", "fixture", "message"),
    [
        ("--service-port=abc", "service_port", "--service-port is 'abc'; it should be a port number from 1 to 65535."),
        (
            "--service-port=70000",
            "service_port",
            "--service-port is '70000'; it should be a port number from 1 to 65535.",
        ),
        (
            "--service-start-timeout=0",
            "service_start_timeout",
            "--service-start-timeout is '0'; it should be a positive number of seconds, at most 3600.",
        ),
        (
            "--websocket-timeout=soon",
            "websocket_timeout",
            "--websocket-timeout is 'soon'; it should be a positive number of seconds, at most 3600.",
        ),
        (
            "--service-log-level=loud",
            "service_log_level",
            "--service-log-level is 'loud'; it should be one of trace, debug, info, warning, error, critical.",
        ),
        (
            "--service-command=",
            "service_command",
            "--service-command is empty; it should be the command that starts the service.",
        ),
        (
            "--service-command='unclosed",
            "service_command",
            '--service-command cannot be split into arguments (No closing quotation): "\'unclosed".',
        ),
    ],
)
def test_bad_option_value(project, arg, fixture, message):
    """A bad option value fails the test's setup with one line naming the option and what it should be."""
    project.makepyfile(f"def test_it({fixture}):\n    pass\n")
    result = project.runpytest_inprocess(arg)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"pytest_wsservice.errors.ServiceConfigError: {message}"])
    result.stdout.no_fnmatch_line("*plugin.py:*")  # no traceback through the plugin's internals


def test_bad_ini_value_names_the_ini_file(project):
    """A bad ini value is reported with the ini key and the ini file's path."""
    project.makeini(BASE_INI + "service_port = eighty\n")
    project.makepyfile("def test_it(service_port):\n    pass\n")
    result = project.runpytest_inprocess()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*ServiceConfigError: service_port in {project.path / 'tox.ini'} is 'eighty'*"])


def test_help_shows_the_wsservice_group(project):
    """`pytest --help` lists every option under a "wsservice" heading and every ini twin."""
    result = project.runpytest_inprocess("--help")
    assert result.ret == 0
    output = result.stdout.str()
    group = output.index("wsservice:")
    for name in OPTIONS:
        assert output.index(f"--{name}=") > group, name
        result.stdout.fnmatch_lines([f"  {name.replace('-', '_')} (string):", "*[[]wsservice[]]*"])


def test_fixtures_listing_shows_docstrings(project):
    """`pytest --fixtures` shows each public fixture with the first line of its docstring."""
    result = project.runpytest_inprocess("--fixtures")
    assert result.ret == 0
    fixtures = _plugin_fixtures()
    for name in PUBLIC_FIXTURES:
        first_line = fixtures[name].__doc__.strip().splitlines()[0]
        result.stdout.fnmatch_lines([f"{name}*", f"    {first_line}"])


def test_plugin_fixture_names_are_complete():
    """PLUGIN_FIXTURES, which drives the asyncio marking, names exactly the fixtures the plugin defines."""
    from pytest_wsservice.plugin.asyncio_marking import PLUGIN_FIXTURES

    defined = set(_plugin_fixtures())
    assert defined == PLUGIN_FIXTURES
    assert set(PUBLIC_FIXTURES) <= defined


def _plugin_fixtures() -> dict[str, Any]:
    """Every fixture of the plugin modules the asyncio marking covers, by name."""
    import importlib

    fixtures: dict[str, Any] = {}
    for module in ("config", "service", "clients", "early", "mockserver", "chaos"):
        namespace = vars(importlib.import_module(f"pytest_wsservice.plugin.{module}"))
        fixtures.update((name, value) for name, value in namespace.items() if _is_fixture(value))
    return fixtures


def _is_fixture(value: Any) -> bool:
    """Whether ``value`` is what ``@pytest.fixture`` made: an object of its own from pytest 8.4 on, the
    function marked with ``_pytestfixturefunction`` before (the lowest supported pytest is 8.2)."""
    return type(value).__name__ == "FixtureFunctionDefinition" or hasattr(value, "_pytestfixturefunction")
