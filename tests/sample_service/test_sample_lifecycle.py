"""Start-up, readiness notice and shutdown of the real service process."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.sample_service.sample_helpers import config_dict, http_get, write_config


@pytest.fixture
def notify_dir():
    """A short directory for AF_UNIX socket paths (they are limited to about 100 bytes)."""
    path = tempfile.mkdtemp(prefix="wsn-", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def receive_ready(sock: socket.socket, timeout: float) -> bytes:
    sock.settimeout(timeout)
    return sock.recv(4096)


def test_logs_listening_line_with_host_and_port(sample_service):
    """Once listening, the log holds one line 'listening on http://HOST:PORT' in the log format."""
    lines = [line for line in sample_service.log().splitlines() if "listening on" in line]
    assert len(lines) == 1
    assert re.fullmatch(
        rf"\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{{3}} INFO sample_service: listening on http://127\.0\.0\.1:{sample_service.port}",
        lines[0],
    )


def test_ready_notice_to_notify_socket_path(spawn_sample, notify_dir, scaled):
    """With NOTIFY_SOCKET set to a path, the service sends the datagram READY=1 once /ping already answers."""
    path = os.path.join(notify_dir, "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        service = spawn_sample(env={"NOTIFY_SOCKET": path})
        assert receive_ready(sock, scaled(5)) == b"READY=1"
    assert http_get(service.port, "/ping", scaled(5))[0] == 200


def test_ready_notice_to_abstract_notify_socket(spawn_sample, scaled):
    """A NOTIFY_SOCKET starting with '@' names a socket in the abstract namespace, and gets READY=1 too."""
    name = f"wsservice-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        spawn_sample(env={"NOTIFY_SOCKET": "@" + name})
        assert receive_ready(sock, scaled(5)) == b"READY=1"


def test_unreachable_notify_socket_is_logged_not_fatal(spawn_sample, notify_dir, scaled):
    """A NOTIFY_SOCKET nobody listens on is logged as a warning and the service still serves."""
    service = spawn_sample(env={"NOTIFY_SOCKET": os.path.join(notify_dir, "nobody")})
    assert "WARNING sample_service: readiness notice failed" in service.wait_log("readiness notice failed", scaled(5))
    assert http_get(service.port, "/ping", scaled(5))[0] == 200


def test_port_zero_logs_the_port_it_got(tmp_path, scaled):
    """With port 0 the service picks a free port and names it in the listening line."""
    log_path = tmp_path / "service.log"
    path = write_config(tmp_path, config_dict(0, str(log_path)))
    proc = subprocess.Popen(
        [sys.executable, "-m", "sample_service", "-c", str(path)], cwd=tmp_path, stdin=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + scaled(15)
        match = None
        while match is None:
            assert proc.poll() is None and time.monotonic() < deadline, "no listening line"
            time.sleep(0.01)
            match = re.search(
                r"listening on http://127\.0\.0\.1:(\d+)", log_path.read_text() if log_path.exists() else ""
            )
        port = int(match.group(1))
        assert port != 0
        assert http_get(port, "/ping", scaled(5))[0] == 200
    finally:
        proc.terminate()
        assert proc.wait(timeout=scaled(10)) == 0


def test_port_in_use_exits_1_with_message(tmp_path, scaled):
    """When the port is taken the service exits with status 1 and says it cannot listen there."""
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        path = write_config(tmp_path, config_dict(port, "@stderr"))
        result = subprocess.run(
            [sys.executable, "-m", "sample_service", "-c", str(path)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=scaled(20),
        )
    assert result.returncode == 1
    assert f"CRITICAL sample_service: cannot listen on 127.0.0.1:{port}:" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.asyncio
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_signal_closes_open_websockets_with_1001_and_exits_0(spawn_sample, scaled, signum):
    """SIGTERM or SIGINT closes every open WebSocket with 1001 and exits 0 within the 2 s grace period."""
    service = spawn_sample()
    clients = [await connect(service.ws_url, open_timeout=scaled(5), close_timeout=scaled(5)) for _ in range(3)]
    try:
        for n, ws in enumerate(clients):
            await ws.send(f"client {n}")
            assert await asyncio.wait_for(ws.recv(), scaled(5)) == f"client {n}"
        started = time.monotonic()
        service.signal(signum)
        for ws in clients:
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), scaled(5))
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
        status = await asyncio.wait_for(asyncio.to_thread(service.proc.wait), scaled(5))
        elapsed = time.monotonic() - started
    finally:
        for ws in clients:
            await ws.close()
    assert status == 0
    assert elapsed < 2.0 + scaled(0.5), f"exited {elapsed:.2f}s after the signal with a 2s grace period"
    log = service.log()
    assert f"{signal.Signals(signum).name} received, shutting down" in log
    assert len(re.findall(r"connection closed peer=\S+ path=/chat code=1001 by=server", log)) == 3


def test_shutdown_stops_accepting_and_keeps_within_grace(spawn_sample, raw_ws, scaled):
    """After SIGTERM the service refuses new connections, and a client that never answers the close delays the exit by no more than the grace period."""
    service = spawn_sample(grace="1s")
    silent = raw_ws(service.port)  # it will read the close frame but never answer it
    started = time.monotonic()
    service.signal(signal.SIGTERM)
    assert silent.recv_close() == 1001
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", service.port), timeout=scaled(2)).close()
    status = service.proc.wait(timeout=scaled(5))
    elapsed = time.monotonic() - started
    assert status == 0
    assert elapsed < 1.0 + scaled(0.5), f"exited {elapsed:.2f}s after SIGTERM with a 1s grace period"


def test_shutdown_without_connections_is_quick(spawn_sample, scaled):
    """With no open connection, SIGTERM ends the process with status 0 well within the grace period."""
    service = spawn_sample(grace="5s")
    started = time.monotonic()
    service.signal(signal.SIGTERM)
    assert service.proc.wait(timeout=scaled(5)) == 0
    assert time.monotonic() - started < scaled(1.5)
    assert "stopped in" in service.log()


def test_exit_runs_atexit_functions_and_flushes_output(spawn_sample, tmp_path, scaled):
    """The service skips the interpreter's teardown at exit (it costs ~60 ms), but not what
    matters: ``atexit`` functions (coverage.py saves its data there) and unflushed output."""
    hook_dir = tmp_path / "hook"
    hook_dir.mkdir()
    mark = tmp_path / "atexit-ran"
    (hook_dir / "sitecustomize.py").write_text(
        "import atexit, os, sys\n"
        "def _at_exit():\n"
        "    with open(os.environ['ATEXIT_MARK'], 'w') as f:\n"
        "        f.write('ran')\n"
        "    sys.stderr.write('written at exit, never flushed by hand')\n"
        "atexit.register(_at_exit)\n"
    )
    path = f"{hook_dir}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
    # PYTHONUNBUFFERED off: the line without a newline waits in the buffer until the exit.
    service = spawn_sample(env={"PYTHONPATH": path, "ATEXIT_MARK": str(mark), "PYTHONUNBUFFERED": ""})
    service.signal(signal.SIGTERM)
    assert service.proc.wait(timeout=scaled(5)) == 0
    assert mark.read_text() == "ran"
    assert "stopped in" in service.log()
    assert service.stderr().endswith("written at exit, never flushed by hand")


def test_bad_http_request_is_logged_as_one_warning_line(sample_service, raw_ws, scaled):
    """A malformed HTTP request is logged as one WARNING line naming the peer and what was wrong, without a traceback."""
    conn = raw_ws(sample_service.port, upgraded=False)
    status, _, _ = conn.request("GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Bad: a\x01b\r\n\r\n")
    assert status == 400
    log = sample_service.wait_log("X-Bad", scaled(5))
    lines = [line for line in log.splitlines() if "X-Bad" in line]
    assert len(lines) == 1
    assert (
        "WARNING aiohttp.server: Error handling request from 127.0.0.1: 400, message: Invalid header value char"
        in lines[0]
    )
    assert "Traceback" not in log
