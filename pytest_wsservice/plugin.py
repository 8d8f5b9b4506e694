"""The pytest side of pytest-wsservice: options, fixtures and two hooks. Kept thin.

Each fixture names one step (config path -> vars -> hooks -> patched config -> process ->
clients) and hands its result to the next; the work is done in :mod:`.config`,
:mod:`.ports`, :mod:`.process` and :mod:`.readiness`, imported inside the fixtures so that
a pytest run which uses none of them pays nothing for PyYAML, yarl, websockets or aiohttp.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import shlex
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping

import pytest

from .errors import ServiceConfigError, ServiceExitedError, ServiceStartError, WsServiceError

if TYPE_CHECKING:
    from yarl import URL

    from .http import ServiceClient
    from .lifecycle import EarlyStart, ServiceRecipe, ServiceSession
    from .process import LogFollower, ServiceHandle
    from .websocket import WebSocketClient

#: Every fixture this plugin defines. A coroutine test that requests one of them (directly,
#: through ``usefixtures`` or through another fixture) is marked ``asyncio`` at collection.
PLUGIN_FIXTURES = frozenset(
    {
        "_wsservice_recipe",
        "_wsservice_services",
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
        "service_tmpdir",
        "websocket_client",
        "websocket_timeout",
    }
)

# name, metavar, help. Each is --NAME on the command line and NAME_WITH_UNDERSCORES in the ini.
_OPTIONS = (
    ("service-config", "PATH", "the service's static config (YAML, userver layout). Default: the bundled sample_service/static_config.yaml."),
    ("service-config-vars", "PATH", "the config vars YAML that $name values come from. Default: the config's config_vars: key, if any."),
    ("service-command", "CMD", "how to start the service, split like a shell would but never run by one; {config} is replaced by the patched config's path, else --config PATH is appended. Default: the bundled sample service run by this Python."),
    ("service-port", "N", "the listener port (xdist worker gwK uses N+K). Default: a free port for each run and each xdist worker."),
    ("service-start-timeout", "SECONDS", "how long to wait for the service to be ready. Default: 30."),
    ("service-log-level", "LEVEL", "the default logger's level: trace, debug, info, warning, error or critical. Default: the config's."),
    ("service-logs-file", "PATH", "where the service's output and log go (xdist worker gwK writes PATH with .gwK before the suffix). Default: service.log in the session's temp dir."),
    ("websocket-timeout", "SECONDS", "default deadline for opening a WebSocket connection and for each recv. Default: 10."),
    ("service-url", "URL", "test the service already running at URL (http:// or ws://, e.g. in a container): start nothing, only check that it is ready. Default: start the service."),
    ("service-early-start", "yes|no", "start the service while pytest collects tests, when the plugin is configured (an option or ini value of ours, or a conftest naming pytest_wsservice in pytest_plugins), else from the first collected test that needs it; the first test adopts it if its recipe is the same. Default: yes."),
)

#: The marker that gives a test extra config hooks.
CONFIG_HOOKS_MARKER = "wsservice_config_hooks"

DEFAULT_START_TIMEOUT = 30.0
DEFAULT_STOP_TIMEOUT = 5.0
DEFAULT_WEBSOCKET_TIMEOUT = 10.0


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("wsservice", "wsservice: start a WebSocket service from its static config")
    for name, metavar, help_text in _OPTIONS:
        dest = name.replace("-", "_")
        group.addoption(f"--{name}", dest=dest, metavar=metavar, default=None, help=help_text)
        relative = " Relative paths are relative to the ini file." if metavar in ("PATH", "CMD") else ""
        parser.addini(dest, f"[wsservice] {help_text}{relative}", default="")
    group.addoption(
        "--service-runner-mode",
        dest="service_runner_mode",
        action="store_true",
        default=False,
        help="start the service with the patched config, print its URLs, config path and log path, and keep it "
        "running until Ctrl-C (runs no tests): for poking at it by hand with wscat or a browser.",
    )


# --------------------------------------------------------------------------- settings


class _Setting:
    """One option's value and where it came from (paths are relative to ``base_dir``)."""

    # A plain class, not a dataclass: building a dataclass costs ~0.6 ms at import.
    __slots__ = ("value", "base_dir", "origin")

    def __init__(self, value: str, base_dir: Path, origin: str) -> None:
        self.value = value
        self.base_dir = base_dir
        self.origin = origin

    def path(self) -> Path:
        return (self.base_dir / Path(self.value).expanduser()).absolute()

    def number(self, kind: Callable[[str], float], what: str, minimum: float, maximum: float = float("inf")) -> Any:
        try:
            number = kind(self.value)
        except ValueError:
            number = None
        if number is None or not minimum <= number <= maximum:  # also rejects NaN
            raise ServiceConfigError(f"{self.origin} is {self.value!r}; it should be {what}.")
        return number


def _setting(config: pytest.Config, name: str) -> _Setting | None:
    """Return an option: the command line wins over the ini file; ``None`` if neither sets it."""
    dest = name.replace("-", "_")
    value = config.getoption(dest)
    if value is not None:
        return _Setting(str(value), config.invocation_params.dir, f"--{name}")
    value = config.getini(dest)
    if value:
        if config.inipath is not None:
            return _Setting(str(value), config.inipath.parent, f"{dest} in {config.inipath}")
        return _Setting(str(value), config.rootpath, f"{dest} (ini override)")
    return None


