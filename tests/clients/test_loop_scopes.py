"""The clients hold no event-loop state between tests, whatever loop scope a suite uses.

The fixtures are function-scoped and sync; here two tests share one module-scoped loop
and one test runs in the session loop. Each must find working clients and leave no
task, connection or aiohttp session behind.
"""

from __future__ import annotations

import asyncio
import gc
import warnings

import pytest
import pytest_asyncio

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_loop() -> asyncio.AbstractEventLoop:
    """The module's event loop, known in each xdist worker that runs a test of this module."""
    return asyncio.get_running_loop()


async def use_both_clients(websocket_client, service_client):
    async with websocket_client.get("chat") as chat:
        await chat.send("in a shared loop")
        assert await chat.recv() == "in a shared loop"
    assert (await service_client.get("/ping")).status == 200
    # Nothing of ours keeps running in the loop, and nothing is left unclosed.
    assert asyncio.all_tasks() == {asyncio.current_task()}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


async def test_first_test_in_a_module_loop(websocket_client, service_client, module_loop):
    """Both clients work in a module-scoped loop and leave nothing running in it."""
    assert asyncio.get_running_loop() is module_loop
    await use_both_clients(websocket_client, service_client)


async def test_second_test_in_the_same_module_loop(websocket_client, service_client, module_loop):
    """A later test in the same module loop gets fresh, working clients."""
    assert asyncio.get_running_loop() is module_loop
    await use_both_clients(websocket_client, service_client)


@pytest.mark.asyncio(loop_scope="session")
async def test_session_loop(websocket_client, service_client):
    """Both clients work in the session-scoped loop and leave nothing running in it."""
    await use_both_clients(websocket_client, service_client)
