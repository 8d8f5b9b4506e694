"""Start-up cost (issue 14, item 3): no TLS work that listening does not need.

aiohttp's client TLS contexts load the system CA bundle at their first use instead of at
import, and verify exactly as before; a plain listener builds no TLS context at all.
"""

from __future__ import annotations

import re
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sample_service.tlsdefer import deferred_default_certs, pending_loads
from tests.sample_service.sample_helpers import START_TIMEOUT, config_dict, free_port, write_config


def test_contexts_made_inside_the_block_load_their_certificates_at_first_use() -> None:
    reference = ssl.create_default_context().cert_store_stats()
    with deferred_default_certs():
        verified = ssl.create_default_context()
        unverified = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        unverified.set_default_verify_paths()
    assert pending_loads(verified) == 1 and pending_loads(unverified) == 1
    assert verified.verify_mode == ssl.CERT_REQUIRED and verified.check_hostname
    assert verified.cert_store_stats() == reference  # the first use loads exactly what it would have
    assert pending_loads(verified) == 0
    assert "wrap_bio" not in vars(verified)  # back to the real methods
    assert pending_loads(unverified) == 1  # untouched until its own first use


def test_the_block_restores_ssl_context() -> None:
    load_default_certs = ssl.SSLContext.load_default_certs
    set_default_verify_paths = ssl.SSLContext.set_default_verify_paths
    with deferred_default_certs():
        assert ssl.SSLContext.load_default_certs is not load_default_certs
    assert ssl.SSLContext.load_default_certs is load_default_certs
    assert ssl.SSLContext.set_default_verify_paths == set_default_verify_paths
    assert "set_default_verify_paths" not in vars(ssl.SSLContext)
    assert pending_loads(ssl.create_default_context()) == 0


def test_a_plain_listener_imports_no_tls_module_and_defers_aiohttps_certificates(
    tmp_path: Path, scaled: Callable[[float], float]
) -> None:
    config_path = write_config(tmp_path, config_dict(free_port(), "@stderr"))
    proc = subprocess.Popen(
        [sys.executable, "-X", "importtime", "-m", "sample_service", "-c", str(config_path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        imports: list[str] = []
        deadline = time.monotonic() + scaled(START_TIMEOUT)
        for line in proc.stderr:  # the log goes to stderr too; it ends with the listening line
            imports.append(line)
            if "listening on http://" in line or time.monotonic() > deadline:
                break
        assert "listening on http://" in imports[-1], "".join(imports[-20:])
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=scaled(10))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    names = {match.group(1) for line in imports if (match := re.search(r"\|\s+([\w.]+)\s*$", line))}
    assert "aiohttp.connector" in names and "sample_service.tlsdefer" in names
    assert "sample_service.tls" not in names
