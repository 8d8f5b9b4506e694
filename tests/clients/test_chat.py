"""The sample service's /chat and /ping, driven through the plugin's fixtures (issue 2)."""

from __future__ import annotations

import asyncio
import math
import textwrap
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosedError

from tests.clients.wire_frames import echo_frames


def chat_settings(service_config):
    return service_config["components_manager"]["components"]["websocket-handler"]


async def test_text_message_comes_back_as_text(websocket_client):
    """A text message comes back as the same text, as a str."""
    async with websocket_client.get("chat") as chat:
        await chat.send("привет, world")
        response = await chat.recv()
    assert response == "привет, world"
    assert isinstance(response, str)


async def test_text_and_binary_come_back_in_order_with_their_types(websocket_client):
    """Interleaved text and binary messages come back in the order sent, each as its own type."""
    messages = ["one", b"\x00\x01two", "three", b"", "", b"\xff" * 300]
    async with websocket_client.get("chat") as chat:
        for message in messages:
            await chat.send(message)
        received = [await chat.recv() for _ in messages]
    assert received == messages
    assert [type(m) for m in received] == [type(m) for m in messages]


@pytest.mark.parametrize(
    "fragments",
    [["Hel", "lo, ", "world"], [b"\x01\x02", b"", b"\x03"]],
    ids=["text", "binary"],
)
async def test_fragmented_message_is_echoed_once_and_whole(websocket_client, fragments):
    """A message sent in several frames comes back once, reassembled, before the next message."""
    whole = fragments[0][:0].join(fragments)
    async with websocket_client.get("chat") as chat:
        await chat.send(fragments)
        await chat.send("next")
        assert await chat.recv() == whole
        # Only one echo: the very next message is the one sent after the fragments.
        assert await chat.recv() == "next"


async def test_outgoing_frames_are_at_most_fragment_size(service_start, service_config, scaled):
    """The echo of the largest allowed message arrives in frames of at most fragment-size bytes."""
    settings = chat_settings(service_config)
    size, fragment_size = settings["max-remote-payload"], settings["fragment-size"]
    message = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    frames = await echo_frames(service_start.host, service_start.port, "/chat", message, timeout=scaled(10))
    assert [len(frame.data) for frame in frames] == [
        min(fragment_size, size - offset) for offset in range(0, size, fragment_size)
    ]
    assert len(frames) == math.ceil(size / fragment_size)
    assert b"".join(frame.data for frame in frames) == message


# The bundled config has fragment-size == max-remote-payload, so no echo is ever split.
# This runs a pytest session of its own whose config hook lowers fragment-size, and looks
# at the frames on the wire there.
SPLIT_CONFTEST = textwrap.dedent(
    """
    def small_fragments(config, config_vars):
        config['components_manager']['components']['websocket-handler']['fragment-size'] = 1000

    WSSERVICE_CONFIG_HOOKS = [small_fragments]
    """
)
SPLIT_TEST = textwrap.dedent(
    """
    from websockets.frames import Opcode
    from wire_frames import echo_frames  # the copy written into the inner project

    async def test_split(service_start, websocket_client):
        message = 'abcdefghij' * 250
        frames = await echo_frames(service_start.host, service_start.port, '/chat', message, timeout=TIMEOUT)
        assert [len(f.data) for f in frames] == [1000, 1000, 500]
        assert [f.opcode for f in frames] == [Opcode.TEXT, Opcode.CONT, Opcode.CONT]
        assert [f.fin for f in frames] == [False, False, True]
        assert b''.join(f.data for f in frames).decode() == message

        binary = bytes(range(256)) * 8  # 2048 bytes
        frames = await echo_frames(service_start.host, service_start.port, '/chat', binary, timeout=TIMEOUT)
        assert [len(f.data) for f in frames] == [1000, 1000, 48]
        assert [f.opcode for f in frames] == [Opcode.BINARY, Opcode.CONT, Opcode.CONT]

        # The plugin's client reassembles what the service split.
        async with websocket_client.get('chat') as chat:
            await chat.send(message)
            assert await chat.recv() == message
    """
)


