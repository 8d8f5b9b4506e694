"""FrameTracker: where RFC 6455 frames begin in a byte stream, and where the cut falls."""

from __future__ import annotations

import pytest

from pytest_wsservice.chaos import FrameTracker
from pytest_wsservice.chaos.frames import StreamMode, header_size

REQUEST = (
    b"GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
RESPONSE = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"


def frame(opcode: int, payload: bytes, *, masked: bool) -> bytes:
    """One final frame, built by hand (the mask key is fixed; the payload is not masked: the tracker never looks)."""
    size = len(payload)
    if size < 126:
        length = bytes([(0x80 if masked else 0) | size])
    elif size < 65536:
        length = bytes([(0x80 if masked else 0) | 126]) + size.to_bytes(2, "big")
    else:
        length = bytes([(0x80 if masked else 0) | 127]) + size.to_bytes(8, "big")
    return bytes([0x80 | opcode]) + length + (b"\x01\x02\x03\x04" if masked else b"") + payload


def test_header_sizes():
    assert header_size(5) == 2
    assert header_size(0x80 | 5) == 6
    assert header_size(126) == 4
    assert header_size(0x80 | 126) == 8
    assert header_size(127) == 10
    assert header_size(0x80 | 127) == 14


@pytest.mark.parametrize("from_client", [True, False])
@pytest.mark.parametrize("size", [1, 2, 125, 126, 1000, 65535, 70000])
def test_cut_keeps_header_and_half_the_payload(from_client, size):
    head = REQUEST if from_client else RESPONSE
    data_frame = frame(0x2, b"p" * size, masked=from_client)
    stream = head + frame(0x9, b"ping", masked=from_client) + frame(0x1, b"", masked=from_client) + data_frame
    tracker = FrameTracker(from_client=from_client)
    offset = tracker.advance(stream, cut=True)
    header = header_size(data_frame[1])
    assert offset == len(stream) - len(data_frame) + header + size // 2
    assert tracker.mode is StreamMode.FRAMES
    assert tracker.frames == 3
    assert tracker.data_frames == 2


@pytest.mark.parametrize("size", [3, 300, 70000])
def test_cut_found_when_fed_byte_by_byte(size):
    data_frame = frame(0x1, b"t" * size, masked=True)
    stream = REQUEST + frame(0x1, b"before", masked=True) + data_frame
    tracker = FrameTracker(from_client=True)
    tracker.advance(REQUEST + frame(0x1, b"before", masked=True))  # passed before the cut was asked for
    start = len(REQUEST) + len(frame(0x1, b"before", masked=True))
    cut_at = None
    for position in range(start, len(stream)):
        offset = tracker.advance(stream[position : position + 1], cut=True)
        if offset is not None:
            cut_at = position + offset
            break
    assert cut_at == start + header_size(data_frame[1]) + size // 2


def test_frames_passed_without_cut_are_followed_across_reads():
    stream = RESPONSE + frame(0x1, b"a" * 300, masked=False) + frame(0x2, b"b" * 5, masked=False)
    tracker = FrameTracker(from_client=False)
    for start in range(0, len(stream), 7):
        assert tracker.advance(stream[start : start + 7]) is None
    assert (tracker.frames, tracker.data_frames) == (2, 2)
    # Now the next data frame is cut.
    assert tracker.advance(frame(0x1, b"cdef", masked=False), cut=True) == 2 + 2


def test_cut_waits_for_the_next_frame_not_the_current_one():
    tracker = FrameTracker(from_client=False)
    current = frame(0x1, b"x" * 10, masked=False)
    tracker.advance(RESPONSE + current[:5])  # inside the current frame's payload
    following = frame(0x1, b"y" * 4, masked=False)
    assert tracker.advance(current[5:] + following, cut=True) == len(current) - 5 + 2 + 2


@pytest.mark.parametrize(
    ("from_client", "head"),
    [
        (True, b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"),
        (False, b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"),
        (False, b"HTTP/1.1 200 OK\r\n\r\n"),
    ],
)
def test_plain_http_is_opaque_and_never_cut(from_client, head):
    tracker = FrameTracker(from_client=from_client)
    assert tracker.advance(head + frame(0x1, b"looks like a frame", masked=from_client), cut=True) is None
    assert tracker.mode is StreamMode.OPAQUE


def test_a_head_that_never_ends_becomes_opaque():
    tracker = FrameTracker(from_client=True)
    for _ in range(70):
        tracker.advance(b"x" * 1024, cut=True)
    assert tracker.mode is StreamMode.OPAQUE


def test_head_split_across_reads():
    tracker = FrameTracker(from_client=True)
    for position in range(len(REQUEST)):
        assert tracker.advance(REQUEST[position : position + 1], cut=True) is None
    assert tracker.mode is StreamMode.FRAMES
