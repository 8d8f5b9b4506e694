"""The config fixtures, and where config hooks come from.

The fixtures are the first steps of the default recipe
(:mod:`pytest_wsservice.service.recipe`), one step each, so that any one can be
overridden: ``service_config_path`` -> ``service_config_yaml`` -> ``service_config_vars``
-> ``service_config_hooks`` -> ``service_config`` -> ``service_config_path_temp``.

Hooks come from ``service_config_hooks``, from ``WSSERVICE_CONFIG_HOOKS`` lists (and
pytest_userver's ``USERVER_CONFIG_HOOKS``, taken the same way) in conftests and plugin
modules (collected in load order by :class:`ConfigHookRegistry`),
and from the ``wsservice_config_hooks`` marker; :func:`resolve_hook` turns an entry (a
callable or a fixture name) into a described callable or a clear error. The hooks
themselves live in :mod:`pytest_wsservice.service.config`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ..errors import ServiceConfigError
from ..service import recipe
from .settings import settings_of
from .state import REDACTOR

if TYPE_CHECKING:
    from ..service.session import ServiceSession

#: The marker that gives a test extra config hooks.
CONFIG_HOOKS_MARKER = "wsservice_config_hooks"


#: The module-level lists of config hooks the registry collects, in this order within a module:
#: this plugin's name, and pytest_userver's, so that a userver conftest moves unchanged.
HOOK_LISTS = ("WSSERVICE_CONFIG_HOOKS", "USERVER_CONFIG_HOOKS")


class ConfigHookRegistry:
    """Collects ``WSSERVICE_CONFIG_HOOKS`` and ``USERVER_CONFIG_HOOKS`` from every conftest and
    plugin module, in load order.

    Each entry is ``(where, hook)``, ``where`` naming the list and its module for messages:
    ``"USERVER_CONFIG_HOOKS in /path/conftest.py"``. A module that binds both names to the
    same list contributes it once.
    """

    def __init__(self) -> None:
        self.entries: list[tuple[str, Any]] = []

    def pytest_plugin_registered(self, plugin: object, plugin_name: str) -> None:
        source = getattr(plugin, "__file__", None) or plugin_name
        seen: list[Any] = []
        for name in HOOK_LISTS:
            try:
                hooks = getattr(plugin, name, None)
            except Exception:  # a plugin object with an unusual __getattr__ holds no hooks of ours
                return
            if hooks is None or any(hooks is other for other in seen):
                continue
            seen.append(hooks)
            where = f"{name} in {source}"
            if isinstance(hooks, (str, bytes)) or not isinstance(hooks, (list, tuple)):
                self.entries.append((where, NotAList(hooks)))
                continue
            self.entries.extend((where, hook) for hook in hooks)


class NotAList:
    """Stands for a WSSERVICE_CONFIG_HOOKS that is not a list, reported when hooks are used."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


REGISTRY = pytest.StashKey[ConfigHookRegistry]()


def resolve_hook(
    request: pytest.FixtureRequest | None, source: str | None, hook: Any, where: str = ""
) -> tuple[str, Any]:
    """Turn a hook entry into ``(description, callable)``; a fixture name needs ``request``.

    ``source`` is where the entry comes from, as the registry words it
    (``"WSSERVICE_CONFIG_HOOKS in /path/conftest.py"``), or ``None`` for ``service_config_hooks``.
    """
    from ..service.config import describe_hook

    where = where or source or "service_config_hooks"
    if isinstance(hook, NotAList):
        raise ServiceConfigError(
            f"{where} is a {type(hook.value).__name__}; it should be a list of hooks (callables or fixture names)."
        )
    if isinstance(hook, str):
        if request is None:
            raise ServiceConfigError(f"{where} names fixture {hook!r}, which exists only once fixtures run.")
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


def marker_hooks(item: pytest.Item) -> list[Any]:
    """The hooks of every ``wsservice_config_hooks`` marker on the test, outermost first."""
    markers = list(item.iter_markers(CONFIG_HOOKS_MARKER))  # closest first
    return [hook for marker in reversed(markers) for hook in marker.args]


