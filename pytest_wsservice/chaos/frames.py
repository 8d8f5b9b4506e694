"""Follow one direction of a WebSocket connection, frame by frame, as bytes pass the gate.

The gate forwards TCP bytes; it does not decode WebSocket messages. To cut a connection
*inside* a frame it still needs to know where frames begin. :class:`FrameTracker` reads
only what RFC 6455 puts in front of the payload:

1. the HTTP head of the opening handshake, up to the empty line. From the client it is a
   request: the stream carries frames after it if the request asks for
   ``Upgrade: websocket``. From the server it is a response: frames follow ``101``.
   Anything else (plain HTTP, a refused handshake, a head over 64 KiB) makes the stream
   *opaque*: the tracker stops looking at it and the gate forwards it as it is;
2. then frame headers: two bytes (FIN, RSV, opcode; MASK, 7-bit length), the extended
   length (2 or 8 bytes when the 7-bit length is 126 or 127), and the 4-byte masking key
   when MASK is set (client frames are masked, server frames are not). The payload is
   skipped by count, never copied or unmasked.

The tracker only ever sees the bytes the gate *delivers* (after a policy has delayed,
dropped or rewritten them), so it follows the stream the receiving peer parses. A policy
that corrupts or rewrites frame headers loses the frame boundaries; the tracker then follows
the garbage as the peer would.

The cut. With ``cut=True``, :meth:`FrameTracker.advance` stops inside the first *data* frame
(opcode 0 continuation, 1 text, 2 binary) whose header ends in the bytes it is given and
whose payload is not empty: the header and ``payload_length // 2`` bytes of the payload pass,
and the rest does not. Control frames (ping, pong, close) and empty data frames pass whole.
"""

from __future__ import annotations

import enum

__all__ = ["FrameTracker", "StreamMode"]

# Frame opcodes that carry message data (RFC 6455 section 5.2).
DATA_OPCODES = frozenset({0x0, 0x1, 0x2})

# The longest HTTP head the tracker waits for before it gives up on the stream.
MAX_HEAD = 64 * 1024


class StreamMode(enum.Enum):
    """What the tracker expects next in the stream."""

    HEAD = "http head"
    FRAMES = "websocket frames"
    OPAQUE = "opaque"


def header_size(second_byte: int) -> int:
    """The size of a frame header, from its second byte (MASK bit and 7-bit length)."""
    length7 = second_byte & 0x7F
    extended = 2 if length7 == 126 else 8 if length7 == 127 else 0
    return 2 + extended + (4 if second_byte & 0x80 else 0)


def payload_length(header: bytes | bytearray) -> int:
    """The payload length that a complete frame header announces."""
    length7 = header[1] & 0x7F
    if length7 == 126:
        return int.from_bytes(header[2:4], "big")
    if length7 == 127:
        return int.from_bytes(header[2:10], "big")
    return length7


class FrameTracker:
    """Tracks the frame boundaries of one direction of one connection through the gate.

    Args:
        from_client: True for the client-to-server direction (its head is an HTTP
            request), False for server-to-client (its head is an HTTP response).

    Attributes:
        mode: What the tracker expects next (:class:`StreamMode`).
        frames: How many complete frame headers it has seen.
        data_frames: How many of them were data frames.
    """

    def __init__(self, *, from_client: bool) -> None:
        self.from_client = from_client
        self.mode = StreamMode.HEAD
        self.frames = 0
        self.data_frames = 0
        self._head = bytearray()
        self._header = bytearray()
        self._payload_left = 0
        # While cutting: the payload bytes of the chosen frame that still pass before the cut.
        self._keep_left: int | None = None
        # Set by _follow_header when it completes a header: for the cut decision.
        self._header_done_now = False
        self._last_opcode = -1

    def advance(self, data: bytes | bytearray | memoryview, *, cut: bool = False) -> int | None:
        """Follow ``data``, the next bytes delivered in this direction.

        Returns ``None`` when all of ``data`` passes. With ``cut=True`` it may instead return
        the offset in ``data`` where the cut falls (see the module docstring): the tracker then
        has followed ``data[:offset]`` only, and the caller must deliver exactly that much.
        """
        view = memoryview(data)
        if not cut:
            self._keep_left = None
        pos, end = 0, len(view)
        while pos < end:
            if self.mode is StreamMode.OPAQUE:
                return None
            if self.mode is StreamMode.HEAD:
                pos = self._follow_head(view, pos)
                continue
            if self._payload_left:
                take = min(self._payload_left, end - pos)
                if self._keep_left is not None and take >= self._keep_left:
                    self._payload_left -= self._keep_left
                    return pos + self._keep_left
                if self._keep_left is not None:
                    self._keep_left -= take
                self._payload_left -= take
                pos += take
                continue
            self._keep_left = None
            pos = self._follow_header(view, pos)
            if cut and self._payload_left and self._header_done_now and self._last_opcode in DATA_OPCODES:
                self._keep_left = self._payload_left // 2
                if self._keep_left == 0:
                    return pos
        return None

    def _follow_head(self, view: memoryview, pos: int) -> int:
        before = len(self._head)
        self._head += view[pos:]
        found = self._head.find(b"\r\n\r\n", max(0, before - 3))
        if found < 0:
            if len(self._head) > MAX_HEAD:
                self._become_opaque()
            return len(view)
        head = bytes(self._head[: found + 4])
        self._head = bytearray()
        self.mode = StreamMode.FRAMES if self._opens_websocket(head) else StreamMode.OPAQUE
        return pos + (found + 4 - before)

    def _opens_websocket(self, head: bytes) -> bool:
        lines = head.split(b"\r\n")
        if self.from_client:
            return any(
                name.strip().lower() == b"upgrade" and value.strip().lower() == b"websocket"
                for name, _, value in (line.partition(b":") for line in lines[1:])
            )
        status = lines[0].split(b" ", 2)
        return len(status) >= 2 and status[1] == b"101"

    def _follow_header(self, view: memoryview, pos: int) -> int:
        self._header_done_now = False
        header = self._header
        need = 2 if len(header) < 2 else header_size(header[1])
        while len(header) < need:
            missing = need - len(header)
            header += view[pos : pos + missing]
            pos += min(missing, len(view) - pos)
            if len(header) < need:
                return pos  # the header continues in the next bytes
            if need == 2:
                need = header_size(header[1])
        self.frames += 1
        self._last_opcode = header[0] & 0x0F
        if self._last_opcode in DATA_OPCODES:
            self.data_frames += 1
        self._payload_left = payload_length(header)
        self._header_done_now = True
        self._header = bytearray()
        return pos

    def _become_opaque(self) -> None:
        self.mode = StreamMode.OPAQUE
        self._head = bytearray()
        self._header = bytearray()
        self._payload_left = 0
        self._keep_left = None
