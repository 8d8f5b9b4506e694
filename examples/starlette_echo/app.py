"""A WebSocket echo service on Starlette, served by uvicorn, with no config file.

    uvicorn app:app --host 127.0.0.1 --port 8080

- ``GET /healthz`` answers 200 with ``OK``;
- a WebSocket on ``/chat`` echoes every message back (text as text, binary as binary);
- uvicorn exits 0 on SIGTERM or SIGINT, after closing open WebSockets.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect


async def healthz(request: Request) -> PlainTextResponse:
    return PlainTextResponse("OK\n")


async def chat(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is not None:
                await websocket.send_text(message["text"])
            elif message.get("bytes") is not None:
                await websocket.send_bytes(message["bytes"])
    except WebSocketDisconnect:
        return


app = Starlette(routes=[Route("/healthz", healthz), WebSocketRoute("/chat", chat)])
