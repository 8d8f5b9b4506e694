"""TcpGate's connections: counting, waiting, closing, accepting, reset, life cycle and loops."""

from __future__ import annotations

import asyncio
import threading

import pytest

from pytest_wsservice.chaos import GateError, GateTimeout, TcpGate
from pytest_wsservice.errors import WsServiceError
from tests.unit.chaos.servers import EchoServer

QUIET = 0.3


@pytest.mark.asyncio
async def test_count_and_wait_for_connections(gate, connect):
    assert gate.connections_count() == 0
    await connect()
    await connect()
    await gate.wait_for_connections(count=2)
    assert gate.connections_count() == 2
    with pytest.raises(GateTimeout, match=r"count=3\): 2 connection\(s\) open") as caught:
        await gate.wait_for_connections(count=3, timeout=0.2)
    assert isinstance(caught.value, TimeoutError)
    assert isinstance(caught.value, WsServiceError)
    assert "to_server pass" in str(caught.value)


@pytest.mark.asyncio
async def test_sockets_close_closes_both_sides(gate, echo_server, connect, scaled):
    first, second = await connect(), await connect()
    await gate.wait_for_connections(count=2)
    await gate.sockets_close(count=1)
    assert gate.connections_count() == 1
    assert await first.expect_eof() == b""
    await gate.sockets_close()
    assert gate.connections_count() == 0
    assert await second.expect_eof() == b""
    echo_server.wait_closed(2, scaled(5))
    # The gate still accepts.
    third = await connect()
    await third.send(b"x")
    assert await third.read(1) == b"x"


@pytest.mark.asyncio
async def test_stop_accepting_leaves_new_connections_in_the_backlog(gate, echo_server, connect, scaled):
    await gate.stop_accepting()
    client = await connect()  # the kernel completes the handshake; the gate does not accept it
    await client.send(b"early")
    await client.expect_silence(scaled(QUIET))
    assert gate.connections_count() == 0
    assert echo_server.accepted == 0
    gate.start_accepting()
    assert await client.read(5) == b"early"
    assert gate.connections_count() == 1


@pytest.mark.asyncio
async def test_reset_restores_pass_through_and_closes_connections(gate, echo_server, connect):
    client = await connect()
    await gate.wait_for_connections()
    gate.to_server_drop()
    gate.to_client_noop()
    await gate.stop_accepting()
    gate.reset()
    assert gate.connections_count() == 0
    assert await client.expect_eof() == b""
    assert "accepting; to_server pass, to_client pass; 0 open" in gate.info()
    fresh = await connect()
    await fresh.send(b"ok")
    assert await fresh.read(2) == b"ok"


@pytest.mark.asyncio
async def test_half_close_is_forwarded(gate, echo_server, connect, scaled):
    client = await connect()
    await client.send(b"last words")
    client.writer.write_eof()
    # The server sees the end of the stream after the bytes, and closes; the client gets all.
    assert await client.expect_eof() == b"last words"
    echo_server.wait_closed(1, scaled(5))
    await asyncio.wait_for(_until(lambda: gate.connections_count() == 0), scaled(5))


async def _until(predicate) -> None:  # polls a counter the gate keeps on its own thread
    while not predicate():
        await asyncio.sleep(0.01)


@pytest.mark.asyncio
async def test_target_down_closes_the_client_and_says_so(scaled):
    server = EchoServer()
    port = server.port
    server.stop()
    with TcpGate("127.0.0.1", port, timeout=scaled(5)) as gate:
        reader, writer = await asyncio.open_connection(gate.host, gate.port)
        assert await asyncio.wait_for(reader.read(), scaled(5)) == b""
        writer.close()
        assert "1 could not reach the target" in gate.info()
        assert "Connection refused" in gate.info()


def test_listens_on_loopback_only():
    with pytest.raises(GateError, match=r"loopback only, not on '0\.0\.0\.0'"):
        TcpGate("127.0.0.1", 1, host="0.0.0.0")


def test_methods_of_a_stopped_gate_say_start_it():
    gate = TcpGate("127.0.0.1", 1)
    with pytest.raises(GateError, match="is not running; start"):
        gate.to_server_drop()
    with pytest.raises(GateError, match="has not started"):
        gate.get_sockname_for_clients()


