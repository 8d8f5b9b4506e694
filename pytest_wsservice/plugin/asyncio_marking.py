"""Marks coroutine tests that use the plugin's fixtures ``asyncio``, at collection.

Only those tests: the user's asyncio mode decides for everything else.
Loaded as a plugin module by ``pytest_wsservice``; it imports nothing heavy.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

#: Every fixture this plugin defines in :mod:`.config`, :mod:`.service`, :mod:`.clients`,
#: :mod:`.early`, :mod:`.mockserver` and :mod:`.chaos`. A coroutine test that requests one of them
#: (directly, through
#: ``usefixtures`` or through another fixture) is marked ``asyncio`` at collection.
#: tests/unit/test_layout.py checks that this list is complete.
PLUGIN_FIXTURES = frozenset(
    {
        "_wsservice_config_inputs",
        "_wsservice_early",
        "_wsservice_gate_pool",
        "_wsservice_free_port",
        "_wsservice_mockserver",
        "_wsservice_recipe",
        "_wsservice_services",
        "mockserver",
        "mockserver_info",
        "service_baseurl",
        "service_client",
        "service_client_timeout",
        "service_command",
        "service_config",
        "service_config_hooks",
        "service_config_path",
        "service_config_path_temp",
        "service_config_vars",
        "service_config_yaml",
        "service_effective_config",
        "service_env",
        "service_handle",
        "service_host",
        "service_log_level",
        "service_logs_file",
        "service_port",
        "service_start",
        "service_start_timeout",
        "service_stop_timeout",
        "service_tls",
        "service_tmpdir",
        "tcp_gate",
        "testpoint",
        "websocket_client",
        "websocket_timeout",
    }
)


#: Coroutine tests that use our fixtures while pytest-asyncio is not loaded (node ids).
_WITHOUT_ASYNCIO = pytest.StashKey[list[str]]()


@pytest.hookimpl(wrapper=True)
def pytest_pycollect_makeitem(collector: pytest.Module | pytest.Class, name: str, obj: object) -> Any:
    # Before the item exists: pytest-asyncio decides after the yield whether a coroutine
    # test is its to run, from the markers the function carries by then. Marking only
    # tests that use our fixtures keeps the user's asyncio mode for everything else.
    if inspect.iscoroutinefunction(obj) and _is_test_name(collector, name):
        if not collector.config.pluginmanager.has_plugin("asyncio"):
            if _requests_plugin_fixture(collector, name, obj):
                collector.config.stash.setdefault(_WITHOUT_ASYNCIO, []).append(f"{collector.nodeid}::{name}")
        elif not _has_asyncio_marker(collector, obj) and _requests_plugin_fixture(collector, name, obj):
            pytest.mark.asyncio(obj)  # the same as decorating the function
    return (yield)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Without pytest-asyncio, pytest only says "async def functions are not natively
    # supported" for each such test, after the service was started for nothing: stop here.
    tests = config.stash.get(_WITHOUT_ASYNCIO, [])
    if tests:
        shown = ", ".join(tests[:3]) + (f" and {len(tests) - 3} more" if len(tests) > 3 else "")
        raise pytest.UsageError(
            f"pytest-asyncio is not loaded, and {len(tests)} async test(s) use pytest-wsservice's fixtures "
            f"({shown}): they need it to run. Install pytest-asyncio (pytest-wsservice depends on it) and do not "
            "disable it (-p no:asyncio, PYTEST_DISABLE_PLUGIN_AUTOLOAD without -p asyncio)."
        )


def _is_test_name(collector: pytest.Collector, name: str) -> bool:
    funcnamefilter = getattr(collector, "funcnamefilter", None)
    return funcnamefilter(name) if funcnamefilter is not None else True


def _marks_of(obj: object) -> list[Any]:
    marks = getattr(obj, "pytestmark", [])
    return marks if isinstance(marks, list) else [marks]


def _has_asyncio_marker(collector: pytest.Collector, obj: object) -> bool:
    return collector.get_closest_marker("asyncio") is not None or any(
        getattr(mark, "name", None) == "asyncio" for mark in _marks_of(obj)
    )


def _requests_plugin_fixture(collector: pytest.Collector, name: str, obj: Any) -> bool:
    # The common case first, cheaply: a parameter without a default names one of ours.
    code = getattr(obj, "__code__", None)
    if code is not None and getattr(obj, "__wrapped__", None) is None:
        positional = code.co_varnames[: code.co_argcount - len(getattr(obj, "__defaults__", None) or ())]
        keyword_only = code.co_varnames[code.co_argcount : code.co_argcount + code.co_kwonlyargcount]
        kwdefaults = getattr(obj, "__kwdefaults__", None) or {}
        if not PLUGIN_FIXTURES.isdisjoint(positional) or any(
            n in PLUGIN_FIXTURES and n not in kwdefaults for n in keyword_only
        ):
            return True
    cls = collector.obj if isinstance(collector, pytest.Class) else None
    try:
        from _pytest.compat import getfuncargnames

        names = list(getfuncargnames(obj, name=name, cls=cls))
    except Exception:  # pytest moved its helper: read the signature ourselves
        params = list(inspect.signature(obj).parameters.values())
        names = [p.name for p in params[1 if cls is not None else 0 :] if p.default is p.empty]
    for mark in [*_marks_of(obj), *collector.iter_markers("usefixtures")]:
        if getattr(mark, "name", None) == "usefixtures":
            names.extend(mark.args)
    if not PLUGIN_FIXTURES.isdisjoint(names):
        return True
    # Requested through the user's own fixtures? Ask pytest for the closure (private API:
    # without it, only direct requests are marked).
    try:
        closure, _ = collector.session._fixturemanager.getfixtureclosure(
            parentnode=collector, initialnames=tuple(names), ignore_args=frozenset()
        )
    except Exception:
        return False
    return not PLUGIN_FIXTURES.isdisjoint(closure)
