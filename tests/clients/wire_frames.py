"""See the frames of an echo as they come off the wire.

websockets' client reassembles fragmented messages, so a test cannot see from ``recv()``
how the service split a message into frames. This helper speaks the protocol itself with
websockets' sans-I/O ``ClientProtocol`` on a plain TCP stream, which reports every frame.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.uri import parse_uri

DATA_OPCODES = (Opcode.TEXT, Opcode.BINARY, Opcode.CONT)


async def echo_frames(host: str, port: int, path: str, message: str | bytes, *, timeout: float) -> list[Frame]:
    """Send ``message`` to ``path`` and return the data frames of the one message that comes back."""
    return await asyncio.wait_for(_echo_frames(host, port, path, message), timeout)


async def _echo_frames(host: str, port: int, path: str, message: str | bytes) -> list[Frame]:
    protocol = ClientProtocol(parse_uri(f"ws://{host}:{port}{path}"), max_size=None)
    reader, writer = await asyncio.open_connection(host, port)
    events: collections.deque[Any] = collections.deque()

    def flush() -> None:
        for data in protocol.data_to_send():
            if data:  # b"" asks for a half-close, not needed here
                writer.write(data)

    async def next_event() -> Any:
        while not events:
            data = await reader.read(65536)
            if data:
                protocol.receive_data(data)
            else:
                protocol.receive_eof()
            events.extend(protocol.events_received())
            flush()  # pongs and the closing handshake answer themselves
            if not data and not events:
                raise EOFError(f"the service closed the connection (close code {protocol.close_code})")
        return events.popleft()

    try:
        protocol.send_request(protocol.connect())
        flush()
        await next_event()  # the handshake response
        if protocol.handshake_exc is not None:
            raise protocol.handshake_exc
        if isinstance(message, str):
            protocol.send_text(message.encode())
        else:
            protocol.send_binary(message)
        flush()
        frames: list[Frame] = []
        while not frames or not frames[-1].fin:
            event = await next_event()
            if isinstance(event, Frame) and event.opcode in DATA_OPCODES:
                frames.append(event)
        protocol.send_close(1000)
        flush()
        while await reader.read(65536):
            pass
        return frames
    finally:
        writer.close()
