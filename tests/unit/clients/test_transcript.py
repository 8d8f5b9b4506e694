"""The transcript of a connection: recording, bounds in memory and in print, and its wording."""

from __future__ import annotations

import itertools
import sys

import pytest

from pytest_wsservice.clients.transcript import Event, Transcript, close_code_text, describe_data, size_text


def ticking(step: float = 0.001):
    """A clock that starts at 100 and advances ``step`` seconds on every reading."""
    counter = itertools.count()
    return lambda: 100.0 + step * next(counter)


def test_records_messages_pings_and_close_with_offsets():
    transcript = Transcript("/chat", clock=ticking())
    transcript.record_sent("hello")
    transcript.record_received(b"\x00\x01")
    transcript.record_ping("received", b"beat")
    transcript.record_pong("sent", b"beat")
    transcript.record_close_frame("received", 1001, "bye")
    transcript.record_close_frame("sent", 1001, "bye")
    transcript.record_closed(1001, "bye", by="service")

    assert len(transcript) == 7
    events = transcript.events
    assert [event.offset for event in events] == pytest.approx([0.001 * n for n in range(1, 8)])
    assert [(event.direction, event.kind) for event in events] == [
        ("sent", "text"),
        ("received", "binary"),
        ("received", "ping"),
        ("sent", "pong"),
        ("received", "close"),
        ("sent", "close"),
        ("closed", "closed"),
    ]
    assert events[0] == Event(pytest.approx(0.001), "sent", "text", 5, "hello")
    assert events[-1].code == 1001 and events[-1].by == "service" and events[-1].data == "bye"
    assert transcript.sent == ["hello"]
    assert transcript.received == [b"\x00\x01"]
    assert transcript.elapsed() == pytest.approx(0.007)


def test_str_is_readable():
    transcript = Transcript("/chat", clock=ticking())
    transcript.record_sent("hello")
    transcript.record_received("hello")
    transcript.record_ping("sent", b"")
    transcript.record_pong("received", b"")
    transcript.record_note("did not answer a ping: pongs are dropped")
    transcript.record_closed(1000, "", by="client")

    assert str(transcript) == "\n".join(
        [
            "WebSocket /chat: 6 events in 0.006 s",
            "  +0.001s  sent      text    5 bytes  'hello'",
            "  +0.002s  received  text    5 bytes  'hello'",
            "  +0.003s  sent      ping    0 bytes  b''",
            "  +0.004s  received  pong    0 bytes  b''",
            "  +0.005s  note      did not answer a ping: pongs are dropped",
            "  +0.006s  closed by the client: 1000 (normal closure)",
        ]
    )


def test_lost_connection_and_close_frames_are_worded():
    transcript = Transcript("/chat", clock=ticking())
    transcript.record_close_frame("sent", 4000, "custom")
    transcript.record_closed(1006, "", by="")
    lines = str(transcript).splitlines()
    assert lines[1] == "  +0.001s  sent      close   4000 (private use) 'custom'"
    assert lines[2] == "  +0.002s  connection lost: 1006 (connection lost without a close frame)"


def test_an_empty_transcript_says_so():
    transcript = Transcript("/chat")
    assert len(transcript) == 0
    assert str(transcript) == "WebSocket /chat: 0 events in 0.000 s (nothing was sent or received)"
    assert transcript.recent() == "WebSocket /chat: 0 events, none shown"
    assert repr(transcript) == "<Transcript /chat 0 events>"


def test_message_data_is_cut_when_recorded_but_the_size_is_the_whole():
    transcript = Transcript("/big", data_chars=8)
    transcript.record_received("x" * 50_000)
    transcript.record_sent(bytearray(b"y" * 20))
    transcript.record_sent(memoryview(b"z" * 3))
    received, sent, small = transcript.events
    assert received.data == "x" * 8 and received.size == 50_000
    assert sent.data == b"y" * 8 and type(sent.data) is bytes and sent.size == 20
    assert small.data == b"zzz" and type(small.data) is bytes
    assert str(received).endswith("received  text    50000 bytes 'xxxxxxxx' ...")
    assert str(small).endswith("sent      binary  3 bytes  b'zzz'")


