"""Early start: spawn the default service while pytest starts up and collects tests.

The service takes a few hundred ms to start (mostly the child importing its framework),
and pytest spends a good part of that setting itself up and collecting tests. So, as
soon as the options are parsed (``pytest_configure``, after the root conftests are loaded),
the plugin builds the default recipe with :func:`~pytest_wsservice.service.recipe.build_recipe`
(the same steps the default fixtures take, from the same :class:`Settings`) and spawns it
without waiting. What it chose (port, temp dir) is handed to the fixtures by
``_wsservice_early``, so they build exactly the same recipe, and the first test that
needs the service adopts the process; if the recipes differ anyway, the session stops it
and starts its own. Errors are never reported from here: a recipe that cannot be built,
or a spawn that fails, is dropped, and the fixtures meet the same problem at first use.

When: at ``pytest_configure`` if the run shows that it uses the plugin (an option of ours,
or a root conftest naming ``pytest_wsservice``) and no root conftest defines a fixture of
the plugin's; else at session start, if the fixtures the recipe is built from are the
plugin's; else from the first collected test that needs the service. Never for ``--co``,
``--help``, ``--fixtures``, ``--markers``, ``--setup-plan``, the xdist controller or
``--service-runner-mode``; and a service that no collected test needs is stopped when
collection finishes.

No early start when a fixture the recipe is built from is overridden: the fixtures the
plugin's ``service_start`` and ``_wsservice_recipe`` depend on are found by walking
pytest's fixture definitions at session start, so a new recipe fixture needs no list
kept here (a service spawned at ``pytest_configure`` is stopped there if the walk finds
an override).

Loaded as a plugin module by ``pytest_wsservice``; it imports nothing heavy.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from ..service import recipe
from .clients import import_clients_for
from .config import PLUGIN_PACKAGE, REGISTRY, NotAList, resolve_hook
from .reuse import kept_start, reuse_active
from .settings import settings_of
from .state import STATE, EarlyPlan, PluginState

if TYPE_CHECKING:
    from ..service.session import EarlyStart

#: Where the walk over the recipe's fixtures starts.
_RECIPE_ROOTS = ("service_start", "_wsservice_recipe")
#: Fixtures on that walk whose override does not change the process spawned.
_NOT_SPAWNING = frozenset({"service_start_timeout", "service_stop_timeout", "service_baseurl"})


@pytest.fixture(scope="session")
def _wsservice_early(pytestconfig: pytest.Config) -> EarlyPlan | None:
    """What the early start chose (host, port, temp dir), or ``None``; internal."""
    return pytestconfig.stash[STATE].early_plan


def _may_start_early(config: pytest.Config) -> bool:
    """Whether this pytest process will run tests with the plugin's own service."""
    option = config.option
    settings = settings_of(config)
    distributing = getattr(option, "numprocesses", None) or getattr(option, "dist", "no") != "no"
    return (
        (settings.early_start or settings.reuse in ("yes", "force"))
        and not getattr(option, "help", False)
        and not getattr(option, "markers", False)
        and not getattr(option, "cacheshow", False)
        and not (distributing and settings.worker_id is None)  # the xdist controller, before it registers
        and not getattr(option, "collectonly", False)
        and not getattr(option, "setupplan", False)
        and not getattr(option, "showfixtures", False)
        and not getattr(option, "show_fixtures_per_test", False)
        and not settings.runner_mode
        and settings.service_url is None
        and not config.pluginmanager.has_plugin("dsession")  # the xdist controller: its workers start services
        and config.pluginmanager.has_plugin("asyncio")  # without it the async tests cannot run (asyncio_marking)
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


def _is_plugin_function(definition: Any) -> bool:
    return str(getattr(definition.func, "__module__", "")).startswith(PLUGIN_PACKAGE)


def _recipe_fixtures(session: pytest.Session, node: pytest.Item | pytest.Session) -> tuple[set[str], bool]:
    """The plugin's fixtures the spawned process depends on, as ``node`` sees them, and
    whether every one of them is still the plugin's (not overridden)."""
    try:  # private API; if it moves, the recipes are compared at first use anyway
        manager = session._fixturemanager
        names: set[str] = set()
        ours = True
        todo = list(_RECIPE_ROOTS)
        seen: set[str] = set()
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            definitions = manager.getfixturedefs(name, node)
            if not definitions or not any(_is_plugin_function(d) for d in definitions):
                continue  # pytest's own (request, tmp_path_factory, ...)
            if name not in _NOT_SPAWNING:
                names.add(name)
                ours = ours and _is_plugin_function(definitions[-1])
            todo.extend(definitions[-1].argnames)
    except Exception:
        return set(), True
    return names, ours


def _plugin_fixture_names() -> frozenset[str]:
    """The names of every fixture the plugin's modules define (for the check at configure time)."""
    import sys

    from _pytest.fixtures import getfixturemarker

    names: set[str] = set()
    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith(PLUGIN_PACKAGE):
            continue
        for attribute, value in vars(module).items():
            try:
                marker = getfixturemarker(value)
            except Exception:
                continue
            if marker is not None:
                names.add(marker.name or attribute)
    return frozenset(names)


@pytest.hookimpl(trylast=True)  # after the settings, the state and the temp path factory exist
def pytest_configure(config: pytest.Config) -> None:
    """Spawn the service now, overlapping pytest's start-up, when the run clearly uses it."""
    state = config.stash.get(STATE, None)
    if state is None or not _may_start_early(config):
        return
    conftests = list(_conftests(config))
    if not (settings_of(config).configured or any(_names_this_plugin(conftest) for conftest in conftests)):
        return  # no evidence yet that this run uses the plugin: a run that does not pays nothing here
    try:
        ours = _plugin_fixture_names()
    except Exception:  # private API moved: fall back to the start at session start
        return
    if any(hasattr(conftest, name) for conftest in conftests for name in ours):
        return  # decided at session start, where overrides can be told apart precisely
    _early_start(config, state)


@pytest.hookimpl(trylast=True)  # after the fixture manager exists
def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    state = config.stash.get(STATE, None)
    if state is None or not _may_start_early(config):
        return
    if state.early_tried:  # at pytest_configure: check what could not be checked there
        if state.early is not None and not _recipe_fixtures(session, session)[1]:
            state.discard_early(recipe.DEFAULT_STOP_TIMEOUT)
        return
    # Speculate only on evidence that this run uses the service: a run that uses none of
    # our fixtures must not pay for a process. Without it, the first collected test that
    # needs the service starts it (pytest_itemcollected).
    names, ours = _recipe_fixtures(session, session)
    if not ours:
        return
    configured = settings_of(config).configured
    for conftest in _conftests(config):
        if any(hasattr(conftest, name) for name in names):
            return  # a recipe fixture is overridden: the early recipe would not match
        configured = configured or _names_this_plugin(conftest)
    if configured:
        _early_start(config, state)
    else:
        state.early_on_first_item = True


def pytest_itemcollected(item: pytest.Item) -> None:
    state = item.config.stash.get(STATE, None)
    if state is None or not state.early_on_first_item:
        return
    if _needs_service(item):
        state.early_on_first_item = False
        if _recipe_fixtures(item.session, item)[1]:
            _early_start(item.config, state)


def pytest_collection_finish(session: pytest.Session) -> None:
    state = session.config.stash.get(STATE, None)
    if state is None:
        return
    state.early_on_first_item = False
    if state.early is None:
        return
    first = next((item for item in session.items if _needs_service(item)), None)
    if first is None:
        state.discard_early(recipe.DEFAULT_STOP_TIMEOUT)  # nothing collected needs it: stop it now
        if state.services is None:
            state.restore_sigterm()
        return
    # The service is starting: import meanwhile the clients that the first test using it needs.
    import_clients_for(getattr(first, "fixturenames", ()))


def _needs_service(item: pytest.Item) -> bool:
    names = getattr(item, "fixturenames", ())
    return "service_handle" in names or "service_start" in names


def _early_start(config: pytest.Config, state: PluginState) -> None:
    """Spawn the default service now, without waiting for it (see the module docstring)."""
    state.early_tried = True
    try:
        state.early = _spawn_early(config, state)
    except Exception:
        state.early = None  # the fixtures meet the same problem at first use, and report it
        return
    if state.early is not None:
        state.install_sigterm()


def _spawn_early(config: pytest.Config, state: PluginState) -> EarlyStart | None:
    """Build the default recipe with build_recipe() and spawn it."""
    from ..service.config import listener_address, ping_path
    from ..service.guard import OrphanGuard
    from ..service.ports import port_in_use
    from ..service.process import ServiceProcess
    from ..service.session import EarlyStart

    settings = settings_of(config)
    entries = config.stash[REGISTRY].entries
    if any(isinstance(hook, (str, NotAList)) for _, hook in entries):
        return None  # a hook named by its fixture exists only once fixtures run
    extra_hooks = [resolve_hook(None, source, hook) for source, hook in entries]
    if reuse_active(config):
        return kept_start(config, state, extra_hooks)  # --service-reuse
    tmpdir = config._tmp_path_factory.mktemp("wsservice")  # type: ignore[attr-defined]  # as tmp_path_factory
    service_recipe = recipe.build_recipe(settings, tmpdir=tmpdir, extra_hooks=extra_hooks)
    # service_tmpdir hands the temp dir out even if nothing is spawned: the same paths.
    state.early_plan = EarlyPlan(recipe.DEFAULT_HOST, service_recipe.own_port, tmpdir, service_recipe)
    host, port = listener_address(service_recipe.default_config)
    if service_recipe.own_port is None and port_in_use(host, port):
        return None  # the fixtures report who holds it
    env = service_recipe.env
    if service_recipe.template is not None:  # --service-env entries, as the session renders them
        rendered = service_recipe.template.render(host, port, service_recipe.default_config_path)[1]
        env = {**(env or {}), **rendered} or None
    guard = OrphanGuard.start()
    try:
        starting = ServiceProcess.launch(
            service_recipe.command,
            log_path=service_recipe.log_path,
            host=host,
            port=port,
            ping_path=service_recipe.ping_path or ping_path(service_recipe.default_config),
            env=env,
            guard=guard,
            tls=service_recipe.tls,
        )
    except BaseException:
        if guard is not None:
            guard.close()
        raise
    return EarlyStart(
        starting,
        tuple(service_recipe.command),
        env,
        service_recipe.default_config,
        service_recipe.default_config_path,
        service_recipe.log_path,
        guard,
    )
