"""The service fixtures: the rest of the default recipe, the session's services, the handle.

Each fixture is one step of :func:`pytest_wsservice.service.recipe.build_recipe` and hands
its result to the next; ``_wsservice_recipe`` gathers them into the
:class:`~pytest_wsservice.service.recipe.ServiceRecipe` that the session's
:class:`~pytest_wsservice.service.session.ServiceSession` starts services from.
``service_handle`` is the per-test path: one ``waitpid`` in the common case.
Imports nothing heavy at module level.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ..errors import ServiceConfigError, ServiceExitedError, ServiceStartError
from ..service import recipe
from .config import CONFIG_HOOKS_MARKER, effective_config, is_ours, marker_hooks
from .progress import describe_start, waiting_for_service
from .settings import settings_of
from .state import LOG_START, STATE, EarlyPlan, PluginState

if TYPE_CHECKING:
    from yarl import URL

    from ..service.handle import ServiceHandle
    from ..service.recipe import ServiceRecipe, Settings
    from ..service.session import ServiceSession
    from ..service.tls import TlsFiles


def pytest_configure(config: pytest.Config) -> None:
    config.stash[STATE] = PluginState()


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    state = session.config.stash.get(STATE, None)
    if state is not None:
        state.session = session


def pytest_unconfigure(config: pytest.Config) -> None:
    # The session's service got SIGTERM at its end and pytest has printed its report
    # meanwhile: collect how it ended now (same deadline), and report a bad exit. Else,
    # a last resort: teardown normally stops everything; if it was cut short (a second
    # Ctrl-C), do not leave the service running until pytest's process is gone.
    state = config.stash.get(STATE, None)
    if state is None:
        return
    session, state.session = state.session, None
    stopping, state.stopping = state.stopping, False
    problems = state.close(recipe.DEFAULT_STOP_TIMEOUT)
    if stopping and problems:
        _report_late(config, session, problems)


def _report_late(config: pytest.Config, session: pytest.Session | None, problems: list[ServiceStartError]) -> None:
    """Report problems found after pytest's summary: on the terminal, and in the exit status."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    lines = [f"{type(problem).__module__}.{type(problem).__name__}: {problem}" for problem in problems]
    if reporter is not None:
        reporter.write_sep("=", "ERROR at the end of the session: stopping the service", red=True)
        for line in lines:
            reporter.write_line(line)
    else:
        sys.stderr.write("\n".join(["ERROR at the end of the session: stopping the service", *lines, ""]))
    if session is not None and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def service_url(settings: Settings) -> URL | None:
    """``--service-url`` as the base URL (``http``/``https``, ending in ``/``), or ``None``."""
    from ..service.handle import parse_service_url

    if settings.service_url is None:
        return None
    url = parse_service_url(settings.service_url)
    if url is None:
        raise ServiceConfigError(
            f"{settings.origin('service-url')} is {settings.service_url!r}; it should be the URL of a running "
            "service, such as http://127.0.0.1:8080/ or ws://localhost:8080/."
        )
    return url


# --------------------------------------------------------------------------- fixtures: the recipe


@pytest.fixture(scope="session")
def service_host() -> str:
    """The listener's address: ``127.0.0.1``. Override this to use ``::1`` instead."""
    return recipe.DEFAULT_HOST


@pytest.fixture(scope="session")
def _wsservice_free_port(
    pytestconfig: pytest.Config, service_host: str, _wsservice_early: EarlyPlan | None
) -> int | None:
    """The port the plugin picks itself (and may change), or ``None`` if it is fixed; internal."""
    settings = settings_of(pytestconfig)
    if settings.service_url is not None or settings.require("service-port").port is not None:
        return None
    early = _wsservice_early
    # The early start's port, so that the recipe built here matches the early one.
    if early is not None and early.port is not None and early.host == service_host:
        return early.port
    from ..service.ports import free_port

    return free_port(service_host)


@pytest.fixture(scope="session")
def service_port(pytestconfig: pytest.Config, _wsservice_free_port: int | None) -> int:
    """The listener port: ``--service-port``, else a free port for this run and xdist worker.

    Override this to pick the port in code.
    """
    settings = settings_of(pytestconfig)
    url = service_url(settings)
    if url is not None:
        assert url.port is not None
        return url.port
    port = _wsservice_free_port if _wsservice_free_port is not None else settings.port
    assert port is not None
    return port


