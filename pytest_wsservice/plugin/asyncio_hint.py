"""A hint in the report of a test that failed because pytest-asyncio is in strict mode.

testsuite (and so pytest_userver) forces ``asyncio_mode = auto`` and a session event loop
for every test and fixture. This plugin leaves the user's asyncio mode alone: it marks
only coroutine tests that use its own fixtures (:mod:`.asyncio_marking`). So a suite moved
from pytest_userver may have coroutine tests or ``async def`` fixtures that nothing runs
in strict mode, pytest-asyncio's default; pytest then fails them with a message that
names no cause ("async def functions are not natively supported", or an error about an
async fixture). When a test fails that way, its report gets a section that says why and
what to put in the ini.

Loaded as a plugin module by ``pytest_wsservice``; it imports nothing heavy.
"""

from __future__ import annotations

import inspect
from collections.abc import Generator
from typing import Any

import pytest

__all__ = ["HINT_TITLE", "INI_LINES", "not_run_by_asyncio"]

#: The title of the report section.
HINT_TITLE = "pytest-wsservice: asyncio mode"

#: What testsuite's asyncio plugin sets, as ini lines.
INI_LINES = (
    "asyncio_mode = auto\nasyncio_default_fixture_loop_scope = session\nasyncio_default_test_loop_scope = session"
)


def _asyncio_mode(config: pytest.Config) -> str | None:
    """pytest-asyncio's mode (``'strict'``, ``'auto'``), or ``None`` without pytest-asyncio."""
    if not config.pluginmanager.has_plugin("asyncio"):
        return None
    try:
        value = config.getoption("asyncio_mode")
    except ValueError:
        value = None
    if value is None:
        try:
            value = config.getini("asyncio_mode")
        except ValueError:
            return None
    return str(value)


def _is_async(func: Any) -> bool:
    func = getattr(func, "__func__", func)
    return inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func)


def not_run_by_asyncio(item: pytest.Item) -> list[str]:
    """What of ``item`` pytest-asyncio leaves unrun in strict mode: the test, async fixtures.

    Returns descriptions, such as ``"the coroutine test test_echo"``; empty when nothing
    is, or when pytest-asyncio is absent or not in strict mode.
    """
    if not isinstance(item, pytest.Function) or _asyncio_mode(item.config) != "strict":
        return []
    found = []
    if _is_async(item.obj) and item.get_closest_marker("asyncio") is None:
        found.append(f"the coroutine test {item.name} (no asyncio marker)")
    info = getattr(item, "_fixtureinfo", None)  # private: without it, fixtures go unchecked
    definitions = getattr(info, "name2fixturedefs", None) or {}
    for name in item.fixturenames:
        defs = definitions.get(name) or ()
        func = getattr(defs[-1], "func", None) if defs else None
        if func is not None and _is_async(func) and not getattr(func, "_force_asyncio_fixture", False):
            found.append(f"the async fixture {name} (declared with @pytest.fixture, not @pytest_asyncio.fixture)")
    return found


def hint_text(found: list[str]) -> str:
    """The report section's text for what :func:`not_run_by_asyncio` found."""
    return (
        f"pytest-asyncio runs in strict mode here, so nothing runs {', and '.join(found)}.\n"
        "pytest_userver (testsuite) forced asyncio auto mode and a session event loop; pytest-wsservice does not: "
        "it marks only coroutine tests that use its own fixtures. To run a userver suite as it was, put this in "
        "your ini ([pytest] in pytest.ini, or [tool.pytest.ini_options] in pyproject.toml):\n\n"
        f"{INI_LINES}\n\n"
        "or mark the test @pytest.mark.asyncio and declare async fixtures with @pytest_asyncio.fixture. "
        "See docs/migrating-from-pytest-userver.md."
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    if report.failed and report.when in ("setup", "call"):
        try:
            found = not_run_by_asyncio(item)
        except Exception:  # a hint must never turn into an error of its own
            found = []
        if found:
            report.sections.append((HINT_TITLE, hint_text(found)))
    return report
