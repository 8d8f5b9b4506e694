"""WebSocketHandshakeError is a websockets InvalidStatus with the real response, and stays lazy."""

from __future__ import annotations

import subprocess
import sys

import pytest
from websockets.exceptions import InvalidStatus

import pytest_wsservice
import pytest_wsservice.errors
from pytest_wsservice import WebSocketHandshakeError, WsServiceError


async def test_a_rejected_handshake_is_an_invalid_status_with_the_real_response(websocket_client):
    """userver's tests catch InvalidStatus and read .response; the plugin's attributes stay."""
    with pytest.raises(InvalidStatus) as info:
        async with websocket_client.get("chat", headers={"Sec-WebSocket-Version": "8"}):
            pass
    error = info.value
    assert isinstance(error, WebSocketHandshakeError) and isinstance(error, WsServiceError)
    assert error.response.status_code == 426 == error.status
    assert error.response.reason_phrase == "Upgrade Required"
    assert error.response.headers["Sec-WebSocket-Version"] == "13" == error.headers["Sec-WebSocket-Version"]
    assert error.response.body == error.body
    assert error.url == websocket_client.url_for("chat")
    assert str(error).startswith("The service rejected the WebSocket handshake for /chat")
    assert "HTTP 426 Upgrade Required" in str(error)


def test_every_public_path_names_one_class():
    assert pytest_wsservice.WebSocketHandshakeError is pytest_wsservice.errors.WebSocketHandshakeError
    assert WebSocketHandshakeError.__module__ == "pytest_wsservice.errors"
    assert issubclass(WebSocketHandshakeError, InvalidStatus)


def test_built_by_hand_it_has_a_response_too():
    error = WebSocketHandshakeError("refused", url="ws://127.0.0.1:1/x", status=403, headers={"A": "b"}, body=b"no")
    assert str(error) == "refused"
    assert (error.response.status_code, error.response.reason_phrase) == (403, "Forbidden")
    assert error.response.headers["A"] == "b" and error.response.body == b"no"


def test_importing_the_package_and_errors_does_not_import_websockets():
    code = (
        "import sys, pytest_wsservice, pytest_wsservice.errors\n"
        "from pytest_wsservice.errors import WsServiceError, WebSocketTimeout\n"
        "assert 'websockets' not in sys.modules, 'websockets was imported'\n"
        "from pytest_wsservice.errors import WebSocketHandshakeError\n"
        "assert 'websockets' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
