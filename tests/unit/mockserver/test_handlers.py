"""HTTP handlers: routing, requests, responses, unhandled requests and the reset between sessions."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from aiohttp import web

from pytest_wsservice.mockserver import MockResponse, UnhandledRequestsError, make_response

from .helpers import fetch, fetch_json

pytestmark = pytest.mark.asyncio


async def test_a_handler_sees_the_whole_request(session):
    @session.handler("/auth")
    def auth(request):
        return session.make_response("ok")

    status, body, _ = await fetch(
        "POST",
        session.url("/auth?token=abc&x=1&x=2"),
        data=json.dumps({"token": "abc"}).encode(),
        headers={"Content-Type": "application/json; charset=utf-8", "X-Trace": "t1"},
    )
    assert (status, body) == (200, b"ok")
    request = auth.next_call()["request"]
    assert request.method == "POST"
    assert request.path == "/auth"
    assert request.query["token"] == "abc" and request.query.getall("x") == ["1", "2"]
    assert request.args is request.query
    assert request.headers["x-trace"] == "t1"
    assert request.content_type == "application/json" and request.charset == "utf-8"
    assert request.get_data() == b'{"token": "abc"}'
    assert request.json == {"token": "abc"}
    assert request.path_qs == "/auth?token=abc&x=1&x=2"
    assert request.url == session.url("/auth?token=abc&x=1&x=2")


async def test_json_handlers_sync_and_async(session):
    @session.json_handler("/sync")
    def sync_handler(request):
        return {"user": "ann", "n": [1, 2]}

    @session.json_handler("/async")
    async def async_handler(request):
        await asyncio.sleep(0)
        return ["a", None, 3]

    @session.json_handler("/null")
    def null_handler(request):
        return None

    @session.json_handler("/response")
    def response_handler(request):
        return session.make_response(json={"denied": True}, status=403)

    assert await fetch_json("GET", session.url("/sync")) == (200, {"user": "ann", "n": [1, 2]})
    assert await fetch_json("GET", session.url("/async")) == (200, ["a", None, 3])
    assert await fetch_json("GET", session.url("/null")) == (200, None)
    assert await fetch_json("GET", session.url("/response")) == (403, {"denied": True})
    assert [q.times_called for q in (sync_handler, async_handler, null_handler, response_handler)] == [1, 1, 1, 1]


async def test_make_response_variants(session):
    answers = {
        "/text": make_response("héllo", status=201, headers={"X-A": "1"}),
        "/bytes": make_response(b"\x00\x01", content_type="application/octet-stream"),
        "/empty": make_response(status=204),
        "/charset": make_response("x", content_type="text/csv", charset="latin-1"),
        "/own-type": make_response(b"{}", headers={"Content-Type": "application/problem+json"}),
        "/aiohttp": web.Response(text="raw", status=202),
    }
    for path, answer in answers.items():
        session.handler(path)(lambda request, answer=answer: answer)

    status, body, headers = await fetch("GET", session.url("/text"))
    assert (status, body.decode(), headers["X-A"]) == (201, "héllo", "1")
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    status, body, headers = await fetch("GET", session.url("/bytes"))
    assert (status, body, headers["Content-Type"]) == (200, b"\x00\x01", "application/octet-stream")
    status, body, _ = await fetch("GET", session.url("/empty"))
    assert (status, body) == (204, b"")
    _, _, headers = await fetch("GET", session.url("/charset"))
    assert headers["Content-Type"] == "text/csv; charset=latin-1"
    _, _, headers = await fetch("GET", session.url("/own-type"))
    assert headers["Content-Type"] == "application/problem+json"
    assert (await fetch("GET", session.url("/aiohttp")))[:2] == (202, b"raw")
    assert isinstance(make_response(json=[1]), MockResponse)
    with pytest.raises(TypeError, match="either a body or json"):
        make_response("x", json=1)
    with pytest.raises(TypeError, match="not int"):
        make_response(5)  # type: ignore[arg-type]


async def test_exact_regex_and_prefix_routes_and_their_order(session):
    @session.json_handler("/api/", prefix=True)
    def any_api(request):
        return "prefix"

    @session.json_handler(r"/api/users/(?P<user_id>\d+)", regex=True)
    def user(request, user_id):
        return {"user": user_id}

    @session.json_handler("/api/users/me")
    def me(request):
        return "exact"

    assert await fetch_json("GET", session.url("/api/users/me")) == (200, "exact")
    assert await fetch_json("GET", session.url("/api/users/42")) == (200, {"user": "42"})
    assert await fetch_json("GET", session.url("/api/users/42/x")) == (200, "prefix")
    assert await fetch_json("GET", session.url("/api/other")) == (200, "prefix")
    assert user.next_call()["user_id"] == "42"

    @session.json_handler("/api/users", prefix=True)
    def later_prefix(request):
        return "later prefix"

    assert await fetch_json("GET", session.url("/api/users/42/x")) == (200, "later prefix")
    with pytest.raises(ValueError, match="cannot be combined"):
        session.handler("/x", prefix=True, regex=True)

    @session.json_handler("no-slash")
    def no_slash(request):
        return 1

    assert await fetch_json("GET", session.url("/no-slash")) == (200, 1)


async def test_an_unhandled_request_gets_500_and_is_named_at_close(session, scaled):
    status, body, _ = await fetch("POST", session.url("/auth"), json={"token": "t"})
    assert status == 500 and body == b"mockserver: no handler for POST /auth"
    status, _, _ = await fetch("GET", session.url("/feed"), headers={"Upgrade": "websocket", "Connection": "Upgrade"})
    assert status == 500
    assert session.problems == ["POST /auth: no handler", "GET /feed: no handler (a WebSocket handshake)"]
    with pytest.raises(UnhandledRequestsError, match="POST /auth: no handler") as error:
        session.check()
    assert error.value.problems == session.problems
    assert "POST /auth → 500 (no handler)" in session.report()
    assert session.close(timeout=scaled(5)) == [
        "POST /auth: no handler",
        "GET /feed: no handler (a WebSocket handshake)",
    ]


async def test_a_failing_handler_gets_500_and_is_reported(session, scaled):
    @session.handler("/raises")
    def raises(request):
        raise AssertionError("token was " + "x" * 500)

    @session.handler("/returns-dict")
    def returns_dict(request):
        return {"not": "a response"}

    @session.json_handler("/not-json")
    def not_json(request):
        return {1, 2}

    for path in ("/raises", "/returns-dict", "/not-json"):
        assert (await fetch("GET", session.url(path)))[0] == 500
    assert raises.times_called == 1  # a call that raised is still a call
    problems = session.close(timeout=scaled(5))
    assert len(problems) == 3
    assert problems[0].startswith("GET /raises: handler raises() raised AssertionError: token was xxx")
    assert problems[0].endswith("(510 chars)")  # bounded
    assert problems[1] == "GET /returns-dict: handler returns_dict() returned {'not': 'a response'}, " + (
        "not mockserver.make_response(...)"
    )
    assert problems[2] == "GET /not-json: handler not_json() returned {1, 2}, which is not JSON"


async def test_problems_are_bounded(session, scaled):
    async with aiohttp.ClientSession() as client:
        for index in range(60):
            async with client.get(session.url(f"/missing/{index}")) as response:
                assert response.status == 500
    problems = session.close(timeout=scaled(5))
    assert len(problems) == 51 and problems[-1] == "… and 10 more"


async def test_handlers_do_not_leak_into_the_next_session(server, scaled):
    first = server.new_session()

    @first.json_handler("/auth")
    def auth(request):
        return {"user": "ann"}

    first.testpoint("tp")(lambda data: None)
    first.websocket("/feed")
    assert await fetch_json("GET", first.url("/auth")) == (200, {"user": "ann"})
    assert first.close(timeout=scaled(5)) == []

    second = server.new_session()
    assert (await fetch("GET", second.url("/auth")))[0] == 500
    assert await fetch_json("POST", second.url("/testpoint"), json={"name": "tp", "data": 1}) == (
        200,
        {"data": None, "handled": False},
    )
    assert second.testpoint.enabled_names() == [] and second.upstreams == []
    assert second.close(timeout=scaled(5)) == ["GET /auth: no handler"]
    assert auth.times_called == 1


async def test_a_handler_cannot_close_its_own_session(session, scaled):
    @session.handler("/close")
    def close_from_inside(request):
        session.close()

    assert (await fetch("GET", session.url("/close")))[0] == 500
    problems = session.close(timeout=scaled(5))
    assert problems == [
        "GET /close: handler close_from_inside() raised MockserverError: close() waits for the mockserver's loop; "
        "call it from another thread, not a handler"
    ]
