"""Nothing of the mockserver binds to a test's event loop, whatever the loop's scope.

The server and its session fixtures are sync and module-scoped; the tests below await
call queues, upstream connections and testpoints from a module-scoped loop shared by a
class, then from the session loop, then from a fresh function loop.
"""

from __future__ import annotations

import asyncio
from importlib.metadata import version

import pytest
import pytest_asyncio
import websockets

from .helpers import fetch_json

LOOPS: list[asyncio.AbstractEventLoop] = []

# pytest-asyncio before 1.2 runs a test in the current event loop: the innermost scoped loop still set up.
# When another module set up the session loop first (as the whole suite does), a session-scoped test here
# runs in this module's loop (measured: 0.24 to 1.1 do, 1.2 does not). The mockserver must work there
# too; only from 1.2 on is the loop sure to be another one.
_LOOP_SCOPES_HONOURED = tuple(int(part) for part in version("pytest-asyncio").split(".")[:2]) >= (1, 2)


async def use_everything(session, scaled) -> None:
    @session.json_handler("/auth")
    async def auth(request):
        return {"user": request.json["token"]}

    @session.testpoint("tp")
    def tp(data):
        return data * 2

    upstream = session.websocket("/feed")
    waiter = asyncio.ensure_future(auth.wait_call(timeout=scaled(5)))
    assert await fetch_json("POST", session.url("/auth"), json={"token": "ann"}) == (200, {"user": "ann"})
    assert (await waiter)["request"].json == {"token": "ann"}
    assert await fetch_json("POST", session.url("/testpoint"), json={"name": "tp", "data": 21}) == (
        200,
        {"data": 42, "handled": True},
    )
    assert await tp.wait_call(timeout=scaled(5)) == {"data": 21}
    async with websockets.connect(session.url("/feed").replace("http", "ws", 1)) as client:
        conn = await upstream.wait_connection()
        await client.send("up")
        assert await conn.recv() == "up"
        await conn.send("down")
        assert await asyncio.wait_for(client.recv(), scaled(5)) == "down"
        await conn.close(4001, "done")
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(client.recv(), scaled(5))
    assert conn.close_code == 4001
    assert asyncio.all_tasks() == {asyncio.current_task()}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_loop() -> asyncio.AbstractEventLoop:
    """The module's event loop (a fixture, so each xdist worker that runs a test here knows it)."""
    return asyncio.get_running_loop()


@pytest.mark.asyncio(loop_scope="module")
class TestInAModuleLoop:
    async def test_first(self, session, scaled, module_loop):
        assert asyncio.get_running_loop() is module_loop
        LOOPS.append(module_loop)
        await use_everything(session, scaled)

    async def test_second_shares_the_loop(self, session, scaled, module_loop):
        assert asyncio.get_running_loop() is module_loop
        LOOPS.append(module_loop)
        await use_everything(session, scaled)


@pytest.mark.asyncio(loop_scope="session")
async def test_in_the_session_loop(session, scaled):
    loop = asyncio.get_running_loop()
    if _LOOP_SCOPES_HONOURED:
        assert all(loop is not seen for seen in LOOPS)
    LOOPS.append(loop)
    await use_everything(session, scaled)


@pytest.mark.asyncio
async def test_in_a_function_loop_after_the_others(session, scaled):
    loop = asyncio.get_running_loop()
    assert all(loop is not seen for seen in LOOPS)
    await use_everything(session, scaled)
