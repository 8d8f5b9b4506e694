"""Configless services, placeholders, --service-env, --service-ping and --service-binary.

Real services (the websockets example, the sample) in pytester projects run in subprocesses.
"""

from __future__ import annotations

import shlex
import sys
import time

import pytest

from tests.examples.example_envs import WEBSOCKETS_ECHO
from tests.plugin.plugin_helpers import TUTORIAL_TEST

PYTHON = shlex.quote(sys.executable)
SVC = f"{PYTHON} {shlex.quote(str(WEBSOCKETS_ECHO / 'svc.py'))}"
SVC_COMMAND = f"--service-command={SVC} --host {{host}} --port {{port}}"


def _run(project: pytest.Pytester, scaled, *args: str) -> pytest.RunResult:
    return project.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=scaled(120))


def _error_lines(result: pytest.RunResult, name: str) -> list[str]:
    """The lines that show a ``name`` error's message (with or without a traceback)."""
    return [
        line
        for line in result.outlines
        if line.lstrip("E ").startswith((f"pytest_wsservice.errors.{name}: ", f"{name}: "))
    ]


def test_configless_service_with_placeholders(project, scaled):
    project.makepyfile(
        test_echo=TUTORIAL_TEST,
        test_seen="""
        def test_seen(service_handle, service_port, service_host):
            assert service_handle.command[-4:] == ('--host', service_host, '--port', str(service_port))
            assert service_handle.config_path is None and service_handle.config is None
        """,
    )
    result = _run(project, scaled, SVC_COMMAND, "--service-ping=/healthz")
    result.assert_outcomes(passed=2)


def test_configless_service_is_ready_by_tcp_connect_without_a_ping(project, scaled):
    project.makepyfile(test_echo=TUTORIAL_TEST)
    result = _run(project, scaled, SVC_COMMAND)
    result.assert_outcomes(passed=1)


def test_service_binary_is_an_alias_of_service_command(project, scaled):
    project.makepyfile(test_echo=TUTORIAL_TEST)
    result = _run(project, scaled, f"--service-binary={SVC} --host {{host}} --port {{port}}", "--service-ping=/healthz")
    result.assert_outcomes(passed=1)


def test_a_fixed_port_goes_into_the_placeholder(project, scaled):
    from pytest_wsservice.service.ports import free_port

    port = free_port("127.0.0.1")
    project.makepyfile(
        test_port=f"""
        def test_port(service_handle, service_baseurl):
            assert service_handle.port == {port}
            assert service_handle.command[-1] == '{port}'
            assert str(service_baseurl) == 'http://127.0.0.1:{port}/'
        """
    )
    result = _run(project, scaled, SVC_COMMAND, f"--service-port={port}", "--service-ping=/healthz")
    result.assert_outcomes(passed=1)


def test_service_env_entries_reach_the_service_and_add_to_the_fixture(project, scaled):
    script = project.path / "envsvc.py"
    script.write_text(
        "import json, os, sys\n"
        f"sys.argv = [sys.argv[0], '--host', os.environ['HOST'], '--port', os.environ['PORT']]\n"
        "with open(os.environ['DUMP'], 'w') as f:\n"
        "    json.dump({k: os.environ.get(k) for k in ('HOST', 'PORT', 'FROM_FIXTURE', 'BOTH', 'BRACES')}, f)\n"
        f"exec(compile(open({str(WEBSOCKETS_ECHO / 'svc.py')!r}).read(), 'svc.py', 'exec'), "
        "{'__name__': '__main__'})\n"
    )
    project.makeconftest(
        """
        import pytest
        pytest_plugins = ['pytest_wsservice']

        @pytest.fixture(scope='session')
        def service_env():
            return {'FROM_FIXTURE': 'yes', 'BOTH': 'fixture'}
        """
    )
    project.makepyfile(
        test_env="""
        import json
        def test_env(service_handle, service_tmpdir):
            seen = json.loads((service_tmpdir / 'env.json').read_text())
            assert seen == {'HOST': '127.0.0.1', 'PORT': str(service_handle.port), 'FROM_FIXTURE': 'yes',
                            'BOTH': 'option', 'BRACES': '{port}'}
        """
    )
    result = _run(
        project,
        scaled,
        f"--service-command={PYTHON} envsvc.py",
        "--service-env=HOST={host}",
        "--service-env=PORT={port}",
        "--service-env=DUMP={tmpdir}/env.json",
        "--service-env=BOTH=option",
        "--service-env=BRACES={{port}}",
        "--service-ping=/healthz",
    )
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("args", "wording"),
    [
        ((f"--service-command={SVC} --port {{prot}}",), "In --service-command '"),
        ((f"--service-command={SVC} --port {{port}} --cert {{tls_cert}}",), "this run has no TLS: add --service-tls"),
        ((SVC_COMMAND, "--service-env=CFG={config}"), "this run has no static config"),
        ((SVC_COMMAND, "--service-env=PORT={nope}"), "In --service-env 'PORT={nope}': {nope} is not a placeholder."),
        ((SVC_COMMAND, "--service-env=NOT A NAME=1"), "is not an environment variable name"),
    ],
)
def test_bad_placeholders_and_env_entries_are_one_clear_error(project, scaled, args, wording):
    project.makepyfile(test_echo=TUTORIAL_TEST)
    result = _run(project, scaled, *args)
    result.assert_outcomes(errors=1)
    errors = _error_lines(result, "ServiceConfigError")
    assert len(errors) == 1, result.stdout.str()
    assert wording in errors[0]
    if "placeholder" in wording or "TLS" in wording or "static config" in wording:
        assert "The placeholders are {host}, {port}, {config}, {tmpdir}, {tls_cert}, {tls_key}, {tls_ca}" in errors[0]