@pytest.fixture(scope="session")
def service_tls(pytestconfig: pytest.Config, service_tmpdir: Path) -> TlsFiles | None:
    """With ``--service-tls``, the run's TLS files (in ``service_tmpdir / 'tls'``), else ``None``.

    A ``TlsFiles``: ``cert_chain``, ``private_key``, ``ca_cert`` (a CA made for this run
    only) and ``client_context()``, an ``ssl.SSLContext`` trusting that CA alone.
    """
    from ..service.configless import session_tls

    settings = settings_of(pytestconfig)
    enabled = settings.service_url is None and settings.require("service-tls").tls
    return session_tls(enabled, service_tmpdir)


def _listener(request: pytest.FixtureRequest, settings: Settings) -> tuple[str, int]:
    """The default service's host and port: the patched config's listener, or for a
    configless service ``service_host`` and ``service_port``."""
    if settings.configless:
        return request.getfixturevalue("service_host"), request.getfixturevalue("service_port")
    from ..service.config import listener_address

    return listener_address(request.getfixturevalue("service_config"))


@pytest.fixture(scope="session")
def service_baseurl(request: pytest.FixtureRequest, pytestconfig: pytest.Config, service_tls: TlsFiles | None) -> URL:
    """The service's base URL, a ``yarl.URL`` such as ``http://127.0.0.1:PORT/``.

    Taken from the patched config's listener (``service_host`` and ``service_port`` for
    a configless service), or ``--service-url``; ``https`` with ``--service-tls``.
    Override this to reach it another way.
    """
    from ..service.handle import build_base_url

    settings = settings_of(pytestconfig)
    url = service_url(settings)
    if url is not None:
        return url
    return build_base_url(*_listener(request, settings), scheme="https" if service_tls else "http")


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
    return settings_of(pytestconfig).require("service-log-level").log_level


@pytest.fixture(scope="session")
def service_logs_file(pytestconfig: pytest.Config, service_tmpdir: Path) -> Path:
    """The file that receives the service's stdout, stderr and log (appended).

    ``--service-logs-file``, else ``service.log`` in ``service_tmpdir``. Override this
    to keep the log elsewhere.
    """
    return recipe.logs_file(settings_of(pytestconfig), service_tmpdir)


@pytest.fixture(scope="session")
def service_command(
    request: pytest.FixtureRequest, pytestconfig: pytest.Config, service_tmpdir: Path, service_tls: TlsFiles | None
) -> list[str]:
    """The argv that starts the service.

    ``--service-command`` split like a shell would (never run by one), with its
    placeholders (``{host}``, ``{port}``, ``{config}``, ``{tmpdir}``, ``{tls_*}``) replaced;
    with a static config and no placeholder, ``--config PATH`` is appended.
    Default: ``python -m sample_service --config PATH`` with this interpreter.
    Override this to build the command in code (it is then used as it is, and not
    rendered again when the service moves to another port).
    """
    from ..service.command import CommandTemplate

    settings = settings_of(pytestconfig)
    path = None if settings.configless else request.getfixturevalue("service_config_path_temp")
    template = CommandTemplate.for_settings(settings, service_tmpdir, service_tls)
    return template.render(*_listener(request, settings), path)[0]


@pytest.fixture(scope="session")
def service_start_timeout(pytestconfig: pytest.Config) -> float:
    """Seconds to wait for the service to be ready: ``--service-start-timeout``, default 30.

    Override this to compute the deadline in code.
    """
    return settings_of(pytestconfig).require("service-start-timeout").start_timeout


@pytest.fixture(scope="session")
def service_stop_timeout() -> float:
    """Seconds between SIGTERM and SIGKILL when the service is stopped (5).

    Override this for a service that needs longer to shut down.
    """
    return recipe.DEFAULT_STOP_TIMEOUT


