"""Testpoints and the mocked time of the sample service (issue 10's testpoint part, issue 15's mock_now).

The testpoint endpoint is a real aiohttp server on loopback that answers as testsuite's
mockserver does; the service side is the real :class:`Testpoints` and the real application.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from sample_service.app import build_app
from sample_service.config import load_config
from sample_service.mocked_time import MOCKED_TIME, parse_time
from sample_service.testpoint import TESTPOINTS, Testpoints
from tests.sample_service.sample_helpers import config_dict, write_config


class Endpoint:
    """A testpoint URL: records every call and answers with ``answer(body)``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.answer: Callable[[dict[str, Any]], web.StreamResponse] = lambda body: web.json_response(
            {"data": {"seen": body["data"]}, "handled": True}
        )
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.calls.append((request.content_type, body))
        return self.answer(body)


@pytest_asyncio.fixture
async def endpoint() -> AsyncIterator[Endpoint]:
    point = Endpoint()
    app = web.Application()
    app.router.add_post("/testpoint", point.handle)
    async with TestServer(app, host="127.0.0.1") as server:
        point.url = str(server.make_url("/testpoint"))
        yield point


@pytest.mark.asyncio
async def test_call_posts_name_and_data_and_returns_the_answer(endpoint: Endpoint) -> None:
    """A call POSTs {"id", "name", "data"} as JSON and returns the answer's data when handled."""
    testpoints = Testpoints(endpoint.url, 5.0)
    try:
        assert await testpoints.call("chat-message-received", {"size": 5}) == {"seen": {"size": 5}}
        content_type, body = endpoint.calls[0]
        assert content_type == "application/json"
        assert body["name"] == "chat-message-received" and body["data"] == {"size": 5} and body["id"]
        endpoint.answer = lambda body: web.json_response({"data": {"close": 4000}, "handled": False})
        assert await testpoints.call("x", 1) is None
        endpoint.answer = lambda body: web.json_response({"data": [1, 2]})  # handled defaults to true
        assert await testpoints.call("x", 1) == [1, 2]
    finally:
        await testpoints.close()


@pytest.mark.asyncio
async def test_enabled_names_follow_userver(endpoint: Endpoint) -> None:
    """Default: every name until a list comes, then exactly the list; skip-unregistered: none until a list."""
    everything = Testpoints(endpoint.url, 5.0)
    skipping = Testpoints(endpoint.url, 5.0, skip_unregistered=True)
    try:
        assert everything.is_enabled("a") and everything.enabled_names is None
        assert not skipping.is_enabled("a") and skipping.enabled_names == frozenset()
        assert await skipping.call("a", 1) is None and endpoint.calls == []  # disabled: no request
        for testpoints in (everything, skipping):
            testpoints.set_enabled(["b"])
            assert not testpoints.is_enabled("a") and testpoints.is_enabled("b")
            assert await testpoints.call("a", 1) is None
            assert await testpoints.call("b", 2) == {"seen": 2}
        assert [body["name"] for _, body in endpoint.calls] == ["b", "b"]
    finally:
        await everything.close()
        await skipping.close()


@pytest.mark.asyncio
async def test_without_a_url_nothing_is_enabled() -> None:
    """Without testpoint-url no testpoint is enabled, whatever the list says, and a call sends nothing."""
    testpoints = Testpoints(None)
    testpoints.set_enabled(["a"])
    assert not testpoints.available and not testpoints.is_enabled("a")
    assert await testpoints.call("a", 1) is None


