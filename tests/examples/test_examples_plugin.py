"""The three configless examples, driven by the plugin and the userver tutorial's test, unchanged.

Each runs in a pytester project in a subprocess, exactly as its README says: a command with
placeholders, ``--service-env``, ``--service-ping``; then the same over ``--service-tls``.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from tests.examples.example_envs import NODE_WS_ECHO, STARLETTE_ECHO, WEBSOCKETS_ECHO
from tests.plugin.plugin_helpers import BASE_INI, TUTORIAL_TEST

#: Checks of what the plugin did, run next to the tutorial's test in the same session.
CHECKS = """
import ssl, socket

def test_configless(service_handle, service_baseurl, service_tls):
    assert service_handle.config_path is None
    assert '--config' not in service_handle.command
    assert service_baseurl.port == service_handle.port
    assert service_baseurl.scheme == ('https' if service_tls else 'http')
    if service_tls:
        # The listener really speaks TLS, with this run's certificate.
        with socket.create_connection((service_handle.host, service_handle.port), timeout=10) as raw:
            with service_tls.client_context().wrap_socket(raw, server_hostname=service_handle.host) as tls:
                assert tls.version() in ('TLSv1.2', 'TLSv1.3')


async def test_health(service_client):
    response = await service_client.get('/healthz')
    assert response.status == 200
"""


@pytest.fixture
def example_project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(BASE_INI)
    pytester.makeconftest("pytest_plugins = ['pytest_wsservice']\n")
    pytester.makepyfile(test_echo=TUTORIAL_TEST, test_checks=CHECKS)
    return pytester


def _run(project: pytest.Pytester, scaled, *args: str) -> pytest.RunResult:
    return project.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=scaled(180))


@pytest.mark.parametrize("tls", [False, True], ids=["ws", "wss"])
def test_websockets_example(example_project, scaled, tls):
    svc = shlex.quote(str(WEBSOCKETS_ECHO / "svc.py"))
    command = f"{shlex.quote(sys.executable)} {svc} --host {{host}} --port {{port}}"
    args = ["--service-ping=/healthz"]
    if tls:
        command += " --tls-cert {tls_cert} --tls-key {tls_key}"
        args.append("--service-tls")
    result = _run(example_project, scaled, f"--service-command={command}", *args)
    result.assert_outcomes(passed=3)


@pytest.mark.parametrize("tls", [False, True], ids=["ws", "wss"])
def test_node_example(example_project, node_modules_dir: Path, scaled, tls):
    (example_project.path / "node_modules").symlink_to(node_modules_dir)
    (example_project.path / "server.js").write_bytes((NODE_WS_ECHO / "server.js").read_bytes())
    args = ["--service-command=node server.js", "--service-env=PORT={port}"]
    if tls:
        args += ["--service-tls", "--service-env=TLS_CERT={tls_cert}", "--service-env=TLS_KEY={tls_key}"]
    result = _run(example_project, scaled, *args)
    result.assert_outcomes(passed=3)


def test_node_example_with_the_options_in_the_ini(example_project, node_modules_dir: Path, scaled):
    (example_project.path / "node_modules").symlink_to(node_modules_dir)
    (example_project.path / "server.js").write_bytes((NODE_WS_ECHO / "server.js").read_bytes())
    example_project.makeini(
        BASE_INI
        + "service_command = node server.js\nservice_ping = /healthz\nservice_tls = true\n"
        + "service_env =\n    PORT={port}\n    # the certificate made for this run\n"
        + "    TLS_CERT={tls_cert}\n    TLS_KEY={tls_key}\n"
    )
    result = _run(example_project, scaled)
    result.assert_outcomes(passed=3)


@pytest.mark.parametrize("tls", [False, True], ids=["ws", "wss"])
def test_starlette_example(example_project, starlette_site_dir: Path, scaled, tls):
    command = (
        f"{shlex.quote(sys.executable)} -m uvicorn app:app --app-dir {shlex.quote(str(STARLETTE_ECHO))} "
        "--host {host} --port {port}"
    )
    args = ["--service-ping=/healthz", f"--service-env=PYTHONPATH={starlette_site_dir}"]
    if tls:
        command += " --ssl-certfile {tls_cert} --ssl-keyfile {tls_key}"
        args.append("--service-tls")
    result = _run(example_project, scaled, f"--service-command={command}", *args)
    result.assert_outcomes(passed=3)
