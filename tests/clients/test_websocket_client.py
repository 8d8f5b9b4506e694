"""The ``websocket_client`` fixture's own features, against the sample service.

Where the sample service cannot show a feature (what exactly goes on the wire, a peer
that never answers or never reads), a small loopback peer started by the test stands in
for the far end; the client under test is the real one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator

import pytest
import websockets
from websockets.asyncio.client import connect as raw_connect
from websockets.asyncio.server import serve as raw_serve
from websockets.exceptions import ConnectionClosedError
from yarl import URL

from pytest_wsservice import (
    WebSocketClient,
    WebSocketConnection,
    WebSocketHandshakeError,
    WebSocketMessageTypeError,
    WebSocketTimeout,
)


@contextlib.asynccontextmanager
async def loopback_peer(handle) -> AsyncIterator[URL]:
    """Run ``handle(reader, writer)`` for each TCP connection to a loopback port; yield its base URL."""
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        yield URL(f"http://127.0.0.1:{port}/")
    finally:
        server.close()
        await server.wait_closed()


async def read_request_head(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


# ------------------------------------------------------------------ the connection


async def test_connection_is_a_websockets_client_connection(websocket_client):
    """The connection is a websockets ClientConnection, so userver-style tests run unchanged."""
    async with websocket_client.get("chat") as chat:
        assert isinstance(chat, websockets.asyncio.client.ClientConnection)
        assert isinstance(chat, WebSocketConnection)
        assert chat.path == "/chat"
        await chat.send(b"bytes")
        assert await chat.recv(decode=True) == "bytes"  # websockets' own recv() arguments work


async def test_connection_is_closed_with_1000_when_the_block_ends(websocket_client):
    """Leaving the ``async with`` block closes the connection normally."""
    async with websocket_client.get("chat") as chat:
        await chat.send("x")
        await chat.recv()
    assert chat.close_code == 1000
    assert chat.state is websockets.protocol.State.CLOSED


async def test_get_can_be_awaited_and_closed_by_hand(websocket_client):
    """``await websocket_client.get(...)`` returns an open connection that the caller closes."""
    chat = await websocket_client.get("chat")
    try:
        await chat.send("awaited")
        assert await chat.recv() == "awaited"
    finally:
        await chat.close()
    assert chat.close_code == 1000


@pytest.mark.parametrize("path", ["chat", "/chat", "//chat"])
async def test_leading_slash_is_optional(websocket_client, path):
    """'chat' and '/chat' open the same path of the service."""
    async with websocket_client.get(path) as chat:
        assert chat.request.path == "/chat"
        await chat.send(path)
        assert await chat.recv() == path


async def test_query_string_is_sent(websocket_client):
    """A query string in the path is part of the request, and the handler still matches the path."""
    async with websocket_client.get("chat?room=7&user=a%20b") as chat:
        assert chat.request.path == "/chat?room=7&user=a%20b"
        assert chat.path == "/chat?room=7&user=a%20b"
        await chat.send("with a query")
        assert await chat.recv() == "with a query"


# ------------------------------------------------------------------ deadlines


async def test_recv_timeout_names_path_and_seconds(websocket_client, scaled):
    """recv(timeout=...) gives up after that many seconds with a message naming the path and the seconds."""
    timeout = scaled(0.2)
    async with websocket_client.get("chat") as chat:
        started = time.monotonic()
        with pytest.raises(WebSocketTimeout) as info:
            await chat.recv(timeout=timeout)
        waited = time.monotonic() - started
    assert timeout <= waited < timeout + scaled(2)
    message = str(info.value)
    assert "/chat" in message
    assert f"{timeout:g} seconds" in message
    assert "timeout= of recv()" in message
    assert isinstance(info.value, TimeoutError)


async def test_client_timeout_is_the_default_of_recv(websocket_client, scaled):
    """A client's timeout (--websocket-timeout in the fixture) is recv's deadline when recv has none."""
    client = WebSocketClient(websocket_client.base_url, timeout=scaled(0.2))
    async with client.get("chat") as chat:
        with pytest.raises(WebSocketTimeout, match="--websocket-timeout") as info:
            await chat.recv()
    assert f"{scaled(0.2):g} seconds" in str(info.value)


async def test_get_timeout_is_the_default_of_its_connection(websocket_client, scaled):
    """get(timeout=...) sets the recv deadline of that connection, and the error names path and query."""
    async with websocket_client.get("chat?room=1", timeout=scaled(0.2)) as chat:
        assert chat.timeout == scaled(0.2)
        with pytest.raises(WebSocketTimeout, match=r"timeout= of websocket_client\.get\(\)") as info:
            await chat.recv()
    assert "/chat?room=1" in str(info.value)


async def test_recv_timeout_overrides_a_longer_default(websocket_client, scaled):
    """A short per-call timeout applies even when the connection's default is long."""
    async with websocket_client.get("chat", timeout=scaled(30)) as chat:
        await chat.send("first")
        assert await chat.recv() == "first"  # arms the connection's long deadline
        started = time.monotonic()
        with pytest.raises(WebSocketTimeout):
            await chat.recv(timeout=scaled(0.1))
        assert time.monotonic() - started < scaled(5)


