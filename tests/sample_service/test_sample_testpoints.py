"""The chat-message-received testpoint on the echo paths, against a fake testpoint endpoint.

The endpoint answers ``{"close": 4000}`` for the text ``stop``, ``{"close": 999}`` (a code
the service may not send) for ``bad``, and ``null`` for anything else.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.sample_service.handler_helpers import FakeAuth, FakeTestpoint, ThreadedServer, log_line, running_sample
from tests.sample_service.sample_helpers import SampleProcess, free_port

NAME = "chat-message-received"


def respond(name: str, data: Any) -> Any:
    text = data.get("text")
    return {"close": 4000} if text == "stop" else {"close": 999} if text == "bad" else None


@pytest.fixture(scope="module")
def endpoint(scaled) -> Iterator[tuple[FakeTestpoint, ThreadedServer]]:
    fake = FakeTestpoint(respond)
    with ThreadedServer(fake.app, scaled(10)) as server:
        yield fake, server


@pytest.fixture(scope="module")
def service(endpoint, tmp_path_factory, scaled) -> Iterator[SampleProcess]:
    _, server = endpoint
    auth = FakeAuth()
    with ThreadedServer(auth.app, scaled(10)) as auth_server:
        components = {
            "websocket-handler-alt": {"path": "/handler-alt"},
            "websocket-duplex-handler": {"path": "/duplex"},
            "websocket-private-chat-handler": {"path": "/private", "auth-url": auth_server.url("/auth")},
        }
        control = {"testpoint-url": server.url("/testpoint"), "testpoint-timeout": "5s"}
        with running_sample(tmp_path_factory.mktemp("testpoints"), components, scaled, tests_control=control) as sample:
            yield sample


@pytest.fixture(autouse=True)
def fresh(endpoint) -> None:
    endpoint[0].calls.clear()


def post_tests_control(service: SampleProcess, body: dict[str, Any], timeout: float) -> dict[str, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{service.port}/tests/control",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        return json.loads(answer.read())


def ws_connect(service: SampleProcess, path: str, scaled):
    return connect(f"ws://127.0.0.1:{service.port}{path}", open_timeout=scaled(10), close_timeout=scaled(5))


def data_of(fake: FakeTestpoint) -> list[Any]:
    return [call["data"] for call in fake.calls if call["name"] == NAME]


@pytest.mark.asyncio
@pytest.mark.parametrize("path", ["/chat", "/handler-alt", "/duplex", "/private?token=t"])
async def test_called_for_every_message_with_its_data(service, endpoint, scaled, path):
    """Every text and binary message on an echo path calls the testpoint before its echo."""
    fake, _ = endpoint
    async with ws_connect(service, path, scaled) as ws:
        await ws.send("héllo")
        await asyncio.wait_for(ws.recv(), scaled(5))
        await ws.send(b"\x00\x01\x02")
        await asyncio.wait_for(ws.recv(), scaled(5))
    bare = path.split("?")[0]
    assert data_of(fake) == [
        {"path": bare, "type": "text", "size": 6, "text": "héllo"},
        {"path": bare, "type": "binary", "size": 3},
    ]


@pytest.mark.asyncio
@pytest.mark.parametrize("path", ["/chat", "/handler-alt", "/duplex", "/private?token=t"])
async def test_close_answer_closes_instead_of_echoing(service, scaled, path):
    """An answer {"close": 4000} closes that connection with 4000, and the message is not echoed."""
    async with ws_connect(service, path, scaled) as ws:
        await ws.send("stop")
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), scaled(5))
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4000, f"closed by testpoint {NAME}")


@pytest.mark.asyncio
async def test_invalid_close_code_is_ignored_and_logged(service, scaled):
    """A close code the service may not send (999) is logged as a warning, and the message is echoed."""
    async with ws_connect(service, "/chat", scaled) as ws:
        await ws.send("bad")
        assert await asyncio.wait_for(ws.recv(), scaled(5)) == "bad"
    assert "WARNING" in log_line(service, f"testpoint {NAME} answered close=999", scaled(5))


@pytest.mark.asyncio
async def test_close_message_is_seen_by_the_testpoint_first(service, endpoint, scaled):
    """The 'close' message calls the testpoint too, then closes with 1001."""
    fake, _ = endpoint
    async with ws_connect(service, "/chat", scaled) as ws:
        await ws.send("close")
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), scaled(5))
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    assert data_of(fake) == [{"path": "/chat", "type": "text", "size": 5, "text": "close"}]


@pytest.mark.asyncio
async def test_disabled_testpoint_is_not_called(service, endpoint, scaled):
    """Once tests-control enables a list without the name, messages are echoed with no call; enabled again, called."""
    fake, _ = endpoint
    try:
        await asyncio.to_thread(post_tests_control, service, {"testpoints": ["something-else"]}, scaled(5))
        async with ws_connect(service, "/chat", scaled) as ws:
            await ws.send("stop")  # would close if the testpoint were called
            assert await asyncio.wait_for(ws.recv(), scaled(5)) == "stop"
        assert data_of(fake) == []
    finally:
        await asyncio.to_thread(post_tests_control, service, {"testpoints": [NAME]}, scaled(5))
    async with ws_connect(service, "/chat", scaled) as ws:
        await ws.send("one")
        assert await asyncio.wait_for(ws.recv(), scaled(5)) == "one"
    assert data_of(fake) == [{"path": "/chat", "type": "text", "size": 3, "text": "one"}]


@pytest.mark.asyncio
async def test_broadcast_does_not_call_it(endpoint, tmp_path, scaled):
    """/broadcast is a room, not an echo path: its messages call no testpoint."""
    fake, server = endpoint
    control = {"testpoint-url": server.url("/testpoint")}
    with running_sample(tmp_path, {}, scaled, tests_control=control, broadcast=True) as sample:
        async with ws_connect(sample, "/broadcast", scaled) as ws:
            await ws.send("stop")
            assert await asyncio.wait_for(ws.recv(), scaled(5)) == "stop"
    assert data_of(fake) == []


@pytest.mark.asyncio
async def test_unreachable_endpoint_does_not_break_the_echo(tmp_path, scaled):
    """A testpoint-url nobody listens on: the call fails (logged) and the message is echoed."""
    control = {"testpoint-url": f"http://127.0.0.1:{free_port()}/testpoint"}
    with running_sample(tmp_path, {}, scaled, tests_control=control) as sample:
        async with ws_connect(sample, "/chat", scaled) as ws:
            await ws.send("stop")
            assert await asyncio.wait_for(ws.recv(), scaled(5)) == "stop"
