"""The /chat echo as a well-behaved client sees it, and /ping (websockets client, real process)."""

from __future__ import annotations

import asyncio
import os

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.sample_service.sample_helpers import http_get


def open_chat(service, scaled):
    return connect(service.ws_url, compression=None, open_timeout=scaled(10), close_timeout=scaled(10))


@pytest.mark.asyncio
async def test_text_comes_back_as_text(sample_service, scaled):
    """A text message comes back as the same text."""
    async with open_chat(sample_service, scaled) as ws:
        await ws.send("hello")
        assert await asyncio.wait_for(ws.recv(), scaled(5)) == "hello"


@pytest.mark.asyncio
async def test_binary_comes_back_as_binary(sample_service, scaled):
    """A binary message comes back as the same bytes, not as text."""
    async with open_chat(sample_service, scaled) as ws:
        await ws.send(b"\x00\xffhello")
        assert await asyncio.wait_for(ws.recv(), scaled(5)) == b"\x00\xffhello"


@pytest.mark.asyncio
async def test_empty_and_unicode_messages_echo(sample_service, scaled):
    """An empty text, an empty binary and a non-ASCII text message all come back unchanged."""
    async with open_chat(sample_service, scaled) as ws:
        for message in ("", b"", "привет, 世界 🙂"):
            await ws.send(message)
            assert await asyncio.wait_for(ws.recv(), scaled(5)) == message


@pytest.mark.asyncio
async def test_messages_come_back_in_order(sample_service, scaled):
    """Many messages sent without waiting come back in the order they were sent, each with its type."""
    sent = [f"text {i}" if i % 2 else f"binary {i}".encode() for i in range(200)]
    async with open_chat(sample_service, scaled) as ws:
        for message in sent:
            await ws.send(message)
        received = [await asyncio.wait_for(ws.recv(), scaled(5)) for _ in sent]
    assert received == sent


@pytest.mark.asyncio
async def test_fragmented_message_is_echoed_once_whole(sample_service, scaled):
    """A message the client sends in three fragments comes back once, whole."""
    async with open_chat(sample_service, scaled) as ws:
        await ws.send(["frag", "ment", "ed"])
        assert await asyncio.wait_for(ws.recv(), scaled(5)) == "fragmented"
        await ws.send("next")
        assert await asyncio.wait_for(ws.recv(), scaled(5)) == "next"


@pytest.mark.asyncio
async def test_long_message_is_echoed_whole_in_fragments(sample_service, scaled):
    """A message longer than fragment-size (1000) comes back whole; the frames are checked in test_sample_protocol."""
    payload = os.urandom(3500)
    async with open_chat(sample_service, scaled) as ws:
        await ws.send(payload)
        assert await asyncio.wait_for(ws.recv(), scaled(5)) == payload


@pytest.mark.asyncio
async def test_message_of_exactly_max_remote_payload_is_echoed(sample_service, scaled):
    """A message of exactly max-remote-payload (4096) bytes is accepted and echoed."""
    payload = "x" * 4096
    async with open_chat(sample_service, scaled) as ws:
        await ws.send(payload)
        assert await asyncio.wait_for(ws.recv(), scaled(5)) == payload


@pytest.mark.asyncio
async def test_message_over_max_remote_payload_closes_with_1009(sample_service, scaled):
    """A message one byte over max-remote-payload makes the service close with 1009."""
    async with open_chat(sample_service, scaled) as ws:
        await ws.send("x" * 4097)
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), scaled(5))
    assert ws.protocol.close_rcvd is not None and ws.protocol.close_rcvd.code == 1009


@pytest.mark.asyncio
@pytest.mark.parametrize("code", [1000, 1001, 1003, 1008, 1011, 3000, 4000, 4999])
async def test_client_close_code_is_echoed(sample_service, scaled, code):
    """When the client closes with a status code, the service closes with the same code."""
    async with open_chat(sample_service, scaled) as ws:
        await ws.send("bye")
        assert await asyncio.wait_for(ws.recv(), scaled(5)) == "bye"
        await asyncio.wait_for(ws.close(code=code, reason="done"), scaled(5))
    assert ws.protocol.close_rcvd is not None and ws.protocol.close_rcvd.code == code


@pytest.mark.asyncio
async def test_ping_gets_pong_with_same_payload(sample_service, scaled):
    """A ping with a payload is answered by a pong carrying the same payload."""
    async with open_chat(sample_service, scaled) as ws:
        pong = await ws.ping(b"are you there")
        await asyncio.wait_for(pong, scaled(5))  # websockets matches the pong by its payload
        await ws.send("still echoing")
        assert await asyncio.wait_for(ws.recv(), scaled(5)) == "still echoing"


@pytest.mark.asyncio
async def test_many_connections_stay_isolated(sample_service, scaled):
    """Twenty clients chatting at once each get back exactly their own messages."""

    async def chat(n: int) -> list[str]:
        async with open_chat(sample_service, scaled) as ws:
            for i in range(30):
                await ws.send(f"client {n} message {i}")
            return [await asyncio.wait_for(ws.recv(), scaled(5)) for _ in range(30)]

    results = await asyncio.gather(*(chat(n) for n in range(20)))
    for n, received in enumerate(results):
        assert received == [f"client {n} message {i}" for i in range(30)]


def test_ping_answers_200(sample_service, scaled):
    """GET /ping answers 200 while the service is listening."""
    status, _, _ = http_get(sample_service.port, "/ping", timeout=scaled(5))
    assert status == 200


def test_plain_get_on_chat_gets_400_not_a_websocket_request(sample_service, scaled):
    """A plain HTTP GET to /chat, without the upgrade, gets 400 with the body 'Not a websocket request'."""
    status, _, body = http_get(sample_service.port, "/chat", timeout=scaled(5))
    assert (status, body) == (400, b"Not a websocket request")


def test_connections_are_logged_with_peer_path_and_code(sample_service, raw_ws, scaled):
    """Opening and closing a connection each log one line with the peer, the path and the close code."""
    conn = raw_ws(sample_service.port)
    peer_port = conn.sock.getsockname()[1]
    conn.send(0x8, (4321).to_bytes(2, "big"))
    assert conn.recv_close() == 4321
    peer = f"peer=127.0.0.1:{peer_port} path=/chat"
    log = sample_service.wait_log(f"connection closed {peer} code=4321", scaled(5))
    opened = [line for line in log.splitlines() if f"connection opened {peer}" in line]
    assert len(opened) == 1
    assert " INFO sample_service.chat: connection opened" in opened[0]
