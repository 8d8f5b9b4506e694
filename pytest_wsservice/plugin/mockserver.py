"""The mockserver fixtures: ``mockserver_info``, ``mockserver`` and ``testpoint``.

::

    async def test_private(websocket_client, mockserver):
        @mockserver.json_handler('/auth')
        def auth(request):
            return {'user': 'ann'}

        async with websocket_client.get('private?token=t1') as chat:
            ...
        assert auth.next_call()['request'].json == {'token': 't1'}

The engine is :mod:`pytest_wsservice.mockserver`: one server per session (per xdist
worker) on 127.0.0.1 and a free port, on its own thread and event loop, so the fixtures
are sync and bind nothing to the test's loop, whatever its scope. It starts only in a
run that uses it: the first test (or config hook) that needs it starts it, and it stops
after the service, at the end of the session.

- ``mockserver`` is the per-test view: handlers registered in a test are gone after it. A
  request no handler took fails the test (right after its body, or at teardown at the
  latest) with the method and the path; the report of a failed test shows the
  mockserver's requests and every WebSocket upstream frame of the test.
- ``testpoint`` registers testpoint handlers. When a test of the run uses the
  mockserver and the service's static config has ``tests-control``, the plugin points
  ``tests-control.testpoint-url`` at the mockserver's ``/testpoint`` (with
  ``skip-unregistered-testpoints: true``), and before each WebSocket connection and HTTP
  request of the test it sends the service the names of the test's testpoints, as
  pytest_userver does.

Loaded as a plugin module by ``pytest_wsservice``; it imports nothing heavy until a
fixture is used.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ..clients.tests_control import TestsControl
    from ..mockserver import MockServer, MockserverInfo, MockserverSession, TestpointRegistry

#: The fixtures that mean a test uses the mockserver (the closure of a test's fixtures
#: counts, so a fixture of the user's that requests one of these counts too).
MOCKSERVER_FIXTURES = frozenset({"mockserver", "mockserver_info", "testpoint", "_wsservice_mockserver"})
#: Where the mockserver answers testpoint calls.
TESTPOINT_PATH = "/testpoint"
#: Seconds the mockserver has to start and to stop.
MOCKSERVER_START_TIMEOUT = 10.0
#: The title of the report section of a failed test.
REPORT_SECTION = "mockserver"
#: The name :class:`MockserverReports` is registered under.
REPORTS_PLUGIN = "wsservice-mockserver-reports"


class MockserverLauncher:
    """The run's mockserver, started on first use; and the config hook that needs it.

    The config hook is a callable (not a fixture), so that early start can build the
    default recipe before fixtures run: until collection finds a test that uses the
    mockserver it changes nothing, and nothing is started.
    """

    def __init__(self) -> None:
        self.used = False
        self._server: MockServer | None = None

    def __repr__(self) -> str:
        return "pytest_wsservice.plugin.mockserver.testpoint_url_hook"

    def server(self) -> MockServer:
        """The mockserver, started now if it is not running yet."""
        if self._server is None:
            from ..mockserver import MockServer

            server = MockServer(testpoint_path=TESTPOINT_PATH)
            server.start(timeout=MOCKSERVER_START_TIMEOUT)
            self._server = server
        return self._server

    def stop(self) -> None:
        """Stop the mockserver if it was started (the end of the session)."""
        server, self._server = self._server, None
        if server is not None:
            server.stop(timeout=MOCKSERVER_START_TIMEOUT)

    def config_hook(self, config: dict[str, Any], config_vars: dict[str, Any]) -> None:
        """Point ``tests-control.testpoint-url`` at the mockserver, in a run that uses it."""
        if not self.used:
            return
        manager = config.get("components_manager")
        components = manager.get("components") if isinstance(manager, Mapping) else None
        section = components.get("tests-control") if isinstance(components, Mapping) else None
        if not isinstance(section, dict):
            return
        section["testpoint-url"] = self.server().url(TESTPOINT_PATH)
        section["skip-unregistered-testpoints"] = True


class ConfigHookCarrier:
    """A plugin object that lists the launcher's config hook as ``WSSERVICE_CONFIG_HOOKS``."""

    def __init__(self, launcher: MockserverLauncher) -> None:
        self.WSSERVICE_CONFIG_HOOKS = [launcher.config_hook]


LAUNCHER = pytest.StashKey[MockserverLauncher]()
SESSION = pytest.StashKey["MockserverSession"]()
FAILED_ALREADY = pytest.StashKey[bool]()


def pytest_configure(config: pytest.Config) -> None:
    launcher = MockserverLauncher()
    config.stash[LAUNCHER] = launcher
    config.pluginmanager.register(ConfigHookCarrier(launcher), "wsservice-mockserver-config-hook")


@pytest.hookimpl(tryfirst=True)  # before early start looks at the first test that needs the service
def pytest_itemcollected(item: pytest.Item) -> None:
    launcher = item.config.stash.get(LAUNCHER, None)
    if (
        launcher is not None
        and not launcher.used
        and not MOCKSERVER_FIXTURES.isdisjoint(getattr(item, "fixturenames", ()))
    ):
        launcher.used = True


