"""The mockserver's own lifecycle: its thread, its port, its sessions."""

from __future__ import annotations

import asyncio
import socket
import threading

import pytest
import websockets

from pytest_wsservice.mockserver import MockServer, MockserverError, MockserverStartError

from .helpers import fetch, fetch_json


def test_start_listens_on_loopback_and_stop_ends_the_thread(scaled):
    mock = MockServer()
    info = mock.start(timeout=scaled(10))
    try:
        assert info.host == "127.0.0.1" and mock.host == "127.0.0.1"
        assert info.port == mock.port > 0
        assert info.base_url == mock.base_url == f"http://127.0.0.1:{info.port}/"
        assert info.url("/auth") == mock.url("auth") == f"http://127.0.0.1:{info.port}/auth"
        assert mock.running
        threads = [t for t in threading.enumerate() if t.name == "wsservice-mockserver"]
        assert len(threads) >= 1
        with socket.create_connection((info.host, info.port), timeout=scaled(5)):
            pass
    finally:
        mock.stop(timeout=scaled(10))
    assert not mock.running
    with pytest.raises(OSError), socket.create_connection((info.host, info.port), timeout=scaled(5)):
        pass
    mock.stop(timeout=scaled(10))  # a second stop is harmless


def test_two_servers_get_two_free_ports(scaled):
    with MockServer() as first, MockServer() as second:
        assert first.port != second.port


def test_a_taken_port_is_a_clear_start_error(scaled):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        mock = MockServer(port=port)
        with pytest.raises(MockserverStartError, match=rf"could not listen on 127\.0\.0\.1:{port}"):
            mock.start(timeout=scaled(10))
        assert not mock.running
        mock.stop(timeout=scaled(10))


def test_start_twice_and_info_before_start_are_errors(scaled):
    mock = MockServer()
    with pytest.raises(MockserverError, match="not running"):
        _ = mock.base_url
    with pytest.raises(MockserverError, match="not running"):
        mock.new_session()
    mock.start(timeout=scaled(10))
    try:
        with pytest.raises(MockserverError, match="already started"):
            mock.start()
    finally:
        mock.stop(timeout=scaled(10))


def test_one_session_at_a_time(server, scaled):
    first = server.new_session()
    with pytest.raises(MockserverError, match="still active"):
        server.new_session()
    assert first.close(timeout=scaled(5)) == []
    second = server.new_session()
    assert server.session is second
    assert second.close(timeout=scaled(5)) == []
    assert server.session is None


@pytest.mark.asyncio
async def test_requests_without_a_session_get_500_and_are_counted(server):
    assert server.session is None
    status, body, _ = await fetch("GET", server.url("/between-tests"))
    assert status == 500 and b"no test is using the mockserver" in body
    assert server.stray_requests[-1] == "GET /between-tests"
    # A testpoint the service still believes enabled is answered as not handled.
    status, answer = await fetch_json("POST", server.url("/testpoint"), json={"name": "x", "data": 1})
    assert (status, answer) == (200, {"data": None, "handled": False})


@pytest.mark.asyncio
async def test_stop_ends_the_active_session_and_its_upstream_connections(scaled):
    mock = MockServer()
    mock.start(timeout=scaled(10))
    session = mock.new_session(default_timeout=scaled(5))
    upstream = session.websocket("/feed")
    async with websockets.connect(session.url("/feed").replace("http", "ws", 1)) as client:
        conn = await upstream.wait_connection()
        await asyncio.to_thread(mock.stop, scaled(10))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(client.recv(), scaled(5))
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    assert session.closed and conn.closed and conn.close_code == 1001
    assert not mock.running