@dataclass(frozen=True)
class ConfigInputs:
    """What ``service_config`` is built from, handed on by ``_wsservice_config_inputs``, so
    that a marker's hooks can be applied after the session's to the same inputs."""

    static: Mapping[str, Any]
    config_vars: Mapping[str, Any]
    hooks: tuple[tuple[str, Any], ...]
    path: Path


def pytest_configure(config: pytest.Config) -> None:
    registry = ConfigHookRegistry()
    config.stash[REGISTRY] = registry
    # pytest_plugin_registered is historic: the registry also sees conftests loaded earlier.
    config.pluginmanager.register(registry, "wsservice-config-hook-registry")
    config.addinivalue_line(
        "markers",
        f"{CONFIG_HOOKS_MARKER}(hook, ...): run the test against a service started with these config hooks "
        "(callables or fixture names) applied after the session's; tests with the same effective config share one "
        "service.",
    )


# --------------------------------------------------------------------------- fixtures


def require_config(config: pytest.Config, what: str) -> None:
    """Raise the clear "no static config" error in a configless run (see :mod:`.configless`)."""
    settings = settings_of(config)
    if settings.configless:
        from ..service.configless import no_config_message

        raise ServiceConfigError(no_config_message(settings.command_origin(), what))


@pytest.fixture(scope="session")
def service_config_path(pytestconfig: pytest.Config) -> Path:
    """The static config's path (``--service-config``; default: the bundled sample service's).

    In a configless run (``--service-command`` without ``--service-config``) this and
    every config fixture after it fail with one line saying there is no config.
    Override this to pick the config in code, for example per environment.
    """
    require_config(pytestconfig, "read or patch (service_config and the config fixtures)")
    return recipe.static_config_path(settings_of(pytestconfig))


@pytest.fixture(scope="session")
def service_config_yaml(pytestconfig: pytest.Config, service_config_path: Path) -> dict[str, Any]:
    """The static config as written: the parsed YAML, before hooks and ``$vars``.

    Override this to build the config in code instead of reading a file.
    """
    return recipe.load_config_yaml(settings_of(pytestconfig), service_config_path)


@pytest.fixture(scope="session")
def service_config_vars(
    pytestconfig: pytest.Config, service_config_path: Path, service_config_yaml: dict[str, Any]
) -> dict[str, Any]:
    """The config vars, a dict: from ``--service-config-vars``, else the config's ``config_vars:``.

    Override this to supply vars in code; return ``{}`` for none.
    """
    return recipe.load_vars(settings_of(pytestconfig), service_config_path, service_config_yaml)


@pytest.fixture(scope="session")
def service_config_hooks(
    pytestconfig: pytest.Config,
    service_config_path: Path,
    service_host: str,
    service_port: int,
    service_log_level: str | None,
    service_tls: Any,
) -> list[Any]:
    """The config hooks, each ``hook(config, config_vars) -> None``, applied in order.

    The default holds the plugin's own hooks: ``MakePathsAbsolute`` (``*-path`` keys,
    relative to the config's directory), ``PatchListener`` (host and port), with
    ``--service-tls`` ``PatchListenerTls`` (``server.listener.tls.cert`` and
    ``.private-key``), ``PatchDefaultLogger`` (log to stderr, which goes to the log file;
    the level) and ``PatchTestsControl`` (a ``tests-control`` component is turned on, with
    this session's secret, which the plugin's clients send). Entries may also be names of
    session fixtures that return a hook.
    ``WSSERVICE_CONFIG_HOOKS`` from conftests run after all of these.

    Override this to add hooks: request ``service_config_hooks`` and return
    ``service_config_hooks + [my_hook]``.
    """
    secret = settings_of(pytestconfig).control_secret
    return list(
        recipe.default_hooks(service_config_path, service_host, service_port, service_log_level, secret, service_tls)
    )


