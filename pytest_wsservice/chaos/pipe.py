"""One connection through the gate: a client socket, a server socket, and a pump each way.

Everything here runs on the gate's own loop thread.

A :class:`Pump` moves one direction in two stages, so that a delay is latency and not a rate:

- the *reader* waits until the source socket has bytes (or the direction's policy changes),
  then lets the current policy read them and queue them, each with the moment it is due;
- the *writer* takes the queue in order, waits until each piece is due, and sends it.
  (A piece due now, with nothing queued before it, is sent by the reader itself.)

The reader asks for the policy again before every read, so a new policy applies to the next
bytes that arrive, on open connections too. When the source ends its stream, the writer
ends the destination's (``shutdown(SHUT_WR)``) once the queue is delivered; when both
directions have ended, or on an error, or when a policy or the test asks, the connection
closes: both sockets, at once, and pending bytes are lost.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Coroutine
from typing import Any

from .frames import FrameTracker
from .policies import Pass, Policy

__all__ = ["Direction", "Pair", "Pump"]

logger = logging.getLogger("pytest_wsservice.chaos")

# The kinds of queued items.
_DATA, _EOF, _CLOSE, _CLOSE_ALL = range(4)
# Pieces a pump holds between its reader and its writer before the reader waits.
_QUEUE_PIECES = 64


class Direction:
    """The policy of one direction (``to_server`` or ``to_client``) for the whole gate."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.policy: Policy = Pass()
        self.pumps: set[Pump] = set()

    def set(self, policy: Policy) -> None:
        """Apply ``policy`` from the next bytes on, and wake the pumps that wait for a change."""
        self.policy = policy
        for pump in list(self.pumps):
            pump.poke()


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Pump:
    """One direction of one connection: implements the :class:`~.policies.Pump` protocol for policies."""

    def __init__(self, pair: Pair, direction: Direction, src: socket.socket, dst: socket.socket) -> None:
        self.pair = pair
        self.direction = direction
        self.src, self.dst = src, dst
        self._src_fd, self._dst_fd = src.fileno(), dst.fileno()
        self.loop = pair.loop
        self.tracker = FrameTracker(from_client=direction.name == "to_server")
        self.held = bytearray()
        self.last_due = 0.0
        self.stalled = False
        self.bytes_in = 0
        self.bytes_out = 0
        self.policy: Policy = direction.policy
        self._queue: asyncio.Queue[tuple[float, int, bytes, str]] = asyncio.Queue(_QUEUE_PIECES)
        self._wake_future: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        # True while the writer holds a piece (sending it, or waiting until it is due).
        self._writing = False

    # The policies' side (see policies.Pump).

    def now(self) -> float:
        return self.loop.time()

    def recv(self, size: int) -> bytes:
        data = self.src.recv(size)
        self.bytes_in += len(data)
        return data

    def peek(self, size: int) -> bytes:
        return self.src.recv(size, socket.MSG_PEEK)

    async def emit(self, data: bytes, *, due: float = 0.0, track: bool = True) -> None:
        if not data:
            return
        if track:
            self.tracker.advance(data)
        if due > self.last_due:
            self.last_due = due
        if not due and not self._writing and self._queue.empty():
            # Nothing queued and nothing being written: send what the socket takes now, in order.
            try:
                sent = self.dst.send(data)
            except BlockingIOError:
                sent = 0
            self.bytes_out += sent
            data = data[sent:]
            if not data:
                return
        await self._queue.put((due, _DATA, data, ""))

    async def emit_close(self, reason: str, *, everything: bool = False) -> None:
        await self._queue.put((0.0, _CLOSE_ALL if everything else _CLOSE, b"", reason))

    def abort(self, reason: str) -> None:
        self.pair.abort(f"{self.direction.name} {reason}")

    def arm_timer(self, delay: float, reason: str) -> None:
        self.disarm_timer()
        self._timer = self.loop.call_later(delay, self.abort, reason)

    def timer_armed(self) -> bool:
        return self._timer is not None

    def disarm_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # The pump itself.

    def poke(self) -> None:
        """Wake the reader if it waits, so that it looks at the direction's policy again."""
        if self._wake_future is not None:
            _wake(self._wake_future)

    async def read_loop(self) -> None:
        """The reader stage: returns when the source has ended its stream."""
        while not self.pair.aborted:
            policy = self.direction.policy
            if policy is not self.policy:
                await self.policy.leave(self)
                self.policy = policy
                self.stalled = False
                self.disarm_timer()
            if not policy.reads or self.stalled:
                await self._wait(readable=False)
                continue
            try:
                probe = self.src.recv(1, socket.MSG_PEEK)
            except BlockingIOError:
                await self._wait(readable=True)
                continue
            if not probe:
                await self.policy.leave(self)
                await self._queue.put((0.0, _EOF, b"", ""))
                return
            await policy.step(self)

    async def write_loop(self) -> None:
        """The writer stage: returns when the queue delivered the end of the stream or a close."""
        while True:
            self._writing = False
            due, kind, data, reason = await self._queue.get()
            self._writing = True
            if due:
                wait = due - self.loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
            if kind == _DATA:
                await self._send_all(data)
                self.bytes_out += len(data)
            elif kind == _EOF:
                self.dst.shutdown(socket.SHUT_WR)
                self.pair.direction_ended()
                return
            elif kind == _CLOSE:
                self.abort(reason)
                return
            else:
                self.pair.close_all(f"{self.direction.name} {reason}")
                return

    async def _send_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                sent = self.dst.send(view)
            except BlockingIOError:
                sent = 0
            view = view[sent:]
            if view:
                await self._wait(writable=True)

    async def _wait(self, *, readable: bool = False, writable: bool = False) -> None:
        # Registered and removed around each wait, so nothing stays registered for a socket that
        # the pair closes (the pair closes its sockets only after its pumps have stopped).
        future: asyncio.Future[None] = self.loop.create_future()
        if readable:
            self._wake_future = future
            self.loop.add_reader(self._src_fd, _wake, future)
        elif writable:
            self.loop.add_writer(self._dst_fd, _wake, future)
        else:
            self._wake_future = future
        try:
            await future
        finally:
            if readable:
                self.loop.remove_reader(self._src_fd)
            if writable:
                self.loop.remove_writer(self._dst_fd)
            if self._wake_future is future:
                self._wake_future = None


