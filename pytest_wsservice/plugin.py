"""The pytest side of pytest-wsservice: options, fixtures and two hooks. Kept thin.

Each fixture names one step (config path -> vars -> hooks -> patched config -> process ->
clients) and hands its result to the next; the work is done in :mod:`.config`,
:mod:`.ports`, :mod:`.process` and :mod:`.readiness`, imported inside the fixtures so that
a pytest run which uses none of them pays nothing for PyYAML, yarl, websockets or aiohttp.
"""

from __future__ import annotations

import importlib.util
import inspect
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import pytest

from .errors import ServiceConfigError, ServiceExitedError, WsServiceError

if TYPE_CHECKING:
    from yarl import URL

    from .http import ServiceClient
    from .process import ServiceHandle
    from .websocket import WebSocketClient

#: Every fixture this plugin defines. A coroutine test that requests one of them (directly,
#: through ``usefixtures`` or through another fixture) is marked ``asyncio`` at collection.
PLUGIN_FIXTURES = frozenset(
    {
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
)

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


def pytest_configure(config: pytest.Config) -> None:
    registry = _ConfigHookRegistry()
    config.stash[_REGISTRY] = registry
    # pytest_plugin_registered is historic: the registry also sees conftests loaded earlier.
    config.pluginmanager.register(registry, "wsservice-config-hook-registry")


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
    return report


# --------------------------------------------------------------------------- fixtures: config


@pytest.fixture(scope="session")
def service_config_path(pytestconfig: pytest.Config) -> Path:
    """The static config's path (``--service-config``; default: the bundled sample service's).

    Override this to pick the config in code, for example per environment.
    """
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
    return build_service_config(
        service_config_yaml, service_config_vars, hooks, source=f"static config {service_config_path}"
    )


def _resolve_hook(request: pytest.FixtureRequest, source: str | None, hook: Any) -> tuple[str, Any]:
    from .config import describe_hook

    where = f"WSSERVICE_CONFIG_HOOKS in {source}" if source else "service_config_hooks"
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


@pytest.fixture(scope="session")
def service_tmpdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private directory for this session (xdist worker): the patched config, the log.

    Override this to keep those files somewhere else.
    """
    return tmp_path_factory.mktemp("wsservice")


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

    setting = _setting(pytestconfig, "service-port")
    if setting is None:
        return free_port(service_host)
    port = setting.number(int, "a port number from 1 to 65535", 1, 65535)
    try:
        return worker_port(port, _worker_id(pytestconfig))
    except ValueError as error:
        raise ServiceConfigError(f"{setting.origin} is {setting.value!r}: {error}.") from None


@pytest.fixture(scope="session")
def service_baseurl(service_config: dict[str, Any]) -> URL:
    """The service's base URL, a ``yarl.URL`` such as ``http://127.0.0.1:PORT/``.

    Taken from the patched config's listener. Override this to reach it another way.
    """
    from yarl import URL

    from .config import listener_address

    host, port = listener_address(service_config)
    return URL.build(scheme="http", host=host, port=port, path="/")


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
def service_start(
    service_command: list[str],
    service_env: dict[str, str] | None,
    service_config: dict[str, Any],
    service_config_path_temp: Path,
    service_baseurl: URL,
    service_logs_file: Path,
    service_start_timeout: float,
    service_stop_timeout: float,
) -> Iterator[ServiceHandle]:
    """Start the service once per session (per xdist worker), wait until ready; its handle.

    The handle has ``pid``, ``host``, ``port``, ``base_url``, ``log_path``,
    ``config_path`` and ``command``. At session end the service's process group gets
    SIGTERM, then SIGKILL after ``service_stop_timeout`` seconds; an exit other than by
    that SIGTERM (status 0 or the signal) fails the teardown with the log tail.
    Override this to attach to a service started some other way.
    """
    from .config import listener_address, ping_path
    from .process import ServiceProcess

    host, port = listener_address(service_config)
    process = ServiceProcess.start(
        service_command,
        log_path=service_logs_file,
        host=host,
        port=port,
        ping_path=ping_path(service_config),
        config_path=service_config_path_temp,
        base_url=service_baseurl,
        env=service_env,
        timeout=service_start_timeout,
    )
    try:
        yield process.handle
    finally:
        result = process.stop(grace=service_stop_timeout)
    if not result.clean:
        raise process.failure(ServiceExitedError, result.describe(service_stop_timeout), result.returncode)


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
def service_handle(service_start: ServiceHandle) -> ServiceHandle:
    """The running service this test talks to (function scope): a ``ServiceHandle``.

    ``websocket_client`` and ``service_client`` connect to it. Request it (rather than
    ``service_start``) in fixtures that need the service's pid, port, URL or log path.
    """
    return service_start


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

    return ServiceClient(service_handle.base_url, timeout=service_client_timeout)
