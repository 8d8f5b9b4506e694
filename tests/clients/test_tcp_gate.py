"""The tcp_gate fixture against the real sample service: every fault, both ways, through websocket_client."""

from __future__ import annotations

import asyncio
import time

import pytest
from websockets.exceptions import ConnectionClosed, ConnectionClosedError

from pytest_wsservice import ServiceRequestTimeout, WebSocketTimeout
from pytest_wsservice.chaos import GateTimeout

QUIET = 0.3  # seconds of silence that show bytes are held back


async def test_via_goes_through_the_gate_and_without_it_straight_to_the_service(websocket_client, tcp_gate):
    async with websocket_client.get("chat", via=tcp_gate) as chat:
        await chat.send("through")
        assert await chat.recv() == "through"
        assert tcp_gate.connections_count() == 1
        async with websocket_client.get("chat") as direct:
            await direct.send("around")
            assert await direct.recv() == "around"
            assert tcp_gate.connections_count() == 1


async def test_a_direct_connection_ignores_a_gate_that_drops_everything(websocket_client, tcp_gate, scaled):
    tcp_gate.to_server_drop()
    tcp_gate.to_client_drop()
    async with websocket_client.get("chat") as chat:
        await chat.send("untouched")
        assert await chat.recv() == "untouched"
    with pytest.raises(WebSocketTimeout):  # the handshake through the gate goes nowhere
        async with websocket_client.get("chat", via=tcp_gate, timeout=scaled(QUIET)):
            pass


@pytest.mark.parametrize("direction", ["to_server", "to_client"])
async def test_noop_holds_the_message_until_pass(websocket_client, tcp_gate, direction, scaled):
    async with websocket_client.get("chat", via=tcp_gate) as chat:
        getattr(tcp_gate, f"{direction}_noop")()
        await chat.send("held")
        with pytest.raises(WebSocketTimeout):
            await chat.recv(timeout=scaled(QUIET))
        getattr(tcp_gate, f"{direction}_pass")()
        assert await chat.recv() == "held"


@pytest.mark.parametrize("direction", ["to_server", "to_client"])
async def test_drop_loses_the_message_and_keeps_the_connection(websocket_client, tcp_gate, direction, scaled):
    async with websocket_client.get("chat", via=tcp_gate) as chat:
        getattr(tcp_gate, f"{direction}_drop")()
        await chat.send("lost")
        with pytest.raises(WebSocketTimeout):
            await chat.recv(timeout=scaled(QUIET))
        getattr(tcp_gate, f"{direction}_pass")()
        await chat.send("kept")
        assert await chat.recv() == "kept"


@pytest.mark.parametrize("direction", ["to_server", "to_client"])
async def test_delay(websocket_client, tcp_gate, direction):
    async with websocket_client.get("chat", via=tcp_gate) as chat:
        getattr(tcp_gate, f"{direction}_delay")(0.3)
        started = time.monotonic()
        await chat.send("late")
        assert await chat.recv() == "late"
        assert time.monotonic() - started >= 0.3


@pytest.mark.parametrize("direction", ["to_server", "to_client"])
async def test_close_on_data_closes_with_1006(websocket_client, tcp_gate, direction):
    async with websocket_client.get("chat", via=tcp_gate) as chat:
        getattr(tcp_gate, f"{direction}_close_on_data")()
        await chat.send("bye")
        with pytest.raises(ConnectionClosedError):
            await chat.recv()
        assert chat.close_code == 1006
    assert tcp_gate.connections_count() == 0


@pytest.mark.parametrize("direction", ["to_server", "to_client"])
async def test_corrupt_data_breaks_the_protocol(websocket_client, tcp_gate, direction):
    async with websocket_client.get("chat", via=tcp_gate) as chat:
        getattr(tcp_gate, f"{direction}_corrupt_data")()
        await chat.send("garbled")
        # The flipped header has its RSV bits set: whoever reads it fails the connection.
        with pytest.raises(ConnectionClosed):
            await chat.recv()
        assert chat.close_code != 1000


@pytest.mark.parametrize("direction", ["to_server", "to_client"])
async def test_limit_bps(websocket_client, tcp_gate, direction):
    async with websocket_client.get("chat", via=tcp_gate) as chat:
        getattr(tcp_gate, f"{direction}_limit_bps")(1000)
        started = time.monotonic()
        await chat.send("x" * 500)  # 506 bytes on the wire from the client, 504 back
        assert await chat.recv() == "x" * 500
        assert time.monotonic() - started >= 0.45


@pytest.mark.parametrize("direction", ["to_server", "to_client"])
async def test_limit_time_closes_the_connection_when_its_time_is_up(websocket_client, tcp_gate, direction):
    async with websocket_client.get("chat", via=tcp_gate) as chat:
        getattr(tcp_gate, f"{direction}_limit_time")(0.3, 0.0)
        started = time.monotonic()
        await chat.send("meanwhile")
        assert await chat.recv() == "meanwhile"  # bytes pass until then
        with pytest.raises(ConnectionClosedError):
            await chat.recv()
        assert time.monotonic() - started >= 0.3
        assert chat.close_code == 1006


@pytest.mark.parametrize("direction", ["to_server", "to_client"])
async def test_smaller_parts(websocket_client, tcp_gate, direction):
    async with websocket_client.get("chat", via=tcp_gate) as chat:
        getattr(tcp_gate, f"{direction}_smaller_parts")(4, sleep_per_packet=0.02)
        started = time.monotonic()
        await chat.send("y" * 40)  # at least 42 bytes on the wire: 11 pieces, 20 ms apart
        assert await chat.recv() == "y" * 40
        assert time.monotonic() - started >= 0.2


