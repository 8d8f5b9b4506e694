"""The types a user's test sees: ``mypy --strict`` on a test file that uses the clients."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import pytest_wsservice

USER_TEST = textwrap.dedent(
    """
    from pytest_wsservice import ServiceClient, WebSocketClient, WebSocketConnection, WebSocketOpening


    async def test_echo(websocket_client: WebSocketClient, service_client: ServiceClient) -> None:
        opening: WebSocketOpening[WebSocketConnection] = websocket_client.get("chat")
        async with opening as chat:
            await chat.send("hello")
            message: str | bytes = await chat.recv()
            text: str = await chat.recv(decode=True)
            data: bytes = await chat.recv(decode=False)
            assert message and text and data
        async with websocket_client.get("chat", timeout=5) as again:
            connection: WebSocketConnection = again
            assert connection.path == "/chat"
    """
)


def _mypy(tmp_path: Path, source: str, scaled) -> subprocess.CompletedProcess[str]:
    pytest.importorskip("mypy", reason="mypy is in the test extra")
    path = tmp_path / "test_user.py"
    path.write_text(source)
    # mypy cannot follow setuptools' editable-install import hook: show it where the package is
    # (site-packages for a normal install, the checkout for an editable one).
    env = {**os.environ, "MYPYPATH": str(Path(pytest_wsservice.__file__).resolve().parent.parent)}
    command = [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir", str(tmp_path / ".mypy")]
    return subprocess.run(
        [*command, str(path)], capture_output=True, text=True, timeout=scaled(180), check=False, cwd=tmp_path, env=env
    )


def test_a_user_test_type_checks_strictly(tmp_path: Path, scaled) -> None:
    result = _mypy(tmp_path, USER_TEST, scaled)
    assert result.returncode == 0, result.stdout + result.stderr


def test_recv_is_not_any(tmp_path: Path, scaled) -> None:
    """recv() is typed str | bytes: using it as an int is an error (it would pass if it were Any)."""
    wrong = USER_TEST.replace("message: str | bytes = await chat.recv()", "message: int = await chat.recv()")
    result = _mypy(tmp_path, wrong, scaled)
    assert result.returncode == 1
    assert 'Incompatible types in assignment (expression has type "str | bytes", variable has type "int")' in (
        result.stdout
    )
