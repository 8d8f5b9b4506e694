"""What the gate does with the bytes of one direction: the policies behind ``to_server_*`` and ``to_client_*``.

A policy is set for a direction of the whole gate and applies to every connection through
it, the open ones included, from the next bytes that reach the gate on. Its state is either
the gate's (a bandwidth budget or a byte count shared by all connections of that direction,
as a network's would be) or the connection's (bytes held back, a lifetime timer); the
connection's state is dropped when the policy is replaced, and bytes a policy holds back
are delivered first.

Each policy works on a :class:`Pump`, one direction of one connection: it reads from the
source socket (which has data ready), and queues bytes for the destination, each with the
moment it may be delivered. The pump's writer delivers them in order.
"""

from __future__ import annotations

import random
import re
from typing import Protocol

from .frames import FrameTracker

__all__ = [
    "CHUNK",
    "CloseOnData",
    "ConcatPackets",
    "CorruptData",
    "CutMidFrame",
    "Delay",
    "Drop",
    "LimitBps",
    "LimitBytes",
    "LimitTime",
    "Noop",
    "Pass",
    "Policy",
    "Pump",
    "SmallerParts",
    "Substitute",
]

#: The most a policy reads from a socket at once.
CHUNK = 64 * 1024

_INVERT = bytes(255 - value for value in range(256))


class Pump(Protocol):
    """One direction of one connection, as a policy sees it."""

    tracker: FrameTracker
    #: Bytes a policy holds back on this connection (``concat_packets``).
    held: bytearray
    #: When the last queued bytes are due (for policies that space them out).
    last_due: float
    #: Set by a policy to stop reading this direction until the next policy change.
    stalled: bool

    def now(self) -> float:
        """The gate loop's clock."""

    def recv(self, size: int) -> bytes:
        """Read up to ``size`` bytes that are ready on the source."""

    def peek(self, size: int) -> bytes:
        """Look at up to ``size`` ready bytes without consuming them."""

    async def emit(self, data: bytes, *, due: float = 0.0, track: bool = True) -> None:
        """Queue ``data`` for the destination, not before ``due`` on :meth:`now`'s clock."""

    async def emit_close(self, reason: str, *, everything: bool = False) -> None:
        """Queue the close of this connection (or, with ``everything``, of all the gate's)."""

    def abort(self, reason: str) -> None:
        """Close this connection now."""

    def arm_timer(self, delay: float, reason: str) -> None:
        """Close this connection in ``delay`` seconds, unless the policy changes first."""

    def timer_armed(self) -> bool:
        """Whether :meth:`arm_timer` was called under the current policy."""


class Policy:
    """Forward the bytes as they come (the base of every policy, and ``pass``)."""

    #: False for a policy that leaves the bytes in the source socket.
    reads = True

    def __str__(self) -> str:
        return "pass"

    async def step(self, pump: Pump) -> None:
        """Handle the bytes that are ready on the source."""
        await pump.emit(pump.recv(CHUNK))

    async def leave(self, pump: Pump) -> None:
        """Deliver what this policy holds back for ``pump`` (the policy changes, or the source ended)."""


class Pass(Policy):
    """``pass``: forward the bytes as they come."""


class Noop(Policy):
    """``noop``: read nothing, so the bytes wait in the kernel's buffers and the sender's writes stall."""

    reads = False

    def __str__(self) -> str:
        return "noop"


class Drop(Policy):
    """``drop``: read the bytes and throw them away; the connection stays open."""

    def __str__(self) -> str:
        return "drop"

    async def step(self, pump: Pump) -> None:
        pump.recv(CHUNK)


