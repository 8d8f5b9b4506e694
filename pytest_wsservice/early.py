"""Early start: spawn the default service while pytest collects tests.

The service takes a few hundred ms to start (mostly the child importing its framework),
and pytest spends a good part of that collecting tests. So, at session start, the
plugin spawns the default service without waiting for it, built by the same functions
as the default fixtures; the first test that needs the service adopts it if the
fixtures build exactly the same recipe, and stops it and starts its own otherwise.
Errors are never reported from here: a recipe that cannot be built, or a spawn that
fails, is dropped, and the fixtures meet the same problem at first use.

Loaded as a plugin module by ``pytest_wsservice``; it imports nothing heavy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

import pytest

from .config_hooks import _REGISTRY, _NotAList, _resolve_hook
from .options import (
    _OPTIONS,
    _default_command,
    _default_config_hooks,
    _default_config_path,
    _default_config_vars,
    _default_config_yaml,
    _default_log_level,
    _default_logs_file,
    _early_start_enabled,
    _fixed_port,
    _setting,
)
from .signals import _install_sigterm, _restore_sigterm
from .state import _STATE, _State

if TYPE_CHECKING:
    from .lifecycle import EarlyStart

#: The module that defines the plugin's fixtures: a fixture from elsewhere is an override.
_FIXTURES_MODULE = "pytest_wsservice.plugin"

#: Fixtures whose override changes the recipe: a conftest that defines one gets no early start.
_RECIPE_FIXTURES = (
    "service_config_path", "service_config_yaml", "service_config_vars", "service_config_hooks", "service_config",
    "service_tmpdir", "service_config_path_temp", "service_host", "service_port", "service_log_level",
    "service_logs_file", "service_command", "service_env", "service_start", "_wsservice_recipe",
)  # fmt: skip
#: Options that start nothing (or decide nothing about the service) and so do not count
#: as configuring the plugin.
_NOT_CONFIGURING = frozenset({"websocket-timeout", "service-url"})


def _may_start_early(config: pytest.Config) -> bool:
    """Whether this pytest process will run tests with the plugin's own service."""
    option = config.option
    return (
        _early_start_enabled(config)
        and not getattr(option, "collectonly", False)
        and not getattr(option, "setupplan", False)
        and not getattr(option, "showfixtures", False)
        and not getattr(option, "show_fixtures_per_test", False)
        and not config.getoption("service_runner_mode", False)
        and _setting(config, "service-url") is None
        and not config.pluginmanager.has_plugin("dsession")  # the xdist controller: its workers start services
    )


def _conftests(config: pytest.Config) -> Iterator[object]:
    manager = config.pluginmanager
    for plugin in manager.get_plugins():
        if (manager.get_name(plugin) or "").endswith("conftest.py"):
            yield plugin


def _names_this_plugin(module: object) -> bool:
    names = getattr(module, "pytest_plugins", ())
    names = [names] if isinstance(names, str) else names
    return "pytest_wsservice" in names or hasattr(module, "WSSERVICE_CONFIG_HOOKS")


@pytest.hookimpl(trylast=True)  # after the fixture manager exists
def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    state = config.stash.get(_STATE, None)
    if state is None or not _may_start_early(config):
        return
    # Speculate only on evidence that this run uses the service: a run that uses none of
    # our fixtures must not pay for a process. Without it, the first collected test that
    # needs the service starts it (pytest_itemcollected).
    configured = any(_setting(config, name) is not None for name, _, _ in _OPTIONS if name not in _NOT_CONFIGURING)
    for conftest in _conftests(config):
        if any(hasattr(conftest, name) for name in _RECIPE_FIXTURES):
            return  # a recipe fixture is overridden: the early recipe would not match
        configured = configured or _names_this_plugin(conftest)
    if not _recipe_fixtures_ours(session, session):
        return
    if configured:
        _early_start(config, state)
    else:
        state.early_on_first_item = True