async def test_connection_works_after_a_recv_timeout(websocket_client, scaled):
    """After a recv timeout the connection stays open and the next message arrives normally."""
    async with websocket_client.get("chat") as chat:
        with pytest.raises(WebSocketTimeout):
            await chat.recv(timeout=scaled(0.05))
        await chat.send("after the timeout")
        assert await chat.recv() == "after the timeout"


async def test_long_recv_is_not_cut_short_by_an_earlier_short_deadline(websocket_client, scaled):
    """A recv that may wait long is not failed by the deadline of an earlier, shorter recv."""
    async with websocket_client.get("chat") as chat:
        await chat.send("quick")
        assert await chat.recv(timeout=scaled(0.1)) == "quick"  # leaves a timer armed at +0.1 s

        async def send_later():
            await asyncio.sleep(scaled(0.3))
            await chat.send("late")

        sender = asyncio.ensure_future(send_later())
        assert await chat.recv(timeout=scaled(10)) == "late"
        await sender


async def test_recv_timeout_zero_polls(websocket_client, scaled):
    """recv(timeout=0) returns a message that has arrived and raises WebSocketTimeout at once otherwise."""
    async with websocket_client.get("chat") as chat:
        with pytest.raises(WebSocketTimeout):
            await chat.recv(timeout=0)
        await chat.send("ready")
        deadline = time.monotonic() + scaled(5)
        while True:
            try:
                message = await chat.recv(timeout=0)
                break
            except WebSocketTimeout:
                assert time.monotonic() < deadline, "the echo never arrived"
                await asyncio.sleep(0.005)
        assert message == "ready"


async def test_outside_cancellation_is_not_turned_into_a_timeout(websocket_client, scaled):
    """Cancelling a waiting recv raises CancelledError, not WebSocketTimeout, and loses nothing."""
    async with websocket_client.get("chat") as chat:
        waiter = asyncio.ensure_future(chat.recv(timeout=scaled(10)))
        await asyncio.sleep(scaled(0.05))
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        await chat.send("after the cancel")
        assert await chat.recv() == "after the cancel"


async def test_outer_wait_for_keeps_its_own_timeout(websocket_client, scaled):
    """asyncio.wait_for around recv raises its own TimeoutError, and the connection stays usable."""
    async with websocket_client.get("chat") as chat:
        with pytest.raises(asyncio.TimeoutError) as info:
            await asyncio.wait_for(chat.recv(), scaled(0.1))
        assert not isinstance(info.value, WebSocketTimeout)
        await chat.send("still fine")
        assert await chat.recv() == "still fine"


async def test_async_for_does_not_hang(websocket_client, scaled):
    """``async for`` over a silent connection fails with WebSocketTimeout instead of waiting forever."""
    async with websocket_client.get("chat", timeout=scaled(0.2)) as chat:
        with pytest.raises(WebSocketTimeout):
            async for _ in chat:
                pytest.fail("the service sent a message nobody asked for")


