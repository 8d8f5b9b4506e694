"""The early start: the service is spawned while pytest collects, and adopted by the first test.

Inner runs are pytester projects whose root conftest names the plugin (so the plugin
speculates at session start). The services of an inner run are found from outside with
psutil, by the inner run's temp dir in their command line (the patched config lives there).
"""
# ruff: noqa: E501  (long lines are expected messages and inner test sources, kept verbatim)

from __future__ import annotations

import textwrap
from pathlib import Path

import psutil
import pytest

from tests.plugin.lifecycle.lifecycle_helpers import BASE_INI, CONFTEST, pid_alive

# Shared by the inner conftests: the run's services, found by the run's temp dir.
FIND_SERVICES = """
import json, os, psutil

def run_services(config):
    base = str(config._tmp_path_factory.getbasetemp())
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        cmdline = process.info["cmdline"] or []
        if process.info["status"] != psutil.STATUS_ZOMBIE and any("sample_service" in arg for arg in cmdline) and any(base in arg for arg in cmdline):
            found.append(process.pid)
    return found

def record(name, value):
    with open(os.path.join(os.environ["EARLY_RECORD_DIR"], name), "w") as out:
        json.dump(value, out)

def pytest_collection_finish(session):
    # Runs before the plugin's own hook (conftests' hooks are called first).
    record("at_collection_end", run_services(session.config))
"""


def services_of(base: Path) -> list[int]:
    """Live sample-service processes whose command line names a file under ``base``."""
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        cmdline = process.info["cmdline"] or []
        alive = process.info["status"] != psutil.STATUS_ZOMBIE
        if alive and any("sample_service" in arg for arg in cmdline) and any(str(base) in arg for arg in cmdline):
            found.append(process.pid)
    return found


@pytest.fixture
def early_project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A project whose root conftest names the plugin and records the run's services."""
    pytester.makeini(BASE_INI)
    pytester.makeconftest(CONFTEST + FIND_SERVICES)
    monkeypatch.setenv("EARLY_RECORD_DIR", str(pytester.path))
    return pytester


def recorded(project: pytest.Pytester, name: str) -> object:
    import json

    return json.loads((project.path / name).read_text())


def test_early_service_is_adopted_by_the_first_test(early_project: pytest.Pytester) -> None:
    """The service spawned during collection is the very process the tests use, started once."""
    early_project.makepyfile(
        test_a="""
        from conftest import record

        def test_one(service_handle):
            record("first", service_handle.pid)

        def test_two(service_handle):
            record("second", service_handle.pid)
            record("log", str(service_handle.log_path))
        """
    )
    result = early_project.runpytest()
    result.assert_outcomes(passed=2)
    early = recorded(early_project, "at_collection_end")
    assert len(early) == 1
    assert recorded(early_project, "first") == recorded(early_project, "second") == early[0]
    log = Path(recorded(early_project, "log")).read_text()
    assert log.count("listening on") == 1
    assert not services_of(early_project.path)


@pytest.mark.parametrize(
    "subdir_conftest",
    [
        "def hook(config, config_vars):\n"
        "    config['components_manager']['components']['websocket-handler']['max-remote-payload'] = 4321\n\n"
        "WSSERVICE_CONFIG_HOOKS = [hook]\n",
        "import pytest\n\n@pytest.fixture(scope='session')\ndef service_env():\n    return {'EARLY_TEST_ENV': '1'}\n",
    ],
    ids=["config-hook", "fixture-override"],
)
def test_changed_recipe_stops_the_early_service(early_project: pytest.Pytester, subdir_conftest: str) -> None:
    """A conftest found during collection that changes the recipe gets its own service; the early one is stopped."""
    sub = early_project.mkpydir("sub")
    (sub / "conftest.py").write_text(subdir_conftest)
    (sub / "test_b.py").write_text(
        textwrap.dedent(
            """
            import psutil
            from conftest import record

            def test_it(service_handle):
                record("used", service_handle.pid)
                record("env", psutil.Process(service_handle.pid).environ().get("EARLY_TEST_ENV"))
                record("payload", service_handle.config["components_manager"]["components"]["websocket-handler"]["max-remote-payload"])
            """
        )
    )
    result = early_project.runpytest()
    result.assert_outcomes(passed=1)
    early = recorded(early_project, "at_collection_end")
    assert len(early) == 1
    used = recorded(early_project, "used")
    assert used != early[0]
    assert not pid_alive(early[0])
    if "hook" in subdir_conftest:
        assert recorded(early_project, "payload") == 4321
    else:
        assert recorded(early_project, "env") == "1"
    assert not services_of(early_project.path)


def test_unused_early_service_is_stopped_after_collection(early_project: pytest.Pytester) -> None:
    """When no collected test needs the service, the early one is stopped as soon as collection ends."""
    early_project.makepyfile(
        test_c="""
        from conftest import record, run_services
        import pytest

        def test_plain(pytestconfig):
            record("during_test", run_services(pytestconfig))
        """
    )
    result = early_project.runpytest()
    result.assert_outcomes(passed=1)
    assert len(recorded(early_project, "at_collection_end")) == 1
    assert recorded(early_project, "during_test") == []