class Delay(Policy):
    """``delay(seconds)``: deliver every byte ``seconds`` after it reached the gate (latency, not a rate limit)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = _non_negative("delay", seconds)

    def __str__(self) -> str:
        return f"delay({self.seconds:g})"

    async def step(self, pump: Pump) -> None:
        await pump.emit(pump.recv(CHUNK), due=pump.now() + self.seconds)


class CloseOnData(Policy):
    """``close_on_data``: close the connection (both sides) when the first byte arrives."""

    def __str__(self) -> str:
        return "close_on_data"

    async def step(self, pump: Pump) -> None:
        pump.abort("close_on_data: data arrived")


class CorruptData(Policy):
    """``corrupt_data``: forward every byte with all its bits flipped (``b ^ 0xFF``)."""

    def __str__(self) -> str:
        return "corrupt_data"

    async def step(self, pump: Pump) -> None:
        await pump.emit(pump.recv(CHUNK).translate(_INVERT))


class LimitBps(Policy):
    """``limit_bps(bytes_per_second)``: the direction, all connections together, carries at most that rate.

    There is no burst: the bytes are spaced out evenly from the first one on.
    """

    def __init__(self, bytes_per_second: float) -> None:
        if not bytes_per_second > 0:
            raise ValueError(f"limit_bps: bytes_per_second must be above 0, not {bytes_per_second!r}")
        self.bytes_per_second = float(bytes_per_second)
        # About twenty pieces a second, so the rate is smooth even for a single message.
        self._piece = max(1, min(CHUNK, int(bytes_per_second / 20)))
        self._next_free = 0.0

    def __str__(self) -> str:
        return f"limit_bps({self.bytes_per_second:g})"

    async def step(self, pump: Pump) -> None:
        data = pump.recv(self._piece)
        due = max(pump.now(), self._next_free)
        self._next_free = due + len(data) / self.bytes_per_second
        await pump.emit(data, due=due)


class LimitTime(Policy):
    """``limit_time(timeout, jitter)``: a connection closes ``timeout`` + up to ``jitter`` seconds after
    its first bytes in this direction reach the gate; bytes pass meanwhile."""

    def __init__(self, timeout: float, jitter: float) -> None:
        self.timeout = _non_negative("limit_time timeout", timeout)
        self.jitter = _non_negative("limit_time jitter", jitter)

    def __str__(self) -> str:
        return f"limit_time({self.timeout:g}, {self.jitter:g})"

    async def step(self, pump: Pump) -> None:
        if not pump.timer_armed():
            lifetime = self.timeout + self.jitter * random.random()
            pump.arm_timer(lifetime, f"limit_time: the connection lived {lifetime:.3g} s after its first bytes")
        await pump.emit(pump.recv(CHUNK))


class SmallerParts(Policy):
    """``smaller_parts(max_size, sleep_per_packet)``: deliver the bytes in pieces of at most ``max_size``,
    each sent on its own and ``sleep_per_packet`` seconds after the one before."""

    def __init__(self, max_size: int, sleep_per_packet: float = 0) -> None:
        if max_size < 1:
            raise ValueError(f"smaller_parts: max_size must be at least 1, not {max_size!r}")
        self.max_size = max_size
        self.sleep_per_packet = _non_negative("smaller_parts sleep_per_packet", sleep_per_packet)

    def __str__(self) -> str:
        return f"smaller_parts({self.max_size}, sleep_per_packet={self.sleep_per_packet:g})"

    async def step(self, pump: Pump) -> None:
        data = pump.recv(self.max_size)
        due = 0.0
        if self.sleep_per_packet:
            due = max(pump.now(), pump.last_due) + self.sleep_per_packet
        await pump.emit(data, due=due)


class ConcatPackets(Policy):
    """``concat_packets(packet_size)``: hold the bytes of a connection back until at least ``packet_size``
    of them are there, then deliver them in one write. What is held is delivered when the policy
    changes or the sender ends its stream."""

    def __init__(self, packet_size: int) -> None:
        if packet_size < 0:
            raise ValueError(f"concat_packets: packet_size must not be negative, not {packet_size!r}")
        self.packet_size = packet_size

    def __str__(self) -> str:
        return f"concat_packets({self.packet_size})"

    async def step(self, pump: Pump) -> None:
        pump.held += pump.recv(CHUNK)
        if len(pump.held) >= self.packet_size:
            await self.leave(pump)

    async def leave(self, pump: Pump) -> None:
        if pump.held:
            data = bytes(pump.held)
            pump.held.clear()
            await pump.emit(data)


class LimitBytes(Policy):
    """``limit_bytes(bytes_limit)``: after ``bytes_limit`` bytes in this direction (all connections
    together) pass, close every connection through the gate; the count then starts again."""

    def __init__(self, bytes_limit: int) -> None:
        if bytes_limit < 0:
            raise ValueError(f"limit_bytes: bytes_limit must not be negative, not {bytes_limit!r}")
        self.bytes_limit = bytes_limit
        self._left = bytes_limit

    def __str__(self) -> str:
        return f"limit_bytes({self.bytes_limit})"

    async def step(self, pump: Pump) -> None:
        data = pump.recv(CHUNK)
        if len(data) < self._left:
            self._left -= len(data)
            await pump.emit(data)
            return
        part, self._left = data[: self._left], self.bytes_limit
        if part:
            await pump.emit(part)
        pump.stalled = True
        await pump.emit_close(f"limit_bytes: {self.bytes_limit} bytes passed", everything=True)


class Substitute(Policy):
    """``substitute(pattern, repl)``: apply ``re.sub(pattern, repl)`` to each piece of bytes read,
    decoded as UTF-8. Bytes that are not UTF-8 (a WebSocket frame header, binary data) are kept
    as they are (``surrogateescape``), and the pattern matches the text around them.

    The substitution sees the bytes as they are read (up to 64 KiB at once), so a match split
    between two reads is missed. On a WebSocket connection: frames from the client are masked, so
    only the handshake request can match ``to_server``; frames from the server are not, and a
    ``to_client`` substitution that changes a payload's length breaks the frame.
    """

    def __init__(self, pattern: str, repl: str) -> None:
        self.pattern = re.compile(pattern)
        self.repl = repl

    def __str__(self) -> str:
        return f"substitute({self.pattern.pattern!r}, {self.repl!r})"

    async def step(self, pump: Pump) -> None:
        text = pump.recv(CHUNK).decode("utf-8", "surrogateescape")
        await pump.emit(self.pattern.sub(self.repl, text).encode("utf-8", "surrogateescape"))


class CutMidFrame(Policy):
    """``cut_mid_frame(close)``: pass bytes until the next WebSocket data frame with a payload, deliver its
    header and the first half of its payload, then cut (see :mod:`pytest_wsservice.chaos.frames`).

    With ``close`` the connection then closes, both sides; without it, the gate stops reading this
    direction of that connection, leaving the peer with half a frame, until the policy changes (the
    rest of the frame then follows). Plain TCP or HTTP passes untouched.
    """

    def __init__(self, *, close: bool = True) -> None:
        self.close = close

    def __str__(self) -> str:
        return f"cut_mid_frame(close={self.close})"

    async def step(self, pump: Pump) -> None:
        data = pump.peek(CHUNK)
        offset = pump.tracker.advance(data, cut=True)
        if offset is None:
            pump.recv(len(data))
            await pump.emit(data, track=False)
            return
        if offset:
            await pump.emit(pump.recv(offset), track=False)
        pump.stalled = True
        if self.close:
            await pump.emit_close("cut_mid_frame: cut the connection inside a data frame")


def _non_negative(what: str, value: float) -> float:
    if not value >= 0:
        raise ValueError(f"{what} must be a number of seconds, 0 or more, not {value!r}")
    return float(value)
