"""The readiness probe over TLS, its 2xx rule and the answers that end the wait at once.

Real loopback HTTP(S) servers in threads; :func:`wait_until_ready` drives the probe as it
does for a starting service.
"""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Iterator
from typing import ClassVar

import pytest

from pytest_wsservice.service.probe import Probe
from pytest_wsservice.service.startup import wait_until_ready
from pytest_wsservice.service.tls import TlsFiles, make_tls_files


class _Handler(http.server.BaseHTTPRequestHandler):
    #: path -> statuses to answer in turn (the last one repeats)
    answers: ClassVar[dict[str, list[int]]] = {}

    def do_GET(self) -> None:
        statuses = self.answers.get(self.path, [404])
        status = statuses.pop(0) if len(statuses) > 1 else statuses[0]
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def other_tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("other-tls"))


def _serve(context) -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def https_port(tls: TlsFiles) -> Iterator[int]:
    yield from _serve(tls.server_context())


@pytest.fixture(scope="module")
def http_port() -> Iterator[int]:
    yield from _serve(None)


@pytest.fixture(scope="module")
def foreign_https_port(other_tls: TlsFiles) -> Iterator[int]:
    yield from _serve(other_tls.server_context())


def _wait(probe: Probe, scaled, timeout: float = 5.0):
    return wait_until_ready(poll=lambda: None, timeout=scaled(timeout), probe=probe)


@pytest.mark.parametrize(("path", "statuses"), [("/ok", [200]), ("/nocontent", [204]), ("/later", [503, 503, 200])])
def test_https_ping_answering_2xx_is_ready(tls, https_port, scaled, path, statuses):
    _Handler.answers[path] = list(statuses)
    result = _wait(Probe("127.0.0.1", https_port, path, tls=tls.client_context()), scaled)
    assert (result.outcome, result.via) == ("ready", "probe")
    assert result.detail == f"GET https://127.0.0.1:{https_port}{path} answering 2xx"


def test_tls_connect_without_a_path_is_ready_after_the_handshake(tls, https_port, scaled):
    result = _wait(Probe("127.0.0.1", https_port, None, tls=tls.client_context()), scaled)
    assert result.outcome == "ready"
    assert result.detail == f"a TCP connect and TLS handshake to 127.0.0.1:{https_port}"


@pytest.mark.parametrize("use_tls", [True, False])
def test_a_404_ends_the_wait_at_once_naming_the_path(tls, https_port, http_port, scaled, use_tls):
    port = https_port if use_tls else http_port
    probe = Probe("127.0.0.1", port, "/missing", tls=tls.client_context() if use_tls else None)
    result = _wait(probe, scaled, timeout=30)
    assert result.outcome == "refused"
    assert (
        result.detail == f"answered GET /missing on 127.0.0.1:{port} with 'HTTP/1.0 404 Not Found': it has no such path"
    )


def test_plain_http_when_tls_is_expected_is_one_clear_error(tls, http_port, scaled):
    probe = Probe("127.0.0.1", http_port, "/ok", tls=tls.client_context(), tls_hint="Serve TLS.")
    result = _wait(probe, scaled, timeout=30)
    assert result.outcome == "refused"
    assert result.detail == (
        f"failed the TLS handshake on 127.0.0.1:{http_port}: the service did not answer in TLS "
        "(WRONG_VERSION_NUMBER): it seems to speak plain HTTP. Serve TLS."
    )


def test_a_service_that_drops_the_client_hello_again_and_again_is_one_clear_error(tls, scaled):
    # Like a plain WebSocket server: it reads garbage, and closes the connection.
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def drop() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            connection.recv(1024)
            connection.close()

    thread = threading.Thread(target=drop, daemon=True)
    thread.start()
    try:
        started = time.monotonic()
        result = _wait(Probe("127.0.0.1", port, "/ok", tls=tls.client_context()), scaled, timeout=30)
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        thread.join()
        listener.close()
    assert result.outcome == "refused"
    assert result.detail.startswith(f"failed the TLS handshake on 127.0.0.1:{port}: the service closed the connection")
    assert result.detail.endswith("so it does not seem to speak TLS.")
    assert elapsed < scaled(5)


def test_a_certificate_from_another_ca_is_one_clear_error(tls, foreign_https_port, scaled):
    result = _wait(Probe("127.0.0.1", foreign_https_port, "/ok", tls=tls.client_context()), scaled, timeout=30)
    assert result.outcome == "refused"
    assert result.detail.startswith(
        f"failed the TLS handshake on 127.0.0.1:{foreign_https_port}: the service's certificate was not accepted "
        "(unable to get local issuer certificate)"
    )


def test_the_hostname_is_checked(tls, https_port, scaled):
    probe = Probe("127.0.0.1", https_port, "/ok", tls=tls.client_context(), server_hostname="example.com")
    _Handler.answers["/ok"] = [200]
    result = _wait(probe, scaled, timeout=30)
    assert result.outcome == "refused"
    assert "Hostname mismatch" in result.detail or "hostname" in result.detail.lower()


def test_plain_probe_still_wants_2xx_and_times_out_on_other_statuses(http_port, scaled):
    _Handler.answers["/busy"] = [503]
    result = _wait(Probe("127.0.0.1", http_port, "/busy"), scaled, timeout=0.5)
    assert result.outcome == "timeout"
    assert f"GET http://127.0.0.1:{http_port}/busy answering 2xx" in result.detail
    assert "answered 'HTTP/1.0 503 Service Unavailable'" in result.detail
