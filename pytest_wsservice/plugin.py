"""The pytest side of pytest-wsservice: options, markers and the fixtures. Kept thin.

Each fixture names one step (config path -> vars -> hooks -> patched config -> process ->
clients) and hands its result to the next; the work is done in :mod:`.config`,
:mod:`.ports`, :mod:`.process` and :mod:`.readiness`, imported inside the fixtures so that
a pytest run which uses none of them pays nothing for PyYAML, yarl, websockets or aiohttp.
The options are read in :mod:`.options`; the other hooks live in their own plugin modules
(:mod:`.early`, :mod:`.asyncio_marking`, :mod:`.reporting`, :mod:`.runner_mode`), which
this module does not import: pytest imports them, so their asserts are rewritten.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping

import pytest

from .config_hooks import CONFIG_HOOKS_MARKER, _REGISTRY, _ConfigHookRegistry, _marker_hooks, _resolve_hook
from .errors import ServiceConfigError, ServiceExitedError, ServiceStartError
from .options import (
    _OPTIONS,
    DEFAULT_START_TIMEOUT,
    DEFAULT_STOP_TIMEOUT,
    DEFAULT_WEBSOCKET_TIMEOUT,
    _default_command,
    _default_config_hooks,
    _default_config_path,
    _default_config_vars,
    _default_config_yaml,
    _default_log_level,
    _default_logs_file,
    _early_start_enabled,
    _fixed_port,
    _seconds,
    _service_url,
    _setting,
    _worker_id,
)
from .signals import _install_sigterm
from .reporting import TRANSCRIPTS
from .state import _LOG_START, _STATE, _State

if TYPE_CHECKING:
    from yarl import URL

    from .http import ServiceClient
    from .lifecycle import ServiceRecipe, ServiceSession
    from .process import ServiceHandle
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


# --------------------------------------------------------------------------- fixtures: config


@pytest.fixture(scope="session")
def service_config_path(pytestconfig: pytest.Config) -> Path:
    """The static config's path (``--service-config``; default: the bundled sample service's).

    Override this to pick the config in code, for example per environment.
    """
    return _default_config_path(pytestconfig)


@pytest.fixture(scope="session")
def service_config_yaml(pytestconfig: pytest.Config, service_config_path: Path) -> dict[str, Any]:
    """The static config as written: the parsed YAML, before hooks and ``$vars``.

    Override this to build the config in code instead of reading a file.
    """
    return _default_config_yaml(pytestconfig, service_config_path)


@pytest.fixture(scope="session")
def service_config_vars(
    pytestconfig: pytest.Config, service_config_path: Path, service_config_yaml: dict[str, Any]
) -> dict[str, Any]:
    """The config vars, a dict: from ``--service-config-vars``, else the config's ``config_vars:``.

    Override this to supply vars in code; return ``{}`` for none.
    """
    return _default_config_vars(pytestconfig, service_config_path, service_config_yaml)


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


@pytest.fixture(scope="session")
def service_logs_file(pytestconfig: pytest.Config, service_tmpdir: Path) -> Path:
    """The file that receives the service's stdout, stderr and log (appended).

    ``--service-logs-file``, else ``service.log`` in ``service_tmpdir``. Override this
    to keep the log elsewhere.
    """
    return _default_logs_file(pytestconfig, service_tmpdir)


@pytest.fixture(scope="session")
def service_command(pytestconfig: pytest.Config, service_config_path_temp: Path) -> list[str]:
    """The argv that starts the service with the patched config.

    ``--service-command`` split like a shell would (never run by one), with ``{config}``
    replaced by the patched config's path, or ``--config PATH`` appended without it.
    Default: ``python -m sample_service --config PATH`` with this interpreter.
    Override this to build the command in code.
    """
    return _default_command(pytestconfig, service_config_path_temp)


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
def websocket_client(
    request: pytest.FixtureRequest, service_handle: ServiceHandle, websocket_timeout: float
) -> WebSocketClient:
    """A WebSocket client for the service: ``async with websocket_client.get('chat') as chat``.

    Function scope; it holds no connection until ``get()`` is entered, so it is bound
    to no event loop. Override this to connect somewhere else. The transcripts of the
    connections it opens go into the test's report if the test fails.
    """
    from .websocket import WebSocketClient

    client = WebSocketClient(service_handle.base_url, timeout=websocket_timeout)
    request.node.stash[TRANSCRIPTS] = client.transcripts
    return client


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