def _seconds(config: pytest.Config, name: str, default: float) -> float:
    """Return a duration option in seconds, or ``default`` if it is not set."""
    setting = _setting(config, name)
    if setting is None:
        return default
    return setting.number(float, "a positive number of seconds", 0.001)


def _worker_id(config: pytest.Config) -> str | None:
    workerinput = getattr(config, "workerinput", None)  # set by pytest-xdist in its workers
    return workerinput.get("workerid") if workerinput else None


# --------------------------------------------------------------------------- WSSERVICE_CONFIG_HOOKS


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


class _State:
    """Everything the plugin remembers during one pytest process (kept in ``config.stash``)."""

    def __init__(self) -> None:
        #: The port our ``service_port`` fixture picked, which we may change; else ``None``.
        self.own_port: int | None = None
        #: What our ``service_config`` fixture built the default config from, to rebuild
        #: it with a marker's hooks: (yaml, vars, hooks, source, result).
        self.pipeline: tuple[Any, ...] | None = None
        #: Effective configs for marker hooks, by the hooks' identities.
        self.marker_configs: dict[tuple[int, ...], tuple[list[Any], dict[str, Any]]] = {}
        self.services: ServiceSession | None = None
        self.external: ServiceHandle | None = None
        self.follower: LogFollower | None = None
        self.sigterm_installed = False
        #: Restart reasons reported by xdist workers, for the controller's summary.
        self.worker_restarts: dict[str, list[str]] = {}
        #: The service spawned while pytest collects (see _early_start), until adopted.
        self.early: EarlyStart | None = None
        #: Spawn early from the first collected test that needs the service.
        self.early_on_first_item = False
        #: What the early start chose, which the default fixtures hand out again so that
        #: the recipe they build matches it: (host, port) and the session's temp dir.
        self.early_port: tuple[str, int] | None = None
        self.early_tmpdir: Path | None = None
        #: Whether the plugin's own service_start has returned (so the session fixture
        #: that stops the services at the end is set up).
        self.start_done = False
        #: Per collector node: whether the service_start its tests see is the plugin's.
        self.start_is_ours: dict[Any, bool] = {}

    def close(self) -> list[ServiceStartError]:
        problems: list[ServiceStartError] = []
        try:
            self.discard_early()
            if self.services is not None:
                problems = self.services.close()
        finally:
            if self.follower is not None:
                self.follower.close()
                self.follower = None
            _restore_sigterm(self)
        return problems

    def discard_early(self) -> None:
        early, self.early = self.early, None
        if early is not None:
            early.discard(DEFAULT_STOP_TIMEOUT)


_STATE = pytest.StashKey[_State]()
_LOG_START = pytest.StashKey[tuple[Path, int]]()


def pytest_configure(config: pytest.Config) -> None:
    registry = _ConfigHookRegistry()
    config.stash[_REGISTRY] = registry
    config.stash[_STATE] = _State()
    # pytest_plugin_registered is historic: the registry also sees conftests loaded earlier.
    config.pluginmanager.register(registry, "wsservice-config-hook-registry")
    config.addinivalue_line(
        "markers",
        f"{CONFIG_HOOKS_MARKER}(hook, ...): run the test against a service started with these config hooks "
        "(callables or fixture names) applied after the session's; tests with the same effective config share one "
        "service.",
    )
    _early_start_enabled(config)  # a bad value is a usage error now, not a silent default
    if config.getoption("service_runner_mode", False):
        if getattr(config.option, "numprocesses", None):
            raise pytest.UsageError("--service-runner-mode runs one service by hand; it cannot be combined with -n.")
        if _setting(config, "service-url") is not None:
            raise pytest.UsageError("--service-runner-mode starts the service; it cannot be combined with --service-url.")


def pytest_unconfigure(config: pytest.Config) -> None:
    # A last resort: teardown normally stops everything; if it was cut short (a second
    # Ctrl-C), do not leave the service running until pytest's process is gone.
    state = config.stash.get(_STATE, None)
    if state is not None:
        state.close()


# --------------------------------------------------------------------------- SIGTERM


def _install_sigterm(state: _State) -> None:
    """Turn SIGTERM into a clean pytest exit, so that teardown stops the service.

    Only if nobody else handles SIGTERM (the handler is the default) and only from the
    main thread; the default is restored when the session's services are stopped.
    """
    if state.sigterm_installed or threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return

    def on_sigterm(signum: int, frame: object) -> None:
        _restore_sigterm(state)  # a second SIGTERM ends pytest at once (the guard still cleans up)
        pytest.exit("received SIGTERM: stopping the service and exiting", returncode=128 + signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_sigterm)
    state.sigterm_installed = True


def _restore_sigterm(state: _State) -> None:
    if state.sigterm_installed and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        state.sigterm_installed = False


# --------------------------------------------------------------------------- early start
#
# The service takes a few hundred ms to start (mostly the child importing its framework),
# and pytest spends a good part of that collecting tests. So, at session start, the
# plugin spawns the default service without waiting for it, built by the same functions
# as the default fixtures; the first test that needs the service adopts it if the
# fixtures build exactly the same recipe, and stops it and starts its own otherwise.
# Errors are never reported from here: a recipe that cannot be built, or a spawn that
# fails, is dropped, and the fixtures meet the same problem at first use.

_YES_NO = {"yes": True, "true": True, "on": True, "1": True, "no": False, "false": False, "off": False, "0": False}

