"""Reject unmasked client frames, which aiohttp's frame reader accepts.

RFC 6455 section 5.1: "a server MUST close the connection upon receiving a frame that is not
masked", with 1002. aiohttp reads the mask bit and carries on either way, and offers no hook
in its reader, so :class:`MaskCheck` sits between the transport and aiohttp's protocol
(swapped in with the public ``transport.set_protocol``). It walks the frame headers in the
byte stream, only far enough to read each mask bit and payload length, and hands every
byte on unchanged. At the first unmasked frame it hands on the bytes before that frame
followed by a frame header that aiohttp itself must reject with 1002 (opcode 0xF is
reserved), so the close, its code and the connection's end all take aiohttp's usual path.

The walk is a few integer operations per frame header; the payload bytes are skipped, not
read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

__all__ = ["MaskCheck"]

# FIN + reserved opcode 0xF, masked, empty: aiohttp answers it with close code 1002.
_REJECTED_FRAME = b"\x8f\x80\x00\x00\x00\x00"


class MaskCheck(asyncio.Protocol):
    """A pass-through protocol that checks that every client frame is masked.

    Args:
        inner: The protocol that gets the bytes (aiohttp's request handler).
        on_violation: Called once, with a description, at the first unmasked frame.
    """

    __slots__ = ("_failed", "_inner", "_on_violation", "_pending", "_skip")

    def __init__(self, inner: Any, on_violation: Callable[[str], None]) -> None:
        self._inner = inner
        self._on_violation = on_violation
        self._skip = 0  # bytes of the current frame (mask key + payload) not yet seen
        self._pending = b""  # the start of a frame header that a read split in two
        self._failed = False

    @classmethod
    def install(cls, transport: asyncio.Transport, on_violation: Callable[[str], None]) -> MaskCheck:
        """Put a check in front of the transport's current protocol; return it.

        Install it right after the 101 response, at a frame boundary: bytes the transport
        already delivered are not checked.
        """
        check = cls(transport.get_protocol(), on_violation)
        transport.set_protocol(check)
        return check

    def data_received(self, data: bytes) -> None:
        if self._failed:
            return
        buf = self._pending + data if self._pending else data
        size = len(buf)
        pos = 0
        skip = self._skip
        while True:
            if skip:
                if size - pos <= skip:
                    self._skip = skip - (size - pos)
                    pos = size
                    break
                pos += skip
                skip = 0
            if size - pos < 2:
                self._skip = 0
                break
            second = buf[pos + 1]
            if second < 0x80:
                self._fail(buf[:pos])
                return
            length = second & 0x7F
            if length < 126:
                pos += 2
            elif length == 126:
                if size - pos < 4:
                    self._skip = 0
                    break
                length = buf[pos + 2] << 8 | buf[pos + 3]
                pos += 4
            else:
                if size - pos < 10:
                    self._skip = 0
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                pos += 10
            skip = 4 + length  # the mask key, then the payload
        # Hold back a header split by the read, so that a rejection can replace it whole.
        if pos < size:
            self._pending = buf[pos:]
            buf = buf[:pos]
        else:
            self._pending = b""
        if buf:
            self._inner.data_received(buf)

    def _fail(self, good: bytes) -> None:
        self._failed = True
        self._on_violation("client frame not masked (RFC 6455 section 5.1)")
        self._inner.data_received(good + _REJECTED_FRAME)

    def eof_received(self) -> bool | None:
        keep_open: bool | None = self._inner.eof_received()
        return keep_open

    def connection_lost(self, exc: Exception | None) -> None:
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()
