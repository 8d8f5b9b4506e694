"""Fixtures of the chaos gate's unit tests: real servers on loopback, a gate in front of each."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
import pytest_asyncio

from pytest_wsservice.chaos import TcpGate
from tests.unit.chaos.servers import EchoServer, WebSocketEchoServer


@pytest.fixture
def echo_server() -> Iterator[EchoServer]:
    server = EchoServer()
    yield server
    server.stop()


@pytest.fixture
def gate(echo_server: EchoServer, scaled: Callable[[float], float]) -> Iterator[TcpGate]:
    with TcpGate("127.0.0.1", echo_server.port, timeout=scaled(10)) as started:
        yield started


@pytest.fixture
def ws_server() -> Iterator[WebSocketEchoServer]:
    server = WebSocketEchoServer()
    yield server
    server.stop()


@pytest.fixture
def ws_gate(ws_server: WebSocketEchoServer, scaled: Callable[[float], float]) -> Iterator[TcpGate]:
    with TcpGate("127.0.0.1", ws_server.port, timeout=scaled(10)) as started:
        yield started


class Client:
    """A raw TCP client of the test's loop, with bounded reads."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float) -> None:
        self.reader, self.writer, self.timeout = reader, writer, timeout

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def read(self, size: int) -> bytes:
        """Exactly ``size`` bytes, within the deadline."""
        return await asyncio.wait_for(self.reader.readexactly(size), self.timeout)

    async def expect_silence(self, seconds: float) -> None:
        """Assert that nothing (not even the end of the stream) arrives for ``seconds``."""
        try:
            data = await asyncio.wait_for(self.reader.read(65536), seconds)
        except asyncio.TimeoutError:
            return
        raise AssertionError(f"expected silence for {seconds} s, got {data!r}")

    async def expect_eof(self) -> bytes:
        """Read until the gate closes the connection, within the deadline; return what came before."""
        try:
            return await asyncio.wait_for(self.reader.read(), self.timeout)
        except ConnectionResetError:
            return b""

    def close(self) -> None:
        self.writer.close()


@pytest_asyncio.fixture
async def connect(gate: TcpGate, scaled: Callable[[float], float]) -> AsyncIterator[Callable[[], Awaitable[Client]]]:
    """Open raw TCP connections through ``gate``; all closed after the test."""
    clients: list[Client] = []

    async def open_client() -> Client:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(gate.host, gate.port), scaled(5))
        client = Client(reader, writer, scaled(5))
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        client.close()