def pytest_itemcollected(item: pytest.Item) -> None:
    state = item.config.stash.get(_STATE, None)
    if state is None or not state.early_on_first_item:
        return
    if _needs_service(item):
        state.early_on_first_item = False
        if _recipe_fixtures_ours(item.session, item):
            _early_start(item.config, state)


def pytest_collection_finish(session: pytest.Session) -> None:
    state = session.config.stash.get(_STATE, None)
    if state is None:
        return
    state.early_on_first_item = False
    if state.early is not None and not any(_needs_service(item) for item in session.items):
        state.discard_early()  # nothing collected needs it: stop it now, not at the end
        if state.services is None:
            _restore_sigterm(state)


def _needs_service(item: pytest.Item) -> bool:
    names = getattr(item, "fixturenames", ())
    return "service_handle" in names or "service_start" in names


def _recipe_fixtures_ours(session: pytest.Session, node: pytest.Item | pytest.Session) -> bool:
    """Whether every fixture the recipe is built from is the plugin's, as ``node`` sees them."""
    try:  # private API; if it moves, the recipes are compared at first use anyway
        manager = session._fixturemanager
        for name in _RECIPE_FIXTURES:
            definitions = manager.getfixturedefs(name, node)
            if definitions and getattr(definitions[-1].func, "__module__", None) != _FIXTURES_MODULE:
                return False
    except Exception:
        return True
    return True


def _early_start(config: pytest.Config, state: _State) -> None:
    """Spawn the default service now, without waiting for it (see the section's comment)."""
    try:
        state.early = _spawn_early(config, state)
    except Exception:
        state.early = None  # the fixtures meet the same problem at first use, and report it
        return
    if state.early is not None:
        _install_sigterm(state)


def _spawn_early(config: pytest.Config, state: _State) -> EarlyStart | None:
    """Build the default recipe as the default fixtures do, and spawn it."""
    from .config import build_service_config, listener_address, ping_path, write_service_config
    from .lifecycle import EarlyStart
    from .ports import free_port, port_in_use
    from .process import OrphanGuard, ServiceProcess

    host = "127.0.0.1"  # service_host's default
    config_path = _default_config_path(config)
    static = _default_config_yaml(config, config_path)
    config_vars = _default_config_vars(config, config_path, static)
    port_setting = _setting(config, "service-port")
    port = free_port(host) if port_setting is None else _fixed_port(config, port_setting)
    entries = [(None, hook) for hook in _default_config_hooks(config_path, host, port, _default_log_level(config))]
    entries += config.stash[_REGISTRY].entries
    if any(isinstance(hook, (str, _NotAList)) for _, hook in entries):
        return None  # a hook named by its fixture exists only once fixtures run
    hooks = [_resolve_hook(None, source, hook) for source, hook in entries]  # type: ignore[arg-type]
    service_config = build_service_config(static, config_vars, hooks, source=f"static config {config_path}")
    listen_host, listen_port = listener_address(service_config)
    if port_setting is not None and port_in_use(listen_host, listen_port):
        return None  # the fixtures report who holds it
    tmpdir = config._tmp_path_factory.mktemp("wsservice")  # what tmp_path_factory hands out
    state.early_tmpdir = tmpdir  # service_tmpdir hands it out even if the spawn fails: same paths
    patched_path = write_service_config(service_config, tmpdir)
    command = _default_command(config, patched_path)
    log_path = _default_logs_file(config, tmpdir)
    guard = OrphanGuard.start()
    try:
        starting = ServiceProcess.launch(
            command, log_path=log_path, host=listen_host, port=listen_port, ping_path=ping_path(service_config),
            guard=guard,
        )
    except BaseException:
        if guard is not None:
            guard.close()
        raise
    state.early_port = (host, port) if port_setting is None else None
    return EarlyStart(starting, tuple(command), None, service_config, patched_path, log_path, guard)
