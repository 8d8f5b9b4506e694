"""The sample service's tests-control component: its JSON protocol, its checks, and loopback-only access."""
# ruff: noqa: E501  (long lines are expected messages and inner test sources, kept verbatim)

from __future__ import annotations

import dataclasses
import json

import pytest
import yarl
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from pytest_wsservice.clients.tests_control import TestsControl
from pytest_wsservice.errors import ServiceControlError
from sample_service.app import build_app
from sample_service.config import ConfigError, load_config
from sample_service.tests_control import is_loopback
from tests.plugin.control.control_helpers import sample_dir


def secret_headers(service_client, **extra):
    """The plugin's tests-control secret header (the plugin turned tests-control on with it), plus ``extra``."""
    return {**service_client.tests_control.headers, **extra}


async def control(service_client, body, headers=None):
    headers = secret_headers(service_client, **(headers or {}))
    response = await service_client.post("/tests/control", json=body, headers=headers)
    return response.status, response.json()


async def test_get_and_empty_post_return_the_current_values(service_client):
    """GET and a POST of {} both answer 200 with every current value, the fallback file's included."""
    fallback = json.loads((sample_dir() / "dynamic_config_fallback.json").read_text())
    response = await service_client.get("/tests/control", headers=secret_headers(service_client))
    assert response.status == 200
    values = response.json()["dynamic_config"]
    assert values == fallback
    assert await control(service_client, {}) == (200, {"dynamic_config": values})


async def test_set_replace_and_reset(service_client, websocket_client):
    """set changes only the names given, replace sets every value, reset returns to the start values; the echo follows
    each.
    """

    async def echo():
        async with websocket_client.get("chat") as chat:
            await chat.send("x")
            return await chat.recv()

    try:
        status, answer = await control(service_client, {"dynamic_config": {"set": {"WEBSOCKET_ECHO_PREFIX": "s "}}})
        assert status == 200 and answer["dynamic_config"]["WEBSOCKET_ECHO_PREFIX"] == "s "
        assert answer["dynamic_config"]["USERVER_LOG_REQUEST"] is True
        assert await echo() == "s x"
        # replace: a name left out goes back to its start value.
        status, answer = await control(service_client, {"dynamic_config": {"replace": {"USERVER_LOG_REQUEST": False}}})
        assert (
            answer["dynamic_config"]["WEBSOCKET_ECHO_PREFIX"] == ""
            and answer["dynamic_config"]["USERVER_LOG_REQUEST"] is False
        )
        assert await echo() == "x"
        # reset, then set, in one request: applied in that order.
        body = {"dynamic_config": {"reset": True, "set": {"WEBSOCKET_ECHO_PREFIX": "r "}}, "flush_logs": True}
        status, answer = await control(service_client, body)
        assert (
            answer["dynamic_config"]["USERVER_LOG_REQUEST"] is True
            and answer["dynamic_config"]["WEBSOCKET_ECHO_PREFIX"] == "r "
        )
        assert await echo() == "r x"
    finally:
        assert (await control(service_client, {"dynamic_config": {"reset": True}}))[0] == 200


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("[1, 2", "the body must be a JSON object: "),
        ([1], "the body must be a JSON object, got list"),
        (
            {"action": "run_periodic_task", "name": "x"},
            "unknown tests-control action 'run_periodic_task'; this service knows: ",
        ),
        (
            {"dynamic_config": {"sett": {}}},
            "unknown key(s) 'sett' in 'dynamic_config'; the keys are 'reset', 'replace' and 'set'",
        ),
        (
            {"dynamic_config": {"set": ["WEBSOCKET_ECHO_PREFIX"]}},
            "'dynamic_config.set' must be an object of names to values",
        ),
        (
            {"dynamic_config": {"reset": True, "set": {"WEBSOCKET_ECHO_PREFIX": "> ", "USERVER_LOG_REQUEST": 1}}},
            "dynamic config value 'USERVER_LOG_REQUEST' must be a JSON boolean, got number 1",
        ),
        (
            {"dynamic_config": {"replace": {"WEBSOCKET_ECHO_PREFIX": "> "}, "set": {"NOPE": 1}}},
            "unknown dynamic config value 'NOPE'; the known values are: USERVER_LOG_REQUEST, ",
        ),
    ],
    ids=[
        "not-json",
        "not-an-object",
        "unknown-body-action",
        "unknown-action",
        "set-not-an-object",
        "wrong-type",
        "unknown-name",
    ],
)
async def test_bad_request_is_refused_and_changes_nothing(service_client, body, error):
    """A malformed request gets 400 with a message saying what is wrong, and no value changes, not even the valid ones."""
    before = (await control(service_client, {}))[1]
    data = body if isinstance(body, str) else json.dumps(body)
    response = await service_client.post("/tests/control", data=data, headers=secret_headers(service_client))
    assert response.status == 400
    assert response.json()["error"].startswith(error)
    assert (await control(service_client, {}))[1] == before


async def test_forwarding_headers_do_not_matter(service_client):
    """Headers claiming another client address (X-Forwarded-For, Forwarded) change nothing: the TCP peer decides."""
    headers = {"X-Forwarded-For": "203.0.113.7", "Forwarded": "for=203.0.113.7", "X-Real-IP": "203.0.113.7"}
    status, _ = await control(service_client, {}, headers=headers)
    assert status == 200


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::1%lo", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.1", False),
        ("203.0.113.7", False),
        ("::ffff:203.0.113.7", False),
        ("fe80::1", False),
        ("localhost", False),
        ("", False),
        (None, False),
    ],
)
def test_is_loopback(host, loopback):
    """Only 127.0.0.0/8, ::1 and IPv4-mapped loopback count as loopback peers; names and unknown peers do not."""
    assert is_loopback(host) is loopback