def test_a_404_on_the_ping_path_is_one_clear_error_at_once(project, scaled):
    project.makepyfile(test_echo=TUTORIAL_TEST)
    started = time.monotonic()
    result = _run(project, scaled, SVC_COMMAND, "--service-ping=/health", "--service-start-timeout=60")
    elapsed = time.monotonic() - started
    result.assert_outcomes(errors=1)
    errors = _error_lines(result, "ServiceStartError")
    assert len(errors) == 1, result.stdout.str()
    assert "GET /health on 127.0.0.1:" in errors[0]
    assert "404 Not Found" in errors[0]
    assert "Fix the ping path '/health' (--service-ping, else the config's handler-ping.path)" in errors[0]
    assert elapsed < scaled(30)  # not the 60 s deadline


def test_service_config_and_config_hooks_say_there_is_no_config(project, scaled):
    project.makepyfile(
        test_noconfig="""
        import pytest

        def test_config(service_config):
            pass

        @pytest.mark.wsservice_config_hooks(lambda config, ctx: None)
        def test_marker(service_handle):
            pass
        """
    )
    result = _run(project, scaled, SVC_COMMAND, "--service-ping=/healthz")
    result.assert_outcomes(errors=2)
    errors = _error_lines(result, "ServiceConfigError")
    assert len(errors) == 2, result.stdout.str()
    for line in errors:
        assert "no static config" in line
        assert "--service-config" in line


def test_service_ping_overrides_the_configs_handler_ping(project, sample_config, scaled):
    # The websockets example ignores the config and serves /healthz, not the config's /ping.
    project.makepyfile(test_echo=TUTORIAL_TEST)
    args = (f"--service-config={sample_config}", SVC_COMMAND, "--service-start-timeout=60")
    result = _run(project, scaled, *args)
    result.assert_outcomes(errors=1)
    errors = _error_lines(result, "ServiceStartError")
    assert len(errors) == 1, result.stdout.str()
    assert "answered GET /ping on 127.0.0.1:" in errors[0]
    assert "Fix the ping path '/ping' (--service-ping, else the config's handler-ping.path)" in errors[0]
    result = _run(project, scaled, *args, "--service-ping=/healthz")
    result.assert_outcomes(passed=1)


def test_a_static_config_and_a_placeholder_command_appends_nothing(project, sample_config, scaled):
    project.makepyfile(
        test_cmd="""
        def test_cmd(service_handle, service_config_path_temp):
            assert service_handle.command[-2:] == ('--config', str(service_config_path_temp))
            assert service_handle.command.count('--config') == 1
        """
    )
    result = _run(
        project,
        scaled,
        f"--service-config={sample_config}",
        f"--service-command={PYTHON} -m sample_service --config {{config}}",
    )
    result.assert_outcomes(passed=1)
