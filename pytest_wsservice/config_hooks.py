"""Where config hooks come from and how an entry becomes a hook.

``WSSERVICE_CONFIG_HOOKS`` lists in conftests and plugin modules (collected in load order
by :class:`_ConfigHookRegistry`), the ``wsservice_config_hooks`` marker, and
:func:`_resolve_hook`, which turns an entry (a callable or a fixture name) into a
described callable or a clear error. The hooks themselves live in :mod:`.config`.
"""

from __future__ import annotations

from typing import Any

import pytest

from .errors import ServiceConfigError

#: The marker that gives a test extra config hooks.
CONFIG_HOOKS_MARKER = "wsservice_config_hooks"


class _ConfigHookRegistry:
    """Collects ``WSSERVICE_CONFIG_HOOKS`` from every conftest and plugin module, in load order."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, Any]] = []

    def pytest_plugin_registered(self, plugin: object, plugin_name: str) -> None:
        try:
            hooks = getattr(plugin, "WSSERVICE_CONFIG_HOOKS", None)
        except Exception:  # a plugin object with an unusual __getattr__ holds no hooks of ours
            return
        if hooks is None:
            return
        source = getattr(plugin, "__file__", None) or plugin_name
        if isinstance(hooks, (str, bytes)) or not isinstance(hooks, (list, tuple)):
            self.entries.append((source, _NotAList(hooks)))
            return
        self.entries.extend((source, hook) for hook in hooks)


class _NotAList:
    """Stands for a WSSERVICE_CONFIG_HOOKS that is not a list, reported when hooks are used."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


_REGISTRY = pytest.StashKey[_ConfigHookRegistry]()


def _resolve_hook(request: pytest.FixtureRequest, source: str | None, hook: Any, where: str = "") -> tuple[str, Any]:
    from .config import describe_hook

    where = where or (f"WSSERVICE_CONFIG_HOOKS in {source}" if source else "service_config_hooks")
    if isinstance(hook, _NotAList):
        raise ServiceConfigError(
            f"{where} is a {type(hook.value).__name__}; it should be a list of hooks (callables or fixture names)."
        )
    if isinstance(hook, str):
        try:
            value = request.getfixturevalue(hook)
        except pytest.FixtureLookupError:
            raise ServiceConfigError(
                f"{where} names fixture {hook!r}, which does not exist; define a session fixture that returns "
                "the hook, or list the callable itself."
            ) from None
        if not callable(value):
            raise ServiceConfigError(
                f"{where} names fixture {hook!r}, which returned a {type(value).__name__}; it should return a "
                "callable hook(config, config_vars)."
            )
        return f"{describe_hook(value)} (fixture {hook!r} in {where})", value
    if not callable(hook):
        raise ServiceConfigError(
            f"{where} holds a {type(hook).__name__} ({hook!r}); each entry should be a callable "
            "hook(config, config_vars) or the name of a fixture returning one."
        )
    return (f"{describe_hook(hook)} (in {where})" if source else describe_hook(hook)), hook


def _marker_hooks(item: pytest.Item) -> list[Any]:
    """The hooks of every ``wsservice_config_hooks`` marker on the test, outermost first."""
    markers = list(item.iter_markers(CONFIG_HOOKS_MARKER))  # closest first
    return [hook for marker in reversed(markers) for hook in marker.args]
