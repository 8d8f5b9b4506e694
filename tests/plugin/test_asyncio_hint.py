"""A userver suite in strict asyncio mode: the failure says that testsuite forced auto mode and this plugin does not.

(issue 15, item 5.) pytest-asyncio's own failures name no cause; the plugin adds a report section.
"""

from __future__ import annotations

import pytest

from tests.plugin.plugin_helpers import BASE_INI

# A test and a fixture as a pytest_userver suite has them: no marker, @pytest.fixture on async def.
USERVER_STYLE = """
import pytest

@pytest.fixture
async def greeting():
    return 'hello'

async def test_without_our_fixtures():
    assert True

def test_sync_with_async_fixture(greeting):
    assert greeting == 'hello'

async def test_with_our_fixture(service_config):
    assert service_config
"""

SECTION = "*pytest-wsservice: asyncio mode*"

# pytest 8.4 made an unhandled coroutine test fail; before, it was skipped with a warning (and a skipped
# test's report shows no section, so no hint).
_COROUTINE_TEST_FAILS = tuple(int(part) for part in pytest.__version__.split(".")[:2]) >= (8, 4)


def test_strict_mode_failures_carry_the_hint(project):
    """In strict mode, the unmarked coroutine test and the test of the async fixture fail, each with the hint and
    the ini lines; the coroutine test that uses our fixtures is marked by the plugin and passes. (Before pytest
    8.4, pytest skips the unmarked coroutine test with a warning instead: only the fixture's test has the hint.)"""
    project.makepyfile(test_userver_style=USERVER_STYLE)
    # In a subprocess: where the test is handed the fixture's coroutine object (pytest 8.2,
    # pytest-asyncio 0.24), that coroutine is never awaited, and in-process its RuntimeWarning
    # would surface in whichever outer test the garbage collector happens to run in.
    result = project.runpytest_subprocess()
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed") == 1, outcomes
    # The test of the async fixture is an error at setup where pytest (9) or pytest-asyncio (1.0) rejects the
    # fixture, and a failure where the test is handed the fixture's coroutine object (pytest 8.2, pytest-asyncio
    # 0.24): either way it does not pass, and its report carries the hint.
    not_passed = outcomes.get("failed", 0) + outcomes.get("errors", 0)
    assert not_passed == (2 if _COROUTINE_TEST_FAILS else 1), outcomes
    assert outcomes.get("skipped", 0) == (0 if _COROUTINE_TEST_FAILS else 1), outcomes
    result.stdout.fnmatch_lines(
        [
            SECTION,
            "*nothing runs the async fixture greeting (declared with @pytest.fixture, not @pytest_asyncio.fixture).",
            "pytest_userver (testsuite) forced asyncio auto mode and a session event loop; pytest-wsservice does not*",
            "asyncio_mode = auto",
            "asyncio_default_fixture_loop_scope = session",
            "asyncio_default_test_loop_scope = session",
        ]
    )
    if not _COROUTINE_TEST_FAILS:
        assert result.stdout.str().count("pytest-wsservice: asyncio mode") == 1
        return
    result.stdout.fnmatch_lines(
        [SECTION, "*nothing runs the coroutine test test_without_our_fixtures (no asyncio marker).*"]
    )
    assert result.stdout.str().count("pytest-wsservice: asyncio mode") == 2


def test_the_ini_lines_of_the_hint_make_the_suite_pass(project):
    """With the hint's three ini lines, the same suite passes and no hint is printed."""
    project.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = session\n"
        "asyncio_default_test_loop_scope = session\n"
    )
    project.makepyfile(test_userver_style=USERVER_STYLE)
    result = project.runpytest_inprocess()
    result.assert_outcomes(passed=3)
    assert "pytest-wsservice: asyncio mode" not in result.stdout.str()


def test_an_unrelated_failure_gets_no_hint(project):
    """A test that fails for its own reasons in strict mode gets no asyncio hint."""
    project.makeini(BASE_INI)
    project.makepyfile("def test_fails():\n    assert 1 == 2\n")
    result = project.runpytest_inprocess()
    result.assert_outcomes(failed=1)
    assert "pytest-wsservice: asyncio mode" not in result.stdout.str()
