"""Expectations on the connection (expect, expect_silence, expect_close) and its transcript, against the sample."""

from __future__ import annotations

import json
import re

import pytest


def chat_settings(config):
    return config["components_manager"]["components"]["websocket-handler"]


# ------------------------------------------------------------------ expect()


async def test_expect_returns_each_kind_of_match(websocket_client):
    """A str, bytes, a pattern, a dict and a predicate each match the echo, and expect() returns it."""
    async with websocket_client.get("chat") as chat:
        await chat.send("hello")
        assert await chat.expect("hello") == "hello"
        await chat.send(b"\x00\x01")
        assert await chat.expect(b"\x00\x01") == b"\x00\x01"
        await chat.send("user 12 joined")
        assert await chat.expect(re.compile(r"user \d+ joined")) == "user 12 joined"
        await chat.send(json.dumps({"type": "joined", "user": {"name": "bob", "id": 7}}))
        message = await chat.expect({"type": "joined", "user": {"name": "bob"}})
        assert json.loads(message)["user"]["id"] == 7
        await chat.send_json({"n": 3})
        await chat.expect(lambda m: json.loads(m)["n"] > 2)
        await chat.send(json.dumps({"binary": True}).encode())
        await chat.expect({"binary": True})  # JSON in a binary message


async def test_expect_mismatch_shows_expected_arrived_and_transcript(websocket_client):
    async with websocket_client.get("chat") as chat:
        await chat.send("hallo")
        with pytest.raises(AssertionError) as info:
            await chat.expect("hello")
    lines = str(info.value).splitlines()
    assert lines[0] == "expect() on /chat: the message that arrived does not match."
    assert lines[1] == "  expected: the text message 'hello' (5 chars)"
    assert lines[2] == "  arrived:  a text message of 5 chars: 'hallo'"
    assert lines[3] == "  mismatch: they differ from character 1 on: expected 'ello', got 'allo'"
    assert lines[4] == "WebSocket /chat, 2 events:"
    assert re.fullmatch(r"  \+\d+\.\d{3}s  sent      text    5 bytes  'hallo'", lines[5])
    assert re.fullmatch(r"  \+\d+\.\d{3}s  received  text    5 bytes  'hallo'", lines[6])


async def test_expect_type_mismatch_says_text_or_binary(websocket_client):
    async with websocket_client.get("chat") as chat:
        await chat.send(b"hello")
        with pytest.raises(AssertionError) as info:
            await chat.expect("hello")
    text = str(info.value)
    assert "  arrived:  a binary message of 5 bytes: b'hello'" in text
    assert "  mismatch: a text message was expected, a binary message arrived" in text


async def test_expect_dict_mismatch_names_the_key(websocket_client):
    async with websocket_client.get("chat") as chat:
        await chat.send_json({"type": "left", "user": {"name": "alice"}})
        with pytest.raises(AssertionError) as info:
            await chat.expect({"user": {"name": "bob"}})
    assert "  mismatch: at ['user']['name']: expected 'bob', got 'alice'" in str(info.value)


async def test_expect_timeout_names_path_seconds_and_what_was_expected(websocket_client, scaled):
    seconds = scaled(0.2)
    async with websocket_client.get("chat") as chat:
        await chat.send("one")
        await chat.expect("one")
        with pytest.raises(AssertionError) as info:
            await chat.expect({"type": "joined"}, timeout=seconds)
        # Nothing was lost: the connection still works.
        await chat.send("two")
        await chat.expect("two")
    lines = str(info.value).splitlines()
    assert lines[0] == f"expect() on /chat: no message arrived within {seconds:g} seconds (the timeout= of expect())."
    assert lines[1] == "  expected: a JSON object with {'type': 'joined'}"
    assert lines[2] == "WebSocket /chat, 2 events:"
    assert info.value.__cause__ is None and info.value.__suppress_context__


async def test_expect_default_timeout_is_the_connections(websocket_client, scaled):
    seconds = scaled(0.2)
    async with websocket_client.get("chat", timeout=seconds) as chat:
        with pytest.raises(AssertionError) as info:
            await chat.expect("x")
    assert f"no message arrived within {seconds:g} seconds (the timeout= of websocket_client.get())" in str(info.value)


