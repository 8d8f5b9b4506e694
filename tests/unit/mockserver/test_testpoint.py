"""The testpoint endpoint: testsuite's protocol, handlers as call queues, problems reported."""

from __future__ import annotations

import asyncio

import pytest

from pytest_wsservice.mockserver import CallQueue, TestpointRegistry

from .helpers import fetch, fetch_json

pytestmark = pytest.mark.asyncio


async def call_testpoint(session, name, data):
    return await fetch_json("POST", session.url("/testpoint"), json={"name": name, "data": data})


async def test_the_answer_is_the_handlers_return_value(session, scaled):
    @session.testpoint("chat-message-received")
    def received(data):
        return {"close": 4000} if data["text"] == "bye" else None

    assert await call_testpoint(session, "chat-message-received", {"text": "hi"}) == (
        200,
        {"data": None, "handled": True},
    )
    assert await call_testpoint(session, "chat-message-received", {"text": "bye"}) == (
        200,
        {"data": {"close": 4000}, "handled": True},
    )
    assert received.times_called == 2
    assert received.next_call() == {"data": {"text": "hi"}}
    assert await received.wait_call(timeout=scaled(5)) == {"data": {"text": "bye"}}


async def test_an_unregistered_name_is_not_handled(session):
    assert await call_testpoint(session, "nobody-listens", [1]) == (200, {"data": None, "handled": False})
    assert session.problems == []


async def test_async_handlers_and_waiting_before_the_call(session, scaled):
    @session.testpoint("slow")
    async def slow(data):
        await asyncio.sleep(0.01)
        return {"seen": data}

    waiter = asyncio.ensure_future(slow.wait_call(timeout=scaled(5)))
    await asyncio.sleep(0)
    assert await call_testpoint(session, "slow", 5) == (200, {"data": {"seen": 5}, "handled": True})
    assert await waiter == {"data": 5}


async def test_the_registry_lists_enabled_names(session):
    registry = session.testpoint
    assert isinstance(registry, TestpointRegistry) and registry.enabled_names() == []
    registry("b")(lambda data: None)
    queue = registry("a")(lambda data: None)
    assert registry.enabled_names() == ["a", "b"] and list(registry) == ["b", "a"]
    assert registry["a"] is queue and isinstance(queue, CallQueue) and len(registry) == 2 and "a" in registry
    replaced = registry("a")(lambda data: 1)
    assert registry["a"] is replaced and len(registry) == 2
    with pytest.raises(TypeError, match="non-empty str"):
        registry("")
    registry.clear()
    assert registry.enabled_names() == []


async def test_a_user_handler_at_testpoint_path_wins(session):
    @session.json_handler("/testpoint")
    def own(request):
        return {"data": "mine", "handled": True}

    session.testpoint("tp")(lambda data: "registry")
    assert await call_testpoint(session, "tp", None) == (200, {"data": "mine", "handled": True})
    assert own.times_called == 1


async def test_malformed_calls_and_failing_handlers_are_problems(session, scaled):
    @session.testpoint("raises")
    def raises(data):
        raise ValueError("bad data")

    @session.testpoint("not-json")
    def not_json(data):
        return object

    status, answer = await fetch_json("POST", session.url("/testpoint"), json={"data": 1})
    assert status == 400 and "JSON object" in answer["error"]
    status, _ = await fetch_json("POST", session.url("/testpoint"), data=b"not json")
    assert status == 400
    for name in ("raises", "not-json"):
        status, body, _ = await fetch("POST", session.url("/testpoint"), json={"name": name, "data": 1})
        assert status == 500 and body.startswith(b"mockserver: POST /testpoint: testpoint")
    assert raises.times_called == 1
    problems = session.close(timeout=scaled(5))
    assert problems[0] == 'POST /testpoint: a testpoint call is a JSON object {"name": NAME, "data": DATA}'
    assert problems[2] == "POST /testpoint: testpoint 'raises' handler raised ValueError: bad data"
    assert problems[3].startswith("POST /testpoint: testpoint 'not-json' handler returned <class 'object'>, not JSON")
    assert len(problems) == 4
