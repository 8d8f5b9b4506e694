"""The ``service_client`` fixture: HTTP requests to the service.

The sample service serves /ping and /chat only; the features it cannot show (JSON
bodies, a slow answer) are checked against a small aiohttp app that the test runs on
loopback, with the same client class.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from pytest_wsservice import ServiceClient, ServiceRequestTimeout


@contextlib.asynccontextmanager
async def loopback_app(app: web.Application) -> AsyncIterator[URL]:
    """Serve ``app`` on a free loopback port; yield its base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        yield URL(f"http://127.0.0.1:{port}/")
    finally:
        await runner.cleanup()


async def test_ping_with_or_without_leading_slash(service_client):
    """'/ping' and 'ping' reach the same handler and answer 200."""
    for path in ("/ping", "ping"):
        response = await service_client.get(path)
        assert response.status == 200, path
        assert response.status_code == 200, path
        assert isinstance(response.text, str)


async def test_unknown_path_is_404_with_its_body(service_client):
    """A path the service does not serve answers 404, and the body is readable after the call."""
    response = await service_client.get("/no/such/path?x=1")
    assert response.status_code == 404
    assert "Not Found" in response.text
    assert response.url.path == "/no/such/path"
    assert response.url.query["x"] == "1"


async def test_body_bytes_are_readable_after_the_call(service_client):
    """content and text serve the body after the request returned and its session closed."""
    response = await service_client.get("/no/such/path")
    assert response.content == response.text.encode()
    assert b"Not Found" in response.content


async def test_request_with_any_method(service_client):
    """request() sends any method; a method the ping handler does not take is refused with 405."""
    response = await service_client.request("DELETE", "ping")
    assert response.status == 405
    assert (await service_client.post("/ping", data=b"x")).status == 405


# Uses no plugin fixture, so the plugin does not mark it.
@pytest.mark.asyncio
async def test_json_params_and_body_round_trip(scaled):
    """json= is sent as JSON, params= land in the query, and response.json() parses the answer."""

    async def echo(request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else None
        return web.json_response({"method": request.method, "query": dict(request.query), "body": body})

    app = web.Application()
    app.router.add_route("*", "/echo", echo)
    async with loopback_app(app) as base_url:
        client = ServiceClient(base_url, timeout=scaled(5))
        response = await client.post("echo?a=1", params={"b": "two words"}, json={"k": [1, 2]})
        assert response.status == 200
        assert response.json() == {"method": "POST", "query": {"a": "1", "b": "two words"}, "body": {"k": [1, 2]}}
        response = await client.put("/echo")
        assert response.json()["method"] == "PUT"


# Uses no plugin fixture, so the plugin does not mark it.
@pytest.mark.asyncio
async def test_timeout_names_method_path_and_seconds(scaled):
    """A request without an answer in time raises ServiceRequestTimeout (a TimeoutError) naming the method, path and
    seconds.
    """
    answer = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        await answer.wait()
        return web.Response(text="late")

    app = web.Application()
    app.router.add_get("/slow", slow)
    async with loopback_app(app) as base_url:
        client = ServiceClient(base_url, timeout=scaled(30))
        started = time.monotonic()
        with pytest.raises(ServiceRequestTimeout) as info:
            await client.get("slow", timeout=scaled(0.2))
        assert time.monotonic() - started < scaled(5)
        answer.set()
        client = ServiceClient(base_url, timeout=scaled(0.2))
        answer.clear()
        with pytest.raises(TimeoutError, match="service_client default"):
            await client.get("/slow")
        answer.set()
    assert isinstance(info.value, TimeoutError)
    message = str(info.value)
    assert message.startswith("GET /slow ")
    assert f"{scaled(0.2):g} seconds" in message
    assert "timeout= of this call" in message


# Uses no plugin fixture, so the plugin does not mark it.
@pytest.mark.asyncio
async def test_connection_refused_is_reported_by_aiohttp(scaled):
    """A request to a port where nothing listens fails at once with aiohttp's connection error."""
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    client = ServiceClient(URL(f"http://127.0.0.1:{port}/"), timeout=scaled(5))
    with pytest.raises(aiohttp.ClientConnectionError, match=str(port)):
        await client.get("/ping")