#: Fixtures whose override changes the recipe: a conftest that defines one gets no early start.
_RECIPE_FIXTURES = (
    "service_config_path", "service_config_yaml", "service_config_vars", "service_config_hooks", "service_config",
    "service_tmpdir", "service_config_path_temp", "service_host", "service_port", "service_log_level",
    "service_logs_file", "service_command", "service_env", "service_start", "_wsservice_recipe",
)  # fmt: skip
#: Options that start nothing (or decide nothing about the service) and so do not count
#: as configuring the plugin.
_NOT_CONFIGURING = frozenset({"websocket-timeout", "service-url"})


def _early_start_enabled(config: pytest.Config) -> bool:
    """``--service-early-start`` / ``service_early_start``: yes (default) or no."""
    setting = _setting(config, "service-early-start")
    if setting is None:
        return True
    value = _YES_NO.get(setting.value.strip().lower())
    if value is None:
        raise pytest.UsageError(f"{setting.origin} is {setting.value!r}; it should be yes or no (or true/false, on/off).")
    return value


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
            if definitions and getattr(definitions[-1].func, "__module__", None) != __name__:
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


# --------------------------------------------------------------------------- asyncio marking


@pytest.hookimpl(wrapper=True)
def pytest_pycollect_makeitem(collector: pytest.Module | pytest.Class, name: str, obj: object) -> Any:
    # Before the item exists: pytest-asyncio decides after the yield whether a coroutine
    # test is its to run, from the markers the function carries by then. Marking only
    # tests that use our fixtures keeps the user's asyncio mode for everything else.
    if (
        inspect.iscoroutinefunction(obj)
        and collector.config.pluginmanager.has_plugin("asyncio")
        and _is_test_name(collector, name)
        and not _has_asyncio_marker(collector, obj)
        and _requests_plugin_fixture(collector, name, obj)
    ):
        pytest.mark.asyncio(obj)  # the same as decorating the function
    return (yield)


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


# --------------------------------------------------------------------------- short error reports


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    # A failure of our fixtures is explained by its message; the traceback through the
    # plugin's internals only hides it. Test bodies keep their tracebacks.
    if call.when != "call" and call.excinfo is not None and isinstance(call.excinfo.value, WsServiceError):
        error = call.excinfo.value
        report.longrepr = f"{type(error).__module__}.{type(error).__name__}: {error}"
    # A failed test's report shows the service's log lines written since the test began:
    # the offset was taken when service_handle was set up; the file is read only now.
    start = item.stash.get(_LOG_START, None)
    quoted = call.excinfo is not None and isinstance(call.excinfo.value, ServiceStartError)  # has the tail
    if report.failed and start is not None and not quoted:
        from .process import read_log_since

        text = read_log_since(*start)
        if text:
            report.sections.append((f"Captured service log {report.when}", text))
    return report


_WITH_ARGS_HINT = (
    f"pytest takes @pytest.mark.{CONFIG_HOOKS_MARKER}(f) with a single plain function as decorating f, not as the "
    f"marker's argument; write @pytest.mark.{CONFIG_HOOKS_MARKER}.with_args(f) (or name a fixture that returns "
    "the hook)."
)


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Any:
    report = yield
    # The one way to get the marker wrong that pytest reports as a puzzling TypeError.
    # Python 3.10 shows the `def` line, not the decorator, so look in the module too.
    if report.failed and "TypeError" in str(report.longrepr):
        if f"{CONFIG_HOOKS_MARKER}(" in str(report.longrepr) or f"{CONFIG_HOOKS_MARKER}(" in _source_of(collector):
            report.sections.append(("wsservice", _WITH_ARGS_HINT))
    return report


def _source_of(collector: pytest.Collector) -> str:
    path = getattr(collector, "path", None)
    if path is None or path.suffix != ".py":
        return ""
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


# --------------------------------------------------------------------------- summary


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    if state is None:
        return
    by_process = dict(state.worker_restarts)
    if state.services is not None and state.services.restarts:
        by_process[""] = state.services.restarts
    count = sum(len(reasons) for reasons in by_process.values())
    if not count:
        return
    terminalreporter.write_sep("-", "wsservice")
    times = "once" if count == 1 else f"{count} times"
    workers = [name for name in sorted(by_process) if name]
    where = f" (in {', '.join(f'{name}: {len(by_process[name])}' for name in workers)})" if workers else ""
    terminalreporter.write_line(f"the service was restarted {times}{where}:")
    lines = [f"  {name + ': ' if name else ''}{reason}" for name in sorted(by_process) for reason in by_process[name]]
    for line in lines[:20]:
        terminalreporter.write_line(line)
    if len(lines) > 20:
        terminalreporter.write_line(f"  ... and {len(lines) - 20} more")


def pytest_sessionfinish(session: pytest.Session) -> None:
    # In an xdist worker: hand the restart reasons to the controller's summary.
    workeroutput = getattr(session.config, "workeroutput", None)
    state = session.config.stash.get(_STATE, None)
    if workeroutput is not None and state is not None and state.services is not None:
        workeroutput["wsservice_restarts"] = list(state.services.restarts)
        workeroutput["wsservice_worker"] = _worker_id(session.config)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    # pytest-xdist, in the controller: a worker finished.
    restarts = (getattr(node, "workeroutput", None) or {}).get("wsservice_restarts")
    if restarts:
        worker = node.workeroutput.get("wsservice_worker") or "?"
        node.config.stash[_STATE].worker_restarts[worker] = list(restarts)


