"""The TLS listener (issue 11): ``server.listener.tls`` with ``cert`` and ``private-key`` serves HTTPS and WSS.

The certificate comes from a throwaway CA made by trustme; clients trust that CA and so
complete a real TLS handshake. Plain HTTP to the TLS port fails, and a client that does not
trust the CA is refused, which shows the connection really is TLS with that certificate.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from websockets.sync.client import connect

from tests.sample_service.sample_helpers import (
    START_TIMEOUT,
    SampleProcess,
    config_dict,
    free_port,
    kill_group,
    write_config,
)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def tls_config(directory: Path, ca: trustme.CA, port: int, log_path: str, **tls: Any) -> Path:
    """A config whose listener has ``tls`` with files in ``directory/certs``, named relative to the config."""
    certs = directory / "certs"
    certs.mkdir(parents=True, exist_ok=True)
    issued = ca.issue_cert("127.0.0.1", "localhost", "::1")
    issued.cert_chain_pems[0].write_to_path(str(certs / "server.crt"))
    issued.private_key_pem.write_to_path(str(certs / "server.key"))
    config = config_dict(port, log_path)
    listener = config["components_manager"]["components"]["server"]["listener"]
    listener["tls"] = tls or {"cert": "certs/server.crt", "private-key": "certs/server.key"}
    listener["handshake-timeout"] = "500ms"
    return write_config(directory, config)


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def https_get(port: int, path: str, context: ssl.SSLContext, timeout: float) -> tuple[int, str | None]:
    """GET over HTTPS: (status, the TLS version the connection used)."""
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=context)
    try:
        conn.request("GET", path)
        status = conn.getresponse().status
        assert isinstance(conn.sock, ssl.SSLSocket)
        return status, conn.sock.version()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def tls_service(
    tmp_path_factory: pytest.TempPathFactory, ca: trustme.CA, scaled: Callable[[float], float]
) -> Iterator[SampleProcess]:
    directory = tmp_path_factory.mktemp("tls")
    port = free_port()
    log_path = directory / "service.log"
    config_path = tls_config(directory, ca, port, str(log_path))
    stderr_path = directory / "stderr.txt"
    with open(stderr_path, "wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sample_service", "-c", str(config_path)],
            cwd=tmp_path_factory.getbasetemp(),  # elsewhere: the cert paths are relative to the config
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
    service = SampleProcess(proc, port, config_path, log_path, stderr_path)
    context = client_context(ca)
    deadline = time.monotonic() + scaled(START_TIMEOUT)
    while True:
        assert proc.poll() is None, f"the TLS service exited with {proc.returncode}: {service.stderr()} {service.log()}"
        try:
            if https_get(port, "/ping", context, scaled(2))[0] == 200:
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            kill_group(proc)
            raise AssertionError(f"the TLS service did not answer /ping within the deadline; log: {service.log()}")
        time.sleep(0.01)
    yield service
    service.stop(scaled(10))


def test_https_ping_over_a_verified_tls_connection(
    tls_service: SampleProcess, ca: trustme.CA, scaled: Callable[[float], float]
) -> None:
    status, version = https_get(tls_service.port, "/ping", client_context(ca), scaled(5))
    assert status == 200
    assert version in ("TLSv1.2", "TLSv1.3")
    assert f"INFO sample_service: listening on https://127.0.0.1:{tls_service.port}" in tls_service.log()


def test_wss_echo(tls_service: SampleProcess, ca: trustme.CA, scaled: Callable[[float], float]) -> None:
    with connect(f"wss://127.0.0.1:{tls_service.port}/chat", ssl=client_context(ca), open_timeout=scaled(5)) as ws:
        ws.send("over tls")
        assert ws.recv(timeout=scaled(5)) == "over tls"
        ws.send(b"\x00\x01")
        assert ws.recv(timeout=scaled(5)) == b"\x00\x01"


def test_plain_http_to_the_tls_port_fails(
    tls_service: SampleProcess, ca: trustme.CA, scaled: Callable[[float], float]
) -> None:
    with socket.create_connection(("127.0.0.1", tls_service.port), timeout=scaled(5)) as sock:
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    assert not answer.startswith(b"HTTP/"), answer[:200]
    # The service is unharmed.
    assert https_get(tls_service.port, "/ping", client_context(ca), scaled(5))[0] == 200


def test_a_client_that_does_not_trust_the_ca_is_refused(
    tls_service: SampleProcess, scaled: Callable[[float], float]
) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        https_get(tls_service.port, "/ping", ssl.create_default_context(), scaled(5))


def test_silent_connection_to_the_tls_port_is_closed_at_the_handshake_deadline(
    tls_service: SampleProcess, scaled: Callable[[float], float]
) -> None:
    with socket.create_connection(("127.0.0.1", tls_service.port)) as sock:
        sock.settimeout(scaled(5))
        started = time.monotonic()
        with contextlib.suppress(ConnectionResetError):
            assert sock.recv(65536) == b""
    assert time.monotonic() - started >= 0.4


@pytest.mark.parametrize(
    ("tls", "key", "problem"),
    [
        ({"cert": "certs/server.crt"}, "tls.private-key", "tls needs both 'cert' and 'private-key'"),
        ({"cert": "certs/none.crt", "private-key": "certs/server.key"}, "tls.cert", "no such file: "),
        ({"cert": "certs/server.key", "private-key": "certs/server.key"}, "tls", "cannot use cert "),
    ],
    ids=["no-key", "missing-file", "not-a-cert"],
)
def test_bad_tls_config_exits_2_naming_the_key(
    tmp_path: Path, ca: trustme.CA, scaled: Callable[[float], float], tls: dict[str, str], key: str, problem: str
) -> None:
    config_path = tls_config(tmp_path, ca, free_port(), "@stderr", **tls)
    result = subprocess.run(
        [sys.executable, "-m", "sample_service", "-c", str(config_path)],
        capture_output=True,
        text=True,
        timeout=scaled(15),
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"{config_path}: components_manager.components.server.listener.{key}: {problem}" in result.stderr
