"""Call queues: counting, popping and awaiting calls across threads and event loops."""

from __future__ import annotations

import asyncio
import threading

import pytest

from pytest_wsservice.mockserver import CallQueue, CallQueueEmptyError, CallQueueTimeoutError

from .helpers import fetch, fetch_json

pytestmark = pytest.mark.asyncio


async def test_times_called_next_call_and_flush(session):
    @session.json_handler("/ping")
    def ping(request):
        return "pong"

    assert ping.times_called == 0 and not ping.has_calls
    with pytest.raises(CallQueueEmptyError, match=r"handler ping\(\) for '/ping' has no calls left"):
        ping.next_call()
    for _ in range(3):
        await fetch("GET", session.url("/ping?n=1"))
    assert ping.times_called == 3 and ping.has_calls
    assert ping.next_call()["request"].query["n"] == "1"
    assert ping.times_called == 2
    ping.flush()
    assert ping.times_called == 0 and not ping.has_calls
    assert ping.__name__ == "ping" and ping.func.__name__ == "ping"


async def test_wait_call_waits_for_a_later_request(session, scaled):
    @session.json_handler("/later")
    async def later(request):
        return "done"

    waiter = asyncio.ensure_future(later.wait_call(timeout=scaled(5)))
    await asyncio.sleep(0)
    assert not waiter.done()
    assert await fetch_json("POST", session.url("/later"), json={"k": "v"}) == (200, "done")
    call = await waiter
    assert call["request"].json == {"k": "v"}
    assert later.times_called == 0  # wait_call popped it


async def test_the_call_is_recorded_after_the_handler_finished(session, scaled):
    seen = []

    @session.json_handler("/slow")
    async def slow(request):
        await asyncio.sleep(0.05)
        seen.append("handled")
        return None

    request = asyncio.ensure_future(fetch("GET", session.url("/slow")))
    await slow.wait_call(timeout=scaled(5))
    assert seen == ["handled"]
    assert (await request)[0] == 200


async def test_wait_call_timeout_names_the_handler_and_the_seconds(session):
    @session.handler("/auth")
    def auth(request):
        return session.make_response()

    with pytest.raises(CallQueueTimeoutError, match=r"handler auth\(\) for '/auth' was not called within 0.2 seconds"):
        await auth.wait_call(timeout=0.2)
    assert isinstance(CallQueueTimeoutError("x"), TimeoutError)


async def test_a_cancelled_wait_leaves_the_queue_usable(session, scaled):
    @session.json_handler("/x")
    def handler(request):
        return 1

    waiter = asyncio.ensure_future(handler.wait_call(timeout=scaled(5)))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await fetch("GET", session.url("/x"))
    assert handler.times_called == 1
    assert (await handler.wait_call(timeout=scaled(5)))["request"].path == "/x"


async def test_wait_call_from_another_threads_loop(session, scaled):
    """The waiter's loop is woken, whichever it is: here a loop on a third thread."""

    @session.json_handler("/cross")
    def cross(request):
        return 1

    results: list[object] = []
    waiting = threading.Event()

    def other_thread() -> None:
        async def wait() -> None:
            task = asyncio.ensure_future(cross.wait_call(timeout=scaled(5)))
            await asyncio.sleep(0)
            waiting.set()
            results.append((await task)["request"].path)

        asyncio.run(wait())

    thread = threading.Thread(target=other_thread)
    thread.start()
    assert await asyncio.to_thread(waiting.wait, scaled(5))
    await fetch("GET", session.url("/cross"))
    await asyncio.to_thread(thread.join, scaled(5))
    assert results == ["/cross"]


async def test_a_callqueue_names_arguments_with_defaults():
    def handler(request, user_id="none", *rest, flag=False, **extra):
        return user_id

    queue = CallQueue(handler)
    assert await queue("req", "42", extra_arg=1) == "42"
    assert queue.next_call() == {
        "request": "req",
        "user_id": "42",
        "rest": (),
        "flag": False,
        "extra": {"extra_arg": 1},
    }
    assert repr(queue) == "<CallQueue handler(): 0 call(s) queued>"


async def test_a_callqueue_around_a_callable_without_signature():
    class Answer:
        def __call__(self, *args, **kwargs):
            return len(args)

    queue = CallQueue(Answer())
    assert await queue(1, 2, key="v") == 2
    assert queue.next_call() == {"args": (1, 2), "kwargs": {"key": "v"}}
    assert await queue() == 0
    with pytest.raises(CallQueueTimeoutError, match=r"^Answer\(\) was not called within 0.05 seconds"):
        queue.flush()
        await queue.wait_call(0.05)