def test_memory_is_bounded_and_the_rest_is_counted():
    transcript = Transcript("/flood", keep_first=3, keep_last=5, clock=ticking())
    for number in range(1000):
        transcript.record_received(str(number))
    assert len(transcript) == 1000
    assert transcript.left_out == 992
    assert [event.data for event in transcript] == ["0", "1", "2", "995", "996", "997", "998", "999"]
    text = str(transcript)
    assert text.splitlines()[0] == "WebSocket /flood: 1000 events in 1.000 s"
    assert "  ... 992 events left out ..." in text.splitlines()
    assert text.index("'2'") < text.index("992 events left out") < text.index("'995'")


def test_large_transcripts_keep_little_memory():
    transcript = Transcript("/flood", keep_first=10, keep_last=10, data_chars=16)
    for _ in range(10_000):
        transcript.record_received("x" * 10_000)
    kept = transcript.events
    assert len(kept) == 20
    assert sum(sys.getsizeof(event.data) for event in kept) < 20 * 100


def test_printing_shows_the_first_and_last_events_and_counts_the_rest():
    transcript = Transcript("/chat", clock=ticking())
    for number in range(100):
        transcript.record_sent(f"m{number}")
    lines = transcript.format(first=2, last=3).splitlines()
    assert lines[0] == "WebSocket /chat: 100 events in 0.100 s"
    assert [line.split()[-1] for line in lines[1:3]] == ["'m0'", "'m1'"]
    assert lines[3] == "  ... 95 events left out ..."
    assert [line.split()[-1] for line in lines[4:]] == ["'m97'", "'m98'", "'m99'"]
    # The default print is bounded too.
    assert len(str(transcript).splitlines()) == 1 + 10 + 1 + 30


def test_printing_counts_both_the_printed_gap_and_the_memory_gap():
    transcript = Transcript("/chat", keep_first=4, keep_last=4, clock=ticking())
    for number in range(20):
        transcript.record_sent(f"m{number}")
    # Everything kept fits the print: the gap is the one the transcript left in memory.
    lines = transcript.format(first=10, last=10).splitlines()
    assert lines[5] == "  ... 12 events left out ..."
    assert len(lines) == 1 + 4 + 1 + 4
    # Printing fewer than kept: one gap line counting both.
    lines = transcript.format(first=1, last=1).splitlines()
    assert lines[1].endswith("'m0'") and lines[2] == "  ... 18 events left out ..." and lines[3].endswith("'m19'")


def test_recent_shows_the_last_events():
    transcript = Transcript("/chat", clock=ticking())
    for number in range(5):
        transcript.record_received(f"m{number}")
    lines = transcript.recent(2).splitlines()
    assert lines[0] == "WebSocket /chat, the last 2 of 5 events:"
    assert lines[1].endswith("'m3'") and lines[2].endswith("'m4'")
    assert transcript.recent(10).splitlines()[0] == "WebSocket /chat, 5 events:"


def test_helpers_word_codes_sizes_and_data():
    assert close_code_text(1000) == "1000 (normal closure)"
    assert close_code_text(1009) == "1009 (message too big)"
    assert close_code_text(3001) == "3001 (registered use)"
    assert close_code_text(4321) == "4321 (private use)"
    assert close_code_text(1234) == "1234 (unknown)"
    assert close_code_text(None) == "none"
    assert size_text("a") == "1 char" and size_text("ab") == "2 chars"
    assert size_text(b"a") == "1 byte" and size_text(b"") == "0 bytes"
    assert describe_data("abcdef", 3) == "'abc' ..."
    assert describe_data(b"ab", 3) == "b'ab'"


def test_bad_bounds_are_refused():
    with pytest.raises(ValueError, match="keep_last >= 1"):
        Transcript("/chat", keep_last=0)


def test_text_sizes_are_utf8_bytes_and_fragments_are_counted():
    transcript = Transcript("/chat", clock=ticking())
    transcript.record_sent("héllo")
    transcript.record_message("received", "text", 50_000, "x" * 100, fragments=5000)
    transcript.record_message("received", "binary", 3, bytearray(b"abc"))
    sent, big, small = transcript.events
    assert sent.size == 6 and sent.kind == "text"
    assert str(sent).endswith("sent      text    6 bytes  'héllo'")
    assert big.fragments == 5000 and big.data == "x" * 80
    assert str(big).endswith("received  text    50000 bytes '" + "x" * 80 + "' ... in 5000 fragments")
    assert small.data == b"abc" and type(small.data) is bytes
