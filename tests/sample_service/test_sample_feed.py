"""``/feed`` (websocket-feed-handler): a relay to an upstream WebSocket, against a fake upstream."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.sample_service.handler_helpers import FakeFeed, ThreadedServer, log_line, running_sample, wait_until
from tests.sample_service.sample_helpers import SampleProcess, free_port

pytestmark = pytest.mark.asyncio


@pytest.fixture(scope="module")
def upstream(scaled) -> Iterator[tuple[FakeFeed, ThreadedServer]]:
    fake = FakeFeed()
    with ThreadedServer(fake.app, scaled(10)) as server:
        yield fake, server


@pytest.fixture(scope="module")
def service(upstream, tmp_path_factory, scaled) -> Iterator[SampleProcess]:
    _, server = upstream
    components = {"websocket-feed-handler": {"path": "/feed", "upstream-url": server.url("/feed", "ws")}}
    with running_sample(tmp_path_factory.mktemp("feed"), components, scaled) as sample:
        yield sample


def feed(service: SampleProcess, scaled, path: str = "/feed"):
    return connect(f"ws://127.0.0.1:{service.port}{path}", open_timeout=scaled(10), close_timeout=scaled(5))


async def recv(ws, scaled):
    return await asyncio.wait_for(ws.recv(), scaled(5))


async def closed_with(ws, scaled) -> tuple[int, str]:
    """Wait for the service to close ``ws``; return the code and reason of its close frame."""
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), scaled(5))
    assert closed.value.rcvd is not None, "the service closed without a close frame"
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def test_relays_text_and_binary_both_ways_in_order(service, upstream, scaled):
    """Text and binary go to the upstream and its answers come back, each as its type, in order."""
    fake, _ = upstream
    async with feed(service, scaled) as ws:
        hello = await recv(ws, scaled)
        assert hello.startswith("hello ")
        number = int(hello.split()[1])
        sent = [f"text {i}" if i % 2 else bytes([i, 0, 255]) for i in range(50)]
        for message in sent:
            await ws.send(message)
        replies = [await recv(ws, scaled) for _ in sent]
        assert replies == [
            f"upstream {number}: {message}" if isinstance(message, str) else message[::-1] for message in sent
        ]
        assert fake.received[number - 1] == sent


async def test_close_text_is_relayed_not_obeyed(service, upstream, scaled):
    """/feed is a relay, not an echo path: the text 'close' goes to the upstream like any other."""
    async with feed(service, scaled) as ws:
        number = int((await recv(ws, scaled)).split()[1])
        await ws.send("close")
        assert await recv(ws, scaled) == f"upstream {number}: close"


async def test_each_client_gets_its_own_upstream_connection(service, upstream, scaled):
    """Two clients open two upstream WebSockets, and each one's messages stay on its own."""
    fake, _ = upstream
    async with feed(service, scaled) as first, feed(service, scaled) as second:
        a = int((await recv(first, scaled)).split()[1])
        b = int((await recv(second, scaled)).split()[1])
        assert a != b
        await first.send("one")
        await second.send("two")
        assert await recv(first, scaled) == f"upstream {a}: one"
        assert await recv(second, scaled) == f"upstream {b}: two"
        assert fake.received[a - 1] == ["one"] and fake.received[b - 1] == ["two"]


async def test_upstream_closing_closes_the_client_with_1001(service, upstream, scaled):
    """When the upstream closes, the client is closed with 1001."""
    async with feed(service, scaled) as ws:
        await recv(ws, scaled)
        await ws.send("bye")  # the fake upstream closes on 'bye'
        assert await closed_with(ws, scaled) == (1001, "upstream closed")


async def test_upstream_closed_from_its_side_while_idle(service, upstream, scaled):
    """An upstream that closes without being asked (its server side) closes the client with 1001 too."""
    fake, server = upstream
    async with feed(service, scaled) as ws:
        number = int((await recv(ws, scaled)).split()[1])
        await server.arun(fake.sockets[number - 1].close(code=1000))
        assert (await closed_with(ws, scaled))[0] == 1001


async def test_client_closing_closes_the_upstream_with_its_code(service, upstream, scaled):
    """A client's close reaches the upstream with the client's code, and the client gets its code back."""
    fake, _ = upstream
    async with feed(service, scaled) as ws:
        number = int((await recv(ws, scaled)).split()[1])
        await ws.close(4002, "done")
    assert ws.close_code == 4002
    socket = fake.sockets[number - 1]
    wait_until(lambda: socket.closed, scaled(5), "the upstream connection closing")
    assert socket.close_code == 4002


async def test_unreachable_upstream_closes_with_1011(tmp_path, scaled):
    """An upstream nobody listens on: the client is closed with 1011 and a reason; one log line names it."""
    url = f"ws://127.0.0.1:{free_port()}/feed"
    with running_sample(tmp_path, {"websocket-feed-handler": {"path": "/feed", "upstream-url": url}}, scaled) as sample:
        async with feed(sample, scaled) as ws:
            code, reason = await closed_with(ws, scaled)
        assert code == 1011
        assert reason == "upstream unreachable: cannot connect: Connection refused"
        line = log_line(sample, "feed upstream failed", scaled(5))
        assert f"url={url} reason=cannot connect: Connection refused" in line and "WARNING" in line


async def test_upstream_refusing_the_handshake_closes_with_1011(upstream, tmp_path, scaled):
    """An upstream that answers the handshake with an HTTP error (404 here) closes the client with 1011."""
    _, server = upstream
    url = server.url("/nothing-here", "http")  # http:// means WebSocket over HTTP
    with running_sample(tmp_path, {"websocket-feed-handler": {"path": "/feed", "upstream-url": url}}, scaled) as sample:
        async with feed(sample, scaled) as ws:
            assert await closed_with(ws, scaled) == (1011, "upstream unreachable: handshake answered HTTP 404")


async def test_http_scheme_means_websocket_over_http(upstream, tmp_path, scaled):
    """upstream-url http://... opens a WebSocket over plain HTTP, as aiohttp's ws_connect reads it."""
    _, server = upstream
    url = server.url("/feed", "http")
    with running_sample(tmp_path, {"websocket-feed-handler": {"path": "/feed", "upstream-url": url}}, scaled) as sample:
        async with feed(sample, scaled) as ws:
            number = int((await recv(ws, scaled)).split()[1])
            await ws.send("via http")
            assert await recv(ws, scaled) == f"upstream {number}: via http"


async def test_without_upstream_url_closes_with_1011_saying_so(tmp_path, scaled):
    """Without an upstream-url every client is closed with 1011 'upstream-url is not configured'."""
    with running_sample(tmp_path, {"websocket-feed-handler": {"path": "/feed"}}, scaled) as sample:
        async with feed(sample, scaled) as ws:
            assert await closed_with(ws, scaled) == (1011, "upstream-url is not configured")


async def test_shutdown_closes_feed_clients_with_1001(upstream, tmp_path, scaled):
    """SIGTERM closes open /feed clients with 1001 like every other WebSocket, and the service exits 0."""
    _, server = upstream
    url = server.url("/feed", "ws")
    with running_sample(tmp_path, {"websocket-feed-handler": {"path": "/feed", "upstream-url": url}}, scaled) as sample:
        async with feed(sample, scaled) as ws:
            await recv(ws, scaled)
            sample.signal(15)
            assert (await closed_with(ws, scaled))[0] == 1001
        assert await asyncio.to_thread(sample.proc.wait, scaled(10)) == 0
