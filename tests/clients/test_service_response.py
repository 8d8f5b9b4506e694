"""service_client responses in testsuite's shape, and the awaited forms of earlier releases (issue 15, item 5).

A small aiohttp app on loopback answers with the bodies the sample cannot give (JSON of every
kind, a charset, a cookie); the client is the same ServiceClient the fixture builds.
"""

from __future__ import annotations

import codecs
import contextlib
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from pytest_wsservice import ServiceClient

BODIES = {
    "object": ({"a": [1, 2], "b": None}, "application/json"),
    "array": ([1, "two", {"three": 3}], "application/json"),
    "string": ("hé", "application/json"),
    "integer": (42, "application/json"),
    "float": (2.5, "application/json"),
    "null": (None, "application/json"),
    "true": (True, "application/json"),
}


@contextlib.asynccontextmanager
async def answering_app() -> AsyncIterator[ServiceClient]:
    """Serve /json/{kind}, /latin1 and /cookie on a free loopback port; yield a client for it."""

    async def json_body(request: web.Request) -> web.Response:
        value, content_type = BODIES[request.match_info["kind"]]
        return web.Response(body=json.dumps(value).encode(), content_type=content_type)

    async def latin1(request: web.Request) -> web.Response:
        return web.Response(body="café".encode("latin-1"), content_type="text/plain", charset="latin-1")

    async def cookie(request: web.Request) -> web.Response:
        response = web.Response(text="not json", status=418, reason="Teapot")
        response.set_cookie("flavour", "oat")
        return response

    app = web.Application()
    app.router.add_get("/json/{kind}", json_body)
    app.router.add_get("/latin1", latin1)
    app.router.add_get("/cookie", cookie)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        yield ServiceClient(URL(f"http://127.0.0.1:{port}/"), timeout=10)
    finally:
        await runner.cleanup()


async def test_testsuite_shape_on_the_sample(service_client):
    """status and status_code, text a str, content bytes, headers: all there without awaiting anything."""
    response = await service_client.get("/chat")  # no upgrade: 400 with a text body
    assert response.status == response.status_code == 400
    assert type(response.text) is not bytes and isinstance(response.text, str)
    assert response.text == "Not a websocket request"
    assert response.content == b"Not a websocket request"
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.content_type == "text/plain"
    assert response.method == "GET"
    assert response.url.path == "/chat"
    assert "status=400" in repr(response)


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", sorted(BODIES))
async def test_json_is_sync_and_parses_every_kind(kind):
    """json() returns the parsed body, no await, equal to what was sent, whatever its JSON type."""
    async with answering_app() as client:
        response = await client.get(f"/json/{kind}")
    value = response.json()
    assert value == BODIES[kind][0]
    assert json.dumps(value) == json.dumps(BODIES[kind][0])


@pytest.mark.asyncio
async def test_encoding_from_the_charset_and_other_fields():
    """text decodes with the response's charset; reason, cookies and raise_for_status are testsuite's."""
    async with answering_app() as client:
        latin1 = await client.get("/latin1")
        teapot = await client.get("/cookie")
    assert latin1.text == "café"
    assert codecs.lookup(latin1.encoding).name == "iso8859-1" and latin1.charset == "latin-1"
    assert teapot.status_code == 418 and teapot.reason == "Teapot"
    assert teapot.cookies["flavour"].value == "oat"
    with pytest.raises(aiohttp.ClientResponseError) as raised:
        teapot.raise_for_status()
    assert raised.value.status == 418
    latin1.raise_for_status()
    not_json = r"GET http://127\.0\.0\.1:\d+/cookie answered 418, a body that is not JSON: 'not json'"
    with pytest.raises(json.JSONDecodeError, match=not_json):
        teapot.json()


async def test_awaited_text_works_with_a_deprecation_warning(service_client):
    """await response.text() still returns the text, once, with a DeprecationWarning naming the line to change."""
    response = await service_client.get("/chat")
    deprecated = r"await response\.text\(\) is deprecated.*Use response\.text"
    with pytest.warns(DeprecationWarning, match=deprecated) as caught:
        text = await response.text()
    assert text == "Not a websocket request" and type(text) is str
    assert len(caught) == 1
    assert caught[0].filename == __file__


async def test_awaited_read_works_with_a_deprecation_warning(service_client):
    """await response.read() still returns the body bytes, with a DeprecationWarning pointing at content."""
    response = await service_client.get("/chat")
    with pytest.warns(DeprecationWarning, match=r"await response\.read\(\) is deprecated.*response\.content") as caught:
        body = await response.read()
    assert body == b"Not a websocket request" and type(body) is bytes
    assert caught[0].filename == __file__


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["object", "array", "string", "integer", "float"])
async def test_awaited_json_works_with_a_deprecation_warning(kind):
    """await response.json() still returns the parsed body (a plain value), with a DeprecationWarning."""
    async with answering_app() as client:
        response = await client.get(f"/json/{kind}")
    with pytest.warns(DeprecationWarning, match=r"await response\.json\(\) is deprecated.*no await") as caught:
        value = await response.json()
    assert value == BODIES[kind][0]
    assert type(value) is type(BODIES[kind][0])
    assert caught[0].filename == __file__


@pytest.mark.asyncio
async def test_the_new_forms_do_not_warn(recwarn):
    """text, content and json() without await raise no warning."""
    async with answering_app() as client:
        response = await client.get("/json/object")
    assert response.json() == BODIES["object"][0]
    assert response.text.startswith("{") and response.content.startswith(b"{")
    assert not [w for w in recwarn if issubclass(w.category, DeprecationWarning)]