# --------------------------------------------------------------------------- runner mode


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("service_runner_mode", False):
        return
    # Run one item instead of the tests: it starts the service through the same
    # fixtures (and the user's overrides of them) and waits for Ctrl-C.
    parent = items[0].parent if items else session
    runner = pytest.Function.from_parent(parent, name="wsservice_runner", callobj=_run_service_by_hand)
    config.hook.pytest_deselected(items=list(items))
    items[:] = [runner]


def _run_service_by_hand(service_handle: ServiceHandle, pytestconfig: pytest.Config) -> None:
    from .process import LogFollower

    state = pytestconfig.stash[_STATE]
    process = state.services.current if state.services is not None else None
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    reporter = pytestconfig.pluginmanager.getplugin("terminalreporter")
    config = service_handle.config or {}
    lines = [
        f"wsservice runner mode: the service is running (pid {service_handle.pid}).",
        f"  base URL:  {service_handle.base_url}",
        *(f"  {kind + ':':10} {url}" for kind, url in _service_urls(service_handle, config)),
        f"  config:    {service_handle.config_path}",
        f"  log:       {service_handle.log_path}",
        "Its log follows. Press Ctrl-C to stop it.",
    ]
    with capture.global_and_fixture_disabled() if capture is not None else _nothing():
        for line in lines:
            if reporter is not None:
                reporter.write_line(line)
            else:
                print(line, flush=True)
        follower = None
        if state.follower is None and service_handle.log_path is not None:
            follower = LogFollower(service_handle.log_path, sys.stderr, offset=0).start()
        try:
            # Waits for Ctrl-C, on purpose without a deadline; wakes up each second to see
            # whether the service has exited by itself.
            while process is None or process.wait_exit(1.0) is None:
                if process is None:
                    time.sleep(1.0)  # a service_start override: nothing of ours to watch
        except KeyboardInterrupt:
            if reporter is not None:
                reporter.write_line("\nwsservice runner mode: Ctrl-C, stopping the service.")
            return
        finally:
            if follower is not None:
                follower.close()
    # The service exited by itself: service_handle's teardown reports how.


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc_info: object) -> None:
        return None


def _service_urls(handle: ServiceHandle, config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The handlers' URLs from the config: ``("WebSocket", "ws://.../chat")``, ``("HTTP", ...)``."""
    from yarl import URL

    components = config.get("components_manager", {}).get("components", {}) if isinstance(config, Mapping) else {}
    urls = []
    for name, component in components.items() if isinstance(components, Mapping) else ():
        path = component.get("path") if isinstance(component, Mapping) else None
        if not isinstance(path, str) or not path:
            continue
        url = handle.base_url.join(URL(path.lstrip("/")))
        if "websocket" in str(name):
            urls.append(("WebSocket", str(url.with_scheme("wss" if url.scheme == "https" else "ws"))))
        else:
            urls.append(("HTTP", str(url)))
    return urls


# --------------------------------------------------------------------------- fixtures: config


@pytest.fixture(scope="session")
def service_config_path(pytestconfig: pytest.Config) -> Path:
    """The static config's path (``--service-config``; default: the bundled sample service's).

    Override this to pick the config in code, for example per environment.
    """
    return _default_config_path(pytestconfig)


def _default_config_path(pytestconfig: pytest.Config) -> Path:
    setting = _setting(pytestconfig, "service-config")
    if setting is not None:
        return setting.path()
    spec = importlib.util.find_spec("sample_service")  # locate it without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ServiceConfigError(
            "no static config given: pass --service-config PATH (or set service_config in the ini file); "
            "the bundled sample_service, the default, is not installed."
        )
    return Path(list(spec.submodule_search_locations)[0], "static_config.yaml")


@pytest.fixture(scope="session")
def service_config_yaml(pytestconfig: pytest.Config, service_config_path: Path) -> dict[str, Any]:
    """The static config as written: the parsed YAML, before hooks and ``$vars``.

    Override this to build the config in code instead of reading a file.
    """
    return _default_config_yaml(pytestconfig, service_config_path)


def _default_config_yaml(pytestconfig: pytest.Config, service_config_path: Path) -> dict[str, Any]:
    from .config import load_static_config

    setting = _setting(pytestconfig, "service-config")
    return load_static_config(service_config_path, origin=f"from {setting.origin}" if setting else "")


@pytest.fixture(scope="session")
def service_config_vars(
    pytestconfig: pytest.Config, service_config_path: Path, service_config_yaml: dict[str, Any]
) -> dict[str, Any]:
    """The config vars, a dict: from ``--service-config-vars``, else the config's ``config_vars:``.

    Override this to supply vars in code; return ``{}`` for none.
    """
    return _default_config_vars(pytestconfig, service_config_path, service_config_yaml)


def _default_config_vars(
    pytestconfig: pytest.Config, service_config_path: Path, service_config_yaml: dict[str, Any]
) -> dict[str, Any]:
    from .config import config_vars_path, load_config_vars

    setting = _setting(pytestconfig, "service-config-vars")
    if setting is not None:
        return load_config_vars(setting.path(), origin=f"from {setting.origin}")
    path = config_vars_path(service_config_yaml, service_config_path)
    if path is None:
        return {}
    return load_config_vars(path, origin=f"named by config_vars in {service_config_path}")


