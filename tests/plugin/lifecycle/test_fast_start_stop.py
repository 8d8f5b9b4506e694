"""Issue 14: the service is spawned at pytest_configure, and stopped without holding up pytest's report.

Inner runs are pytester projects whose root conftest names the plugin. A stand-in service
(a small Python script) makes the stop observable: it records its pid, and on SIGTERM it
exits only once pytest prints its summary (with the status the test asks for).
"""
# ruff: noqa: E501  (long lines are expected messages and inner test sources, kept verbatim)

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.plugin.lifecycle.lifecycle_helpers import BASE_INI, CONFTEST
from tests.plugin.lifecycle.test_early_start import FIND_SERVICES, services_of
from tests.plugin.plugin_helpers import pid_alive, python_command

# Ready on TCP (its config has no ping handler); on SIGTERM it waits until the file STOP_GO exists (at most
# 10 s), then exits with STOP_STATUS.
SLOW_STOP = """
import os, signal, socket, sys, time, yaml
open(os.environ["PID_FILE"], "w").write(str(os.getpid()))
def on_term(signum, frame):
    deadline = time.monotonic() + 10
    while not os.path.exists(os.environ["STOP_GO"]) and time.monotonic() < deadline:
        time.sleep(0.01)
    os._exit(int(os.environ["STOP_STATUS"]))
signal.signal(signal.SIGTERM, on_term)
listener = yaml.safe_load(open(sys.argv[1]))["components_manager"]["components"]["server"]["listener"]
server = socket.create_server((listener["host"], listener["port"]))
while True:
    server.accept()
"""

# The inner run's report hook: is the service still running while pytest prints its summary? Then let it exit.
RECORD_AT_SUMMARY = """
import json, os, psutil

def pytest_terminal_summary(terminalreporter):
    pid = int(open(os.environ["PID_FILE"]).read())
    alive = psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    with open(os.environ["SUMMARY_RECORD"], "w") as out:
        json.dump({"pid": pid, "alive": alive}, out)
    open(os.environ["STOP_GO"], "w").close()
"""


@pytest.fixture
def stand_in(pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A project whose service is the SLOW_STOP stand-in; the options that select it."""
    pytester.makeini(BASE_INI)
    pytester.makeconftest(CONFTEST + RECORD_AT_SUMMARY)
    pytester.makefile(".yaml", static="components_manager:\n  components: {}\n")
    pytester.makepyfile("def test_it(service_handle):\n    assert service_handle.pid\n")
    monkeypatch.setenv("PID_FILE", str(tmp_path / "pid"))
    monkeypatch.setenv("SUMMARY_RECORD", str(tmp_path / "summary.json"))
    monkeypatch.setenv("STOP_GO", str(tmp_path / "go"))
    return ["--service-config=static.yaml", "--service-command", python_command(pytester.path, SLOW_STOP)]


def test_report_is_printed_while_the_service_stops(
    pytester: pytest.Pytester, stand_in: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service gets SIGTERM at the session's end; pytest prints its summary while it shuts down, and waits for
    its exit before pytest itself ends: nothing is left, and a clean exit is not reported. (The stand-in exits only
    once the summary is being printed: a plugin that waited for it before the summary would kill it at the stop
    timeout and report that.)"""
    monkeypatch.setenv("STOP_STATUS", "0")
    result = pytester.runpytest_subprocess(*stand_in)
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["alive"], "the service had already exited when pytest printed its summary: the stop was waited for"
    assert not pid_alive(summary["pid"])
    result.stdout.no_fnmatch_line("*ERROR at the end of the session*")


def test_bad_exit_after_sigterm_is_reported_after_the_summary(
    pytester: pytest.Pytester, stand_in: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A service that exits badly when asked to stop fails the run: the problem is printed after the summary and the
    exit status says the run failed."""
    monkeypatch.setenv("STOP_STATUS", "3")
    result = pytester.runpytest_subprocess(*stand_in)
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*1 passed*",
            "*ERROR at the end of the session: stopping the service*",
            "pytest_wsservice.errors.ServiceExitedError: The service (pid *, command: *) exited with status 3 when asked to stop with SIGTERM.",
        ]
    )


@pytest.fixture
def early_project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    pytester.makeini(BASE_INI)
    pytester.makeconftest(
        CONFTEST
        + FIND_SERVICES
        + "\ndef pytest_sessionstart(session):\n    record('at_session_start', run_services(session.config))\n"
    )
    monkeypatch.setenv("EARLY_RECORD_DIR", str(pytester.path))
    return pytester


def test_service_is_spawned_before_the_session_starts(early_project: pytest.Pytester) -> None:
    """With the plugin configured, the service already runs when the session starts (spawned at pytest_configure),
    and the test adopts it."""
    early_project.makepyfile(
        test_a="""
        from conftest import record

        def test_it(service_handle):
            record("used", service_handle.pid)
        """
    )
    result = early_project.runpytest()
    result.assert_outcomes(passed=1)
    at_start = json.loads((early_project.path / "at_session_start").read_text())
    assert at_start == [json.loads((early_project.path / "used").read_text())]
    assert not services_of(early_project.path)


@pytest.mark.parametrize(
    "args", [["--co"], ["--fixtures"], ["--help"], ["--markers"], ["--setup-plan"], ["--cache-show"]]
)
def test_runs_that_run_no_tests_spawn_nothing(early_project: pytest.Pytester, args: list[str]) -> None:
    """--co, --fixtures, --help, --markers, --setup-plan and --cache-show never spawn the service: no temp dir of
    the early start is even made."""
    early_project.makepyfile(test_a="def test_it(service_handle):\n    pass\n")
    basetemp = early_project.path / "basetemp"
    result = early_project.runpytest(f"--basetemp={basetemp}", *args)
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED)
    assert not list(basetemp.glob("wsservice*")) if basetemp.exists() else True
    assert not services_of(early_project.path)


@pytest.mark.parametrize(
    "override, spawned_early",
    [
        ("@pytest.fixture(scope='session')\ndef service_env():\n    return {'EARLY_TEST_ENV': '1'}\n", False),
        ("@pytest.fixture(scope='session')\ndef websocket_timeout():\n    return 7.0\n", True),
    ],
    ids=["recipe-fixture", "other-fixture"],
)
def test_root_conftest_override_defers_the_decision(
    early_project: pytest.Pytester, override: str, spawned_early: bool
) -> None:
    """A root conftest that defines one of the plugin's fixtures defers the early start to session start: an
    override of a fixture the recipe is built from means no early start (the test still gets its own service); an
    override of another fixture leaves the early start on."""
    conftest = early_project.path / "conftest.py"
    conftest.write_text("import pytest\n" + conftest.read_text() + "\n" + override)
    early_project.makepyfile(
        test_a="""
        import psutil
        from conftest import record

        def test_it(service_handle):
            record("env", psutil.Process(service_handle.pid).environ().get("EARLY_TEST_ENV"))
        """
    )
    result = early_project.runpytest()
    result.assert_outcomes(passed=1)
    at_start = json.loads((early_project.path / "at_session_start").read_text())
    at_end = json.loads((early_project.path / "at_collection_end").read_text())
    assert at_start == []  # not at pytest_configure in either case
    assert bool(at_end) is spawned_early
    expected_env = None if spawned_early else "1"
    assert json.loads((early_project.path / "env").read_text()) == expected_env
    assert not services_of(early_project.path)
