# ruff: noqa: E501
"""What the plugin tells the user: the report header, the line while a slow service starts, the log
path under -v, the CPython 3.13.0 warning, and the error when pytest-asyncio is not loaded."""

from __future__ import annotations

import sys
import textwrap

import pytest

from tests.plugin.plugin_helpers import BASE_INI, TUTORIAL_TEST


@pytest.fixture
def tutorial(project: pytest.Pytester) -> pytest.Pytester:
    project.makepyfile(test_echo=TUTORIAL_TEST)
    return project


def test_header_names_the_bundled_service(tutorial: pytest.Pytester) -> None:
    result = tutorial.runpytest_inprocess()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "wsservice: service python -m sample_service (the bundled sample); "
            "static config the bundled sample_service/static_config.yaml; log service.log in the session's temp dir"
        ]
    )


def test_header_names_the_command_config_and_log_given(tutorial: pytest.Pytester, sample_config) -> None:
    log = tutorial.path / "logs" / "service.log"
    result = tutorial.runpytest_inprocess(
        f"--service-config={sample_config}",
        f"--service-command={sys.executable} -m sample_service",
        f"--service-logs-file={log}",
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [f"wsservice: service {sys.executable} -m sample_service; static config {sample_config}; log {log}"]
    )


def test_header_names_the_service_url(project: pytest.Pytester) -> None:
    project.makepyfile("def test_nothing():\n    pass\n")
    result = project.runpytest_inprocess("--service-url=http://127.0.0.1:9/")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["wsservice: testing the service at http://127.0.0.1:9/ (--service-url); nothing is started"]
    )


def test_verbose_run_ends_with_the_log_path(tutorial: pytest.Pytester) -> None:
    verbose = tutorial.runpytest_inprocess("-v")
    verbose.assert_outcomes(passed=1)
    verbose.stdout.fnmatch_lines(["wsservice: the service's log is */wsservice*/service.log"])
    quiet = tutorial.runpytest_inprocess()
    assert "the service's log is" not in quiet.stdout.str()


def test_a_slow_start_says_what_it_waits_for(project: pytest.Pytester, sample_config) -> None:
    """A service that needs more than 2 s to be ready gets a line naming the readiness check and the seconds."""
    project.makepyfile(
        slow=textwrap.dedent(
            """
            import os, sys, time
            time.sleep(3.5)
            os.execv(sys.executable, [sys.executable, "-m", "sample_service", *sys.argv[1:]])
            """
        ),
        test_echo=TUTORIAL_TEST,
    )
    result = project.runpytest_subprocess(
        f"--service-config={sample_config}", f"--service-command={sys.executable} slow.py", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "wsservice: waiting * s for the service to be ready: GET http://127.0.0.1:*/ping answering 200, "
            "or READY=1 on its notify socket"
        ]
    )


def test_cpython_3_13_0_is_warned_about(tutorial: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """On CPython 3.13.0 (which crashes rendering some tracebacks) the plugin warns at start, naming the fix."""
    from pytest_wsservice.plugin import progress

    monkeypatch.setattr(progress, "_CRASHING_PYTHONS", {tuple(sys.version_info[:3])})
    result = tutorial.runpytest_inprocess()
    assert result.parseoutcomes()["passed"] == 1
    result.stdout.fnmatch_lines(["*CPython 3.13.0 can crash*python/cpython#125723*Use Python 3.13.1 or newer*"])


def test_without_pytest_asyncio_one_error_names_the_cause(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """-p no:asyncio: one usage error naming pytest-asyncio and the tests, and no service is started."""
    pytester.makeini("[pytest]\n")
    pytester.makeconftest("pytest_plugins = ['pytest_wsservice']\n")
    pytester.makepyfile(test_echo=TUTORIAL_TEST)
    # No other installed plugin: one that needs pytest-asyncio (pytest-aiohttp, which the bench
    # extras install) fails pytest's start by itself without it, before this plugin can say why.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    result = pytester.runpytest_subprocess("-p", "no:asyncio", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: pytest-asyncio is not loaded, and 1 async test(s) use pytest-wsservice's fixtures (test_echo.py::test_echo)*"
        ]
    )
    assert "not natively supported" not in result.stdout.str()


def test_the_readme_quick_start_is_quiet_under_w_error(pytester: pytest.Pytester) -> None:
    """The README's quick start (its conftest, ini and test) passes under -W error: no warning at all."""
    pytester.makeini(BASE_INI)
    pytester.makeconftest("pytest_plugins = ['pytest_wsservice']\n")
    pytester.makepyfile(test_echo=TUTORIAL_TEST)
    result = pytester.runpytest_subprocess("-W", "error", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "warning" not in result.stdout.str().lower()
