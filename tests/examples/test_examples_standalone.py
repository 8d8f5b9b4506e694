"""Each example, run by hand as its README says, passes the userver tutorial's echo exchange.

These start the example directly (no plugin), read the port it reports from its log line,
check ``/healthz``, echo ``hello`` on ``/chat`` and stop it with SIGTERM. The same examples
driven by the plugin are in ``test_examples_plugin.py``.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import websockets

from pytest_wsservice.service.tls import TlsFiles, make_tls_files
from tests.examples.example_envs import NODE_WS_ECHO, STARLETTE_ECHO, WEBSOCKETS_ECHO

LISTENING = re.compile(r"(?:listening on|running on) https?://(?:127\.0\.0\.1|\[::1\]):(\d+)", re.IGNORECASE)


@contextmanager
def running(
    argv: list[str], *, env: dict[str, str], cwd: Path, timeout: float, output: list[str]
) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """Start ``argv``; yield it and the port from its first 'listening on' line; SIGTERM it after.

    Its output (stdout and stderr) is appended to ``output`` once it has exited.
    """
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    found = threading.Event()
    port: list[int] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            match = LISTENING.search(line)
            if match and not found.is_set():
                port.append(int(match.group(1)))
                found.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        if not found.wait(timeout):
            raise AssertionError(f"{argv} did not log 'listening on' within {timeout:g} s:\n{''.join(lines)}")
        yield process, port[0]
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError(f"{argv} did not exit within {timeout:g} s of SIGTERM:\n{''.join(lines)}") from None
        reader.join(timeout)
        output.extend(lines)


def healthz(port: int, timeout: float, tls: TlsFiles | None = None) -> int:
    scheme = "https" if tls else "http"
    context = tls.client_context() if tls else None
    with urllib.request.urlopen(f"{scheme}://127.0.0.1:{port}/healthz", timeout=timeout, context=context) as response:
        return int(response.status)


async def tutorial_exchange(port: int, tls: TlsFiles | None = None) -> tuple[str, str | bytes, str | None]:
    """The tutorial's exchange, then a binary one; return what came back and the TLS version."""
    scheme = "wss" if tls else "ws"
    context = tls.client_context() if tls else None
    async with websockets.connect(f"{scheme}://127.0.0.1:{port}/chat", ssl=context) as chat:
        await chat.send("hello")
        text = await chat.recv()
        await chat.send(b"\x00\x01\xfe\xff")
        ssl_object = chat.transport.get_extra_info("ssl_object")
        return str(text), await chat.recv(), ssl_object.version() if ssl_object else None


def check(
    argv: list[str],
    *,
    env: dict[str, str],
    cwd: Path,
    scaled,
    ok_exits: tuple[int, ...] = (0,),
    tls: TlsFiles | None = None,
) -> None:
    output: list[str] = []
    with running(argv, env=env, cwd=cwd, timeout=scaled(30), output=output) as (process, port):
        assert healthz(port, scaled(10), tls) == 200
        text, binary, version = asyncio.run(asyncio.wait_for(tutorial_exchange(port, tls), scaled(10)))
        assert (text, binary) == ("hello", b"\x00\x01\xfe\xff")
        assert version in (("TLSv1.2", "TLSv1.3") if tls else (None,))
        started = time.monotonic()
    assert process.returncode in ok_exits, "".join(output)
    assert time.monotonic() - started < scaled(10)


def test_websockets_echo(scaled):
    argv = [sys.executable, "svc.py", "--host", "127.0.0.1", "--port", "0"]
    check(argv, env={}, cwd=WEBSOCKETS_ECHO, scaled=scaled)


def test_node_ws_echo(node_modules_dir, scaled, tmp_path):
    (tmp_path / "node_modules").symlink_to(node_modules_dir)
    (tmp_path / "server.js").write_bytes((NODE_WS_ECHO / "server.js").read_bytes())
    check(["node", "server.js"], env={"PORT": "0"}, cwd=tmp_path, scaled=scaled)


def test_starlette_echo(starlette_site_dir, scaled):
    argv = [sys.executable, "-m", "uvicorn", "app:app", "--host", "127.0.0.1", "--port", "0"]
    # uvicorn re-raises the SIGTERM it handled once it has shut down cleanly.
    check(
        argv,
        env={"PYTHONPATH": str(starlette_site_dir)},
        cwd=STARLETTE_ECHO,
        scaled=scaled,
        ok_exits=(0, -signal.SIGTERM),
    )


@pytest.fixture(scope="module")
def tls(tmp_path_factory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


def test_websockets_echo_over_tls(tls, scaled):
    argv = [
        sys.executable,
        "svc.py",
        "--port",
        "0",
        "--tls-cert",
        str(tls.cert_chain),
        "--tls-key",
        str(tls.private_key),
    ]
    check(argv, env={}, cwd=WEBSOCKETS_ECHO, scaled=scaled, tls=tls)


def test_node_ws_echo_over_tls(node_modules_dir, tls, scaled, tmp_path):
    (tmp_path / "node_modules").symlink_to(node_modules_dir)
    (tmp_path / "server.js").write_bytes((NODE_WS_ECHO / "server.js").read_bytes())
    env = {"PORT": "0", "TLS_CERT": str(tls.cert_chain), "TLS_KEY": str(tls.private_key)}
    check(["node", "server.js"], env=env, cwd=tmp_path, scaled=scaled, tls=tls)


def test_starlette_echo_over_tls(starlette_site_dir, tls, scaled):
    argv = [sys.executable, "-m", "uvicorn", "app:app", "--port", "0"]
    argv += ["--ssl-certfile", str(tls.cert_chain), "--ssl-keyfile", str(tls.private_key)]
    check(
        argv,
        env={"PYTHONPATH": str(starlette_site_dir)},
        cwd=STARLETTE_ECHO,
        scaled=scaled,
        ok_exits=(0, -signal.SIGTERM),
        tls=tls,
    )
