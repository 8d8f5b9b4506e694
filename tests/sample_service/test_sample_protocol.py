"""Strict RFC 6455 on /chat, driven with hand-built frames over raw TCP sockets.

The shared service has max-remote-payload 4096 and fragment-size 1000. Each violation must
close that one connection with the right code and must not disturb anyone else.
"""

from __future__ import annotations

import struct

import pytest

TEXT, BINARY, CONTINUATION, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return struct.pack("!H", code) + reason


def assert_closed_with(conn, code: int) -> None:
    assert conn.recv_close() == code
    assert conn.at_eof(), "the service kept the TCP connection open after its close frame"


def test_outgoing_message_is_split_into_fragment_size_frames(sample_service, raw_ws):
    """A 2500-byte message comes back as frames of 1000, 1000 and 500 bytes: the first typed, the rest continuations, FIN on the last."""
    conn = raw_ws(sample_service.port)
    payload = bytes(range(256)) * 9 + bytes(196)
    conn.send(BINARY, payload)
    frames = [conn.recv_frame() for _ in range(3)]
    assert [(fin, opcode, len(data)) for fin, _, opcode, data in frames] == [
        (False, BINARY, 1000),
        (False, CONTINUATION, 1000),
        (True, CONTINUATION, 500),
    ]
    assert b"".join(data for *_, data in frames) == payload


def test_message_of_fragment_size_is_one_frame(sample_service, raw_ws):
    """A text message of exactly fragment-size bytes comes back as one final text frame."""
    conn = raw_ws(sample_service.port)
    conn.send(TEXT, b"a" * 1000)
    assert conn.recv_frame() == (True, 0, TEXT, b"a" * 1000)


def test_ping_between_fragments_gets_pong_and_message_stays_whole(sample_service, raw_ws):
    """A ping between the fragments of a message gets a pong with its payload first, then the whole message."""
    conn = raw_ws(sample_service.port)
    conn.send(TEXT, b"hel", fin=False)
    conn.send(PING, b"ping-payload")
    conn.send(CONTINUATION, b"lo", fin=False)
    conn.send(CONTINUATION, b" world")
    assert conn.recv_frame() == (True, 0, PONG, b"ping-payload")
    assert conn.recv_frame() == (True, 0, TEXT, b"hello world")


def test_ping_gets_pong_with_same_payload(sample_service, raw_ws):
    """A ping with a 125-byte payload is answered by a pong with the same payload."""
    conn = raw_ws(sample_service.port)
    conn.send(PING, bytes(range(125)))
    assert conn.recv_frame() == (True, 0, PONG, bytes(range(125)))


def test_unsolicited_pong_is_ignored(sample_service, raw_ws):
    """An unsolicited pong gets no answer and the connection keeps echoing."""
    conn = raw_ws(sample_service.port)
    conn.send(PONG, b"heartbeat")
    conn.send(TEXT, b"after pong")
    assert conn.recv_message() == (TEXT, b"after pong")


def test_invalid_utf8_text_closes_with_1007(sample_service, raw_ws):
    """A text message that is not valid UTF-8 closes the connection with 1007."""
    conn = raw_ws(sample_service.port)
    conn.send(TEXT, b"caf\xc3")
    assert_closed_with(conn, 1007)


def test_invalid_utf8_split_across_fragments_closes_with_1007(sample_service, raw_ws):
    """Invalid UTF-8 in the last fragment of a text message closes with 1007, after a valid first fragment."""
    conn = raw_ws(sample_service.port)
    conn.send(TEXT, "déjà ".encode(), fin=False)
    conn.send(CONTINUATION, b"\xed\xa0\x80")  # an encoded UTF-16 surrogate: never valid UTF-8
    assert_closed_with(conn, 1007)


def test_utf8_character_split_across_fragments_is_valid(sample_service, raw_ws):
    """A multi-byte character split between two fragments is valid UTF-8 and comes back whole."""
    conn = raw_ws(sample_service.port)
    encoded = "€".encode()
    conn.send(TEXT, encoded[:1], fin=False)
    conn.send(CONTINUATION, encoded[1:])
    assert conn.recv_message() == (TEXT, encoded)


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535])
def test_invalid_close_code_closes_with_1002(sample_service, raw_ws, code):
    """A close frame with a code that must not be sent on the wire is answered with 1002."""
    conn = raw_ws(sample_service.port)
    conn.send(CLOSE, close_payload(code))
    assert_closed_with(conn, 1002)


@pytest.mark.parametrize("code", [1000, 1002, 1007, 1012, 1013, 1014, 3000, 4999])
def test_valid_close_code_is_echoed(sample_service, raw_ws, code):
    """A close frame with any valid code, a reason included, is answered with the same code."""
    conn = raw_ws(sample_service.port)
    conn.send(CLOSE, close_payload(code, b"reason"))
    assert_closed_with(conn, code)


def test_close_without_code_is_answered_with_1000(sample_service, raw_ws):
    """An empty close frame (no status code) is answered with 1000."""
    conn = raw_ws(sample_service.port)
    conn.send(CLOSE)
    assert_closed_with(conn, 1000)


