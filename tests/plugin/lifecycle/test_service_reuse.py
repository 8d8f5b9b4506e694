"""``--service-reuse``: the service outlives the run, and the next run with the same recipe adopts it.

Each case runs the inner suite in ``python -m pytest`` subprocesses, with a private
``XDG_RUNTIME_DIR`` (the state file's home) per test, and no ``CI``. The ``kept`` fixture
stops what the runs kept (``--service-reuse=stop``) at teardown and then checks that no
process of the test is left: a keeper or service still running fails the test (after
being killed, so that nothing outlives the suite).
"""
# ruff: noqa: E501  (long lines are expected messages and inner test sources, kept verbatim)

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from tests.plugin.lifecycle.lifecycle_helpers import BASE_INI, CONFTEST, pid_alive

# Proves three things per run: the service echoes, the run's tests-control secret is the
# kept service's (set_values works), and a previous run's dynamic config was reset.
INNER_TEST = """
import json, pathlib

async def test_kept(websocket_client, service_handle, dynamic_config):
    async with websocket_client.get("chat") as ws:
        await ws.send("hi")
        assert await ws.recv() == "hi"
    await dynamic_config.set_values({"WEBSOCKET_ECHO_PREFIX": "> "})
    async with websocket_client.get("chat") as ws:
        await ws.send("hi")
        assert await ws.recv() == "> hi"
    record = {"pid": service_handle.pid, "port": service_handle.port, "log": str(service_handle.log_path)}
    pathlib.Path("record.json").write_text(json.dumps(record))
"""


@dataclass
class Kept:
    """A project whose runs keep their service, and where its state lives."""

    project: pytest.Pytester
    runtime: Path

    def run(self, *args: str) -> pytest.RunResult:
        return self.project.runpytest_subprocess("-p", "no:randomly", *args)

    def record(self) -> dict[str, object]:
        return dict(json.loads((self.project.path / "record.json").read_text()))

    def state_files(self) -> list[Path]:
        return sorted((self.runtime / "pytest-wsservice").glob("*.json"))

    def state(self) -> dict[str, object]:
        files = self.state_files()
        assert len(files) == 1, files
        return dict(json.loads(files[0].read_text()))

    def processes(self) -> list[psutil.Process]:
        """The keepers and services of this test (their command lines name the runtime dir)."""
        found = []
        for process in psutil.process_iter(["cmdline", "status"]):
            cmdline = process.info["cmdline"] or []
            if process.info["status"] != psutil.STATUS_ZOMBIE and any(str(self.runtime) in arg for arg in cmdline):
                found.append(process)
        return found


@pytest.fixture
def kept(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Kept]:
    runtime = tmp_path_factory.mktemp("xdg")
    runtime.chmod(0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    monkeypatch.delenv("CI", raising=False)
    pytester.makeini(BASE_INI)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_kept=INNER_TEST)
    project = Kept(pytester, runtime)
    yield project
    project.run("--service-reuse=stop")
    left = project.processes()
    for process in left:
        with_suppress_kill(process)
    assert not left, f"left running after --service-reuse=stop: {[p.info['cmdline'] for p in left]}"


def with_suppress_kill(process: psutil.Process) -> None:
    with contextlib.suppress(psutil.Error):
        process.kill()


def wait_gone(pids: list[int], timeout: float) -> list[int]:
    """Wait until these (not necessarily child) processes are gone; the ones still alive."""
    processes = []
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            processes.append(psutil.Process(pid))
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    return [process.pid for process in alive if process.status() != psutil.STATUS_ZOMBIE]