@pytest.fixture(scope="session")
def _wsservice_recipe(
    request: pytest.FixtureRequest,
    pytestconfig: pytest.Config,
    service_command: list[str],
    service_env: dict[str, str] | None,
    service_tmpdir: Path,
    service_tls: TlsFiles | None,
    service_baseurl: URL,
    service_logs_file: Path,
    service_start_timeout: float,
    service_stop_timeout: float,
    _wsservice_free_port: int | None,
) -> ServiceRecipe:
    """How the plugin starts the service (its inputs, gathered); internal."""
    from ..service.command import CommandTemplate

    settings = settings_of(pytestconfig)
    if settings.configless:
        from ..service.configless import listener_config

        config, config_path = listener_config(*_listener(request, settings)), None
    else:
        config = request.getfixturevalue("service_config")
        config_path = request.getfixturevalue("service_config_path_temp")
    return recipe.make_recipe(
        settings,
        command=service_command,
        config=config,
        config_path=config_path,
        template=CommandTemplate.for_settings(settings, service_tmpdir, service_tls),
        tls=service_tls,
        base_url=service_baseurl,
        log_path=service_logs_file,
        env=service_env,
        start_timeout=service_start_timeout,
        stop_timeout=service_stop_timeout,
        own_port=_wsservice_free_port,
    )


# --------------------------------------------------------------------------- fixtures: the services


@pytest.fixture(scope="session")
def _wsservice_services(pytestconfig: pytest.Config) -> Iterator[PluginState]:
    """Stops the session's services at its end and reports what went wrong; internal."""
    state = pytestconfig.stash[STATE]
    yield state
    # Not under xdist: a worker's late report would not reach the controller. Not with
    # pytest-cov: the service writes its coverage data as it exits, before the report.
    measuring = pytestconfig.pluginmanager.has_plugin("_cov") and bool(getattr(pytestconfig.option, "cov_source", None))
    if settings_of(pytestconfig).worker_id is None and not measuring and state.begin_close():
        return  # SIGTERM sent: pytest reports while the service exits; pytest_unconfigure collects it
    problems = state.close(recipe.DEFAULT_STOP_TIMEOUT)
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise ServiceExitedError("\n\n".join(str(problem) for problem in problems))


def _services(request: pytest.FixtureRequest, state: PluginState) -> ServiceSession:
    """The session's ServiceSession, created with the first service."""
    if state.services is None:
        from ..service.session import ServiceSession

        service_recipe: ServiceRecipe = request.getfixturevalue("_wsservice_recipe")
        early, state.early = state.early, None  # the session adopts it, or stops it
        # With -s, show the log from the early service's first line.
        offset = (
            early.starting.process.log_offset
            if early is not None and early.log_path == service_recipe.log_path
            else None
        )
        config = request.config
        state.services = ServiceSession(
            service_recipe,
            on_first_start=lambda: _on_first_start(config, state, service_recipe.log_path, offset),
            early=early,
        )
    return state.services


def _on_first_start(config: pytest.Config, state: PluginState, log_path: Path, offset: int | None = None) -> None:
    state.install_sigterm()
    # -s: show the service's log live (xdist workers' output is not shown anyway).
    if config.getoption("capture", None) == "no" and settings_of(config).worker_id is None and state.follower is None:
        from ..service.logfile import LogFollower

        try:
            offset = log_path.stat().st_size if offset is None else offset
        except OSError:
            offset = 0
        state.follower = LogFollower(log_path, sys.stderr, prefix="[service] ", offset=offset).start()


@pytest.fixture(scope="session")
def service_start(
    request: pytest.FixtureRequest, pytestconfig: pytest.Config, _wsservice_services: PluginState
) -> ServiceHandle:
    """Start the service once per session (per xdist worker), wait until ready; its handle.

    The session's *default* service: started with ``service_config`` by
    ``service_command``. The handle has ``pid``, ``host``, ``port``, ``base_url``,
    ``log_path``, ``config_path``, ``command`` and ``config``. If the service is later
    restarted (it died, or a test needed another config), this handle is out of date:
    tests and fixtures should use ``service_handle``, which is always current. At session
    end the running service's process group gets SIGTERM, then SIGKILL after
    ``service_stop_timeout`` seconds; pytest prints its report meanwhile, and an exit
    other than by that SIGTERM is reported after it, with the log tail, and fails the
    run. With ``--service-url`` nothing is started: the handle describes that service
    (``pid`` ``None``) once it answers.
    Override this to attach to a service started some other way.
    """
    url = service_url(settings_of(pytestconfig))
    if url is not None:
        return _external_service(request, url, _wsservice_services)
    services = _services(request, _wsservice_services)
    default = services.recipe.default_config
    with waiting_for_service(request.config, lambda: describe_start(default)):
        handle = services.ensure(default, "the session")
    _wsservice_services.start_done = True
    return handle