def test_outgoing_message_is_split_into_frames_of_fragment_size(pytester, scaled):
    """With fragment-size 1000, a 2500-byte echo arrives as frames of 1000, 1000 and 500 bytes."""
    pytester.makeconftest(SPLIT_CONFTEST)
    pytester.makepyfile(wire_frames=Path(__file__).with_name("wire_frames.py").read_text())
    pytester.makepyfile(test_split=f"TIMEOUT = {scaled(10)!r}\n" + SPLIT_TEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=scaled(60))
    result.assert_outcomes(passed=1)


async def test_message_of_max_remote_payload_is_echoed(websocket_client, service_config):
    """A message of exactly max-remote-payload bytes is accepted and echoed."""
    size = chat_settings(service_config)["max-remote-payload"]
    async with websocket_client.get("chat") as chat:
        await chat.send(b"m" * size)
        assert await chat.recv() == b"m" * size


@pytest.mark.parametrize("kind", ["text", "binary", "fragmented"])
async def test_message_over_max_remote_payload_closes_with_1009(websocket_client, service_config, kind):
    """A message one byte over max-remote-payload makes the service close the connection with 1009."""
    size = chat_settings(service_config)["max-remote-payload"] + 1
    message = {"text": "t" * size, "binary": b"b" * size, "fragmented": ["f" * (size // 2), "f" * (size - size // 2)]}[
        kind
    ]
    async with websocket_client.get("chat") as chat:
        await chat.send(message)
        with pytest.raises(ConnectionClosedError):
            await chat.recv()
        assert chat.close_code == 1009


@pytest.mark.parametrize("code", [1000, 1001, 3000, 4321, 4999])
async def test_client_close_code_is_echoed(websocket_client, code):
    """When the client closes with a status code, the service answers with the same code."""
    async with websocket_client.get("chat") as chat:
        await chat.send("before closing")
        assert await chat.recv() == "before closing"
        await chat.close(code, "bye")
        assert chat.close_code == code


async def test_ping_gets_a_pong(websocket_client, scaled):
    """A ping on /chat is answered with a pong."""
    async with websocket_client.get("chat") as chat:
        pong = await chat.ping(b"are you there")
        latency = await asyncio.wait_for(pong, scaled(5))
    assert latency >= 0


async def test_async_for_yields_the_echoes(websocket_client):
    """``async for`` over a connection yields the echoes in order."""
    async with websocket_client.get("chat") as chat:
        for number in range(3):
            await chat.send(f"message {number}")
        received = []
        async for message in chat:
            received.append(message)
            if len(received) == 3:
                break
    assert received == ["message 0", "message 1", "message 2"]


async def test_plain_get_on_chat_is_400(service_client):
    """A plain HTTP GET on /chat, without the upgrade, gets 400 and the body 'Not a websocket request'."""
    response = await service_client.get("/chat")
    assert response.status == 400
    assert response.text == "Not a websocket request"


async def test_ping_handler_answers_200(service_client):
    """GET /ping answers 200 while the service runs."""
    response = await service_client.get("/ping")
    assert response.status == 200


async def test_many_clients_at_once_stay_isolated(websocket_client):
    """Eight clients chatting at the same time each get back exactly their own messages, in order."""
    clients, rounds = 8, 25

    async def chat_as(number: int) -> list:
        async with websocket_client.get("chat") as chat:
            sent = []
            for round_ in range(rounds):
                message = f"client {number} message {round_}" if round_ % 2 else f"{number}:{round_}".encode()
                await chat.send(message)
                sent.append(message)
                await asyncio.sleep(0)  # let the other clients interleave
            received = [await chat.recv() for _ in sent]
            # Nothing from anyone else is queued behind our own echoes.
            await chat.send(f"end of {number}")
            assert await chat.recv() == f"end of {number}"
            return [sent, received]

    results = await asyncio.gather(*(chat_as(number) for number in range(clients)))
    for sent, received in results:
        assert received == sent
    assert len({str(sent) for sent, _ in results}) == clients


async def test_new_client_works_after_another_was_dropped(websocket_client, service_client):
    """A client that closes before reading its echo leaves the service serving the next one."""
    async with websocket_client.get("chat") as first:
        await first.send("x" * 50_000)
    async with websocket_client.get("chat") as second:
        await second.send("still here")
        assert await second.recv() == "still here"
    assert (await service_client.get("/ping")).status == 200
