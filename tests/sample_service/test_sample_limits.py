"""Connection limits (issue 13, item 16): the handshake deadline and the WebSocket idle limit.

A silent TCP connection, half-sent headers and an idle WebSocket are closed after the
configured limits; a well-behaved client is not. Real sockets against a real service.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sample_service.config import load_config
from tests.sample_service.sample_helpers import (
    START_TIMEOUT,
    RawWebSocket,
    SampleProcess,
    config_dict,
    free_port,
    http_get,
    start_sample,
    write_config,
)

HANDSHAKE_TIMEOUT = 0.5
IDLE_TIMEOUT = 0.8


def limits_config(port: int, log_path: str, **limits: Any) -> dict[str, Any]:
    config = config_dict(port, log_path)
    components = config["components_manager"]["components"]
    components["server"]["listener"]["handshake-timeout"] = limits.get(
        "handshake", f"{int(HANDSHAKE_TIMEOUT * 1000)}ms"
    )
    components["websocket-handler"]["idle-timeout"] = limits.get("idle", f"{int(IDLE_TIMEOUT * 1000)}ms")
    return config


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory, scaled: Callable[[float], float]) -> Iterator[SampleProcess]:
    """A service with a 0.5 s handshake deadline and a 0.8 s idle limit on /chat."""
    directory = tmp_path_factory.mktemp("limits")
    port = free_port()
    log_path = directory / "service.log"
    service = start_sample(
        write_config(directory, limits_config(port, str(log_path))), port, log_path, scaled(START_TIMEOUT)
    )
    yield service
    service.stop(scaled(10))


def closed_within(sock: socket.socket, timeout: float) -> float:
    """Seconds until the service closes ``sock`` (reading and dropping anything it sends)."""
    started = time.monotonic()
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    except TimeoutError:
        raise AssertionError(f"the service did not close the connection within {timeout:.1f}s") from None
    return time.monotonic() - started


def test_silent_connection_is_closed_at_the_handshake_deadline(
    limited: SampleProcess, scaled: Callable[[float], float]
) -> None:
    with socket.create_connection(("127.0.0.1", limited.port)) as sock:
        waited = closed_within(sock, scaled(5))
    assert waited >= HANDSHAKE_TIMEOUT * 0.8
    limited.wait_log("handshake timeout peer=127.0.0.1:", scaled(5))
    assert "after 0.5s: no request; closing the connection" in limited.log()


def test_half_sent_headers_are_closed_at_the_handshake_deadline(
    limited: SampleProcess, scaled: Callable[[float], float]
) -> None:
    with socket.create_connection(("127.0.0.1", limited.port)) as sock:
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        waited = closed_within(sock, scaled(5))
    assert waited >= HANDSHAKE_TIMEOUT * 0.8
    limited.wait_log("bytes of an incomplete request head; closing the connection", scaled(5))


def test_a_request_sent_in_pieces_within_the_deadline_is_served(
    limited: SampleProcess, scaled: Callable[[float], float]
) -> None:
    with socket.create_connection(("127.0.0.1", limited.port), timeout=scaled(5)) as sock:
        for piece in (b"GET /ping HT", b"TP/1.1\r\nHost: 127.0.0.1\r", b"\nConnection: close\r\n\r", b"\n"):
            sock.sendall(piece)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")


def test_an_open_websocket_outlives_the_handshake_deadline(
    limited: SampleProcess, scaled: Callable[[float], float]
) -> None:
    conn = RawWebSocket(limited.port, scaled(5))
    try:
        assert conn.handshake()[0] == 101
        deadline = time.monotonic() + HANDSHAKE_TIMEOUT * 3  # past the deadline, kept busy below the idle limit
        while time.monotonic() < deadline:
            conn.send(0x1, b"still here")
            assert conn.recv_message() == (0x1, b"still here")
            time.sleep(IDLE_TIMEOUT / 4)
    finally:
        conn.close()


def test_idle_websocket_is_closed_with_1001(limited: SampleProcess, scaled: Callable[[float], float]) -> None:
    conn = RawWebSocket(limited.port, scaled(5))
    try:
        assert conn.handshake()[0] == 101
        conn.send(0x1, b"hello")
        assert conn.recv_message() == (0x1, b"hello")
        started = time.monotonic()
        assert conn.recv_close() == 1001
        assert time.monotonic() - started >= IDLE_TIMEOUT * 0.8
        conn.send(0x8, (1001).to_bytes(2, "big"))
        assert conn.at_eof()
    finally:
        conn.close()
    log = limited.wait_log("code=1001 by=server", scaled(5))
    assert "idle timeout peer=127.0.0.1:" in log and "path=/chat: nothing received for 0.8s; closing with 1001" in log


def test_pings_keep_a_websocket_open(limited: SampleProcess, scaled: Callable[[float], float]) -> None:
    conn = RawWebSocket(limited.port, scaled(5))
    try:
        assert conn.handshake()[0] == 101
        deadline = time.monotonic() + IDLE_TIMEOUT * 2.5
        while time.monotonic() < deadline:
            conn.send(0x9, b"ping")
            _, _, opcode, payload = conn.recv_frame()
            assert (opcode, payload) == (0xA, b"ping")
            time.sleep(IDLE_TIMEOUT / 4)
        conn.send(0x1, b"after pings")
        assert conn.recv_message() == (0x1, b"after pings")
    finally:
        conn.close()


def test_zero_turns_the_limits_off(tmp_path: Path, scaled: Callable[[float], float]) -> None:
    port = free_port()
    log_path = tmp_path / "service.log"
    config = limits_config(port, str(log_path), handshake=0, idle=0)
    service = start_sample(write_config(tmp_path, config), port, log_path, scaled(START_TIMEOUT))
    try:
        silent = socket.create_connection(("127.0.0.1", port))
        conn = RawWebSocket(port, scaled(5))
        assert conn.handshake()[0] == 101
        silent.settimeout(HANDSHAKE_TIMEOUT * 3)  # well past both limits of the other service
        with pytest.raises(socket.timeout):
            silent.recv(1)
        conn.send(0x1, b"still open")
        assert conn.recv_message() == (0x1, b"still open")
        silent.sendall(b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        assert silent.recv(65536).startswith(b"HTTP/1.1 200")
        silent.close()
        conn.close()
        assert http_get(port, "/ping", scaled(5))[0] == 200
    finally:
        service.stop(scaled(10))


def test_defaults_and_keys(tmp_path: Path) -> None:
    """handshake-timeout defaults to 10 s; every websocket-* handler gets idle-timeout, 300 s by default."""
    config = config_dict(free_port(), "@null")
    components = config["components_manager"]["components"]
    components["websocket-broadcast-handler"] = {"path": "/broadcast", "idle-timeout": "1m"}
    loaded = load_config(write_config(tmp_path, config))
    assert loaded.handshake_timeout == 10.0
    assert loaded.idle_timeouts == {"/chat": 300.0, "/broadcast": 60.0}
    components["server"]["listener"]["handshake-timeout"] = "250ms"
    assert load_config(write_config(tmp_path, config)).handshake_timeout == 0.25