@pytest.mark.parametrize("direction", ["to_server", "to_client"])
async def test_concat_packets(websocket_client, tcp_gate, direction, scaled):
    async with websocket_client.get("chat", via=tcp_gate) as chat:
        getattr(tcp_gate, f"{direction}_concat_packets")(100)
        await chat.send("a")
        with pytest.raises(WebSocketTimeout):
            await chat.recv(timeout=scaled(QUIET))
        await chat.send("b" * 200)
        assert await chat.recv() == "a"
        assert await chat.recv() == "b" * 200


async def test_to_server_limit_bytes_closes_every_connection(websocket_client, tcp_gate):
    through = {"path": "chat", "via": tcp_gate}
    async with websocket_client.get(**through) as first, websocket_client.get(**through) as other:
        await tcp_gate.wait_for_connections(count=2)
        tcp_gate.to_server_limit_bytes(100)
        await first.send("z" * 200)
        for chat in (first, other):
            with pytest.raises(ConnectionClosedError):
                await chat.recv()
            assert chat.close_code == 1006


async def test_to_client_limit_bytes_cuts_the_echo(websocket_client, tcp_gate):
    async with websocket_client.get("chat", via=tcp_gate) as chat:
        tcp_gate.to_client_limit_bytes(5)
        await chat.send("hello world")
        with pytest.raises(ConnectionClosedError):
            await chat.recv()
        assert chat.close_code == 1006


async def test_to_client_substitute_rewrites_the_echo(websocket_client, tcp_gate):
    async with websocket_client.get("chat", via=tcp_gate) as chat:
        tcp_gate.to_client_substitute("secret", "public")  # same length: the frame stays valid
        await chat.send("my secret")
        assert await chat.recv() == "my public"


async def test_to_server_substitute_rewrites_the_handshake(websocket_client, tcp_gate):
    # Frames from the client are masked; the request line is not.
    tcp_gate.to_server_substitute(r"^GET /elsewhere ", "GET /chat ")
    async with websocket_client.get("elsewhere", via=tcp_gate) as chat:
        await chat.send("rerouted")
        assert await chat.recv() == "rerouted"


@pytest.mark.parametrize("direction", ["to_server", "to_client"])
async def test_cut_mid_frame_closes_with_1006_and_the_service_carries_on(websocket_client, tcp_gate, direction):
    async with websocket_client.get("chat", via=tcp_gate) as chat:
        await chat.send("whole")
        assert await chat.recv() == "whole"
        getattr(tcp_gate, f"{direction}_cut_mid_frame")()
        await chat.ping()  # control frames pass
        await chat.send("half of this")
        with pytest.raises(ConnectionClosedError):
            await chat.recv()
        assert chat.close_code == 1006
    async with websocket_client.get("chat") as chat:
        await chat.send("still serving")
        assert await chat.recv() == "still serving"


@pytest.mark.parametrize("direction", ["to_server", "to_client"])
async def test_cut_mid_frame_without_close_pauses_the_frame(websocket_client, tcp_gate, direction, scaled):
    async with websocket_client.get("chat", via=tcp_gate) as chat:
        getattr(tcp_gate, f"{direction}_cut_mid_frame")(close=False)
        await chat.send("paused" * 10)
        with pytest.raises(WebSocketTimeout):
            await chat.recv(timeout=scaled(QUIET))
        getattr(tcp_gate, f"{direction}_pass")()
        assert await chat.recv() == "paused" * 10


async def test_connections_count_wait_and_sockets_close(websocket_client, tcp_gate):
    async with (
        websocket_client.get("chat", via=tcp_gate) as first,
        websocket_client.get("chat", via=tcp_gate) as second,
    ):
        await tcp_gate.wait_for_connections(count=2)
        assert tcp_gate.connections_count() == 2
        with pytest.raises(GateTimeout, match="2 connection"):
            await tcp_gate.wait_for_connections(count=3, timeout=0.2)
        await tcp_gate.sockets_close(count=1)
        assert tcp_gate.connections_count() == 1
        with pytest.raises(ConnectionClosedError):
            await first.recv()
        await second.send("survivor")
        assert await second.recv() == "survivor"


async def test_stop_and_start_accepting(websocket_client, tcp_gate, scaled):
    await tcp_gate.stop_accepting()
    with pytest.raises(WebSocketTimeout):  # TCP connects (the kernel's backlog), the handshake hangs
        async with websocket_client.get("chat", via=tcp_gate, timeout=scaled(QUIET)):
            pass
    tcp_gate.start_accepting()
    async with websocket_client.get("chat", via=tcp_gate) as chat:
        await chat.send("accepted")
        assert await chat.recv() == "accepted"


async def test_service_client_through_the_gate(service_client, tcp_gate, scaled):
    response = await service_client.get("/ping", via=tcp_gate)
    assert response.status == 200
    tcp_gate.to_server_drop()
    with pytest.raises(ServiceRequestTimeout):
        await service_client.get("/ping", via=tcp_gate, timeout=scaled(QUIET))
    assert (await service_client.get("/ping")).status == 200  # straight to the service


@pytest.mark.asyncio(loop_scope="module")
async def test_works_on_a_module_scoped_loop(websocket_client, tcp_gate):
    async with websocket_client.get("chat", via=tcp_gate) as chat:
        tcp_gate.to_client_delay(0.05)
        await chat.send("module loop")
        assert await asyncio.wait_for(chat.recv(), 5) == "module loop"


def test_works_from_a_sync_test(tcp_gate, service_handle):
    import socket

    assert tcp_gate.target == (service_handle.host, service_handle.port)
    with socket.create_connection((tcp_gate.host, tcp_gate.port), timeout=5) as sock:
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert sock.recv(12) == b"HTTP/1.1 200"
