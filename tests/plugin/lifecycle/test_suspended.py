"""A stopped service (SIGSTOP) is not handed to later tests, and stops cleanly at the end (issue 13.7)."""
# ruff: noqa: E501  (long lines are expected messages, kept verbatim)

from __future__ import annotations

import json
import os
import signal
import sys
import time

from pytest_wsservice.service.process import ServiceProcess
from pytest_wsservice.service.procfs import process_state

SUSPENDING_TESTS = """
import json, os, pathlib, signal, time, urllib.request

def record(name, handle):
    with open('pids.jsonl', 'a') as out:
        out.write(json.dumps({'test': name, 'pid': handle.pid}) + '\\n')

def stop(pid):
    os.kill(pid, signal.SIGSTOP)
    while open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()[0] != 'T':  # stopped now
        time.sleep(0.001)

def test_stop_it(service_handle):
    record('stop_it', service_handle)
    stop(service_handle.pid)

def test_next(service_handle):
    record('next', service_handle)
    with urllib.request.urlopen(f'{service_handle.base_url}ping', timeout=5) as response:
        assert response.status == 200

def test_stop_it_at_the_end(service_handle):
    record('end', service_handle)
    stop(service_handle.pid)
"""


def test_a_stopped_service_is_replaced_and_stops_cleanly(project, scaled):
    """After SIGSTOP the next test gets a new service (with a warning and a restart reason); a service stopped at the
    session's end is continued and stopped at once, without "did not stop within 5 s"."""
    project.makepyfile(test_suspend=SUSPENDING_TESTS)
    started = time.monotonic()
    result = project.runpytest_subprocess("-p", "no:xdist", "-p", "no:randomly", "-rw")
    elapsed = time.monotonic() - started
    result.assert_outcomes(passed=3)
    records = [json.loads(line) for line in (project.path / "pids.jsonl").read_text().splitlines()]
    pids = {record["test"]: record["pid"] for record in records}
    assert pids["next"] != pids["stop_it"]
    assert pids["end"] == pids["next"]
    output = result.stdout.str()
    assert (
        f"the service (pid {pids['stop_it']}) was stopped (SIGSTOP: state T in /proc/{pids['stop_it']}/stat) between tests; starting a new one for test_suspend.py::test_next."
        in output
    )
    assert "test_suspend.py::test_next: the service was stopped (SIGSTOP) between tests" in output
    assert "did not stop" not in output
    assert elapsed < scaled(30)


def test_stop_continues_a_stopped_process_and_says_so(tmp_path, scaled):
    """``ServiceProcess.stop`` sends SIGCONT with SIGTERM: a stopped process ends at once, and the result says it was
    stopped."""
    process = ServiceProcess.spawn(
        [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"], log_path=tmp_path / "log"
    )
    deadline = time.monotonic() + scaled(10)
    while "up" not in (tmp_path / "log").read_text():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGSTOP)
    while process_state(process.pid) != "T":
        assert time.monotonic() < deadline
        time.sleep(0.005)
    assert process.suspended()
    started = time.monotonic()
    result = process.stop(grace=scaled(5))
    assert time.monotonic() - started < scaled(2)
    assert result.clean and result.was_suspended
    assert result.describe(5) == (
        "was stopped (SIGSTOP) when asked to stop; after SIGTERM and SIGCONT it was killed by signal SIGTERM when "
        "asked to stop with SIGTERM"
    )