@pytest.mark.asyncio
@pytest.mark.parametrize("failure", ["500", "not-json", "not-an-object", "slow", "refused"])
async def test_a_failed_call_logs_one_line_and_returns_none(
    endpoint: Endpoint, failure: str, caplog: pytest.LogCaptureFixture, scaled: Callable[[float], float]
) -> None:
    """An HTTP error, a bad answer, a timeout or a refused connection: None and one warning naming the testpoint."""
    url = endpoint.url
    if failure == "500":
        endpoint.answer = lambda body: web.Response(status=500)
    elif failure == "not-json":
        endpoint.answer = lambda body: web.Response(text="{nope", content_type="application/json")
    elif failure == "not-an-object":
        endpoint.answer = lambda body: web.json_response([1])
    elif failure == "slow":
        url = url.replace("/testpoint", "/slow")
    else:
        url = "http://127.0.0.1:1/testpoint"
    hang = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        await hang.wait()
        return web.json_response({})

    server = None
    if failure == "slow":
        app = web.Application()
        app.router.add_post("/slow", slow)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        url = str(server.make_url("/slow"))
    testpoints = Testpoints(url, 0.2)
    caplog.set_level(logging.WARNING, logger="sample_service.testpoint")
    try:
        started = time.monotonic()
        assert await testpoints.call("tp-name", {"a": 1}) is None
        assert time.monotonic() - started < scaled(5)
    finally:
        hang.set()
        await testpoints.close()
        if server is not None:
            await server.close()
    lines = [record.getMessage() for record in caplog.records if record.name == "sample_service.testpoint"]
    assert len(lines) == 1 and lines[0].startswith("testpoint tp-name: ")
    if failure == "slow":
        assert "did not answer within 0.2s" in lines[0]


def app_config(tmp_path: Any, **tests_control: Any) -> Any:
    config = config_dict(0, str(tmp_path / "service.log"))
    config["components_manager"]["components"]["tests-control"] = {"path": "/tests/{action}", **tests_control}
    return load_config(write_config(tmp_path, config))


@pytest.mark.asyncio
async def test_tests_control_sets_testpoints_and_mock_now(tmp_path: Any, endpoint: Endpoint) -> None:
    """`testpoints` enables exactly its names; `mock_now` pins app[MOCKED_TIME].now(), null unpins it."""
    app = build_app(app_config(tmp_path, **{"testpoint-url": endpoint.url, "skip-unregistered-testpoints": True}))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        testpoints, clock = app[TESTPOINTS], app[MOCKED_TIME]
        assert testpoints.enabled_names == frozenset() and not clock.is_mocked
        response = await client.post(
            "/tests/control", json={"testpoints": ["a", "b"], "mock_now": "2019-12-31T11:22:33.000000+0000"}
        )
        assert response.status == 200, await response.text()
        assert testpoints.enabled_names == {"a", "b"}
        assert clock.now() == datetime(2019, 12, 31, 11, 22, 33, tzinfo=timezone.utc)
        assert await testpoints.call("a", {"x": 1}) == {"seen": {"x": 1}}
        response = await client.post("/tests/control", json={"testpoints": [], "mock_now": None})
        assert response.status == 200
        assert not testpoints.is_enabled("a") and not clock.is_mocked
        assert abs(clock.now() - datetime.now(timezone.utc)) < timedelta(minutes=1)


def test_testpoint_config_keys(tmp_path: Any) -> None:
    """testpoint-url, testpoint-timeout, skip-unregistered-testpoints are read; tests-control off: no testpoints."""
    config = app_config(tmp_path, **{"testpoint-url": "http://127.0.0.1:9/tp", "testpoint-timeout": "250ms"})
    testpoints = Testpoints.from_config(config)
    assert (testpoints.url, testpoints.timeout, testpoints.enabled_names) == ("http://127.0.0.1:9/tp", 0.25, None)
    off = app_config(tmp_path, **{"testpoint-url": "http://127.0.0.1:9/tp", "load-enabled": False})
    assert not Testpoints.from_config(off).available


@pytest.mark.parametrize(
    "text",
    [
        "2019-12-31T11:22:33.000000+0000",
        "2019-12-31T11:22:33+00:00",
        "2019-12-31T11:22:33",
        "2019-12-31T14:22:33+03:00",
        "2019-12-31T11:22:33Z",
    ],
)
def test_parse_time(text: str) -> None:
    """testsuite's timestring, ISO 8601 with or without a zone (none means UTC), and Z."""
    assert parse_time(text) == datetime(2019, 12, 31, 11, 22, 33, tzinfo=timezone.utc)


def test_parse_time_refuses_garbage() -> None:
    with pytest.raises(ValueError, match="expected an ISO 8601 time"):
        parse_time("yesterday")
