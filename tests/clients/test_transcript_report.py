"""A failed test's report shows the transcripts of its WebSocket connections (pytester runs)."""

from __future__ import annotations

import textwrap

import pytest

INI = "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"

FAILING = textwrap.dedent(
    """
    async def test_wrong_echo(websocket_client):
        async with websocket_client.get('chat') as chat:
            await chat.send('secret-hello-4711')
            await chat.send(b'\\x00\\x01binary')
            await chat.recv()
            await chat.recv()
        async with websocket_client.get('chat?room=2') as other:
            await other.send('second connection')
            assert await other.recv() == 'something else'

    async def test_passes(websocket_client):
        async with websocket_client.get('chat') as chat:
            await chat.send('quiet-pass-0815')
            assert await chat.recv() == 'quiet-pass-0815'

    def test_fails_without_websockets():
        assert False
    """
)


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INI)
    pytester.makeconftest("pytest_plugins = ['pytest_wsservice']\n")
    pytester.makepyfile(test_report=FAILING)
    return pytester


def section(output: str, title: str) -> str:
    """The text of the report section named ``title`` (up to the next section line)."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if f" {title} " in line and line.startswith("-"))
    end = next(
        (i for i in range(start + 1, len(lines)) if lines[i].startswith(("-----", "_____", "====="))), len(lines)
    )
    return "\n".join(lines[start + 1 : end])


def test_failed_test_report_shows_every_connection(project, scaled):
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly", timeout=scaled(90))
    result.assert_outcomes(passed=1, failed=2)
    output = result.stdout.str()
    assert output.count("WebSocket transcript") == 1  # only the failed test that opened connections
    text = section(output, "WebSocket transcript")
    assert "[connection 1 of 2] WebSocket /chat: 7 events in " in text
    assert "sent      text    17 bytes 'secret-hello-4711'" in text
    assert "received  binary  8 bytes  b'\\x00\\x01binary'" in text
    assert "closed by the client: 1000 (normal closure)" in text
    assert "[connection 2 of 2] WebSocket /chat?room=2: 5 events in " in text
    assert "received  text    17 bytes 'second connection'" in text
    assert "closed by the client: 1011 (internal error)" in text  # the block raised
    # Next to the service's log, which (at the bundled config's debug level) has the messages too.
    assert "data='secret-hello-4711'" in section(output, "Captured service log call")
    assert "quiet-pass-0815" not in output  # a passing test's transcript is not shown


def test_transcript_comes_from_the_client_not_the_service_log(project, scaled):
    """With the service logging warnings only, the messages are in the report through the transcript alone."""
    result = project.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "no:randomly", "--service-log-level=warning", timeout=scaled(90)
    )
    result.assert_outcomes(passed=1, failed=2)
    output = result.stdout.str()
    assert "data='secret-hello-4711'" not in output  # the service logged no message
    text = section(output, "WebSocket transcript")
    assert "sent      text    17 bytes 'secret-hello-4711'" in text
    assert "received  text    17 bytes 'secret-hello-4711'" in text


def test_a_long_session_is_bounded_in_the_report(pytester, scaled):
    pytester.makeini(INI)
    pytester.makeconftest("pytest_plugins = ['pytest_wsservice']\n")
    pytester.makepyfile(
        test_long=textwrap.dedent(
            """
            async def test_many(websocket_client):
                for number in range(20):
                    async with websocket_client.get(f'chat?n={number}') as chat:
                        for index in range(300):
                            await chat.send(f'm{index}')
                        for index in range(300):
                            await chat.recv()
                assert False, 'look at the transcript'
            """
        )
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=scaled(120))
    result.assert_outcomes(failed=1)
    text = section(result.stdout.str(), "WebSocket transcript")
    lines = text.splitlines()
    assert len(lines) < 300
    assert "[connection 1 of 20] WebSocket /chat?n=0: 603 events in " in text
    assert "... 5 connections left out ..." in text
    assert "[connection 20 of 20] WebSocket /chat?n=19: 603 events in " in text
    assert "[connection 6 of 20]" not in text
    assert "  ... 593 events left out ..." in lines