def test_close_with_one_byte_payload_closes_with_1002(sample_service, raw_ws):
    """A close frame whose payload is a single byte (half a code) closes with 1002."""
    conn = raw_ws(sample_service.port)
    conn.send(CLOSE, b"\x03")
    assert_closed_with(conn, 1002)


def test_close_reason_with_invalid_utf8_closes_with_1007(sample_service, raw_ws):
    """A close reason that is not valid UTF-8 closes with 1007."""
    conn = raw_ws(sample_service.port)
    conn.send(CLOSE, close_payload(1000, b"\xff\xfe"))
    assert_closed_with(conn, 1007)


@pytest.mark.parametrize("rsv", [0b100, 0b010, 0b001, 0b111])
def test_reserved_bits_close_with_1002(sample_service, raw_ws, rsv):
    """A frame with any reserved bit set (no extension is negotiated) closes with 1002."""
    conn = raw_ws(sample_service.port)
    conn.send(TEXT, b"hi", rsv=rsv)
    assert_closed_with(conn, 1002)


@pytest.mark.parametrize("opcode", [0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_unknown_opcode_closes_with_1002(sample_service, raw_ws, opcode):
    """A frame with a reserved opcode closes with 1002."""
    conn = raw_ws(sample_service.port)
    conn.send(opcode, b"x")
    assert_closed_with(conn, 1002)


def test_unmasked_client_frame_closes_with_1002(sample_service, raw_ws):
    """An unmasked frame from the client closes with 1002, also after a good message."""
    conn = raw_ws(sample_service.port)
    conn.send(TEXT, b"masked")
    assert conn.recv_message() == (TEXT, b"masked")
    conn.send(TEXT, b"unmasked", mask=False)
    assert_closed_with(conn, 1002)


def test_frames_split_at_every_byte_are_read_correctly(sample_service, raw_ws):
    """Frames of every header size, delivered one byte at a time, are all echoed: the mask check keeps its place in the stream."""
    conn = raw_ws(sample_service.port)
    payloads = [b"", b"a", b"b" * 125, b"c" * 126, b"d" * 1500]
    stream = b"".join(conn.frame(BINARY, payload) for payload in payloads)
    for i in range(len(stream)):
        conn.send_raw(stream[i : i + 1])
    assert [conn.recv_message() for _ in payloads] == [(BINARY, p) for p in payloads]


def test_control_frame_over_125_bytes_closes_with_1002(sample_service, raw_ws):
    """A ping with a 126-byte payload closes with 1002."""
    conn = raw_ws(sample_service.port)
    conn.send(PING, b"x" * 126)
    assert_closed_with(conn, 1002)


def test_fragmented_control_frame_closes_with_1002(sample_service, raw_ws):
    """A ping without FIN closes with 1002."""
    conn = raw_ws(sample_service.port)
    conn.send(PING, b"x", fin=False)
    assert_closed_with(conn, 1002)


def test_continuation_without_start_closes_with_1002(sample_service, raw_ws):
    """A continuation frame with no message started closes with 1002."""
    conn = raw_ws(sample_service.port)
    conn.send(CONTINUATION, b"orphan")
    assert_closed_with(conn, 1002)


def test_new_message_inside_fragmented_message_closes_with_1002(sample_service, raw_ws):
    """A text frame while a fragmented message is still open closes with 1002."""
    conn = raw_ws(sample_service.port)
    conn.send(TEXT, b"first", fin=False)
    conn.send(TEXT, b"second")
    assert_closed_with(conn, 1002)


def test_oversized_single_frame_closes_with_1009(sample_service, raw_ws):
    """One frame of max-remote-payload + 1 bytes closes with 1009."""
    conn = raw_ws(sample_service.port)
    conn.send(BINARY, b"x" * 4097)
    assert_closed_with(conn, 1009)


def test_oversized_fragmented_message_closes_with_1009(sample_service, raw_ws):
    """Fragments that together exceed max-remote-payload close with 1009, though each is small."""
    conn = raw_ws(sample_service.port)
    conn.send(TEXT, b"x" * 3000, fin=False)
    conn.send(CONTINUATION, b"x" * 1097)
    assert_closed_with(conn, 1009)


def test_violations_do_not_disturb_other_connections(sample_service, raw_ws):
    """A connection open beside a burst of protocol violations keeps echoing, and a new one opens fine."""
    bystander = raw_ws(sample_service.port)
    offenders = [raw_ws(sample_service.port) for _ in range(5)]
    offenders[0].send(TEXT, b"\xff")
    offenders[1].send(0x3, b"x")
    offenders[2].send(TEXT, b"x", mask=False)
    offenders[3].send(BINARY, b"x" * 5000)
    offenders[4].send_raw(b"\x81\xff")  # a header cut short, then the client vanishes
    offenders[4].close()
    for conn, code in zip(offenders[:4], (1007, 1002, 1002, 1009), strict=False):
        assert conn.recv_close() == code
    bystander.send(TEXT, b"still here")
    assert bystander.recv_message() == (TEXT, b"still here")
    newcomer = raw_ws(sample_service.port)
    newcomer.send(TEXT, b"hello")
    assert newcomer.recv_message() == (TEXT, b"hello")