# Uses no plugin fixture, so the plugin does not mark it.
@pytest.mark.asyncio
async def test_opening_deadline_names_path_and_seconds(scaled):
    """A peer that accepts TCP but never answers the handshake fails get() after its timeout."""

    async def never_answer(reader, writer):
        await reader.read()  # until the client gives up
        writer.close()

    async with loopback_peer(never_answer) as base_url:
        client = WebSocketClient(base_url, timeout=scaled(0.2))
        started = time.monotonic()
        with pytest.raises(WebSocketTimeout) as info:
            async with client.get("chat"):
                pass
        assert time.monotonic() - started < scaled(5)
    message = str(info.value)
    assert "Opening a WebSocket to /chat" in message
    assert f"{scaled(0.2):g} seconds" in message


# Uses no plugin fixture, so the plugin does not mark it.
@pytest.mark.asyncio
async def test_blocked_send_gives_up_after_the_deadline(scaled):
    """A send to a peer that stopped reading fails after the timeout, saying why, instead of hanging."""

    peers = []

    async def never_read(connection):
        peers.append(connection)
        await connection.wait_closed()  # reads no message, so the peer's buffers fill up

    async with raw_serve(never_read, "127.0.0.1", 0, max_queue=1, max_size=None, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        client = WebSocketClient(URL(f"http://127.0.0.1:{port}/"), timeout=scaled(0.3))
        chunk = b"\x00" * 2**20
        started = time.monotonic()
        async with client.get("quiet") as connection:
            with pytest.raises(ConnectionClosedError) as info:
                for _ in range(256):  # at most 256 MiB, far more than the socket buffers hold
                    await connection.send(chunk)
        assert time.monotonic() - started < scaled(10)
        for peer in peers:  # it reads nothing, so it would not notice the client is gone
            peer.transport.abort()
    cause = info.value.__cause__
    assert isinstance(cause, WebSocketTimeout)
    assert "send() on /quiet could not write" in str(cause)


# ------------------------------------------------------------------ helpers


async def test_send_json_and_recv_json_round_trip(websocket_client):
    """send_json sends a text message of JSON, and recv_json parses the answer."""
    document = {"user": "ann", "items": [1, 2.5, None, True], "text": "ß"}
    async with websocket_client.get("chat") as chat:
        await chat.send_json(document)
        assert await chat.recv_json() == document
        await chat.send_json(document)
        assert json.loads(await chat.recv_text()) == document
        await chat.send(json.dumps([1, 2]).encode())  # binary JSON parses too
        assert await chat.recv_json() == [1, 2]


async def test_recv_json_of_non_json_names_the_path(websocket_client):
    """recv_json on a message that is not JSON raises JSONDecodeError naming the path and the message."""
    async with websocket_client.get("chat") as chat:
        await chat.send("not json")
        with pytest.raises(json.JSONDecodeError) as info:
            await chat.recv_json()
    assert "recv_json() on /chat" in str(info.value)
    assert "'not json'" in str(info.value)
    assert info.value.doc == "not json"


async def test_recv_text_of_binary_fails_clearly_and_keeps_the_message(websocket_client):
    """recv_text on a binary message raises WebSocketMessageTypeError that carries the bytes."""
    async with websocket_client.get("chat") as chat:
        await chat.send(b"\x01binary")
        with pytest.raises(WebSocketMessageTypeError, match=r"recv_text\(\) on /chat expected a text message") as info:
            await chat.recv_text()
        assert info.value.received == b"\x01binary"
        assert isinstance(info.value, TypeError)
        await chat.send("text")
        assert await chat.recv_text() == "text"


async def test_recv_bytes_of_text_fails_clearly_and_keeps_the_message(websocket_client):
    """recv_bytes on a text message raises WebSocketMessageTypeError that carries the text."""
    async with websocket_client.get("chat") as chat:
        await chat.send("some text")
        with pytest.raises(
            WebSocketMessageTypeError, match=r"recv_bytes\(\) on /chat expected a binary message"
        ) as info:
            await chat.recv_bytes()
        assert info.value.received == "some text"
        await chat.send(b"bytes")
        assert await chat.recv_bytes() == b"bytes"


# ------------------------------------------------------------------ the handshake


async def test_rejected_handshake_carries_status_headers_and_body(websocket_client):
    """Opening a path the service does not serve raises WebSocketHandshakeError with 404 and the body."""
    with pytest.raises(WebSocketHandshakeError) as info:
        async with websocket_client.get("does-not-exist?x=1"):
            pytest.fail("the handshake should have been rejected")
    error = info.value
    assert error.status == 404
    assert b"Not Found" in error.body
    assert error.headers["Content-Length"] == str(len(error.body))
    assert error.url == websocket_client.url_for("does-not-exist?x=1")
    assert "/does-not-exist?x=1" in str(error)
    assert "HTTP 404" in str(error)


# Uses no plugin fixture, so the plugin does not mark it.
@pytest.mark.asyncio
async def test_headers_subprotocols_and_origin_go_on_the_wire(scaled):
    """headers=, subprotocols= and origin= appear in the handshake request; a rejection keeps its headers."""
    requests = []

    async def reject(reader, writer):
        requests.append(await read_request_head(reader))
        writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 6\r\nX-Why: no token\r\n\r\ndenied")
        await writer.drain()
        writer.close()

    async with loopback_peer(reject) as base_url:
        client = WebSocketClient(base_url, timeout=scaled(5))
        with pytest.raises(WebSocketHandshakeError) as info:
            async with client.get(
                "/chat?room=1",
                headers={"X-Token": "abc123", "Cookie": "session=s1"},
                subprotocols=["chat.v2", "chat.v1"],
                origin="http://example.test",
            ):
                pass
    head = requests[0].decode("latin-1")
    assert head.startswith("GET /chat?room=1 HTTP/1.1\r\n")
    lines = head.split("\r\n")
    assert "X-Token: abc123" in lines
    assert "Cookie: session=s1" in lines
    assert "Sec-WebSocket-Protocol: chat.v2, chat.v1" in lines
    assert "Origin: http://example.test" in lines
    assert not any(line.lower().startswith("sec-websocket-extensions") for line in lines)  # no compression
    assert info.value.status == 403
    assert info.value.headers["X-Why"] == "no token"
    assert info.value.body == b"denied"


async def test_service_accepts_headers_subprotocols_and_origin(websocket_client):
    """The sample service accepts a handshake with extra headers, subprotocols and an origin."""
    async with websocket_client.get(
        "chat", headers=[("X-Trace", "t-1")], subprotocols=["chat.v1"], origin="http://127.0.0.1"
    ) as chat:
        assert chat.request.headers["X-Trace"] == "t-1"
        assert chat.subprotocol is None  # the echo chat offers no subprotocol
        await chat.send("negotiated")
        assert await chat.recv() == "negotiated"


async def test_compression_is_off_unless_asked_for(websocket_client):
    """No permessage-deflate is offered by default; compression='deflate' offers it."""
    async with websocket_client.get("chat") as chat:
        assert "Sec-WebSocket-Extensions" not in chat.request.headers
        assert chat.ping_interval is None  # and no keepalive ping that could close a paused test
    async with websocket_client.get("chat", compression="deflate") as chat:
        assert "permessage-deflate" in chat.request.headers["Sec-WebSocket-Extensions"]
        await chat.send("offered")
        assert await chat.recv() == "offered"


PROXY_VARIABLES = ("http_proxy", "https_proxy", "ws_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


async def test_proxy_environment_is_ignored(websocket_client, service_client, monkeypatch, scaled):
    """Proxy environment variables pointing at a dead proxy do not affect either client."""
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    for name in PROXY_VARIABLES:
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # the discard port: nothing listens
    # The environment is effective: websockets' own default would go through the proxy.
    with pytest.raises((OSError, websockets.exceptions.InvalidProxy, websockets.exceptions.ProxyError)):
        async with raw_connect(websocket_client.url_for("chat"), open_timeout=scaled(5)):
            pass
    async with websocket_client.get("chat") as chat:
        await chat.send("direct")
        assert await chat.recv() == "direct"
    assert (await service_client.get("ping")).status == 200
