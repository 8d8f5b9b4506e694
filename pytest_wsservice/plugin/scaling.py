"""Running the suite on several workers: grouping for ``pytest -n N --dist loadgroup``.

Under pytest-xdist every worker runs its own service, and a test whose
``wsservice_config_hooks`` marker asks for another config costs a restart on its worker
(and the next test with the default config another one). With ``--dist loadgroup`` the
plugin puts the tests that share a marker config into one ``xdist_group``, so that they
run one after another on the same worker: one restart for the group instead of one for
each test that xdist would spread around. Tests that already carry an ``xdist_group``
marker, and tests without a config marker, are left alone. See docs/scaling.md.

Loaded as a plugin module by ``pytest_wsservice``; it imports nothing heavy.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from .config import CONFIG_HOOKS_MARKER, marker_hooks

__all__ = ["config_group_name"]


def config_group_name(hooks: list[Any]) -> str:
    """The ``xdist_group`` of tests whose marker hooks are ``hooks`` (the same hooks, the same name)."""
    names = []
    for hook in hooks:
        if isinstance(hook, str):
            names.append(hook)  # a fixture's name
        elif inspect.isfunction(hook) or inspect.ismethod(hook):
            names.append(f"{hook.__module__}.{hook.__qualname__}")
        else:
            names.append(f"{type(hook).__module__}.{type(hook).__qualname__}:{hook!r}")
    return "wsservice-config:" + "+".join(names)


def pytest_itemcollected(item: pytest.Item) -> None:
    # As each test is collected, before any pytest_collection_modifyitems (xdist's adds
    # the group to the node id there).
    option = item.config.option
    # The controller has --dist; its workers get "no" there and loadgroup=True instead.
    if not (getattr(option, "loadgroup", False) or getattr(option, "dist", None) == "loadgroup"):
        return
    if item.get_closest_marker(CONFIG_HOOKS_MARKER) is None or item.get_closest_marker("xdist_group") is not None:
        return
    hooks = marker_hooks(item)
    if hooks:
        item.add_marker(pytest.mark.xdist_group(name=config_group_name(hooks)))