def pytest_sessionfinish(session: pytest.Session) -> None:
    # After the session fixtures, so after the service that called the mockserver stopped.
    launcher = session.config.stash.get(LAUNCHER, None)
    if launcher is not None:
        launcher.stop()


def problems_text(problems: list[str]) -> str:
    from ..mockserver import UnhandledRequestsError

    return str(UnhandledRequestsError(problems))


class MockserverReports:
    """The per-test hooks, registered by the first test that uses the mockserver: a run
    without it pays nothing per test."""

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Any:
        result = yield
        # Right after the test body: fail it for the requests no handler took.
        session = item.stash.get(SESSION, None)
        if session is not None:
            problems = session.problems
            if problems:
                item.stash[FAILED_ALREADY] = True
                pytest.fail(problems_text(problems), pytrace=False)
        return result

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        report = yield
        session = item.stash.get(SESSION, None)
        if session is not None and report.failed:
            text = session.report()
            if text:
                report.sections.append((f"Captured {REPORT_SECTION} {report.when}", text))
        return report


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def _wsservice_mockserver(pytestconfig: pytest.Config) -> MockServer:
    """The run's mockserver, started on first use; stopped at the end of the session."""
    launcher = pytestconfig.stash[LAUNCHER]
    launcher.used = True
    if not pytestconfig.pluginmanager.has_plugin(REPORTS_PLUGIN):
        pytestconfig.pluginmanager.register(MockserverReports(), REPORTS_PLUGIN)
    return launcher.server()


@pytest.fixture(scope="session")
def mockserver_info(_wsservice_mockserver: MockServer) -> MockserverInfo:
    """Where the mockserver listens: ``.url(path)``, ``.base_url``, ``.host``, ``.port``.

    Session scope: one mockserver per session (per xdist worker), on 127.0.0.1 and a free
    port. Config hooks use it to point the service's upstream URLs at the mockserver::

        @pytest.fixture(scope='session')
        def auth_url_hook(mockserver_info):
            def hook(config, config_vars):
                config_vars['auth_url'] = mockserver_info.url('/auth')
            return hook
    """
    return _wsservice_mockserver.info


@pytest.fixture
def mockserver(
    request: pytest.FixtureRequest, _wsservice_mockserver: MockServer, websocket_timeout: float
) -> Iterator[MockserverSession]:
    """The test's mockserver: ``handler``, ``json_handler``, ``make_response``, ``websocket``, ``url``.

    Function scope: what a test registers is gone after it. A request that no handler
    took gets a 500 and fails the test, naming its method and path. Waits default to
    ``websocket_timeout`` seconds.
    """
    server = _wsservice_mockserver
    leftover = server.session
    if leftover is not None:  # a session an interrupted test left behind
        leftover.close()
    session = server.new_session(default_timeout=websocket_timeout)
    request.node.stash[SESSION] = session
    yield session
    problems = session.close()
    if problems and not request.node.stash.get(FAILED_ALREADY, False):
        pytest.fail(problems_text(problems), pytrace=False)


class TestpointSync:
    """Sends the service the names of the test's testpoints when they changed."""

    __test__ = False

    def __init__(self, registry: TestpointRegistry, control: TestsControl) -> None:
        self._registry = registry
        self._control = control
        self._sent: list[str] = []

    async def __call__(self) -> None:
        from ..errors import ServiceControlError

        names = self._registry.enabled_names()
        if names != self._sent:
            failure = ""
            try:
                await self._control.request({"testpoints": names}, what=f"enabling testpoints {names}")
            except ServiceControlError as error:  # its message says it all: no traceback through the clients
                failure = f"{type(error).__name__}: {error}"
            if failure:
                pytest.fail(failure, pytrace=False)
            self._sent = names

    def reset_blocking(self) -> None:
        """Disable every testpoint the test enabled (its teardown); the service may be gone."""
        if self._sent:
            self._sent = []
            with contextlib.suppress(ConnectionError):  # the service is gone: nothing is enabled any more
                self._control.request_blocking({"testpoints": []}, what="disabling the test's testpoints")


@pytest.fixture
def testpoint(request: pytest.FixtureRequest, mockserver: MockserverSession) -> Iterator[TestpointRegistry]:
    """Testpoint handlers: ``@testpoint('name')`` registers ``handler(data)``, a call queue.

    Its return value is the answer sent back to the service. Before each WebSocket
    connection and HTTP request the test makes through ``websocket_client`` or
    ``service_client``, the registered names are sent to the service's tests-control,
    so register handlers before connecting.
    """
    registry = mockserver.testpoint
    clients = [name for name in ("websocket_client", "service_client") if name in request.fixturenames]
    sync: TestpointSync | None = None
    if clients:
        from ..clients.tests_control import TestsControl

        handle = request.getfixturevalue("service_handle")
        timeout = request.getfixturevalue("service_client_timeout")
        sync = TestpointSync(registry, TestsControl.for_handle(handle, timeout=timeout))
        for name in clients:
            callbacks = getattr(request.getfixturevalue(name), "before_request", None)
            if isinstance(callbacks, list):  # a client fixture the user overrode may have none
                callbacks.append(sync)
    yield registry
    if sync is not None:
        sync.reset_blocking()
