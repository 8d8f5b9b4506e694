"""Coroutine tests that use the plugin's fixtures run in every asyncio mode; others are left alone."""

from __future__ import annotations

import pytest

from tests.plugin.plugin_helpers import BASE_INI, TUTORIAL_TEST

PLAIN_ASYNC_TEST = """
import asyncio

async def test_plain():
    await asyncio.sleep(0)
"""


@pytest.mark.parametrize("mode", ["strict", "auto"])
def test_tutorial_test_runs_unchanged(project, mode):
    """The userver tutorial's unmarked test runs against the sample service and passes in strict and in auto mode."""
    project.makeini(BASE_INI + f"asyncio_mode = {mode}\n")
    project.makepyfile(test_websocket=TUTORIAL_TEST)
    result = project.runpytest_inprocess("-v")
    result.assert_outcomes(passed=1)
    result.stdout.re_match_lines([rf"(?i)asyncio: mode=(Mode\.)?{mode},", r".*test_websocket\.py::test_echo PASSED"])


@pytest.mark.parametrize(("mode", "outcome"), [("strict", {"failed": 1}), ("auto", {"passed": 1})])
def test_unrelated_async_test_is_left_to_pytest_asyncio(project, mode, outcome):
    """An unmarked coroutine test that uses none of our fixtures is treated as pytest-asyncio alone would treat it."""
    project.makeini(BASE_INI + f"asyncio_mode = {mode}\n")
    project.makepyfile(PLAIN_ASYNC_TEST)
    with_plugin = project.runpytest_inprocess()
    with_plugin.assert_outcomes(**outcome)
    project.makeconftest("")
    without_plugin = project.runpytest_inprocess("-p", "no:pytest_wsservice")
    without_plugin.assert_outcomes(**outcome)
    if mode == "strict":
        with_plugin.stdout.fnmatch_lines(["*async def functions are not natively supported*"])


def test_fixture_requested_indirectly_or_by_usefixtures(project):
    """Strict mode: a coroutine test gets marked when it reaches a plugin fixture through its own fixture, usefixtures,
    or a class.
    """
    project.makeconftest(
        """
        import pytest
        pytest_plugins = ['pytest_wsservice']

        @pytest.fixture
        def my_base(service_config_path):
            return service_config_path.name
        """
    )
    project.makepyfile(
        """
        import asyncio
        import pytest

        async def test_through_fixture(my_base):
            await asyncio.sleep(0)
            assert my_base == "static_config.yaml"

        @pytest.mark.usefixtures("service_config_path")
        async def test_through_usefixtures():
            await asyncio.sleep(0)

        class TestInClass:
            async def test_method(self, service_port):
                await asyncio.sleep(0)
                assert service_port > 0
        """
    )
    project.runpytest_inprocess().assert_outcomes(passed=3)


def test_existing_asyncio_marker_is_kept(project):
    """A test that already carries an asyncio marker keeps it, loop_scope and all, and gets no second one."""
    project.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio(loop_scope="module")

        async def test_first(service_port):
            global LOOP
            LOOP = asyncio.get_running_loop()

        async def test_second(request, service_port):
            assert asyncio.get_running_loop() is LOOP
            assert len(list(request.node.iter_markers("asyncio"))) == 1
        """
    )
    project.runpytest_inprocess().assert_outcomes(passed=2)
