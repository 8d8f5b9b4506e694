"""The sample service's /broadcast room: everyone, one user, and a slow client that is dropped (issue 6)."""

from __future__ import annotations

import asyncio
import json
import socket
from contextlib import AsyncExitStack

import pytest
from websockets.exceptions import ConnectionClosed

from pytest_wsservice.errors import WebSocketHandshakeError


async def join(stack, websocket_client, *users):
    """Open one /broadcast connection per name (None: no ?user=) inside ``stack``."""
    return [
        await stack.enter_async_context(websocket_client.get("broadcast" + (f"?user={user}" if user else "")))
        for user in users
    ]


async def test_message_reaches_every_client_sender_included(websocket_client):
    """A text or binary message from one of three clients reaches all three, the sender too, in the order sent."""
    async with AsyncExitStack() as stack:
        clients = await join(stack, websocket_client, None, None, None)
        first, second, third = clients
        await first.send("hello, room")
        assert [await client.recv() for client in clients] == ["hello, room"] * 3
        await third.send(b"\x00\x01 binary")
        assert [await client.recv() for client in clients] == [b"\x00\x01 binary"] * 3
        # Messages from different senders keep the order the service received them in.
        await second.send("two")
        assert await second.recv() == "two"
        await first.send("three")
        for client in (first, third):
            assert [await client.recv(), await client.recv()] == ["two", "three"]
        assert await second.recv() == "three"


async def test_private_message_reaches_only_its_addressee(websocket_client):
    """{"to": "bob", ...} from alice reaches bob's connections, marked from alice, and neither alice nor carol."""
    async with AsyncExitStack() as stack:
        alice, bob, carol, bob_again = await join(stack, websocket_client, "alice", "bob", "carol", "bob")
        await alice.send(json.dumps({"to": "bob", "text": "psst", "id": 7}))
        expected = {"to": "bob", "text": "psst", "id": 7, "from": "alice"}
        assert await bob.recv_json() == expected
        assert await bob_again.recv_json() == expected
        # Every client gets this next; for alice and carol it is the first message at all,
        # and per-client order is kept, so the private message never reached them.
        await carol.send("public")
        for client in (alice, bob, carol, bob_again):
            assert await client.recv() == "public"


async def test_private_message_to_nobody_comes_back_as_an_error(websocket_client):
    """A private message to a user who is not connected, or with a 'to' that is no name, returns an error to its sender
    only.
    """
    async with AsyncExitStack() as stack:
        alice, bob = await join(stack, websocket_client, "alice", "bob")
        await alice.send(json.dumps({"to": "zed", "text": "anyone?"}))
        assert await alice.recv_json() == {"error": "no user 'zed' is connected", "to": "zed"}
        await bob.send(json.dumps({"to": 5, "text": "?"}))
        assert await bob.recv_json() == {"error": "'to' must be a user name", "to": 5}
        # JSON without "to", and text that is not JSON, are ordinary messages to everyone.
        for message in (json.dumps({"text": "to all"}), "{not json"):
            await alice.send(message)
            assert [await alice.recv(), await bob.recv()] == [message, message]


async def test_a_client_who_left_gets_nothing_and_the_room_goes_on(websocket_client):
    """After a client closes, messages reach the others, and a private message to its name is an error."""
    async with AsyncExitStack() as stack:
        alice, bob = await join(stack, websocket_client, "alice", None)
        async with websocket_client.get("broadcast?user=carol") as carol:
            await carol.send("bye")
            assert [await c.recv() for c in (alice, bob, carol)] == ["bye"] * 3
        await alice.send(json.dumps({"to": "carol", "text": "still there?"}))
        assert (await alice.recv_json())["error"] == "no user 'carol' is connected"
        await bob.send("on")
        assert [await alice.recv(), await bob.recv()] == ["on", "on"]


@pytest.mark.parametrize("user", ["", "x" * 101, "tab\there"])
async def test_bad_user_name_is_refused_at_the_handshake(websocket_client, user):
    """An empty, overlong or unprintable ?user= name gets 400 with a reason instead of a connection."""
    with pytest.raises(WebSocketHandshakeError) as refused:
        async with websocket_client.get(f"broadcast?user={user.replace(chr(9), '%09')}"):
            pass
    assert refused.value.status == 400
    assert refused.value.body == b"user must be a printable name of 1 to 100 characters"


#: Size of each flood message: the slow client's backlog is counted in messages.
FLOOD_MESSAGE = 16 * 1024


async def test_slow_client_is_dropped_while_the_others_keep_receiving(
    websocket_client, service_client, service_config, service_handle, scaled
):
    """A client that stops reading is closed with 1008 once its queue is full; the other clients get every message,
    before and after.
    """
    settings = service_config["components_manager"]["components"]["websocket-broadcast-handler"]
    queue = settings["max-queue-size"]
    # What can sit between the service and a client that reads nothing: its queue, the
    # service's socket send buffer (64 KiB, doubled by Linux) and aiohttp's write buffer,
    # and the slow client's own receive buffer (pinned small below) and message queue.
    # The flood is twice that.
    backlog = queue + (2 * 65536 + 65536 + 2 * 8192) // FLOOD_MESSAGE + 4
    limit = 2 * backlog

    # The slow client's receive buffer is set before connecting, so the kernel does not
    # grow it (on some machines up to 32 MiB) and the backlog stays where the bound says.
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.setblocking(False)
    loop = asyncio.get_running_loop()
    await asyncio.wait_for(loop.sock_connect(raw, (service_handle.host, service_handle.port)), scaled(10))

    async with service_client.capture_logs() as capture, AsyncExitStack() as stack:
        sender, other = await join(stack, websocket_client, "sender", "other")
        slow = await stack.enter_async_context(websocket_client.get("broadcast?user=slow", sock=raw, max_queue=1))
        messages = [i.to_bytes(4, "big") + b"." * (FLOOD_MESSAGE - 4) for i in range(limit)]
        for message in messages:
            await sender.send(message)
            assert await sender.recv() == message
            assert await other.recv() == message
        # The room goes on after the drop.
        await other.send("still here")
        assert [await sender.recv(), await other.recv()] == ["still here", "still here"]

        # The slow client now reads: the first messages, those that had left its queue
        # before it filled up, then the close. The queued ones were dropped with it.
        received = []
        with pytest.raises(ConnectionClosed):
            for _ in range(limit + 1):
                received.append(await slow.recv(timeout=scaled(10)))
        assert received == messages[: len(received)]
        assert len(received) > 0 and len(received) + queue < limit
        assert slow.close_code == 1008
        assert slow.close_reason == f"too slow: {queue} messages queued"
    dropped = capture.select(level="WARNING", text="slow client dropped")
    assert len(dropped) == 1 and f"user=slow queued={queue} code=1008" in dropped[0].text
