"""The tcp_gate fixture in a pytester project: reset between tests, one gate per session, loop scopes."""

from __future__ import annotations

TESTS = """
import socket

import pytest

held = []


async def test_first_leaves_a_mess(websocket_client, tcp_gate):
    held.append(tcp_gate.port)
    sock = socket.create_connection((tcp_gate.host, tcp_gate.port))
    held.append(sock)  # left open on purpose
    await tcp_gate.wait_for_connections()
    tcp_gate.to_server_drop()
    tcp_gate.to_client_noop()
    await tcp_gate.stop_accepting()


async def test_second_gets_a_clean_gate(websocket_client, tcp_gate):
    assert tcp_gate.port == held[0]  # the same gate, reset
    assert tcp_gate.connections_count() == 0
    assert held[1].recv(1) == b""  # the connection left open was closed
    assert "accepting; to_server pass, to_client pass; 0 open" in tcp_gate.info()
    async with websocket_client.get("chat", via=tcp_gate) as chat:
        await chat.send("clean")
        assert await chat.recv() == "clean"


@pytest.mark.asyncio(loop_scope="module")
async def test_third_on_a_module_loop(websocket_client, tcp_gate):
    async with websocket_client.get("chat", via=tcp_gate) as chat:
        tcp_gate.to_client_smaller_parts(2)
        await chat.send("parts")
        assert await chat.recv() == "parts"


@pytest.mark.asyncio(loop_scope="session")
async def test_fourth_on_the_session_loop(websocket_client, tcp_gate):
    async with websocket_client.get("chat", via=tcp_gate) as chat:
        await chat.send("session")
        assert await chat.recv() == "session"
"""


def test_the_gate_is_reset_between_tests_and_stopped_after_the_session(project, sample_config, scaled):
    project.makepyfile(test_gate=TESTS)
    project.makeconftest(
        "import threading\n"
        "pytest_plugins = ['pytest_wsservice']\n"
        "def pytest_unconfigure(config):\n"
        "    left = [t.name for t in threading.enumerate() if t.name == 'tcp_gate']\n"
        "    assert not left, left\n"
        "    print('no gate thread left')\n"
    )
    result = project.runpytest_subprocess(
        "-p", "no:cacheprovider", "-s", "--service-config", str(sample_config), timeout=scaled(60)
    )
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*no gate thread left*"])


def test_a_test_that_does_not_ask_for_the_gate_starts_none(project, sample_config, scaled):
    project.makepyfile(
        test_plain="""
import threading

async def test_plain(websocket_client):
    async with websocket_client.get("chat") as chat:
        await chat.send("x")
        assert await chat.recv() == "x"
    assert not [t for t in threading.enumerate() if t.name == "tcp_gate"]
"""
    )
    result = project.runpytest_subprocess(
        "-p", "no:cacheprovider", "--service-config", str(sample_config), timeout=scaled(60)
    )
    result.assert_outcomes(passed=1)
