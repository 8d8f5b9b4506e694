"""A userver suite in strict asyncio mode: the failure says that testsuite forced auto mode and this plugin does not.

(issue 15, item 5.) pytest-asyncio's own failures name no cause; the plugin adds a report section.
"""

from __future__ import annotations

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


def test_strict_mode_failures_carry_the_hint(project):
    """In strict mode, the unmarked coroutine test and the test of the async fixture fail, each with the hint and
    the ini lines; the coroutine test that uses our fixtures is marked by the plugin and passes."""
    project.makepyfile(test_userver_style=USERVER_STYLE)
    result = project.runpytest_inprocess()
    result.assert_outcomes(passed=1, failed=1, errors=1)
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
