"""to_server_cut_mid_frame / to_client_cut_mid_frame, against websockets' threaded echo server.

The clients turn permessage-deflate off, so that a message's frame carries the message's bytes
(compressed, even an empty message has a payload: the cut would fall in it).
"""

from __future__ import annotations

import asyncio
import base64
import os

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError

from tests.unit.chaos.servers import WebSocketEchoServer

pytestmark = pytest.mark.asyncio

QUIET = 0.3


def url(gate) -> str:
    return f"ws://{gate.host}:{gate.port}/"


async def raw_handshake(gate, timeout: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open a WebSocket by hand, to see the exact bytes that come back."""
    reader, writer = await asyncio.open_connection(gate.host, gate.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET / HTTP/1.1\r\nHost: {gate.host}:{gate.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    assert head.startswith(b"HTTP/1.1 101")
    return reader, writer


def masked_text_frame(payload: bytes) -> bytes:
    assert len(payload) < 126
    return bytes([0x81, 0x80 | len(payload)]) + b"\x00\x00\x00\x00" + payload  # a zero mask leaves it as is


async def test_to_client_cut_delivers_header_and_half_the_payload(ws_gate, ws_server, scaled):
    reader, writer = await raw_handshake(ws_gate, scaled(5))
    ws_gate.to_client_cut_mid_frame()
    writer.write(masked_text_frame(b"x" * 100))
    received = await asyncio.wait_for(reader.read(), scaled(5))  # up to the end of the stream
    assert received == bytes([0x81, 100]) + b"x" * 50
    ws_server.wait_for(lambda: ws_server.messages == ["x" * 100], scaled(5), "the message reached the server")
    writer.close()


async def test_to_client_cut_closes_with_1006(ws_gate, ws_server, scaled):
    async with connect(url(ws_gate), open_timeout=scaled(5), compression=None) as ws:
        await ws.send("whole")
        assert await asyncio.wait_for(ws.recv(), scaled(5)) == "whole"
        ws_gate.to_client_cut_mid_frame()
        await ws.send("cut me")
        with pytest.raises(ConnectionClosedError) as caught:
            await asyncio.wait_for(ws.recv(), scaled(5))
        assert caught.value.rcvd is None
        assert ws.close_code == 1006


async def test_to_server_cut_leaves_the_server_with_half_a_frame(ws_gate, ws_server, scaled):
    async with connect(url(ws_gate), open_timeout=scaled(5), compression=None) as ws:
        await ws.send("first")
        assert await asyncio.wait_for(ws.recv(), scaled(5)) == "first"
        ws_gate.to_server_cut_mid_frame()
        await ws.send("second" * 10)
        with pytest.raises(ConnectionClosedError):
            await asyncio.wait_for(ws.recv(), scaled(5))
        assert ws.close_code == 1006
    ws_server.wait_for(lambda: ws_server.close_codes == [1006], scaled(5), "the server saw the connection cut")
    assert ws_server.messages == ["first"]


async def test_control_frames_pass_and_the_next_data_frame_is_cut(ws_gate, ws_server, scaled):
    async with connect(url(ws_gate), open_timeout=scaled(5), compression=None) as ws:
        ws_gate.to_server_cut_mid_frame()
        ws_gate.to_client_cut_mid_frame()
        pong = await ws.ping(b"still there?")
        await asyncio.wait_for(pong, scaled(5))
        await ws.send(b"")  # an empty data frame passes whole, and its echo too
        assert await asyncio.wait_for(ws.recv(), scaled(5)) == b""
        await ws.send(b"payload")
        with pytest.raises(ConnectionClosedError):
            await asyncio.wait_for(ws.recv(), scaled(5))
    assert ws_server.messages == [b""]


@pytest.mark.parametrize("direction", ["to_server", "to_client"])
async def test_cut_without_close_pauses_mid_frame_until_pass(
    ws_gate, ws_server: WebSocketEchoServer, direction, scaled
):
    async with connect(url(ws_gate), open_timeout=scaled(5), compression=None) as ws:
        getattr(ws_gate, f"{direction}_cut_mid_frame")(close=False)
        await ws.send("paused" * 20)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(ws.recv(), scaled(QUIET))
        assert ws_server.messages == ([] if direction == "to_server" else ["paused" * 20])
        getattr(ws_gate, f"{direction}_pass")()
        assert await asyncio.wait_for(ws.recv(), scaled(5)) == "paused" * 20
        await ws.send("after")
        assert await asyncio.wait_for(ws.recv(), scaled(5)) == "after"


async def test_plain_tcp_through_a_cutting_gate_passes(gate, connect):
    client = await connect()
    gate.to_server_cut_mid_frame()
    gate.to_client_cut_mid_frame()
    await client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\x81\x05hello")
    assert await client.read(34) == b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\x81\x05hello"
