"""Small real servers on loopback for the chaos gate's unit tests, each in threads of its own.

- :class:`EchoServer`: raw TCP; records every read (its size and time) and echoes it back
  unless told not to; can push bytes to every client.
- :class:`WebSocketEchoServer`: websockets' threaded server; echoes each message and records it.

Waits are on conditions with deadlines, never on sleeps.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from websockets.sync.server import Server, ServerConnection, serve


class EchoServer:
    """A threaded TCP echo server on 127.0.0.1 and a free port."""

    def __init__(self, *, echo: bool = True) -> None:
        self.echo = echo
        self.reads: list[tuple[float, bytes]] = []
        self.accepted = 0
        self.closed = 0
        self._cond = threading.Condition()
        self._clients: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._stopping = False
        self._threads = [threading.Thread(target=self._accept, name="echo-accept", daemon=True)]
        self._threads[0].start()

    @property
    def received(self) -> bytes:
        with self._cond:
            return b"".join(data for _, data in self.reads)

    def wait_for(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        """Wait until ``predicate()`` holds (checked under the server's lock), at most ``timeout`` seconds."""
        with self._cond:
            if not self._cond.wait_for(predicate, timeout):
                raise AssertionError(f"echo server: {what} did not happen within {timeout} s; reads={self.reads!r}")

    def wait_received(self, size: int, timeout: float) -> bytes:
        """Wait until at least ``size`` bytes arrived in all; return everything received."""
        self.wait_for(lambda: sum(len(data) for _, data in self.reads) >= size, timeout, f"{size} bytes received")
        return self.received

    def wait_closed(self, count: int, timeout: float) -> None:
        self.wait_for(lambda: self.closed >= count, timeout, f"{count} connection(s) closed")

    def push(self, data: bytes) -> None:
        """Send ``data`` to every connected client."""
        with self._cond:
            clients = list(self._clients)
        for client in clients:
            client.sendall(data)

    def stop(self) -> None:
        self._stopping = True
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
        self._listener.close()
        with self._cond:
            clients = list(self._clients)
        for client in clients:
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(5)

    def _accept(self) -> None:
        while not self._stopping:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._cond:
                self.accepted += 1
                self._clients.append(client)
                self._cond.notify_all()
            thread = threading.Thread(target=self._serve, args=(client,), name="echo-conn", daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, client: socket.socket) -> None:
        try:
            while True:
                try:
                    data = client.recv(65536)
                except OSError:
                    break
                if not data:
                    break
                with self._cond:
                    self.reads.append((time.monotonic(), data))
                    self._cond.notify_all()
                if self.echo:
                    try:
                        client.sendall(data)
                    except OSError:
                        break
        finally:
            with self._cond:
                self._clients.remove(client)
                self.closed += 1
                self._cond.notify_all()
            client.close()


class WebSocketEchoServer:
    """websockets' threaded server on 127.0.0.1 and a free port: echoes every message, records it."""

    def __init__(self) -> None:
        self.messages: list[str | bytes] = []
        self.close_codes: list[int | None] = []
        self._cond = threading.Condition()
        self._server: Server = serve(self._handler, "127.0.0.1", 0)
        self.port: int = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="ws-echo", daemon=True)
        self._thread.start()

    def wait_for(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        with self._cond:
            if not self._cond.wait_for(predicate, timeout):
                raise AssertionError(f"websocket server: {what} did not happen within {timeout} s")

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(5)

    def _handler(self, connection: ServerConnection) -> None:
        try:
            for message in connection:
                with self._cond:
                    self.messages.append(message)
                    self._cond.notify_all()
                connection.send(message)
        except Exception:  # the gate cut the connection: recorded below
            pass
        finally:
            with self._cond:
                self.close_codes.append(_close_code(connection))
                self._cond.notify_all()


def _close_code(connection: Any) -> int | None:
    received = getattr(connection.protocol, "close_rcvd", None)
    return received.code if received is not None else 1006