def test_port_in_use_is_a_clear_error(echo_server):
    with pytest.raises(GateError, match=rf"cannot listen on 127\.0\.0\.1:{echo_server.port}"):
        TcpGate("127.0.0.1", 1, port=echo_server.port).start()


def test_start_stop_is_sync_idempotent_and_leaves_no_thread(echo_server):
    before = set(threading.enumerate())
    gate = TcpGate("127.0.0.1", echo_server.port, name="lifecycle")
    gate.start()
    port = gate.port
    assert gate.get_sockname_for_clients() == ("127.0.0.1", port)
    assert any(thread.name == "lifecycle" for thread in threading.enumerate())
    gate.stop()
    gate.stop()
    assert set(threading.enumerate()) <= before
    # Started again, it listens on the same port.
    gate.start()
    assert gate.port == port
    gate.stop()


def test_used_from_sync_code_without_any_loop(gate, echo_server):
    import socket

    with socket.create_connection((gate.host, gate.port), timeout=5) as sock:
        sock.sendall(b"sync")
        assert sock.recv(4) == b"sync"
        assert gate.connections_count() == 1
        gate.to_client_corrupt_data()
        sock.sendall(b"\x00")
        assert sock.recv(1) == b"\xff"


@pytest.fixture(scope="module")
def module_gate():
    server = EchoServer()
    with TcpGate("127.0.0.1", server.port) as started:
        yield started
    server.stop()


@pytest.mark.parametrize("round_", [1, 2])
@pytest.mark.asyncio(loop_scope="function")
async def test_one_gate_serves_tests_on_different_loops(module_gate, round_):
    # A module-wide gate, awaited from a new function-scoped loop in each round.
    module_gate.reset()
    reader, writer = await asyncio.open_connection(module_gate.host, module_gate.port)
    await module_gate.wait_for_connections(count=1, timeout=5)
    writer.write(b"round %d" % round_)
    assert await asyncio.wait_for(reader.readexactly(7), 5) == b"round %d" % round_
    await module_gate.sockets_close()
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()


@pytest.mark.asyncio(loop_scope="module")
async def test_module_scoped_loop(module_gate):
    module_gate.reset()
    reader, writer = await asyncio.open_connection(module_gate.host, module_gate.port)
    await module_gate.wait_for_connections(timeout=5)
    await module_gate.stop_accepting()
    module_gate.start_accepting()
    writer.write(b"m")
    assert await asyncio.wait_for(reader.readexactly(1), 5) == b"m"
    writer.close()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("ws://127.0.0.1:8080/chat?room=1", "ws://127.0.0.1:{port}/chat?room=1"),
        ("https://localhost:8443/prefix/ping", "https://127.0.0.1:{port}/prefix/ping"),
        ("http://user:pw@[::1]:80/", "http://user:pw@127.0.0.1:{port}/"),
    ],
)
def test_rebase_points_a_url_at_the_gate(gate, url, expected):
    assert gate.rebase(url) == expected.format(port=gate.port)


@pytest.mark.asyncio
async def test_listens_on_ipv6_loopback(echo_server, scaled):
    with TcpGate("127.0.0.1", echo_server.port, host="::1", timeout=scaled(5)) as gate:
        assert gate.host == "::1"
        assert gate.rebase("ws://127.0.0.1:1/chat") == f"ws://[::1]:{gate.port}/chat"
        reader, writer = await asyncio.open_connection("::1", gate.port)
        writer.write(b"six")
        assert await asyncio.wait_for(reader.readexactly(3), scaled(5)) == b"six"
        writer.close()


@pytest.mark.asyncio
async def test_async_with_as_in_pytest_userver(echo_server):
    async with TcpGate("127.0.0.1", echo_server.port) as gate:
        reader, writer = await asyncio.open_connection(gate.host, gate.port)
        writer.write(b"a")
        assert await asyncio.wait_for(reader.readexactly(1), 5) == b"a"
        writer.close()
    assert "stopped" in gate.info()


@pytest.mark.asyncio
async def test_info_says_why_the_last_connections_closed(gate, connect):
    client = await connect()
    await gate.wait_for_connections()
    gate.to_client_limit_time(0.05, 0)
    await client.send(b"x")
    assert await client.expect_eof() in (b"", b"x")
    assert "limit_time: the connection lived" in gate.info()