async def test_expect_when_the_service_closes_says_how(websocket_client, service_config):
    size = chat_settings(service_config)["max-remote-payload"] + 1
    async with websocket_client.get("chat") as chat:
        await chat.send(b"x" * size)
        with pytest.raises(AssertionError) as info:
            await chat.expect(b"x")
    text = str(info.value)
    assert text.startswith(
        "expect() on /chat: the connection closed before a message arrived: "
        "closed by the service with 1009 (message too big)"
    )
    assert "received  close   1009 (message too big)" in text
    assert "closed by the service: 1009 (message too big)" in text


async def test_expect_refuses_what_it_cannot_match(websocket_client):
    async with websocket_client.get("chat") as chat:
        with pytest.raises(TypeError, match=r"expect\(\) takes a str, bytes"):
            await chat.expect(42)


# ------------------------------------------------------------------ expect_silence()


async def test_expect_silence_passes_when_nothing_arrives(websocket_client, scaled):
    async with websocket_client.get("chat") as chat:
        await chat.send("x")
        await chat.expect("x")
        await chat.expect_silence(scaled(0.2))
        assert len(chat.transcript) == 2


async def test_expect_silence_names_what_arrived(websocket_client, scaled):
    seconds = scaled(0.5)
    async with websocket_client.get("chat") as chat:
        await chat.send("chatter")
        with pytest.raises(AssertionError) as info:
            await chat.expect_silence(seconds)
    lines = str(info.value).splitlines()
    assert lines[0] == (
        f"expect_silence() on /chat: a message arrived within {seconds:g} seconds, where none was expected."
    )
    assert lines[1] == "  arrived:  a text message of 7 chars: 'chatter'"
    assert lines[2] == "WebSocket /chat, 2 events:"


async def test_expect_silence_fails_when_the_connection_closes(websocket_client, service_config, scaled):
    size = chat_settings(service_config)["max-remote-payload"] + 1
    async with websocket_client.get("chat") as chat:
        await chat.send("y" * size)
        with pytest.raises(AssertionError) as info:
            await chat.expect_silence(scaled(2))
    assert "the connection closed within" in str(info.value)
    assert "closed by the service with 1009 (message too big)" in str(info.value)


async def test_expect_silence_needs_positive_seconds(websocket_client):
    async with websocket_client.get("chat") as chat:
        with pytest.raises(ValueError, match="positive number of seconds"):
            await chat.expect_silence(0)


# ------------------------------------------------------------------ expect_close()


async def test_expect_close_checks_the_services_code(websocket_client, service_config):
    size = chat_settings(service_config)["max-remote-payload"] + 1
    async with websocket_client.get("chat") as chat:
        await chat.send(b"z" * size)
        await chat.expect_close(1009)
    assert chat.close_code == 1009
    # (A note of a connection reset may come before the end: the service drops TCP at once.)
    events = [event for event in chat.transcript if event.kind != "note"]
    assert [(event.direction, event.kind) for event in events[-3:]] == [
        ("received", "close"),
        ("sent", "close"),
        ("closed", "closed"),
    ]
    assert events[-1].by == "service" and events[-1].code == 1009


async def test_expect_close_of_the_close_command(websocket_client):
    """The sample closes with 1001 when it receives the text message ``close`` (as userver's test service)."""
    async with websocket_client.get("chat") as chat:
        await chat.send("first")
        await chat.expect("first")
        await chat.send("close")
        await chat.expect_close(1001)
    closed = chat.transcript.events[-1]
    assert (closed.kind, closed.by, closed.code) == ("closed", "service", 1001)


async def test_expect_close_with_another_code_fails(websocket_client, service_config):
    size = chat_settings(service_config)["max-remote-payload"] + 1
    async with websocket_client.get("chat") as chat:
        await chat.send(b"z" * size)
        with pytest.raises(AssertionError) as info:
            await chat.expect_close(1001)
    assert (
        str(info.value)
        .splitlines()[0]
        .startswith("expect_close() on /chat: the service closed with 1009 (message too big)")
    )
    assert "where 1001 (going away) was expected." in str(info.value).splitlines()[0]


async def test_expect_close_checks_the_reason(websocket_client, service_config):
    size = chat_settings(service_config)["max-remote-payload"] + 1
    async with websocket_client.get("chat") as chat:
        await chat.send(b"z" * size)
        with pytest.raises(AssertionError) as info:
            await chat.expect_close(reason="bye")
    assert "where any code with the reason 'bye' was expected." in str(info.value)