def test_second_run_adopts_the_kept_service(kept: Kept) -> None:
    """The first run keeps its service (state file 0600 in a 0700 dir, no secret printed);
    the second adopts the very same process."""
    first = kept.run("--service-reuse")
    first.assert_outcomes(passed=1)
    first.stdout.fnmatch_lines(
        ["wsservice: --service-reuse: started a kept service (pid *, port *); it stops after 600 s unused*"]
    )
    before = kept.record()
    assert pid_alive(int(before["pid"]))  # type: ignore[call-overload]
    state_file = kept.state_files()[0]
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(state_file.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(state_file.with_suffix("").stat().st_mode) == 0o700
    state = kept.state()
    assert state["service_pid"] == before["pid"] and state["port"] == before["port"]
    assert str(state["secret"]) not in first.stdout.str() + first.stderr.str()

    second = kept.run("--service-reuse")
    second.assert_outcomes(passed=1)
    second.stdout.fnmatch_lines(
        [f"wsservice: --service-reuse: adopted the kept service (pid {before['pid']}, port {before['port']})"]
    )
    after = kept.record()
    assert after == before
    assert pid_alive(int(before["pid"]))  # type: ignore[call-overload]


def test_recipe_change_stops_the_old_keeper(kept: Kept) -> None:
    kept.run("--service-reuse").assert_outcomes(passed=1)
    old = kept.state()
    changed = kept.run("--service-reuse", "--service-log-level=info")
    changed.assert_outcomes(passed=1)
    changed.stdout.fnmatch_lines(
        [
            f"wsservice: --service-reuse: the recipe changed: stopped the kept service (pid {old['service_pid']}, port *) and started a new one"
        ]
    )
    new = kept.state()
    assert new["service_pid"] != old["service_pid"] and new["keeper_pid"] != old["keeper_pid"]
    assert kept.record()["pid"] == new["service_pid"]
    assert not pid_alive(int(old["keeper_pid"])) and not pid_alive(int(old["service_pid"]))  # type: ignore[call-overload]


def test_idle_kept_service_stops_by_itself(kept: Kept, scaled: Callable[[float], float]) -> None:
    """One second unused after the run (the run itself holds it: never idle meanwhile)."""
    kept.run("--service-reuse", "--service-reuse-idle=1").assert_outcomes(passed=1)
    record = kept.record()
    assert wait_gone([int(record["pid"])], scaled(15)) == []  # type: ignore[call-overload]
    assert wait_gone([p.pid for p in kept.processes()], scaled(15)) == []  # the keeper too
    assert kept.state_files() == []
    assert "it was not used for 1 s" in Path(str(record["log"])).read_text()


def test_stop_stops_the_kept_service_and_exits(kept: Kept) -> None:
    kept.run("--service-reuse").assert_outcomes(passed=1)
    state = kept.state()
    stopped = kept.run("--service-reuse=stop")
    assert stopped.ret == 0
    stopped.stdout.fnmatch_lines(
        [f"pytest-wsservice: stopped the kept service (pid {state['service_pid']}, port {state['port']})."]
    )
    stopped.stdout.no_fnmatch_line("*passed*")  # ran no tests
    assert not pid_alive(int(state["service_pid"])) and not pid_alive(int(state["keeper_pid"]))  # type: ignore[call-overload]
    assert kept.state_files() == []
    again = kept.run("--service-reuse=stop")
    assert again.ret == 0
    again.stdout.fnmatch_lines(["pytest-wsservice: no kept service for *."])


def _kept_then_both_killed(kept: Kept, scaled: Callable[[float], float]) -> dict[str, object]:
    """Keep a service, then SIGKILL its keeper and its group at once; return the stale state."""
    kept.run("--service-reuse").assert_outcomes(passed=1)
    old = kept.state()
    os.kill(int(old["keeper_pid"]), signal.SIGKILL)  # type: ignore[call-overload]
    os.killpg(int(old["service_pid"]), signal.SIGKILL)  # type: ignore[call-overload]
    assert wait_gone([int(old["service_pid"])], scaled(10)) == []  # type: ignore[call-overload]
    return old


def test_killed_kept_service_and_keeper_start_afresh(kept: Kept, scaled: Callable[[float], float]) -> None:
    """Both killed at once (SIGKILL): the state file is stale; the next run says so and starts a new one."""
    old = _kept_then_both_killed(kept, scaled)
    fresh = kept.run("--service-reuse")
    fresh.assert_outcomes(passed=1)
    fresh.stdout.fnmatch_lines(
        [
            f"wsservice: --service-reuse: its keeper (pid {old['keeper_pid']}) is not running: stopped the kept service (pid {old['service_pid']}, port *) and started a new one*"
        ]
    )
    assert kept.record()["pid"] != old["service_pid"]
    assert kept.state()["service_pid"] == kept.record()["pid"]


def test_killed_kept_service_is_noticed_by_its_keeper(kept: Kept, scaled: Callable[[float], float]) -> None:
    """Only the service killed: its keeper removes the state and ends; the next run starts afresh."""
    kept.run("--service-reuse").assert_outcomes(passed=1)
    old = kept.state()
    os.killpg(int(old["service_pid"]), signal.SIGKILL)  # type: ignore[call-overload]
    assert wait_gone([int(old["keeper_pid"])], scaled(10)) == []  # type: ignore[call-overload]
    assert kept.state_files() == []
    assert "exited with status -9" in Path(str(old["log_path"])).read_text()
    fresh = kept.run("--service-reuse")
    fresh.assert_outcomes(passed=1)
    fresh.stdout.fnmatch_lines(["wsservice: --service-reuse: started a kept service*"])
    assert kept.record()["pid"] != old["service_pid"]


def test_port_taken_meanwhile_moves_to_another_port(kept: Kept, scaled: Callable[[float], float]) -> None:
    old = _kept_then_both_killed(kept, scaled)
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", int(old["port"])))  # type: ignore[call-overload]
        squatter.listen()
        fresh = kept.run("--service-reuse")
    fresh.assert_outcomes(passed=1)
    fresh.stdout.fnmatch_lines(
        [
            f"wsservice: --service-reuse: *started a new one; its port {old['port']} is now used by pid {os.getpid()} *, so the new one listens on *"
        ]
    )
    assert kept.record()["port"] != old["port"]
    assert kept.state()["port"] == kept.record()["port"]


def test_not_under_ci_unless_forced(kept: Kept, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    refused = kept.run("--service-reuse")
    refused.assert_outcomes(passed=1)
    refused.stdout.fnmatch_lines(
        ["wsservice: --service-reuse: not used: CI is set (--service-reuse=force reuses anyway)"]
    )
    assert kept.state_files() == [] and kept.processes() == []
    forced = kept.run("--service-reuse=force")
    forced.assert_outcomes(passed=1)
    forced.stdout.fnmatch_lines(["wsservice: --service-reuse: started a kept service*"])
    assert kept.state()["service_pid"] == kept.record()["pid"]


def test_not_under_xdist_unless_forced(kept: Kept) -> None:
    pytest.importorskip("xdist")
    refused = kept.run("--service-reuse", "-n", "2")
    refused.assert_outcomes(passed=1)
    refused.stdout.fnmatch_lines(["wsservice: --service-reuse: not used under pytest-xdist*"])
    assert kept.state_files() == [] and kept.processes() == []


def test_bad_values_are_usage_errors(kept: Kept) -> None:
    bad_mode = kept.run("--service-reuse=sometimes")
    assert bad_mode.ret == pytest.ExitCode.USAGE_ERROR
    bad_mode.stderr.fnmatch_lines(["*--service-reuse is 'sometimes'; it should be yes, no, force or stop."])
    bad_idle = kept.run("--service-reuse", "--service-reuse-idle=soon")
    assert bad_idle.ret == pytest.ExitCode.USAGE_ERROR
    bad_idle.stderr.fnmatch_lines(["*--service-reuse-idle is 'soon'; it should be a number of seconds*"])
    assert kept.state_files() == []


def test_bare_option_before_a_path_means_yes(kept: Kept) -> None:
    result = kept.run("--service-reuse", "test_kept.py")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["wsservice: --service-reuse: started a kept service*"])


def test_ini_twins(kept: Kept) -> None:
    kept.project.makeini(BASE_INI + "service_reuse = yes\nservice_reuse_idle = 300\n")
    result = kept.run()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["wsservice: --service-reuse: started a kept service (pid *, port *); it stops after 300 s unused*"]
    )
    assert kept.state()["idle"] == 300.0


