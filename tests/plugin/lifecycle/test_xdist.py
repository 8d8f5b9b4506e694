"""pytest-xdist: one service per worker, no port clashes, restarts counted across workers."""
# ruff: noqa: E501  (long lines are expected messages and inner test sources, kept verbatim)

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_functional_suite_under_two_workers(scaled):
    """The repository's client suite (tests/clients) passes under `pytest -n 2`, each worker with its own service."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTEST_XDIST", "PYTEST_ADDOPTS"))}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-n", "2", "tests/clients"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=scaled(120),
    )
    assert run.returncode == 0, run.stdout + run.stderr
    summary = run.stdout.splitlines()[-1]
    assert " passed" in summary and not re.search(r"\d+ (failed|errors?)\b", summary), summary


def test_four_workers_four_services_no_clash(project, tmp_path):
    """Under `-n 4` each worker starts one service on its own port, the listener on that port is its own process, and
    logs are per worker.
    """
    records = tmp_path / "records"
    records.mkdir()
    project.makepyfile(
        f"""
        import json, os, pathlib, psutil, pytest

        @pytest.mark.parametrize("n", range(12))
        async def test_echo(websocket_client, service_handle, n):
            async with websocket_client.get("chat") as chat:
                await chat.send(f"from {{n}}")
                assert await chat.recv() == f"from {{n}}"
            listening = [c.laddr.port for c in psutil.Process(service_handle.pid).net_connections() if c.status == "LISTEN"]
            record = {{"worker": os.environ["PYTEST_XDIST_WORKER"], "pid": service_handle.pid,
                       "port": service_handle.port, "listening": listening, "log": str(service_handle.log_path)}}
            pathlib.Path({str(records)!r}, f"{{n}}.json").write_text(json.dumps(record))
        """
    )
    result = project.runpytest_subprocess("-n", "4")
    result.assert_outcomes(passed=12)
    services: dict[str, set[tuple[int, int, str]]] = {}
    for path in records.iterdir():
        record = json.loads(path.read_text())
        assert record["port"] in record["listening"]  # the worker's own service holds its port
        services.setdefault(record["worker"], set()).add((record["pid"], record["port"], record["log"]))
    assert sorted(services) == ["gw0", "gw1", "gw2", "gw3"]
    assert all(len(found) == 1 for found in services.values())  # one service per worker, never restarted
    pids, ports, logs = zip(*(next(iter(found)) for found in services.values()), strict=True)
    assert len(set(pids)) == len(set(ports)) == len(set(logs)) == 4
    result.stdout.no_fnmatch_line("*the service was restarted*")


def test_restarts_in_workers_reach_the_summary(project):
    """A restart inside an xdist worker is counted in the terminal summary of the whole run, naming the worker."""
    project.makepyfile(
        """
        import os, signal, time, psutil, pytest

        def test_kill(service_handle):
            os.kill(service_handle.pid, signal.SIGKILL)
            deadline = time.monotonic() + 5
            while psutil.Process(service_handle.pid).status() != psutil.STATUS_ZOMBIE:
                assert time.monotonic() < deadline
                time.sleep(0.005)

        def test_after(service_handle):
            pass
        """
    )
    result = project.runpytest_subprocess("-n", "2", "--dist", "loadfile")  # both tests in one worker
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "the service was restarted once (in gw?: 1):",
            "  gw?: test_restarts_in_workers_reach_the_summary.py::test_after: the service was killed by signal "
            "SIGKILL during test_restarts_in_workers_reach_the_summary.py::test_kill",
        ]
    )
