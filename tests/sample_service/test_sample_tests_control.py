"""tests-control of the sample service: who may call it (issue 13) and pytest_userver's protocol (issue 15).

The services are real processes; requests are sent with ``http.client`` so that every header
(Host, Origin, Content-Type) is exactly what the test says.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.sample_service.sample_helpers import (
    START_TIMEOUT,
    RawWebSocket,
    SampleProcess,
    config_dict,
    free_port,
    start_sample,
    write_config,
)

SECRET = "s3cret-Token_0123456789"
HEADER = "X-Tests-Control-Secret"


def start(directory: Path, scaled: Callable[[float], float], **tests_control: Any) -> SampleProcess:
    port = free_port()
    log_path = directory / "service.log"
    config = config_dict(port, str(log_path))
    config["components_manager"]["components"]["tests-control"] = {"method": "POST", **tests_control}
    return start_sample(write_config(directory, config), port, log_path, scaled(START_TIMEOUT))


@pytest.fixture(scope="module")
def open_service(tmp_path_factory: pytest.TempPathFactory, scaled: Callable[[float], float]) -> Iterator[SampleProcess]:
    """tests-control on /tests/control without a secret."""
    service = start(tmp_path_factory.mktemp("open"), scaled, path="/tests/control")
    yield service
    service.stop(scaled(10))


@pytest.fixture(scope="module")
def secret_service(
    tmp_path_factory: pytest.TempPathFactory, scaled: Callable[[float], float]
) -> Iterator[SampleProcess]:
    """tests-control on /tests/{action}, pytest_userver's form, with a secret."""
    service = start(tmp_path_factory.mktemp("secret"), scaled, path="/tests/{action}", secret=SECRET)
    yield service
    service.stop(scaled(10))


def post(
    service: SampleProcess,
    path: str,
    body: Any = None,
    *,
    method: str = "POST",
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> tuple[int, Any]:
    """One request; the headers default to what pytest_userver's client sends (JSON, Host: localhost:PORT)."""
    data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    all_headers = {"Host": f"localhost:{service.port}", "Content-Type": "application/json", **(headers or {})}
    connection = http.client.HTTPConnection("127.0.0.1", service.port, timeout=timeout)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in all_headers.items():
            if value is not None:
                connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(data)))
        connection.endheaders(data)
        response = connection.getresponse()
        payload = response.read()
    finally:
        connection.close()
    return response.status, json.loads(payload) if payload else None


def echo(service: SampleProcess, text: str) -> str:
    conn = RawWebSocket(service.port, 10.0)
    try:
        assert conn.handshake()[0] == 101
        conn.send(0x1, text.encode())
        opcode, payload = conn.recv_message()
        assert opcode == 0x1
        return payload.decode()
    finally:
        conn.close()


PWN = {"dynamic_config": {"set": {"WEBSOCKET_ECHO_PREFIX": "pwned> "}}}


# ------------------------------------------------------------------ issue 13: who may call it


def test_text_plain_is_refused_with_415_and_changes_nothing(open_service: SampleProcess) -> None:
    """The issue's reproduction: a text/plain POST (a browser form, curl -d) gets 415; the echo is untouched."""
    status, answer = post(open_service, "/tests/control", PWN, headers={"Content-Type": "text/plain"})
    assert (status, answer) == (415, {"error": "tests-control takes Content-Type: application/json, got 'text/plain'"})
    status, _ = post(open_service, "/tests/control", PWN, headers={"Content-Type": None})  # type: ignore[dict-item]
    assert status == 415
    assert echo(open_service, "hello") == "hello"


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "evil.example:{port}",
        "localhost:1",
        "127.0.0.1:1",
        "localhost.evil.example:{port}",
        "10.0.0.1:{port}",
        "",
    ],
)
def test_a_foreign_host_is_refused_with_403(open_service: SampleProcess, host: str) -> None:
    """A Host that is not localhost or a loopback address with the listener's port (DNS rebinding) gets 403."""
    status, answer = post(open_service, "/tests/control", PWN, headers={"Host": host.format(port=open_service.port)})
    assert status == 403 and "Host" in answer["error"]
    assert echo(open_service, "hello") == "hello"


@pytest.mark.parametrize("host", ["localhost", "localhost:{port}", "127.0.0.1:{port}", "[::1]:{port}", "LOCALHOST"])
def test_a_local_host_is_accepted(open_service: SampleProcess, host: str) -> None:
    """localhost and loopback addresses are accepted with or without the port."""
    status, answer = post(open_service, "/tests/control", {}, headers={"Host": host.format(port=open_service.port)})
    assert status == 200 and "dynamic_config" in answer


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://localhost"])
def test_an_origin_header_is_refused_with_403(open_service: SampleProcess, origin: str) -> None:
    """Any Origin header (browsers send one, test clients do not) gets 403, even a local one."""
    status, answer = post(open_service, "/tests/control", PWN, headers={"Origin": origin})
    assert status == 403 and "Origin" in answer["error"]
    assert echo(open_service, "hello") == "hello"