class Pair:
    """A connection through the gate: the accepted client socket and the socket to the target.

    Args:
        number: The connection's number in the gate, from 1, for messages.
        client: The accepted socket (non-blocking).
        server: The connected socket to the target (non-blocking).
        to_server: The gate's client-to-server direction.
        to_client: The gate's server-to-client direction.
        close_all: Closes every connection of the gate (for ``limit_bytes``).
    """

    def __init__(
        self,
        number: int,
        client: socket.socket,
        server: socket.socket,
        to_server: Direction,
        to_client: Direction,
        close_all: Callable[[str], None],
    ) -> None:
        self.number = number
        self.loop = asyncio.get_running_loop()
        self.client, self.server = client, server
        self.peer = _address(client.getpeername)
        self.close_all = close_all
        self.up = Pump(self, to_server, client, server)
        self.down = Pump(self, to_client, server, client)
        self.reason = ""
        self.closed = asyncio.Event()
        self._finished = asyncio.Event()
        self._ended = 0

    @property
    def aborted(self) -> bool:
        """Whether the connection is closing or closed."""
        return self._finished.is_set()

    def abort(self, reason: str) -> None:
        """Close the connection now (the first reason given is kept)."""
        if not self._finished.is_set():
            self.reason = reason
            self._finished.set()

    def direction_ended(self) -> None:
        """Called when a direction has delivered the end of its stream."""
        self._ended += 1
        if self._ended == 2:
            self.abort("both sides ended their streams")

    def __str__(self) -> str:
        state = f"closed: {self.reason}" if self.closed.is_set() else "open"
        return (
            f"#{self.number} from {self.peer} ({state}; to_server {self.up.bytes_out} bytes, "
            f"to_client {self.down.bytes_out} bytes)"
        )

    async def run(self) -> None:
        """Pump both directions until the connection closes, then close both sockets."""
        for pump in (self.up, self.down):
            pump.direction.pumps.add(pump)
        tasks = [
            asyncio.create_task(self._guard(stage()))
            for stage in (self.up.read_loop, self.up.write_loop, self.down.read_loop, self.down.write_loop)
        ]
        try:
            await self._finished.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for pump in (self.up, self.down):
                pump.direction.pumps.discard(pump)
                pump.disarm_timer()
            for sock in (self.client, self.server):
                sock.close()
            self.closed.set()
            logger.debug("gate connection %s", self)

    async def _guard(self, stage: Coroutine[Any, Any, None]) -> None:
        try:
            await stage
        except OSError as exc:
            self.abort(f"{type(exc).__name__}: {exc}")
        except Exception as exc:
            logger.exception("gate connection #%d failed", self.number)
            self.abort(f"gate error {type(exc).__name__}: {exc}")


def _address(getter: Callable[[], Any]) -> str:
    try:
        address = getter()
    except OSError:
        return "?"
    return f"{address[0]}:{address[1]}" if isinstance(address, tuple) else str(address)
