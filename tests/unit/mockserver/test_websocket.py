"""WebSocket upstreams: the service's connections, both directions, closing and the record."""

from __future__ import annotations

import asyncio
import itertools
import re

import pytest
import websockets

from pytest_wsservice.mockserver import MockserverTimeout, UpstreamClosedError

pytestmark = pytest.mark.asyncio


def ws_url(session, path: str) -> str:
    return session.url(path).replace("http://", "ws://", 1)


async def test_messages_flow_both_ways_in_order(session, scaled):
    upstream = session.websocket("/feed")
    async with websockets.connect(ws_url(session, "/feed?room=7"), additional_headers={"X-User": "ann"}) as client:
        conn = await upstream.wait_connection()
        assert conn.request.path == "/feed" and conn.request.query["room"] == "7"
        assert conn.request.headers["X-User"] == "ann" and conn.request.method == "GET"
        for index in range(5):
            await client.send(f"text {index}")
        await client.send(b"\x00\xff")
        assert [await conn.recv() for _ in range(5)] == [f"text {index}" for index in range(5)]
        assert await conn.recv() == b"\x00\xff"
        await conn.send("down")
        await conn.send(b"\x01")
        await conn.send(bytearray(b"\x02"))
        assert [await asyncio.wait_for(client.recv(), scaled(5)) for _ in range(3)] == ["down", b"\x01", b"\x02"]
        assert not conn.closed and conn.close_code is None
    frames = conn.frames
    assert [(f.outgoing, f.kind) for f in frames[-4:]] == [
        (True, "text"),
        (True, "binary"),
        (True, "binary"),
        (False, "close"),
    ]
    assert all(a.offset <= b.offset for a, b in itertools.pairwise(frames))


async def test_two_clients_get_two_connections(session, scaled):
    upstream = session.websocket("/feed")
    assert session.websocket("feed") is upstream
    async with (
        websockets.connect(ws_url(session, "/feed")) as first,
        websockets.connect(ws_url(session, "/feed")) as second,
    ):
        one = await upstream.wait_connection()
        two = await upstream.wait_connection()
        assert (one.number, two.number, one.name) == (1, 2, "/feed #1")
        assert upstream.times_connected == 2 and upstream.connections == [one, two]
        await first.send("from first")
        await second.send("from second")
        assert await one.recv() == "from first"
        assert await two.recv() == "from second"


async def test_waits_time_out_with_what_they_waited_for(session):
    upstream = session.websocket("/feed")
    with pytest.raises(
        MockserverTimeout, match=r"no WebSocket connection to upstream /feed within 0.1 seconds \(0 before\)"
    ):
        await upstream.wait_connection(timeout=0.1)
    async with websockets.connect(ws_url(session, "/feed")):
        conn = await upstream.wait_connection()
        with pytest.raises(
            MockserverTimeout, match=r"no message from the service on upstream connection /feed #1 within 0.1 seconds"
        ):
            await conn.recv(timeout=0.1)


async def test_the_service_closing_ends_recv_after_its_messages(session, scaled):
    upstream = session.websocket("/feed")
    async with websockets.connect(ws_url(session, "/feed")) as client:
        conn = await upstream.wait_connection()
        await client.send("last words")
        await client.close(4002, "going")
    assert await conn.recv() == "last words"
    for _ in range(2):  # every later recv says so too
        with pytest.raises(
            UpstreamClosedError, match=r"/feed #1: it was closed by the service with code 4002"
        ) as closed:
            await conn.recv()
    assert closed.value.code == 4002
    assert conn.closed and conn.close_code == 4002
    with pytest.raises(UpstreamClosedError, match="cannot send on"):
        await conn.send("too late")
    await conn.close()  # already closed: nothing happens
    assert "service → mock  close  code 4002 reason 'going'" in str(conn)


async def test_the_mock_closing_reaches_the_service(session, scaled):
    upstream = session.websocket("/feed")
    async with websockets.connect(ws_url(session, "/feed")) as client:
        conn = await upstream.wait_connection()
        await conn.close(4000, "bye")
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(client.recv(), scaled(5))
    assert closed.value.rcvd is not None and (closed.value.rcvd.code, closed.value.rcvd.reason) == (4000, "bye")
    assert conn.closed and conn.close_code == 4000
    with pytest.raises(UpstreamClosedError, match="closed by the mock with code 4000"):
        await conn.recv()


async def test_closing_the_session_closes_open_connections_with_1001(server, scaled):
    session = server.new_session(default_timeout=scaled(5))
    upstream = session.websocket("/feed")
    async with websockets.connect(ws_url(session, "/feed")) as client:
        conn = await upstream.wait_connection()
        assert await asyncio.to_thread(session.close, scaled(10)) == []
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(client.recv(), scaled(5))
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    assert conn.close_code == 1001


async def test_send_takes_only_text_or_bytes(session):
    upstream = session.websocket("/feed")
    async with websockets.connect(ws_url(session, "/feed")):
        conn = await upstream.wait_connection()
        with pytest.raises(TypeError, match="send\\(\\) takes str or bytes, not dict"):
            await conn.send({"a": 1})  # type: ignore[arg-type]


async def test_subprotocols_are_accepted_when_registered(session):
    upstream = session.websocket("/proto", protocols=["chat.v2"])
    async with websockets.connect(ws_url(session, "/proto"), subprotocols=["chat.v2"]) as client:
        assert client.subprotocol == "chat.v2"
        conn = await upstream.wait_connection()
        assert conn.request.headers["Sec-WebSocket-Protocol"] == "chat.v2"


async def test_the_record_is_readable_and_bounded(session, scaled):
    upstream = session.websocket("/feed")
    async with websockets.connect(ws_url(session, "/feed")) as client:
        conn = await upstream.wait_connection()
        await client.send("x" * 1000)
        assert await conn.recv() == "x" * 1000
        for index in range(50):
            await conn.send(f"m{index}")
        for _ in range(50):
            await asyncio.wait_for(client.recv(), scaled(5))
        await conn.close(1000)
    text = session.record()
    lines = text.splitlines()
    assert re.fullmatch(
        r"upstream /feed #1: opened \+\d+\.\d{3}s, closed by the mock with code 1000, 52 frame\(s\)", lines[0]
    )
    assert lines[1] == "  … 12 earlier frame(s) not shown"
    assert len(lines) == 2 + 40
    assert re.fullmatch(r"  +\+\d+\.\d{3}s  mock → service  text   'm11'", lines[2])
    assert lines[-1].endswith("mock → service  close  code 1000")
    first = str(conn.frames[0])
    assert "service → mock  text   'xxxx" in first and first.endswith("… (1000 chars)") and len(first) < 160
    assert "GET /feed → WebSocket upstream /feed #1" in session.report()
    assert upstream.record() == text