@pytest.mark.parametrize(
    ("secret", "status"),
    [(None, 403), ("", 403), ("wrong", 403), (SECRET + "x", 403), (SECRET.upper(), 403), (SECRET, 200)],
)
def test_with_a_secret_only_the_right_header_is_accepted(
    secret_service: SampleProcess, secret: str | None, status: int
) -> None:
    """With tests-control.secret set, a missing or wrong X-Tests-Control-Secret gets 403, the right one 200."""
    headers = {HEADER: secret} if secret is not None else {}
    got, answer = post(secret_service, "/tests/control", PWN, headers=headers)
    assert got == status
    try:
        if status == 403:
            assert HEADER in answer["error"] and SECRET not in json.dumps(answer)
            assert echo(secret_service, "hello") == "hello"
            # GET is refused as well.
            assert post(secret_service, "/tests/control", method="GET", headers=headers)[0] == 403
        else:
            assert answer["dynamic_config"]["WEBSOCKET_ECHO_PREFIX"] == "pwned> "
            assert echo(secret_service, "hello") == "pwned> hello"
    finally:
        reset = {"dynamic_config": {"reset": True}}
        assert post(secret_service, "/tests/control", reset, headers={HEADER: SECRET})[0] == 200


def test_the_secret_is_never_logged(secret_service: SampleProcess) -> None:
    """Neither a refusal nor an accepted request writes the secret (or a wrong one) to the log."""
    post(secret_service, "/tests/control", {}, headers={HEADER: "wrong-guess-42"})
    post(secret_service, "/tests/control", {"flush_logs": True}, headers={HEADER: SECRET})
    log = secret_service.wait_log("wrong X-Tests-Control-Secret", 10)
    assert SECRET not in log and "wrong-guess-42" not in log
    assert "tests-control enabled on /tests/{action} (loopback peers only, with a secret)" in log


def test_without_a_secret_the_log_says_so(open_service: SampleProcess) -> None:
    """An open tests-control is announced as such at start."""
    assert "WITHOUT a secret: any local user can use it" in open_service.log()


# ------------------------------------------------------------------ issue 15: pytest_userver's protocol

AUTH = {HEADER: SECRET}


def test_pytest_userver_update_server_state_body_is_accepted(secret_service: SampleProcess) -> None:
    """The body pytest_userver's update_server_state sends before a test's first request answers 200 with JSON."""
    body = {"invalidate_caches": {"update_type": "full"}, "testpoints": [], "mock_now": None}
    status, answer = post(secret_service, "/tests/control", body, headers=AUTH)
    assert status == 200 and isinstance(answer, dict)
    body = {
        "invalidate_caches": {"update_type": "incremental", "names": ["a"]},
        "mock_now": "2019-12-31T11:22:33.000000+0000",
    }
    assert post(secret_service, "/tests/control", body, headers=AUTH)[0] == 200


def test_unknown_keys_are_ignored(secret_service: SampleProcess) -> None:
    """Keys the service does not know are ignored, as in userver; the known ones still apply."""
    body = {
        "http_allowed_urls_extra": [],
        "something_new": {"x": 1},
        "dynamic_config": {"set": {"WEBSOCKET_ECHO_PREFIX": "k "}},
    }
    try:
        status, answer = post(secret_service, "/tests/control", body, headers=AUTH)
        assert status == 200 and answer["dynamic_config"]["WEBSOCKET_ECHO_PREFIX"] == "k "
    finally:
        post(secret_service, "/tests/control", {"dynamic_config": {"reset": True}}, headers=AUTH)


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        ("/tests/log_flush", {"logger_name": None}, {}),
        ("/tests/log_capture", {"log_level": "DEBUG", "socket_logging_duplication": True}, {}),
        ("/tests/reset_metrics", {}, {}),
        ("/tests/suspend_periodic_tasks", {"names": []}, {}),
        ("/tests/control", {"action": "log_flush"}, {}),
    ],
)
def test_pytest_userver_actions(secret_service: SampleProcess, path: str, body: Any, expected: Any) -> None:
    """The actions pytest_userver posts to /tests/{action} around every test answer 200 with a JSON object."""
    assert post(secret_service, path, body, headers=AUTH) == (200, expected)


def test_dynamic_config_defaults_action(secret_service: SampleProcess) -> None:
    """get_dynamic_config_defaults answers the values the service started with, as pytest_userver reads them."""
    status, answer = post(secret_service, "/tests/get_dynamic_config_defaults", {}, headers=AUTH)
    assert status == 200 and answer["WEBSOCKET_ECHO_PREFIX"] == "" and answer["USERVER_LOG_REQUEST"] is True


@pytest.mark.parametrize(
    ("path", "body", "error"),
    [
        ("/tests/run_periodic_task", {"name": "x"}, "unknown tests-control action 'run_periodic_task'"),
        ("/tests/control", {"testpoints": ["tp"]}, "'testpoints' needs tests-control.testpoint-url"),
        ("/tests/control", {"testpoints": "tp"}, "'testpoints' must be a list"),
        ("/tests/control", {"mock_now": "yesterday"}, "expected an ISO 8601 time"),
        ("/tests/control", {"invalidate_caches": {"update_type": "some"}}, "'invalidate_caches.update_type' must be"),
    ],
)
def test_bad_requests_get_400(secret_service: SampleProcess, path: str, body: Any, error: str) -> None:
    """An unknown action or a malformed known key gets 400 saying what is wrong."""
    status, answer = post(secret_service, path, body, headers=AUTH)
    assert status == 400 and answer["error"].startswith(error)