@pytest.fixture(scope="session")
def service_config_hooks(
    service_config_path: Path, service_host: str, service_port: int, service_log_level: str | None
) -> list[Any]:
    """The config hooks, each ``hook(config, config_vars) -> None``, applied in order.

    The default holds the plugin's own hooks: ``MakePathsAbsolute`` (``*-path`` keys,
    relative to the config's directory), ``PatchListener`` (host and port) and
    ``PatchDefaultLogger`` (log to stderr, which goes to the log file; the level).
    Entries may also be names of session fixtures that return a hook.
    ``WSSERVICE_CONFIG_HOOKS`` from conftests run after all of these.

    Override this to add hooks: request ``service_config_hooks`` and return
    ``service_config_hooks + [my_hook]``.
    """
    return _default_config_hooks(service_config_path, service_host, service_port, service_log_level)


def _default_config_hooks(
    service_config_path: Path, service_host: str, service_port: int, service_log_level: str | None
) -> list[Any]:
    from .config import MakePathsAbsolute, PatchDefaultLogger, PatchListener

    return [
        MakePathsAbsolute(service_config_path.parent),
        PatchListener(host=service_host, port=service_port),
        PatchDefaultLogger(file_path="@stderr", level=service_log_level),
    ]


@pytest.fixture(scope="session")
def service_config(
    request: pytest.FixtureRequest,
    service_config_path: Path,
    service_config_yaml: dict[str, Any],
    service_config_vars: dict[str, Any],
    service_config_hooks: list[Any],
) -> dict[str, Any]:
    """The patched static config as a dict, ``$vars`` resolved: read values from here.

    Built from deep copies: ``service_config_hooks`` in order, then every
    ``WSSERVICE_CONFIG_HOOKS`` entry in plugin/conftest load order, then ``$vars``.
    Override this only to bypass hooks entirely; to change the config, add a hook.
    """
    from .config import build_service_config

    entries = [(None, hook) for hook in service_config_hooks]
    entries += request.config.stash[_REGISTRY].entries
    hooks = [_resolve_hook(request, source, hook) for source, hook in entries]
    source = f"static config {service_config_path}"
    config = build_service_config(service_config_yaml, service_config_vars, hooks, source=source)
    request.config.stash[_STATE].pipeline = (service_config_yaml, service_config_vars, hooks, source, config)
    return config


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


def _effective_config(request: pytest.FixtureRequest, marker_hooks: list[Any]) -> dict[str, Any]:
    """The session's default config with the marker's hooks applied after all others."""
    from .config import build_service_config

    state = request.config.stash[_STATE]
    where = f"the {CONFIG_HOOKS_MARKER} marker of {request.node.nodeid}"
    if not marker_hooks:
        raise ServiceConfigError(f"{where} names no hooks; give it one or more hooks: @pytest.mark.{CONFIG_HOOKS_MARKER}(my_hook).")
    hooks = [_resolve_hook(request, where, hook, where) for hook in marker_hooks]
    key = tuple(id(hook) for _, hook in hooks)
    cached = state.marker_configs.get(key)
    if cached is not None:
        return cached[1]
    default = request.getfixturevalue("service_config")
    pipeline = state.pipeline
    if pipeline is not None and pipeline[4] is default:
        base, config_vars, session_hooks, source, _ = pipeline
    else:  # service_config is overridden: the marker's hooks patch its result
        base, config_vars, session_hooks = default, request.getfixturevalue("service_config_vars"), []
        source = "the service_config fixture"
    config = build_service_config(base, config_vars, [*session_hooks, *hooks], source=source)
    state.marker_configs[key] = ([hook for _, hook in hooks], config)  # keeps the ids valid
    return config