@pytest.fixture(scope="session")
def _wsservice_config_inputs(
    request: pytest.FixtureRequest,
    service_config_path: Path,
    service_config_yaml: dict[str, Any],
    service_config_vars: dict[str, Any],
    service_config_hooks: list[Any],
) -> ConfigInputs:
    """The inputs of ``service_config``, hooks resolved and described; internal."""
    entries: list[tuple[str | None, Any]] = [(None, hook) for hook in service_config_hooks]
    entries += request.config.stash[REGISTRY].entries
    hooks = tuple(resolve_hook(request, source, hook) for source, hook in entries)
    return ConfigInputs(service_config_yaml, service_config_vars, hooks, service_config_path)


@pytest.fixture(scope="session")
def service_config(pytestconfig: pytest.Config, _wsservice_config_inputs: ConfigInputs) -> dict[str, Any]:
    """The patched static config as a dict, ``$vars`` resolved: read values from here.

    Built from deep copies: ``service_config_hooks`` in order, then every
    ``WSSERVICE_CONFIG_HOOKS`` entry in plugin/conftest load order, then ``$vars``.
    Override this only to bypass hooks entirely; to change the config, add a hook.
    Failed tests' reports name the values of config vars instead of showing them.
    """
    from ..service.redact import Redactor

    inputs = _wsservice_config_inputs
    secret = settings_of(pytestconfig).control_secret
    pytestconfig.stash[REDACTOR] = Redactor(inputs.config_vars, {secret: "<the tests-control secret>"})
    return recipe.build_config(inputs.static, inputs.config_vars, inputs.hooks, inputs.path)


@pytest.fixture(scope="session")
def service_tmpdir(_wsservice_early: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private directory for this session (xdist worker): the patched config, the log.

    Override this to keep those files somewhere else.
    """
    if _wsservice_early is not None:
        return Path(_wsservice_early.tmpdir)  # the early start's, so that the recipes match
    return tmp_path_factory.mktemp("wsservice")


@pytest.fixture(scope="session")
def service_config_path_temp(service_config: dict[str, Any], service_tmpdir: Path) -> Path:
    """The patched config written as YAML in the session's private temp dir.

    Override this to write it elsewhere (it must match ``service_config``).
    """
    from ..service.config import write_service_config

    return write_service_config(service_config, service_tmpdir)


def effective_config(request: pytest.FixtureRequest, services: ServiceSession, hooks_given: list[Any]) -> Any:
    """The session's default config with a marker's hooks applied after all others.

    Tests with the same hooks share the result (cached by ``services``).
    """
    from ..service.config import build_service_config

    where = f"the {CONFIG_HOOKS_MARKER} marker of {request.node.nodeid}"
    require_config(request.config, f"apply {where}'s hooks to")
    if not hooks_given:
        raise ServiceConfigError(
            f"{where} names no hooks; give it one or more hooks: @pytest.mark.{CONFIG_HOOKS_MARKER}(my_hook)."
        )
    hooks = [resolve_hook(request, where, hook, where) for hook in hooks_given]

    def build() -> Mapping[str, Any]:
        if is_ours(request, "service_config"):
            inputs: ConfigInputs = request.getfixturevalue("_wsservice_config_inputs")
            base, config_vars, session_hooks = inputs.static, inputs.config_vars, list(inputs.hooks)
            source = recipe.config_source(inputs.path)
        else:  # service_config is overridden: the marker's hooks patch its result
            base, session_hooks = request.getfixturevalue("service_config"), []
            config_vars = request.getfixturevalue("service_config_vars")
            source = "the service_config fixture"
        return build_service_config(base, config_vars, [*session_hooks, *hooks], source=source)

    return services.config_for([hook for _, hook in hooks], build)


def is_ours(request: pytest.FixtureRequest, name: str) -> bool:
    """Whether the fixture ``name`` the test sees is this plugin's (not overridden)."""
    try:  # private API; if it moves, assume an override and take the slower, safe path
        definitions = request._fixturemanager.getfixturedefs(name, request.node)
        func = definitions[-1].func if definitions else None
    except Exception:
        return False
    return str(getattr(func, "__module__", "")).startswith(PLUGIN_PACKAGE)


#: The package of the plugin's fixture modules: a fixture defined elsewhere is an override.
PLUGIN_PACKAGE = "pytest_wsservice.plugin."
