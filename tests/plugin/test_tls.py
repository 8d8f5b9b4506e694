"""--service-tls with the sample service, a handshake failure, and --service-url https/wss."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_wsservice.service.tls import make_tls_files
from tests.examples.example_envs import WEBSOCKETS_ECHO
from tests.plugin.plugin_helpers import BASE_INI, TUTORIAL_TEST

PING_TEST = """
async def test_ping(service_client):
    response = await service_client.get('/ping')
    assert response.status == 200
"""

#: Proves the service's listener speaks TLS with this run's certificate, and only TLS.
REALLY_TLS = """
import socket, ssl

def test_really_tls(service_handle, service_baseurl, service_tls, service_config):
    assert service_baseurl.scheme == 'https'
    listener = service_config['components_manager']['components']['server']['listener']
    assert listener['tls'] == {'cert': str(service_tls.cert_chain), 'private-key': str(service_tls.private_key)}
    with socket.create_connection((service_handle.host, service_handle.port), timeout=10) as raw:
        with service_tls.client_context().wrap_socket(raw, server_hostname=service_handle.host) as tls:
            assert tls.version() in ('TLSv1.2', 'TLSv1.3')
            tls.sendall(b'GET /ping HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n')
            assert tls.recv(12) == b'HTTP/1.1 200'
    # Plain HTTP on the same port gets no HTTP answer.
    with socket.create_connection((service_handle.host, service_handle.port), timeout=10) as raw:
        raw.sendall(b'GET /ping HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n')
        assert not raw.recv(12).startswith(b'HTTP/1.1 200')


async def test_websocket_is_wss(websocket_client, service_client):
    assert websocket_client.url_for('chat').startswith('wss://127.0.0.1:')
    assert service_client.url_for('/ping').startswith('https://127.0.0.1:')
    async with websocket_client.get('chat') as chat:
        assert chat.transport.get_extra_info('ssl_object').version() in ('TLSv1.2', 'TLSv1.3')
        await chat.send('over tls')
        assert await chat.recv() == 'over tls'
"""


def _error_lines(result: pytest.RunResult, name: str) -> list[str]:
    """The lines that show a ``name`` error's message (with or without a traceback)."""
    return [
        line
        for line in result.outlines
        if line.lstrip("E ").startswith((f"pytest_wsservice.errors.{name}: ", f"{name}: "))
    ]


def _run(project: pytest.Pytester, scaled, *args: str) -> pytest.RunResult:
    return project.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=scaled(120))


def test_sample_under_service_tls(project, scaled):
    project.makepyfile(test_echo=TUTORIAL_TEST, test_ping=PING_TEST, test_tls=REALLY_TLS)
    result = _run(project, scaled, "--service-tls")
    result.assert_outcomes(passed=4)


CONTROL_OVER_TLS = """
async def test_dynamic_config_over_tls(dynamic_config, websocket_client):
    await dynamic_config.set_values({'WEBSOCKET_ECHO_PREFIX': '[tls] '})
    async with websocket_client.get('chat') as chat:
        await chat.send('one')
        assert await chat.recv() == '[tls] one'


async def test_capture_logs_over_tls(service_client, websocket_client):
    async with service_client.capture_logs() as capture:
        async with websocket_client.get('chat') as chat:
            await chat.send('x' * 100_001)
            await chat.wait_closed()
    assert capture.select(level='WARNING', text='protocol error')
"""


def test_tests_control_over_tls(project, scaled):
    project.makeconftest(
        """
        pytest_plugins = ['pytest_wsservice']

        def _tests_control_on(config, config_vars):
            config['components_manager']['components']['tests-control']['load-enabled'] = True

        WSSERVICE_CONFIG_HOOKS = [_tests_control_on]
        """
    )
    project.makepyfile(test_control=CONTROL_OVER_TLS)
    result = _run(project, scaled, "--service-tls")
    result.assert_outcomes(passed=2)


def test_service_tls_from_the_ini(project, scaled):
    project.makeini(BASE_INI + "service_tls = true\n")
    project.makepyfile(test_echo=TUTORIAL_TEST, test_ping=PING_TEST)
    result = _run(project, scaled)
    result.assert_outcomes(passed=2)


def test_service_tls_is_none_without_tls(project, scaled):
    project.makepyfile(
        test_plain="""
        def test_plain(service_tls, service_baseurl):
            assert service_tls is None and service_baseurl.scheme == 'http'
        """
    )
    _run(project, scaled).assert_outcomes(passed=1)


def test_a_service_that_speaks_plain_http_under_service_tls_is_one_clear_error(project, scaled):
    project.makepyfile(test_echo=TUTORIAL_TEST)
    svc = f"{shlex.quote(sys.executable)} {shlex.quote(str(WEBSOCKETS_ECHO / 'svc.py'))}"
    result = _run(
        project,
        scaled,
        "--service-tls",
        f"--service-command={svc} --host {{host}} --port {{port}}",
        "--service-ping=/healthz",
        "--service-start-timeout=60",
    )
    result.assert_outcomes(errors=1)
    errors = _error_lines(result, "ServiceStartError")
    assert len(errors) == 1, result.stdout.str()
    assert "failed the TLS handshake" in errors[0]
    assert "does not seem to speak TLS" in errors[0] or "it seems to speak plain HTTP" in errors[0]
    assert "{tls_cert}" in errors[0]


@pytest.fixture
def running_tls_service(tmp_path: Path, scaled):
    """The websockets example serving wss on a free port, with its own CA; yields (port, ca_path)."""
    from pytest_wsservice.service.ports import free_port

    tls = make_tls_files(tmp_path / "tls")
    port = free_port("127.0.0.1")
    argv = [sys.executable, str(WEBSOCKETS_ECHO / "svc.py"), "--port", str(port)]
    argv += ["--tls-cert", str(tls.cert_chain), "--tls-key", str(tls.private_key)]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield port, tls.ca_cert
    finally:
        process.terminate()
        assert process.wait(scaled(10)) == 0


@pytest.mark.parametrize("scheme", ["https", "wss"])
def test_service_url_over_tls(project, running_tls_service, scaled, scheme, monkeypatch):
    port, ca = running_tls_service
    project.makepyfile(test_echo=TUTORIAL_TEST)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    result = _run(project, scaled, f"--service-url={scheme}://127.0.0.1:{port}/", "--service-ping=/healthz")
    result.assert_outcomes(passed=1)


def test_service_url_over_tls_with_an_untrusted_certificate(project, running_tls_service, scaled, monkeypatch):
    port, _ = running_tls_service
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    project.makepyfile(test_echo=TUTORIAL_TEST)
    result = _run(project, scaled, f"--service-url=https://127.0.0.1:{port}/", "--service-ping=/healthz")
    result.assert_outcomes(errors=1)
    errors = _error_lines(result, "ServiceStartError")
    assert any("certificate was not accepted" in line for line in errors), result.stdout.str()
