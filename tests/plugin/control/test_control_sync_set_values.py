"""dynamic_config.set_values without await, as in pytest_userver; awaiting it still works (issue 15, item 5)."""

from __future__ import annotations

import pytest

from pytest_wsservice.errors import ServiceControlError


async def echo_of(websocket_client, text):
    async with websocket_client.get("chat") as chat:
        await chat.send(text)
        return await chat.recv()


async def test_set_values_without_await_is_in_effect_when_it_returns(dynamic_config, websocket_client, recwarn):
    """The sync call sets the value in the service before it returns; no warning."""
    dynamic_config.set_values({"WEBSOCKET_ECHO_PREFIX": "sync: "})
    assert dynamic_config.get("WEBSOCKET_ECHO_PREFIX") == "sync: "
    assert await echo_of(websocket_client, "hi") == "sync: hi"
    assert not [w for w in recwarn if issubclass(w.category, DeprecationWarning)]


async def test_awaiting_set_values_still_works(dynamic_config, websocket_client, recwarn):
    """The older awaited form sets the value the same way, and says nothing."""
    result = await dynamic_config.set_values({"WEBSOCKET_ECHO_PREFIX": "awaited: "})
    assert result is None
    assert await echo_of(websocket_client, "hi") == "awaited: hi"
    assert not [w for w in recwarn if issubclass(w.category, DeprecationWarning)]


async def test_set_by_keyword(dynamic_config, websocket_client):
    """set(NAME=value), pytest_userver's keyword form."""
    dynamic_config.set(WEBSOCKET_ECHO_PREFIX="kw: ", USERVER_LOG_REQUEST=False)
    assert dynamic_config.get("USERVER_LOG_REQUEST") is False
    assert await echo_of(websocket_client, "hi") == "kw: hi"


def test_sync_test_can_set_values(dynamic_config):
    """A plain (sync) test can change values too: nothing needs an event loop."""
    dynamic_config.set_values({"WEBSOCKET_ECHO_PREFIX": "from sync: "})
    assert dynamic_config.get("WEBSOCKET_ECHO_PREFIX") == "from sync: "


async def test_a_refused_value_raises_at_the_call(dynamic_config):
    """The sync call raises the service's refusal at once, before any await."""
    with pytest.raises(ServiceControlError, match=r"unknown dynamic config value 'NO_SUCH_VALUE'") as refused:
        dynamic_config.set_values({"NO_SUCH_VALUE": 1})
    assert refused.value.status == 400
    assert dynamic_config.get("WEBSOCKET_ECHO_PREFIX") == ""
