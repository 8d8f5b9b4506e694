"""The gate's loop side: the listening socket, accepting, connecting to the target, the open connections.

Every method here runs on the gate's own loop thread; :class:`~.gate.TcpGate` is the
thread-safe face that calls into it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ipaddress
import os
import socket
from collections.abc import Coroutine
from typing import Any

from ..errors import seconds_text
from .errors import GateError, GateTimeout
from .pipe import Direction, Pair, logger
from .policies import Pass

__all__ = ["GateCore", "check_loopback"]


def check_loopback(host: str) -> None:
    """Raise :class:`GateError` unless ``host`` is a loopback address or ``localhost``."""
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise GateError(
            f"The chaos gate listens for tests on loopback only, not on {host[:100]!r}: "
            "give it host='127.0.0.1' or '::1'."
        )


class GateCore:
    """The gate's state on its loop: where it listens, where it forwards, its connections and policies."""

    def __init__(self, name: str, target: tuple[str, int], host: str, port: int, connect_timeout: float) -> None:
        self.name = name
        self.target = target
        self.host, self.port = host, port
        self.connect_timeout = connect_timeout
        self.to_server = Direction("to_server")
        self.to_client = Direction("to_client")
        self.pairs: set[Pair] = set()
        #: The last connections that closed, described with why (for info()).
        self.closed: collections.deque[str] = collections.deque(maxlen=5)
        self.accepted = 0
        self.failed_connects = 0
        self.last_connect_error = ""
        self._listener: socket.socket | None = None
        self._accept_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()

    # Listening.

    def listen(self) -> tuple[str, int]:
        """Bind and listen (the same port again after a stop), then start accepting."""
        if self._listener is None:
            infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
            family, kind, proto, _, address = infos[0]
            sock = socket.socket(family, kind, proto)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(address)
                sock.listen(128)
                sock.setblocking(False)
            except OSError as exc:
                sock.close()
                raise GateError(
                    f"The chaos gate {self.name!r} cannot listen on {self.host}:{self.port}: {exc}. "
                    "Give it another port, or 0 for a free one."
                ) from None
            self._listener = sock
            self.host, self.port = sock.getsockname()[:2]
        self.start_accepting()
        return self.host, self.port

    def start_accepting(self) -> None:
        """Accept connections again (those waiting in the listen backlog first)."""
        if self._listener is None:
            raise GateError(f"The chaos gate {self.name!r} is stopped: start it before start_accepting().")
        if self._accept_task is None or self._accept_task.done():
            self._accept_task = asyncio.get_running_loop().create_task(self._accept(self._listener))

    async def stop_accepting(self) -> None:
        """Stop accepting; the listening socket stays open, so new connections wait in its backlog."""
        task, self._accept_task = self._accept_task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def stop(self, timeout: float) -> None:
        """Stop accepting, close every connection, and close the listening socket."""
        await self.stop_accepting()
        await self.sockets_close(timeout=timeout)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    async def _accept(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            client, _ = await loop.sock_accept(listener)
            self.accepted += 1
            self._spawn(self._open(client, self.accepted))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _open(self, client: socket.socket, number: int) -> None:
        client.setblocking(False)
        _no_delay(client)
        server = await self._connect()
        if server is None:
            client.close()
            return
        pair = Pair(number, client, server, self.to_server, self.to_client, self.close_all)
        self.pairs.add(pair)
        self._pulse()
        try:
            await pair.run()
        finally:
            self.pairs.discard(pair)
            self.closed.append(str(pair))
            self._pulse()

    async def _connect(self) -> socket.socket | None:
        loop = asyncio.get_running_loop()
        host, port = self.target
        errors = []
        try:
            infos = await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), self.connect_timeout)
        except (OSError, asyncio.TimeoutError) as exc:
            infos, errors = [], [f"cannot resolve {host[:100]!r}: {_why(exc)}"]
        for family, kind, proto, _, address in infos:
            sock = socket.socket(family, kind, proto)
            sock.setblocking(False)
            try:
                await asyncio.wait_for(loop.sock_connect(sock, address), self.connect_timeout)
            except (OSError, asyncio.TimeoutError) as exc:
                sock.close()
                errors.append(f"{host}:{port} ({family.name}): {_why(exc)}")
                continue
            _no_delay(sock)
            return sock
        self.failed_connects += 1
        self.last_connect_error = "; ".join(errors)[:500]
        logger.info("gate %r could not reach its target: %s", self.name, self.last_connect_error)
        return None

    # Connections.

    def close_all(self, reason: str) -> None:
        """Close every open connection now, without waiting for the sockets to close."""
        for pair in list(self.pairs):
            pair.abort(reason)

    async def sockets_close(self, *, count: int | None = None, timeout: float) -> None:
        """Close ``count`` open connections (all by default) and wait until their sockets are closed."""
        pairs = sorted(self.pairs, key=lambda pair: pair.number)[:count]
        for pair in pairs:
            pair.abort("sockets_close() closed it")
        waits = [asyncio.create_task(pair.closed.wait()) for pair in pairs]
        if not waits:
            return
        _, pending = await asyncio.wait(waits, timeout=timeout)
        for task in pending:
            task.cancel()
        if pending:
            raise GateTimeout(
                f"The chaos gate {self.name!r} could not close {len(pending)} of {len(pairs)} connections "
                f"within {seconds_text(timeout)}."
            )

    async def wait_for_connections(self, count: int, timeout: float) -> None:
        """Wait until at least ``count`` connections are open through the gate, at most ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.pairs) < count:
            left = deadline - loop.time()
            changed = self._changed
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(changed.wait(), left if left > 0 else 0)
            if len(self.pairs) < count and loop.time() >= deadline:
                raise GateTimeout(
                    f"wait_for_connections(count={count}): {len(self.pairs)} connection(s) open through the "
                    f"chaos gate {self.name!r} after {seconds_text(timeout)}. {self.describe()}"
                )

    def _pulse(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def reset(self) -> None:
        """Back to pass-through both ways and accepting; close every connection (not waiting)."""
        self.to_server.set(Pass())
        self.to_client.set(Pass())
        self.close_all("reset() closed it")
        if self._listener is not None:
            self.start_accepting()

    def describe(self) -> str:
        """One paragraph: where the gate listens and forwards, its policies, its connections."""
        accepting = self._accept_task is not None and not self._accept_task.done()
        text = (
            f"Gate {self.name!r} on {self.host}:{self.port} -> {self.target[0]}:{self.target[1]}, "
            f"{'accepting' if accepting else 'not accepting'}; to_server {self.to_server.policy}, "
            f"to_client {self.to_client.policy}; {len(self.pairs)} open of {self.accepted} accepted"
        )
        if self.failed_connects:
            text += f"; {self.failed_connects} could not reach the target (last: {self.last_connect_error})"
        opened = sorted(self.pairs, key=lambda pair: pair.number)
        text += "".join(f"\n  {pair}" for pair in opened[:20]) + ("\n  ..." if len(opened) > 20 else "")
        return text + "".join(f"\n  {closed}" for closed in self.closed)


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno:
        return os.strerror(exc.errno)
    return str(exc) or f"timed out after {type(exc).__name__}"


def _no_delay(sock: socket.socket) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
