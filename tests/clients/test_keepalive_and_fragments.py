"""drop_pongs() against a service with a keepalive, messages in many fragments, and failures of the client's own.

The sample service sends no pings of its own (it has no server-side keepalive), so the
keepalive tests run against a small websockets server started in the test, with
``ping_interval`` and ``ping_timeout`` set.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as raw_serve
from websockets.exceptions import ConnectionClosedError, PayloadTooBig
from yarl import URL

from pytest_wsservice import WebSocketClient


@contextlib.asynccontextmanager
async def peer_server(handler, **options) -> AsyncIterator[tuple[URL, list[ServerConnection]]]:
    """A websockets server on a free loopback port; its connections are aborted when the block ends."""
    peers: list[ServerConnection] = []

    async def keep(connection: ServerConnection) -> None:
        peers.append(connection)
        await handler(connection)

    async with raw_serve(keep, "127.0.0.1", 0, compression=None, **options) as server:
        port = server.sockets[0].getsockname()[1]
        try:
            yield URL(f"http://127.0.0.1:{port}/"), peers
        finally:
            for peer in peers:
                peer.transport.abort()


async def stay_open(connection: ServerConnection) -> None:
    await connection.wait_closed()


# ------------------------------------------------------------------ drop_pongs()


@pytest.mark.asyncio
async def test_pings_are_answered_and_recorded(scaled):
    async with peer_server(stay_open, ping_interval=scaled(0.1), ping_timeout=scaled(0.5)) as (url, _):
        client = WebSocketClient(url, timeout=scaled(5))
        async with client.get("keepalive") as connection:
            await connection.expect_silence(scaled(0.5))  # several pings come and are answered
            kinds = [(event.direction, event.kind) for event in connection.transcript]
    pings = kinds.count(("received", "ping"))
    assert pings >= 2
    assert kinds.count(("sent", "pong")) == pings
    assert connection.close_code == 1000


@pytest.mark.asyncio
async def test_dropped_pongs_let_the_services_keepalive_close_the_connection(scaled):
    async with peer_server(stay_open, ping_interval=scaled(0.1), ping_timeout=scaled(0.2)) as (url, _):
        client = WebSocketClient(url, timeout=scaled(5))
        async with client.get("keepalive") as connection:
            await connection.drop_pongs(True)
            started = time.monotonic()
            await connection.expect_close(1011)
            assert time.monotonic() - started < scaled(3)
    assert connection.close_reason == "keepalive ping timeout"
    text = str(connection.transcript)
    assert "note      pongs are dropped from now on" in text
    assert "note      did not answer the ping: pongs are dropped" in text
    assert "received  close   1011 (internal error) 'keepalive ping timeout'" in text
    assert "closed by the service: 1011 (internal error) 'keepalive ping timeout'" in text
    events = list(connection.transcript)
    dropped = events.index(next(e for e in events if e.kind == "note" and "dropped from now on" in str(e.data)))
    assert ("sent", "pong") not in [(event.direction, event.kind) for event in events[dropped:]]


@pytest.mark.asyncio
async def test_answering_again_keeps_the_connection(scaled):
    async with peer_server(stay_open, ping_interval=scaled(0.1), ping_timeout=scaled(0.3)) as (url, _):
        client = WebSocketClient(url, timeout=scaled(5))
        async with client.get("keepalive") as connection:
            await connection.drop_pongs(True)
            await connection.drop_pongs(False)
            await connection.expect_silence(scaled(0.8))  # longer than ping_interval + ping_timeout
    assert connection.close_code == 1000
    assert "note      pings are answered again" in str(connection.transcript)


@pytest.mark.asyncio
async def test_pongs_the_test_sends_still_go_out_while_dropping(scaled):
    received: list[bytes] = []

    async def watch_pongs(connection: ServerConnection) -> None:
        # A pong that answers this ping completes its waiter: that shows the test's pong arrived.
        waiter = await connection.ping(b"asked")
        with contextlib.suppress(asyncio.TimeoutError, ConnectionClosedError):
            await asyncio.wait_for(waiter, scaled(5))
            received.append(b"asked")
        await connection.wait_closed()

    async with peer_server(watch_pongs, ping_interval=None) as (url, _):
        client = WebSocketClient(url, timeout=scaled(5))
        async with client.get("keepalive") as connection:
            await connection.drop_pongs(True)
            deadline = time.monotonic() + scaled(5)
            while not any(event.kind == "ping" for event in connection.transcript):
                assert time.monotonic() < deadline, "the server's ping never arrived"
                await connection.expect_silence(scaled(0.02))
            await connection.pong(b"asked")
            await connection.expect_silence(scaled(0.2))
    assert received == [b"asked"]


# ------------------------------------------------------------------ many fragments


def tiny_fragments(config, config_vars):
    """userver's functional-test setting: the service sends frames of at most 10 bytes."""
    config["components_manager"]["components"]["websocket-handler"]["fragment-size"] = 10