def _external_service(request: pytest.FixtureRequest, url: URL, state: PluginState) -> ServiceHandle:
    """Wait until the service at ``url`` is ready (no process of ours): its handle."""
    import socket

    from ..errors import ServiceStartTimeout
    from ..service.config import ping_path
    from ..service.handle import ServiceHandle
    from ..service.probe import Probe
    from ..service.startup import wait_until_ready

    if state.external is not None:
        return state.external
    settings = settings_of(request.config)
    timeout = request.getfixturevalue("service_start_timeout")
    assert url.host is not None and url.port is not None
    try:
        address = socket.getaddrinfo(url.host, url.port, type=socket.SOCK_STREAM)[0][4][0]
    except OSError as error:
        raise ServiceStartError(
            f"--service-url {url}: cannot resolve {url.host!r}: {error.strerror or error}."
        ) from None
    path = settings.require("service-ping").ping_path
    if path is None and not settings.configless:
        path = ping_path(request.getfixturevalue("service_config"))
    if path is not None:
        path = url.path.rstrip("/") + path
    tls = None
    if url.scheme == "https":  # trusts what the system trusts (SSL_CERT_FILE names another bundle)
        import ssl

        tls = ssl.create_default_context()
    probe = Probe(
        str(address),
        url.port,
        path,
        host_header=f"{url.host}:{url.port}",
        tls=tls,
        server_hostname=url.host,
        tls_hint="Its certificate must be trusted here: point SSL_CERT_FILE at a PEM file with its CA.",
    )
    result = wait_until_ready(poll=lambda: None, timeout=timeout, probe=probe)
    if result.outcome == "refused":
        origin = settings.origin("service-ping") or "the ping path"
        fix = f". Fix {origin} {path!r}" if "no such path" in result.detail else ""
        raise ServiceStartError(f"The service at --service-url {url} {result.detail.rstrip('.')}{fix}.")
    if result.outcome != "ready":
        raise ServiceStartTimeout(
            f"The service at --service-url {url} was not ready within {timeout:g} s; {result.detail}."
        )
    state.external = ServiceHandle(pid=None, host=url.host, port=url.port, base_url=url, log_path=settings.logs_file)
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
    state = request.config.stash[STATE]
    item = request.node
    hooks = marker_hooks(item)
    services = state.services
    # The common case, paid by every test: the plugin's service_start has run and this
    # test needs the default config, so only check that the service still runs (one
    # waitpid). The first test, marked tests and overrides take the general path.
    if hooks or services is None or not state.start_done or not _start_is_ours(request, state):
        services = _service_session(request, state, hooks)
        if services is None:
            yield request.getfixturevalue("service_start")  # started some other way (or --service-url)
            return
    config = effective_config(request, services, hooks) if hooks else services.recipe.default_config
    log_path = services.recipe.log_path
    try:
        item.stash[LOG_START] = (log_path, os.stat(log_path).st_size)
    except OSError:
        item.stash[LOG_START] = (log_path, 0)
    with waiting_for_service(request.config, lambda: describe_start(config)):
        handle = services.ensure(config, item.nodeid, warn=lambda message: item.warn(pytest.PytestWarning(message)))
    yield handle
    error = services.check_after(item.nodeid)
    if error is not None:
        raise error


def _service_session(request: pytest.FixtureRequest, state: PluginState, hooks: list[Any]) -> ServiceSession | None:
    """The session's services for ``service_handle``, starting the default one if the test
    needs it; ``None`` if ``service_start`` is overridden and hands out another service."""
    item = request.node
    request.getfixturevalue("_wsservice_services")  # stops the services at the session's end
    if hooks and settings_of(request.config).service_url is not None:
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


def _start_is_ours(request: pytest.FixtureRequest, state: PluginState) -> bool:
    """Whether the test sees the plugin's own ``service_start``; looked up once per module or class."""
    parent = request.node.parent
    ours = state.start_is_ours.get(parent)
    if ours is None:
        ours = state.start_is_ours[parent] = is_ours(request, "service_start")
    return ours


@pytest.fixture
def service_effective_config(service_handle: ServiceHandle, service_config: dict[str, Any]) -> Mapping[str, Any]:
    """The patched config of the service this test talks to (function scope).

    ``service_config`` plus this test's ``wsservice_config_hooks``, if any. Read values
    from here in tests that use the marker.
    """
    return service_handle.config if service_handle.config is not None else service_config
