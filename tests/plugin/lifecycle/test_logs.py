"""The service's log: one file per session, a failed test's own lines in its report, -s live."""

from __future__ import annotations

import re

# Waits until the service has logged the end of the connection that sent `count` messages,
# so that a test's lines are in the log before the test ends.
WAIT_FOR_LOG = """
import time

def wait_for_line(handle, text, timeout=5):
    deadline = time.monotonic() + timeout
    while text not in handle.log_path.read_text():
        assert time.monotonic() < deadline, f'{text!r} never reached the log'
        time.sleep(0.005)

async def chat(websocket_client, handle, count):
    async with websocket_client.get('chat') as connection:
        for n in range(count):
            await connection.send(f'message {n}')
            await connection.recv()
    wait_for_line(handle, f'messages={count} ')
"""


def test_failed_test_report_has_only_its_own_log_lines(project, tmp_path):
    """A failed test's report has a section with the service's log lines written during that test, and none from the
    test before it; the log stays in --service-logs-file.
    """
    log = tmp_path / "logs" / "service.log"
    project.makepyfile(
        test_inner=WAIT_FOR_LOG
        + """
async def test_passes(websocket_client, service_handle):
    await chat(websocket_client, service_handle, 1)

async def test_fails(websocket_client, service_handle):
    await chat(websocket_client, service_handle, 3)
    assert False, 'the test failed'
"""
    )
    result = project.runpytest_inprocess("-p", "no:xdist", f"--service-logs-file={log}")
    result.assert_outcomes(passed=1, failed=1)
    output = result.stdout.str()
    section = output.split("Captured service log call", 1)[1].split("short test summary info", 1)[0]
    assert "messages=3 " in section
    assert "messages=1 " not in section and "listening on" not in section
    assert output.count("Captured service log") == 1  # the passing test has none
    text = log.read_text()
    assert "listening on" in text and "messages=1 " in text and "messages=3 " in text


def test_log_is_one_file_per_session_across_restarts(project, tmp_path):
    """Every service of the session, restarted or not, appends to the one log file."""
    project.makepyfile(
        test_inner="""
import pytest

def other(config, config_vars):
    config['components_manager']['components']['websocket-handler']['fragment-size'] = 1000

paths = []

def test_one(service_handle):
    paths.append(service_handle.log_path)

@pytest.mark.wsservice_config_hooks.with_args(other)
def test_two(service_handle):
    paths.append(service_handle.log_path)
    assert paths[0] == paths[1]
    assert service_handle.log_path.read_text().count('listening on') == 2
"""
    )
    project.runpytest_inprocess("-p", "no:xdist").assert_outcomes(passed=2)


def test_dash_s_shows_the_log_live(project):
    """With -s the service's log lines appear on the terminal while the test runs, not only at the end."""
    project.makepyfile(
        test_inner=WAIT_FOR_LOG
        + """
import sys

async def test_it(websocket_client, service_handle):
    await chat(websocket_client, service_handle, 2)
    time.sleep(0.5)  # the follower copies new lines every 0.1 s
    print('TEST BODY DONE', file=sys.stderr, flush=True)
"""
    )
    result = project.runpytest_subprocess("-p", "no:xdist", "-s")
    result.assert_outcomes(passed=1)
    err = result.stderr.str()
    listening = re.search(r"^\[service\] .* listening on http://127\.0\.0\.1:\d+$", err, re.M)
    closed = re.search(r"^\[service\] .* connection closed .* messages=2 ", err, re.M)
    done = err.index("TEST BODY DONE")
    assert listening and closed, err
    assert listening.start() < closed.start() < done