@pytest.fixture(scope="session")
def service_tmpdir(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private directory for this session (xdist worker): the patched config, the log.

    Override this to keep those files somewhere else.
    """
    early = pytestconfig.stash[_STATE].early_tmpdir
    return early if early is not None else tmp_path_factory.mktemp("wsservice")


@pytest.fixture(scope="session")
def service_config_path_temp(service_config: dict[str, Any], service_tmpdir: Path) -> Path:
    """The patched config written as YAML in the session's private temp dir.

    Override this to write it elsewhere (it must match ``service_config``).
    """
    from .config import write_service_config

    return write_service_config(service_config, service_tmpdir)


# --------------------------------------------------------------------------- fixtures: process


@pytest.fixture(scope="session")
def service_host() -> str:
    """The listener's address: ``127.0.0.1``. Override this to use ``::1`` instead."""
    return "127.0.0.1"


@pytest.fixture(scope="session")
def service_port(pytestconfig: pytest.Config, service_host: str) -> int:
    """The listener port: ``--service-port``, else a free port for this run and xdist worker.

    Override this to pick the port in code.
    """
    from .ports import free_port, worker_port

    url = _service_url(pytestconfig)
    if url is not None:
        return url.port
    setting = _setting(pytestconfig, "service-port")
    if setting is None:
        state = pytestconfig.stash[_STATE]
        early = state.early_port
        # The early start's port, so that the recipe built here matches the early one.
        port = early[1] if early is not None and early[0] == service_host else free_port(service_host)
        state.own_port = port  # ours to change if someone takes it first
        return port
    return _fixed_port(pytestconfig, setting)


def _fixed_port(pytestconfig: pytest.Config, setting: _Setting) -> int:
    from .ports import worker_port

    port = setting.number(int, "a port number from 1 to 65535", 1, 65535)
    try:
        return worker_port(port, _worker_id(pytestconfig))
    except ValueError as error:
        raise ServiceConfigError(f"{setting.origin} is {setting.value!r}: {error}.") from None


@pytest.fixture(scope="session")
def service_baseurl(pytestconfig: pytest.Config, service_config: dict[str, Any]) -> URL:
    """The service's base URL, a ``yarl.URL`` such as ``http://127.0.0.1:PORT/``.

    Taken from the patched config's listener (or ``--service-url``). Override this to
    reach it another way.
    """
    from yarl import URL

    from .config import listener_address

    url = _service_url(pytestconfig)
    if url is not None:
        return url
    host, port = listener_address(service_config)
    return URL.build(scheme="http", host=host, port=port, path="/")


def _service_url(config: pytest.Config) -> URL | None:
    """``--service-url`` as an ``http``/``https`` base URL ending in ``/``, or ``None``."""
    setting = _setting(config, "service-url")
    if setting is None:
        return None
    from yarl import URL

    try:
        url = URL(setting.value.strip())
        scheme = {"http": "http", "ws": "http", "https": "https", "wss": "https"}.get(url.scheme)
        valid = scheme is not None and bool(url.host) and url.port is not None
    except (ValueError, TypeError):
        valid = False
    if not valid:
        raise ServiceConfigError(
            f"{setting.origin} is {setting.value!r}; it should be the URL of a running service, such as "
            "http://127.0.0.1:8080/ or ws://localhost:8080/."
        )
    path = url.path if url.path.endswith("/") else url.path + "/"
    return url.with_scheme(scheme).with_path(path).with_query(None).with_fragment(None)


@pytest.fixture(scope="session")
def service_env() -> dict[str, str] | None:
    """Extra environment variables for the service, or ``None`` for none.

    The service inherits pytest's environment plus these. Override this to set some.
    """
    return None


@pytest.fixture(scope="session")
def service_log_level(pytestconfig: pytest.Config) -> str | None:
    """The default logger's level from ``--service-log-level``, or ``None`` to keep the config's.

    Override this to set the level in code.
    """
    return _default_log_level(pytestconfig)


def _default_log_level(pytestconfig: pytest.Config) -> str | None:
    from .config import LOG_LEVELS

    setting = _setting(pytestconfig, "service-log-level")
    if setting is None:
        return None
    level = setting.value.strip().lower()
    if level not in LOG_LEVELS:
        raise ServiceConfigError(f"{setting.origin} is {setting.value!r}; it should be one of {', '.join(LOG_LEVELS)}.")
    return level


@pytest.fixture(scope="session")
def service_logs_file(pytestconfig: pytest.Config, service_tmpdir: Path) -> Path:
    """The file that receives the service's stdout, stderr and log (appended).

    ``--service-logs-file``, else ``service.log`` in ``service_tmpdir``. Override this
    to keep the log elsewhere.
    """
    return _default_logs_file(pytestconfig, service_tmpdir)


def _default_logs_file(pytestconfig: pytest.Config, service_tmpdir: Path) -> Path:
    setting = _setting(pytestconfig, "service-logs-file")
    if setting is None:
        return service_tmpdir / "service.log"
    path = setting.path()
    worker = _worker_id(pytestconfig)
    return path.with_name(f"{path.stem}.{worker}{path.suffix}") if worker else path


@pytest.fixture(scope="session")
def service_command(pytestconfig: pytest.Config, service_config_path_temp: Path) -> list[str]:
    """The argv that starts the service with the patched config.

    ``--service-command`` split like a shell would (never run by one), with ``{config}``
    replaced by the patched config's path, or ``--config PATH`` appended without it.
    Default: ``python -m sample_service --config PATH`` with this interpreter.
    Override this to build the command in code.
    """
    return _default_command(pytestconfig, service_config_path_temp)


def _default_command(pytestconfig: pytest.Config, service_config_path_temp: Path) -> list[str]:
    config_path = str(service_config_path_temp)
    setting = _setting(pytestconfig, "service-command")
    if setting is None:
        return [sys.executable, "-m", "sample_service", "--config", config_path]
    try:
        argv = shlex.split(setting.value)
    except ValueError as error:
        raise ServiceConfigError(f"{setting.origin} cannot be split into arguments ({error}): {setting.value!r}.") from None
    if not argv:
        raise ServiceConfigError(f"{setting.origin} is empty; it should be the command that starts the service.")
    # A relative program path ("./build/service") is relative to where the option was given.
    if "/" in argv[0] and not Path(argv[0]).is_absolute():
        argv[0] = str(setting.base_dir / argv[0])
    if any("{config}" in arg for arg in argv):
        return [arg.replace("{config}", config_path) for arg in argv]
    return [*argv, "--config", config_path]


@pytest.fixture(scope="session")
def service_start_timeout(pytestconfig: pytest.Config) -> float:
    """Seconds to wait for the service to be ready: ``--service-start-timeout``, default 30.

    Override this to compute the deadline in code.
    """
    return _seconds(pytestconfig, "service-start-timeout", DEFAULT_START_TIMEOUT)


@pytest.fixture(scope="session")
def service_stop_timeout() -> float:
    """Seconds between SIGTERM and SIGKILL when the service is stopped (5).

    Override this for a service that needs longer to shut down.
    """
    return DEFAULT_STOP_TIMEOUT


@pytest.fixture(scope="session")
def _wsservice_recipe(
    pytestconfig: pytest.Config,
    service_command: list[str],
    service_env: dict[str, str] | None,
    service_config: dict[str, Any],
    service_config_path_temp: Path,
    service_baseurl: URL,
    service_logs_file: Path,
    service_tmpdir: Path,
    service_start_timeout: float,
    service_stop_timeout: float,
) -> ServiceRecipe:
    """How the plugin starts the service (its inputs, gathered); internal."""
    from .config import listener_address
    from .lifecycle import ServiceRecipe

    state = pytestconfig.stash[_STATE]
    port = listener_address(service_config)[1]
    setting = _setting(pytestconfig, "service-port")
    return ServiceRecipe(
        command=tuple(service_command),
        default_config=service_config,
        default_config_path=service_config_path_temp,
        default_base_url=service_baseurl,
        directory=service_config_path_temp.parent,
        log_path=service_logs_file,
        env=service_env,
        start_timeout=service_start_timeout,
        stop_timeout=service_stop_timeout,
        own_port=state.own_port if state.own_port == port else None,
        port_origin=setting.origin if setting is not None else "the service_port fixture or a config hook",
    )


@pytest.fixture(scope="session")
def _wsservice_services(pytestconfig: pytest.Config) -> Iterator[_State]:
    """Stops the session's services at its end and reports what went wrong; internal."""
    state = pytestconfig.stash[_STATE]
    yield state
    problems = state.close()
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise ServiceExitedError("\n\n".join(str(problem) for problem in problems))


def _services(request: pytest.FixtureRequest, state: _State) -> ServiceSession:
    """The session's ServiceSession, created with the first service."""
    if state.services is None:
        from .lifecycle import ServiceSession

        recipe = request.getfixturevalue("_wsservice_recipe")
        early, state.early = state.early, None  # the session adopts it, or stops it
        # With -s, show the log from the early service's first line.
        offset = early.starting.process.log_offset if early is not None and early.log_path == recipe.log_path else None
        state.services = ServiceSession(
            recipe, on_first_start=lambda: _on_first_start(request.config, state, recipe, offset), early=early
        )
    return state.services


def _on_first_start(config: pytest.Config, state: _State, recipe: ServiceRecipe, offset: int | None = None) -> None:
    _install_sigterm(state)
    # -s: show the service's log live (xdist workers' output is not shown anyway).
    if config.getoption("capture", None) == "no" and _worker_id(config) is None and state.follower is None:
        from .process import LogFollower

        try:
            offset = recipe.log_path.stat().st_size if offset is None else offset
        except OSError:
            offset = 0
        state.follower = LogFollower(recipe.log_path, sys.stderr, prefix="[service] ", offset=offset).start()


@pytest.fixture(scope="session")
def service_start(
    request: pytest.FixtureRequest, pytestconfig: pytest.Config, _wsservice_services: _State
) -> ServiceHandle:
    """Start the service once per session (per xdist worker), wait until ready; its handle.

    The session's *default* service: started with ``service_config`` by
    ``service_command``. The handle has ``pid``, ``host``, ``port``, ``base_url``,
    ``log_path``, ``config_path``, ``command`` and ``config``. If the service is later
    restarted (it died, or a test needed another config), this handle is out of date:
    tests and fixtures should use ``service_handle``, which is always current. At session
    end the running service's process group gets SIGTERM, then SIGKILL after
    ``service_stop_timeout`` seconds; an exit other than by that SIGTERM fails the
    teardown with the log tail. With ``--service-url`` nothing is started: the handle
    describes that service (``pid`` ``None``) once it answers.
    Override this to attach to a service started some other way.
    """
    url = _service_url(pytestconfig)
    if url is not None:
        return _external_service(request, url, _wsservice_services)
    services = _services(request, _wsservice_services)
    handle = services.ensure(services.recipe.default_config, "the session")
    _wsservice_services.start_done = True
    return handle


def _external_service(request: pytest.FixtureRequest, url: URL, state: _State) -> ServiceHandle:
    """Wait until the service at ``url`` is ready (no process of ours): its handle."""
    import socket

    from .config import ping_path
    from .errors import ServiceStartTimeout
    from .process import ServiceHandle
    from .readiness import Probe, wait_until_ready

    if state.external is not None:
        return state.external
    config = request.getfixturevalue("service_config")
    timeout = request.getfixturevalue("service_start_timeout")
    assert url.host is not None and url.port is not None
    try:
        address = socket.getaddrinfo(url.host, url.port, type=socket.SOCK_STREAM)[0][4][0]
    except OSError as error:
        raise ServiceStartError(f"--service-url {url}: cannot resolve {url.host!r}: {error.strerror or error}.") from None
    path = ping_path(config) if url.scheme == "http" else None  # the probe speaks no TLS: TCP only
    if path is not None:
        path = url.path.rstrip("/") + path
    probe = Probe(str(address), url.port, path, host_header=f"{url.host}:{url.port}")
    result = wait_until_ready(poll=lambda: None, timeout=timeout, probe=probe)
    if result.outcome != "ready":
        raise ServiceStartTimeout(f"The service at --service-url {url} was not ready within {timeout:g} s; {result.detail}.")
    setting = _setting(request.config, "service-logs-file")
    state.external = ServiceHandle(
        pid=None, host=url.host, port=url.port, base_url=url, log_path=setting.path() if setting else None
    )
    return state.external


@pytest.fixture
def service_handle(request: pytest.FixtureRequest) -> Iterator[ServiceHandle]:
    """The running service this test talks to (function scope): a ``ServiceHandle``.

    ``websocket_client`` and ``service_client`` connect to it; request it (rather than
    ``service_start``) in fixtures that need the service's pid, port, URL or log path.
    It is the session's service, restarted first if it has exited or if this test's
    ``wsservice_config_hooks`` marker asks for another config. If the service exits
    during the test, the test errors at teardown with how it ended and its log tail, and
    the next test gets a new one.
    """
    state = request.config.stash[_STATE]
    item = request.node
    hooks = _marker_hooks(item)
    services = state.services
    # The common case, paid by every test: the plugin's service_start has run and this
    # test needs the default config, so only check that the service still runs (one
    # waitpid). The first test, marked tests and overrides take the general path.
    if hooks or services is None or not state.start_done or not _start_is_ours(request, state):
        services = _service_session(request, state, hooks)
        if services is None:
            yield request.getfixturevalue("service_start")  # started some other way (or --service-url)
            return
    config = _effective_config(request, hooks) if hooks else services.recipe.default_config
    log_path = services.recipe.log_path
    try:
        item.stash[_LOG_START] = (log_path, os.stat(log_path).st_size)
    except OSError:
        item.stash[_LOG_START] = (log_path, 0)
    handle = services.ensure(config, item.nodeid, warn=lambda message: item.warn(pytest.PytestWarning(message)))
    yield handle
    error = services.check_after(item.nodeid)
    if error is not None:
        raise error


def _service_session(request: pytest.FixtureRequest, state: _State, hooks: list[Any]) -> ServiceSession | None:
    """The session's services for ``service_handle``, starting the default one if the test
    needs it; ``None`` if ``service_start`` is overridden and hands out another service."""
    item = request.node
    request.getfixturevalue("_wsservice_services")  # stops the services at the session's end
    if hooks and _service_url(request.config) is not None:
        pytest.skip(
            f"{CONFIG_HOOKS_MARKER}: --service-url tests a service that is already running, whose config the "
            "plugin cannot change."
        )
    if not hooks or not _start_is_ours(request, state):
        # A marked test does not start the default service first: it would be replaced at once.
        handle = request.getfixturevalue("service_start")
        if state.services is None or not state.services.owns(handle):
            if hooks:
                raise ServiceConfigError(
                    f"{item.nodeid} has the {CONFIG_HOOKS_MARKER} marker, but service_start is overridden and does "
                    "not return the plugin's service, so the plugin cannot start one with other hooks."
                )
            return None
    return _services(request, state)


def _start_is_ours(request: pytest.FixtureRequest, state: _State) -> bool:
    """Whether the test sees the plugin's own ``service_start``; looked up once per module or class."""
    parent = request.node.parent
    ours = state.start_is_ours.get(parent)
    if ours is None:
        ours = state.start_is_ours[parent] = _is_ours(request, "service_start")
    return ours


def _is_ours(request: pytest.FixtureRequest, name: str) -> bool:
    """Whether the fixture ``name`` the test sees is this plugin's (not overridden)."""
    try:  # private API; if it moves, assume an override and take the slower, safe path
        definitions = request._fixturemanager.getfixturedefs(name, request.node)  # type: ignore[attr-defined]
        func = definitions[-1].func
    except Exception:
        return False
    return getattr(func, "__module__", None) == __name__


@pytest.fixture
def service_effective_config(service_handle: ServiceHandle, service_config: dict[str, Any]) -> Mapping[str, Any]:
    """The patched config of the service this test talks to (function scope).

    ``service_config`` plus this test's ``wsservice_config_hooks``, if any. Read values
    from here in tests that use the marker.
    """
    return service_handle.config if service_handle.config is not None else service_config


# --------------------------------------------------------------------------- fixtures: clients


@pytest.fixture(scope="session")
def websocket_timeout(pytestconfig: pytest.Config) -> float:
    """Default seconds for opening a WebSocket and for each ``recv``: ``--websocket-timeout`` (10).

    Override this to compute the deadline in code.
    """
    return _seconds(pytestconfig, "websocket-timeout", DEFAULT_WEBSOCKET_TIMEOUT)


@pytest.fixture(scope="session")
def service_client_timeout(websocket_timeout: float) -> float:
    """Default seconds for each request of ``service_client``: the ``websocket_timeout``.

    Override this to give HTTP requests their own deadline.
    """
    return websocket_timeout


@pytest.fixture
def websocket_client(service_handle: ServiceHandle, websocket_timeout: float) -> WebSocketClient:
    """A WebSocket client for the service: ``async with websocket_client.get('chat') as chat``.

    Function scope; it holds no connection until ``get()`` is entered, so it is bound
    to no event loop. Override this to connect somewhere else.
    """
    from .websocket import WebSocketClient

    return WebSocketClient(service_handle.base_url, timeout=websocket_timeout)


@pytest.fixture
def service_client(service_handle: ServiceHandle, service_client_timeout: float) -> ServiceClient:
    """An HTTP client for the service: ``response = await service_client.get('/ping')``.

    Function scope, bound to no event loop. Override this to connect somewhere else.
    """
    from .http import ServiceClient
    from .tests_control import TestsControl

    return ServiceClient(
        service_handle.base_url,
        timeout=service_client_timeout,
        log_path=service_handle.log_path,
        tests_control=TestsControl.for_handle(service_handle, timeout=service_client_timeout),
    )