def as_if_from(address):
    """A middleware that gives each request another peer address, as a reverse-proxy middleware would."""

    @web.middleware
    async def middleware(request, handler):
        return await handler(request.clone(remote=address))

    return middleware


@pytest.mark.asyncio
@pytest.mark.parametrize(("peer", "status"), [("203.0.113.7", 403), ("::1", 200)])
async def test_only_loopback_peers_are_answered(tmp_path, peer, status):
    """The real application answers a non-loopback peer 403 naming its address, even when X-Forwarded-For says 127.0.0.1."""
    # The bundled config has tests-control off; turn it on as a test config does.
    config = dataclasses.replace(load_config(sample_dir() / "static_config.yaml"), tests_control_path="/tests/control")
    app = build_app(config)
    app.middlewares.append(as_if_from(peer))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        response = await client.post(
            "/tests/control",
            json={"dynamic_config": {"set": {"WEBSOCKET_ECHO_PREFIX": "!"}}},
            headers={"X-Forwarded-For": "127.0.0.1"},
        )
        answer = await response.json()
        assert response.status == status
        if status == 403:
            assert answer == {
                "error": f"tests-control answers only loopback peers (127.0.0.1, ::1); this request came from {peer}"
            }
            assert (await client.get("/tests/control")).status == 403
        else:
            assert answer["dynamic_config"]["WEBSOCKET_ECHO_PREFIX"] == "!"


def write_config(tmp_path, components_extra, fallback=None):
    config = (sample_dir() / "static_config.yaml").read_text()
    fallback_text = fallback if fallback is not None else (sample_dir() / "dynamic_config_fallback.json").read_text()
    (tmp_path / "dynamic_config_fallback.json").write_text(fallback_text)
    path = tmp_path / "static_config.yaml"
    path.write_text(config.replace("    tests-control:", components_extra + "    tests-control-was:", 1))
    return path


def test_tests_control_config_is_optional_and_checked(tmp_path):
    """Without the section there is no tests-control; with it, load-enabled must be a boolean and the path a URL path."""
    path = write_config(tmp_path, "")
    assert load_config(path).tests_control_path is None
    path = write_config(tmp_path, "    tests-control: {path: '/tests/{action}'}\n")
    assert load_config(path).tests_control_path == "/tests/{action}"
    path = write_config(tmp_path, "    tests-control: {path: /tests/control, load-enabled: 'yes'}\n")
    with pytest.raises(
        ConfigError,
        match=r"components_manager\.components\.tests-control\.load-enabled: expected true or false, got 'yes'",
    ):
        load_config(path)
    path = write_config(tmp_path, "    tests-control: {path: /chat}\n")
    with pytest.raises(
        ConfigError, match=r"tests-control\.path: '/chat' is also the path of websocket-handler; pick another"
    ):
        load_config(path)


def test_fallback_value_of_the_wrong_type_is_a_config_error(tmp_path):
    """A fallback file whose WEBSOCKET_ECHO_PREFIX is not a string stops the service at start with the file and the
    value named.
    """
    path = write_config(tmp_path, "", fallback='{"WEBSOCKET_ECHO_PREFIX": 5}')
    with pytest.raises(
        ConfigError,
        match=r"fallback-path: in .*dynamic_config_fallback\.json: dynamic config value 'WEBSOCKET_ECHO_PREFIX' must be a JSON string, got number 5",
    ):
        load_config(path)


def test_plugin_reports_a_path_the_service_does_not_serve(service_handle):
    """A tests-control path the service answers with 404 is reported with the path and a pointer to the protocol."""
    control = TestsControl(service_handle.base_url, "/tests/elsewhere", timeout=5)
    with pytest.raises(ServiceControlError) as error:
        control.request_blocking({}, what="reading the dynamic config")
    assert error.value.status == 404
    assert str(error.value) == (
        f"tests-control at {service_handle.base_url}tests/elsewhere answered 404: the service does not serve "
        "tests-control there, although its static config names '/tests/elsewhere' "
        "(components_manager.components.tests-control.path). Does it implement the protocol in "
        "docs/dynamic-config.md? (while reading the dynamic config)."
    )


@pytest.mark.asyncio
async def test_plugin_reports_a_refusal_of_a_non_loopback_peer():
    """When tests-control answers 403, the plugin's error quotes the service and says to test a service on this machine."""
    app = build_app(
        dataclasses.replace(load_config(sample_dir() / "static_config.yaml"), tests_control_path="/tests/control")
    )
    app.middlewares.append(as_if_from("203.0.113.7"))
    async with TestServer(app, host="127.0.0.1") as server:
        control = TestsControl(yarl.URL(str(server.make_url("/"))), "/tests/control", timeout=5)
        with pytest.raises(ServiceControlError) as error:
            await control.request({"flush_logs": True}, what="flushing the service's log")
    assert error.value.status == 403
    assert (
        "refused it (403: tests-control answers only loopback peers (127.0.0.1, ::1); this request came from "
        "203.0.113.7). tests-control answers only loopback peers: test a service that runs on this machine, on "
        "127.0.0.1 or ::1 (while flushing the service's log)."
    ) in str(error.value)
