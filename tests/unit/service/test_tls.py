"""Throwaway TLS material (pytest_wsservice.service.tls), checked with real TLS handshakes."""

from __future__ import annotations

import socket
import ssl
import stat
import sys
import threading

import pytest

from pytest_wsservice.service.tls import TLS_HOSTS, TlsFiles, make_tls_files


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


def _serve_once(server_context: ssl.SSLContext, family: int, host: str) -> tuple[int, threading.Thread, list[str]]:
    """Accept one TLS connection on a loopback socket in a thread; reply with 'ok'."""
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.bind((host, 0))
    listener.listen(1)
    listener.settimeout(10)
    port = listener.getsockname()[1]
    errors: list[str] = []

    def run() -> None:
        with listener:
            try:
                conn, _ = listener.accept()
                with server_context.wrap_socket(conn, server_side=True) as tls:
                    tls.sendall(b"ok")
            except (OSError, ssl.SSLError) as error:
                errors.append(repr(error))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return port, thread, errors


@pytest.mark.parametrize("host", TLS_HOSTS)
def test_client_context_verifies_the_server_for_each_host(tls_files, host, scaled):
    family = socket.AF_INET6 if host == "::1" else socket.AF_INET
    bind = "::1" if host == "::1" else "127.0.0.1"
    if family == socket.AF_INET6 and not socket.has_ipv6:
        pytest.fail("this machine has no IPv6 loopback; the ::1 certificate cannot be checked")
    port, thread, errors = _serve_once(tls_files.server_context(), family, bind)
    with (
        socket.create_connection((bind, port), timeout=scaled(10)) as raw,
        tls_files.client_context().wrap_socket(raw, server_hostname=host) as tls,
    ):
        assert tls.recv(2) == b"ok"
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
        peer = tls.getpeercert()
    thread.join(scaled(10))
    assert errors == []
    names = {value for kind, value in peer["subjectAltName"]}
    assert {"localhost", "127.0.0.1"} <= names
    assert any(name.startswith("0:0:0:0:0:0:0:1") or name == "::1" for name in names)


def test_client_context_trusts_only_this_ca(tmp_path, tls_files, scaled):
    other = make_tls_files(tmp_path / "other")
    port, thread, errors = _serve_once(other.server_context(), socket.AF_INET, "127.0.0.1")
    with (
        socket.create_connection(("127.0.0.1", port), timeout=scaled(10)) as raw,
        pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer certificate"),
    ):
        tls_files.client_context().wrap_socket(raw, server_hostname="127.0.0.1")
    thread.join(scaled(10))
    assert errors  # the server saw the client give up on its certificate


def test_client_context_checks_the_hostname(tls_files):
    context = tls_files.client_context()
    assert context.check_hostname is True
    assert context.verify_mode == ssl.CERT_REQUIRED
    # Only the one CA is loaded: no system roots.
    assert len(context.get_ca_certs()) == 1


def test_files_are_pem_and_the_key_is_private(tls_files):
    assert tls_files.cert_chain.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert tls_files.ca_cert.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert b"PRIVATE KEY-----" in tls_files.private_key.read_bytes()
    assert stat.S_IMODE(tls_files.private_key.stat().st_mode) == 0o600
    assert tls_files.cert_chain.parent == tls_files.private_key.parent == tls_files.ca_cert.parent


def test_a_second_call_replaces_the_files_and_keeps_the_key_private(tmp_path):
    first = make_tls_files(tmp_path)
    first_ca = first.ca_cert.read_bytes()
    first.private_key.chmod(0o644)
    second = make_tls_files(tmp_path)
    assert second == first
    assert second.ca_cert.read_bytes() != first_ca
    assert stat.S_IMODE(second.private_key.stat().st_mode) == 0o600


def test_trustme_is_imported_only_when_tls_is_asked_for(tmp_path):
    import subprocess

    code = (
        "import sys, pathlib\n"
        "import pytest_wsservice.service.tls as tls\n"
        "import pytest_wsservice.service.command\n"
        "assert 'trustme' not in sys.modules, 'imported early'\n"
        f"tls.make_tls_files(pathlib.Path({str(tmp_path)!r}))\n"
        "assert 'trustme' in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_missing_trustme_is_one_clear_error(tmp_path):
    import subprocess

    code = (
        "import sys, pathlib\n"
        "sys.modules['trustme'] = None\n"
        "from pytest_wsservice.service.tls import make_tls_files\n"
        "from pytest_wsservice.errors import ServiceConfigError\n"
        "try:\n"
        f"    make_tls_files(pathlib.Path({str(tmp_path)!r}))\n"
        "except ServiceConfigError as error:\n"
        "    print(error)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("--service-tls needs the trustme package")
    assert "pip install trustme" in result.stdout