async def test_expect_close_fails_when_a_message_arrives_first(websocket_client):
    async with websocket_client.get("chat") as chat:
        await chat.send("still here")
        with pytest.raises(AssertionError) as info:
            await chat.expect_close(1000)
    lines = str(info.value).splitlines()
    assert lines[0] == (
        "expect_close() on /chat: a message arrived where a close with 1000 (normal closure) was expected."
    )
    assert lines[1] == "  arrived:  a text message of 10 chars: 'still here'"


async def test_expect_close_timeout_says_the_service_did_not_close(websocket_client, scaled):
    seconds = scaled(0.2)
    async with websocket_client.get("chat") as chat:
        with pytest.raises(AssertionError) as info:
            await chat.expect_close(timeout=seconds)
    assert str(info.value).splitlines()[0] == (
        f"expect_close() on /chat: the service did not close the connection within {seconds:g} seconds "
        f"(the timeout= of expect_close()); a close was expected."
    )


async def test_expect_close_after_the_client_closed_fails(websocket_client):
    async with websocket_client.get("chat") as chat:
        await chat.close(4000, "done")
        with pytest.raises(AssertionError) as info:
            await chat.expect_close()
    assert str(info.value).splitlines()[0] == (
        "expect_close() on /chat: the client closed the connection, not the service: "
        "closed by the client with 4000 (private use) 'done'."
    )


# ------------------------------------------------------------------ transcript


async def test_transcript_records_messages_pings_and_the_close(websocket_client):
    async with websocket_client.get("chat") as chat:
        await chat.send("hello")
        await chat.expect("hello")
        await chat.send([b"ab", b"cd"])
        await chat.expect(b"abcd")
        pong = await chat.ping(b"beat")
        await pong
    transcript = chat.transcript
    kinds = [(event.direction, event.kind) for event in transcript]
    assert kinds == [
        ("sent", "text"),
        ("received", "text"),
        ("sent", "binary"),
        ("received", "binary"),
        ("sent", "ping"),
        ("received", "pong"),
        ("sent", "close"),
        ("received", "close"),
        ("closed", "closed"),
    ]
    assert len(transcript) == 9
    events = transcript.events
    assert events[2].fragments == 2 and events[2].size == 4 and events[2].data == b"ab"
    assert events[4].data == b"beat" == events[5].data
    assert events[-1].by == "client" and events[-1].code == 1000
    offsets = [event.offset for event in events]
    assert offsets == sorted(offsets) and offsets[0] >= 0
    text = str(transcript)
    assert text.splitlines()[0].startswith("WebSocket /chat: 9 events in ")
    assert "sent      binary  4 bytes  b'ab' ... in 2 fragments" in text
    assert "closed by the client: 1000 (normal closure)" in text


async def test_transcript_cuts_long_data_and_bounds_its_print(websocket_client):
    async with websocket_client.get("chat") as chat:
        for number in range(60):
            await chat.send(f"{number:03d}" + "x" * 1000)
        for number in range(60):
            await chat.expect(re.compile(f"{number:03d}x+"))
    text = str(chat.transcript)
    assert len(chat.transcript) == 123
    lines = text.splitlines()
    assert len(lines) == 1 + 10 + 1 + 30
    assert lines[11] == "  ... 83 events left out ..."
    assert max(len(line) for line in lines) < 160


async def test_the_client_lists_the_transcripts_of_its_connections(websocket_client):
    async with websocket_client.get("chat") as first:
        await first.send("1")
        await first.expect("1")
    async with websocket_client.get("chat?room=2") as second:
        await second.send("2")
        await second.expect("2")
    assert list(websocket_client.transcripts) == [first.transcript, second.transcript]
    text = websocket_client.transcripts.format()
    assert "[connection 1 of 2] WebSocket /chat: 5 events" in text
    assert "[connection 2 of 2] WebSocket /chat?room=2: 5 events" in text


async def test_transcript_of_text_sent_as_binary_and_bytes_sent_as_text(websocket_client):
    async with websocket_client.get("chat") as chat:
        await chat.send("héllo", text=False)
        await chat.expect("héllo".encode())
        await chat.send("héllo".encode(), text=True)
        await chat.expect("héllo")
    sent = [event for event in chat.transcript if event.direction == "sent" and event.kind != "close"]
    assert [(event.kind, event.size, event.data) for event in sent] == [
        ("binary", 6, "héllo".encode()),
        ("text", 6, "héllo"),
    ]