@pytest.mark.parametrize(
    "option, expected",
    [
        ("--service-command=/no/such/program {config}", "executable '/no/such/program' was not found"),
        ("--service-config=bad.yaml", "bad.yaml"),
        ("--service-log-level=loud", "it should be one of"),
    ],
    ids=["missing-executable", "invalid-yaml", "bad-option"],
)
def test_early_failure_reads_as_a_normal_start_failure(
    early_project: pytest.Pytester, option: str, expected: str
) -> None:
    """A start that fails early is reported at first use with exactly the message of a run without early start."""
    (early_project.path / "bad.yaml").write_text("components_manager: [unclosed\n")
    early_project.makepyfile(test_d="def test_it(service_handle):\n    pass\n")

    def error_lines(*args: str) -> list[str]:
        result = early_project.runpytest(option, *args)
        result.assert_outcomes(errors=1)  # at set-up, not at collection
        result.stdout.fnmatch_lines(["*ERROR at setup of test_it*"])
        return [line for line in result.outlines if expected in line]

    with_early = error_lines()
    without = error_lines("--service-early-start=no")
    assert with_early and with_early == without
    assert not services_of(early_project.path)


@pytest.mark.parametrize("how", ["option", "ini"])
def test_switch_turns_the_early_start_off(early_project: pytest.Pytester, how: str) -> None:
    """With the early start switched off, nothing runs at collection end and the first test starts the service."""
    if how == "ini":
        early_project.makeini(BASE_INI + "service_early_start = false\n")
    early_project.makepyfile(test_e="def test_it(service_handle):\n    assert service_handle.pid\n")
    result = early_project.runpytest(*(["--service-early-start=no"] if how == "option" else []))
    result.assert_outcomes(passed=1)
    assert recorded(early_project, "at_collection_end") == []


def test_bad_switch_value_is_a_usage_error(early_project: pytest.Pytester) -> None:
    """A switch value other than yes or no is refused up front, naming the option."""
    result = early_project.runpytest("--service-early-start=maybe")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--service-early-start is 'maybe'; it should be yes or no*"])


def test_without_evidence_the_first_collected_user_starts_it(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the plugin only installed (no option, no conftest naming it), a test needing the service starts it during
    collection.
    """
    pytester.makeini(BASE_INI)
    pytester.makeconftest(FIND_SERVICES)
    monkeypatch.setenv("EARLY_RECORD_DIR", str(pytester.path))
    pytester.makepyfile(
        test_f="""
        from conftest import record

        def test_it(service_handle):
            record("used", service_handle.pid)
        """,
        test_g="def test_plain():\n    pass\n",
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2)
    assert recorded(pytester, "at_collection_end") == [recorded(pytester, "used")]


def test_xdist_controller_does_not_start_a_service(early_project: pytest.Pytester) -> None:
    """Under -n 2 only the workers start services early; the controller spawns none."""
    early_project.makeconftest(
        CONFTEST
        + FIND_SERVICES
        + textwrap.dedent(
            """
            def pytest_sessionfinish(session):
                if not hasattr(session.config, "workerinput"):
                    own = [p.pid for p in psutil.Process().children() if any("sample_service" in arg for arg in p.cmdline())]
                    record("controller_children", own)
            """
        )
    )
    early_project.makepyfile(
        test_h="""
        import os, psutil

        def test_one(service_handle):
            assert psutil.Process(service_handle.pid).ppid() == os.getpid()

        def test_two(service_handle):
            assert psutil.Process(service_handle.pid).ppid() == os.getpid()
        """
    )
    result = early_project.runpytest_subprocess("-n", "2")
    result.assert_outcomes(passed=2)
    assert recorded(early_project, "controller_children") == []
    assert not services_of(early_project.path)


CLIENT_IMPORTS_AT_SETUP = """
import sys

import pytest

@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    record("clients_at_setup", sorted(name for name in ("pytest_wsservice.clients.websocket", "pytest_wsservice.clients.http") if name in sys.modules))
"""


@pytest.mark.parametrize(
    ("fixture", "early", "expected"),
    [
        ("websocket_client", "yes", ["pytest_wsservice.clients.websocket"]),
        ("service_client", "yes", ["pytest_wsservice.clients.http"]),
        ("websocket_client", "no", []),
    ],
    ids=["websocket-client", "service-client", "no-early-start"],
)
def test_the_first_tests_clients_are_imported_while_the_service_starts(
    early_project: pytest.Pytester, fixture: str, early: str, expected: list[str]
) -> None:
    """After collection, while the early-started service starts, the plugin imports the client
    modules the first test needs (websockets, aiohttp): they are loaded before its setup begins
    to wait for the service, not after. Without an early start nothing is imported ahead."""
    early_project.makeconftest(CONFTEST + FIND_SERVICES + CLIENT_IMPORTS_AT_SETUP)
    early_project.makepyfile(test_c=f"def test_it({fixture}):\n    assert {fixture} is not None\n")
    result = early_project.runpytest_subprocess(f"--service-early-start={early}")
    result.assert_outcomes(passed=1)
    assert recorded(early_project, "clients_at_setup") == expected
