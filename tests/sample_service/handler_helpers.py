"""Helpers of the optional handlers' tests: a sample with extra components, and fake upstreams.

The fake upstreams (an auth service, a feed WebSocket, a testpoint endpoint) stand in for
third-party services the sample calls. Each is a real aiohttp server on 127.0.0.1 in a
thread of its own with its own event loop, so it binds nothing to the test's loop and works
under any loop scope; what it saw is kept in thread-safe lists.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from tests.sample_service.sample_helpers import (
    START_TIMEOUT,
    SampleProcess,
    config_dict,
    free_port,
    start_sample,
    write_config,
)

#: Every component of the optional handlers, as a test config names them.
ALL_HANDLERS: dict[str, dict[str, Any]] = {
    "websocket-handler-alt": {"path": "/handler-alt", "max-remote-payload": 4096, "fragment-size": 1000},
    "websocket-duplex-handler": {"path": "/duplex", "max-remote-payload": 4096, "fragment-size": 1000},
    "websocket-private-chat-handler": {"path": "/private"},
    "websocket-feed-handler": {"path": "/feed"},
    "handler-chat-page": {"path": "/"},
}


@contextlib.contextmanager
def running_sample(
    directory: Path,
    components: dict[str, dict[str, Any]],
    timeout_factor: Callable[[float], float],
    *,
    tests_control: dict[str, Any] | None = None,
    broadcast: bool = False,
    config_vars: dict[str, Any] | None = None,
) -> Iterator[SampleProcess]:
    """Run a sample whose config adds ``components`` (and tests-control, /broadcast); stop it on exit."""
    port = free_port()
    log_path = directory / "service.log"
    config = config_dict(port, str(log_path))
    extra = config["components_manager"]["components"]
    if broadcast:
        extra["websocket-broadcast-handler"] = {"path": "/broadcast"}
    if tests_control is not None:
        extra["tests-control"] = {"path": "/tests/control", **tests_control}
    extra.update(components)
    if config_vars is not None:
        vars_path = directory / "config_vars.yaml"
        vars_path.write_text(json.dumps(config_vars))  # JSON is YAML
        config["config_vars"] = str(vars_path)
    config_path = write_config(directory, config)
    service = start_sample(config_path, port, log_path, timeout_factor(START_TIMEOUT))
    try:
        yield service
    finally:
        service.stop(timeout_factor(10))  # SIGTERM, then the process group is killed if it lingers


class ThreadedServer:
    """An aiohttp application served on 127.0.0.1 from a thread with its own event loop.

    Args:
        app: The application; its handlers run in the server's thread.
        timeout: Seconds to wait for the server to start and to stop.
    """

    def __init__(self, app: web.Application, timeout: float = 10.0) -> None:
        self.app = app
        self.timeout = timeout
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, name="fake-upstream", daemon=True)

    def url(self, path: str, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def run(self, coro: Awaitable[Any]) -> Any:
        """Run ``coro`` on the server's loop and return its result (blocking, with the timeout)."""

        async def wrapper() -> Any:
            return await coro

        return asyncio.run_coroutine_threadsafe(wrapper(), self.loop).result(self.timeout)

    async def arun(self, coro: Awaitable[Any]) -> Any:
        """Run ``coro`` on the server's loop from a coroutine of another loop, and await it there."""

        async def wrapper() -> Any:
            return await coro

        return await asyncio.wait_for(
            asyncio.wrap_future(asyncio.run_coroutine_threadsafe(wrapper(), self.loop)), self.timeout
        )

    def __enter__(self) -> ThreadedServer:
        self._thread.start()

        async def start() -> int:
            runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self._runner = runner
            return site.port

        self.port = self.run(start())
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._runner is not None:
            self.run(self._runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(self.timeout)
        self.loop.close()


class FakeAuth:
    """A fake auth service at ``/auth``: records each request and answers as told.

    ``answer`` is (status, JSON body) for every request; ``delay`` holds each answer back.
    """

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answer: tuple[int, Any] = (200, {"user": "alice"})
        self.delay = 0.0
        self.app = web.Application()
        self.app.router.add_post("/auth", self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append({"body": await request.json(), "content_type": request.content_type})
        if self.delay:
            await asyncio.sleep(self.delay)
        status, body = self.answer
        return web.json_response(body, status=status)


class FakeFeed:
    """A fake feed upstream at ``/feed``: one WebSocket per connection the service opens.

    It sends ``hello N`` (N counts connections from 1), then answers each text message with
    ``upstream N: TEXT`` and each binary message with its bytes reversed; the text ``bye``
    makes it close with 1000. Everything it received is in ``received[N-1]``.
    """

    def __init__(self) -> None:
        self.received: list[list[str | bytes]] = []
        self.sockets: list[web.WebSocketResponse] = []
        self.handshakes: list[dict[str, str]] = []
        self.app = web.Application()
        self.app.router.add_get("/feed", self.handle)

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        self.handshakes.append(dict(request.headers))
        number = len(self.sockets)
        got: list[str | bytes] = []
        self.received.append(got)
        await ws.send_str(f"hello {number}")
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                got.append(msg.data)
                if msg.data == "bye":
                    await ws.close(code=1000, message=b"bye")
                    break
                await ws.send_str(f"upstream {number}: {msg.data}")
            elif msg.type is WSMsgType.BINARY:
                got.append(msg.data)
                await ws.send_bytes(msg.data[::-1])
        return ws


class FakeTestpoint:
    """A fake testpoint endpoint at ``/testpoint`` (testsuite's protocol).

    Each POST ``{"name", "data", ...}`` is recorded in ``calls``; the answer is
    ``{"data": respond(name, data), "handled": True}``.
    """

    def __init__(self, respond: Callable[[str, Any], Any] | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.respond = respond or (lambda name, data: None)
        self.app = web.Application()
        self.app.router.add_post("/testpoint", self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append(body)
        return web.json_response({"data": self.respond(body["name"], body["data"]), "handled": True})


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` (something another thread changes) until it holds; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.1f}s")
        time.sleep(0.005)


def log_line(service: SampleProcess, needle: str, timeout: float) -> str:
    """The last line of the service log that holds ``needle`` (waiting for it up to ``timeout``)."""
    return [line for line in service.wait_log(needle, timeout).splitlines() if needle in line][-1]
