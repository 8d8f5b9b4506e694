"""Coverage of a spawned Python process (pytest_wsservice.service.coverage_env), with real processes.

Each test runs a small driver in a fresh interpreter: the driver measures itself with
coverage.py as pytest-cov would, spawns a child with :func:`coverage_env`, stops it, and
combines the data, so the test's own coverage (if any) is left alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("coverage", minversion="7.13", reason="the test extra installs coverage>=7.13")

CHILD = """
import signal, sys, time

def measured_function():
    return "measured"

mode = sys.argv[1]
measured_function()
print("ready", flush=True)
if mode == "exit":
    sys.exit(0)
if mode == "handler":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
while True:  # stopped by the driver
    time.sleep(0.05)
"""

DRIVER = """
import json, os, signal, subprocess, sys
import coverage
from pytest_wsservice.service.coverage_env import coverage_env

root, mode, how = sys.argv[1], sys.argv[2], sys.argv[3]
result = {"before": coverage_env()}
cov = coverage.Coverage(data_file=os.path.join(root, ".coverage"), source=[os.path.join(root, "svc")], data_suffix=True)
cov.start()
env = coverage_env()
result["env_keys"] = sorted(env)
child = subprocess.Popen([sys.executable, os.path.join(root, "svc", "child.py"), mode],
                         env={**os.environ, **env}, stdout=subprocess.PIPE, text=True)
assert child.stdout.readline().strip() == "ready"
if how == "term":
    child.send_signal(signal.SIGTERM)
elif how == "kill":
    child.kill()
result["returncode"] = child.wait(timeout=60)
cov.stop()
cov.save()
combined = coverage.Coverage(data_file=os.path.join(root, ".coverage"))
combined.combine(data_paths=[root])
data = combined.get_data()
result["files"] = sorted(os.path.basename(f) for f in data.measured_files())
child_file = os.path.join(root, "svc", "child.py")
result["child_lines"] = sorted(data.lines(child_file) or [])
result["disabled"] = list(cov.config.disable_warnings)
print(json.dumps(result))
"""


def _run(tmp_path: Path, mode: str, how: str, scaled) -> dict:
    (tmp_path / "svc").mkdir()
    (tmp_path / "svc" / "child.py").write_text(textwrap.dedent(CHILD))
    driver = tmp_path / "driver.py"
    driver.write_text(textwrap.dedent(DRIVER))
    result = subprocess.run(
        [sys.executable, str(driver), str(tmp_path), mode, how],
        capture_output=True,
        text=True,
        timeout=scaled(120),
        cwd=tmp_path,
        # The driver starts its own coverage; an outer pytest-cov must not leak into it.
        env={k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_nothing_without_a_running_coverage():
    code = (
        "import sys\n"
        "from pytest_wsservice.service.coverage_env import coverage_env\n"
        "assert coverage_env() == {}\n"
        "assert 'coverage' not in sys.modules, 'coverage_env imported coverage'\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("mode", "how"), [("exit", "wait"), ("handler", "term"), ("plain", "term")])
def test_the_child_is_measured_when_it_stops_cleanly(tmp_path, scaled, mode, how):
    result = _run(tmp_path, mode, how, scaled)
    assert result["before"] == {}
    assert result["env_keys"] == ["COVERAGE_PROCESS_CONFIG"]
    # def measured_function / its return / the call: all executed in the child.
    assert {4, 5, 8} <= set(result["child_lines"])
    assert {"module-not-imported", "no-data-collected"} <= set(result["disabled"])
    if how == "term" and mode == "plain":
        assert result["returncode"] == -15  # died of SIGTERM, and coverage saved first


def test_a_child_killed_with_sigkill_writes_nothing(tmp_path, scaled):
    result = _run(tmp_path, "plain", "kill", scaled)
    assert result["returncode"] == -9
    assert result["child_lines"] == []  # the file is known (it is under source), but no line was recorded