@pytest.mark.wsservice_config_hooks.with_args(tiny_fragments)
@pytest.mark.parametrize("kind", ["binary", "text"])
async def test_a_message_in_5000_fragments_arrives_whole(websocket_client, kind):
    """With fragment-size 10, the echo of 50,000 bytes comes in 5,000 frames (websockets alone stops at 4,096)."""
    message = b"0123456789" * 5000 if kind == "binary" else "абвгд" * 5000  # 2-byte characters split across frames
    async with websocket_client.get("chat") as chat:
        await chat.send(message)
        assert await chat.expect(message) == message
    event = next(event for event in chat.transcript if event.direction == "received")
    assert event.size == 50_000
    assert event.fragments == 5000
    assert f"received  {kind:<6}  50000 bytes" in str(event) and str(event).endswith(" ... in 5000 fragments")


@pytest.mark.asyncio
async def test_the_size_limit_still_applies_to_a_fragmented_message(scaled):
    async def send_fragments(connection: ServerConnection) -> None:
        await connection.send([b"x" * 10] * 5000)
        await connection.wait_closed()

    async with peer_server(send_fragments) as (url, _):
        client = WebSocketClient(url, timeout=scaled(5))
        async with client.get("fragments", max_size=1000) as connection:
            with pytest.raises(ConnectionClosedError) as info:
                await connection.recv()
    assert info.value.sent is not None and info.value.sent.code == 1009
    assert "exceeds limit of 1000 bytes" in info.value.sent.reason
    assert isinstance(info.value.__cause__, (PayloadTooBig, type(None)))  # newer websockets chain it


# ------------------------------------------------------------------ the client's own reason


@pytest.mark.asyncio
async def test_a_failure_of_the_clients_own_is_no_timeout_even_if_the_service_never_closes(scaled):
    """The client refuses a message over its max_size; the peer never completes the close handshake.

    recv() must say why the connection ended (1009, the size), not that nothing arrived in time.
    """

    async def send_big_then_stop_reading(connection: ServerConnection) -> None:
        await connection.send(b"y" * 2000)
        connection.transport.pause_reading()  # never sees the client's close frame
        await connection.wait_closed()

    timeout = scaled(0.5)
    async with peer_server(send_big_then_stop_reading) as (url, _):
        client = WebSocketClient(url, timeout=timeout)
        connection = await client.get("big", max_size=1000)
        started = time.monotonic()
        with pytest.raises(ConnectionClosedError) as info:
            await connection.recv()
        elapsed = time.monotonic() - started
        await connection.close()
    assert elapsed < timeout + scaled(2)
    assert info.value.sent is not None and info.value.sent.code == 1009
    assert "1009" in str(info.value) and "1000 bytes" in str(info.value)
    assert isinstance(info.value.__cause__, (PayloadTooBig, type(None)))  # newer websockets chain it
    assert "sent      close   1009 (message too big)" in str(connection.transcript)
    assert "closed by the client: 1006" in str(connection.transcript)


@pytest.mark.asyncio
async def test_expect_names_the_clients_own_reason(scaled):
    async def send_big(connection: ServerConnection) -> None:
        await connection.send(b"y" * 2000)
        await connection.wait_closed()

    async with peer_server(send_big) as (url, _):
        client = WebSocketClient(url, timeout=scaled(5))
        async with client.get("big", max_size=1000) as connection:
            with pytest.raises(AssertionError) as info:
                await connection.expect(b"y" * 2000)
    headline = str(info.value).splitlines()[0]
    assert headline.startswith(
        "expect() on /big: the connection closed before a message arrived: closed by the client with "
        "1009 (message too big) 'frame with 2000 bytes exceeds limit of 1000 bytes'"
    )
    assert "(cause: PayloadTooBig:" in headline