def test_two_runs_started_together_share_one_kept_service(kept: Kept, scaled: Callable[[float], float]) -> None:
    """The second run waits while the first decides, then adopts the service it started.
    (Their tests only echo: two runs at once share the service, dynamic config included.)"""
    import subprocess
    import sys

    kept.project.makepyfile(
        test_echo_only="""
        import json, pathlib

        async def test_echo(websocket_client, service_handle):
            async with websocket_client.get("chat") as ws:
                await ws.send("hi")
                assert await ws.recv() == "hi"
            pathlib.Path("record.json").write_text(json.dumps({"pid": service_handle.pid}))
        """
    )
    command = [sys.executable, "-m", "pytest", "-p", "no:randomly", "--service-reuse", "test_echo_only.py"]
    runs = [
        kept.project.popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=scaled(120))[0].decode() for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    notes = sorted(
        line for output in outputs for line in output.splitlines() if line.startswith("wsservice: --service-reuse")
    )
    assert len(notes) == 2 and notes[0].startswith("wsservice: --service-reuse: adopted the kept service (pid ")
    assert notes[1].startswith("wsservice: --service-reuse: started a kept service (pid ")
    keepers = [p for p in kept.processes() if any("keeper" in arg for arg in p.info["cmdline"])]
    assert len(keepers) == 1
    assert kept.state()["service_pid"] == kept.record()["pid"]


def test_a_marker_test_stops_the_kept_service(kept: Kept) -> None:
    """A test that needs another config stops the kept service for good (the rest of the run
    starts services for itself, as usual); nothing is kept after such a run."""
    kept.project.makepyfile(
        test_marker="""
        import pytest

        def small_payload(config, config_vars):
            chat = config['components_manager']['components']['websocket-handler']
            chat['max-remote-payload'] = chat['fragment-size'] = 10

        def test_default(service_handle):
            pass

        @pytest.mark.wsservice_config_hooks(small_payload, small_payload)
        def test_other_config(service_handle):
            pass

        def test_default_again(service_handle):
            pass
        """
    )
    result = kept.run("--service-reuse", "test_marker.py")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["wsservice: --service-reuse: started a kept service*"])
    assert kept.state_files() == [] and kept.processes() == []
