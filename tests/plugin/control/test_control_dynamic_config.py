"""Per-test dynamic config: the dynamic_config fixture and @pytest.mark.config (issue 6)."""
# ruff: noqa: E501  (long lines are expected messages and inner test sources, kept verbatim)

from __future__ import annotations

import pytest

from pytest_wsservice.errors import ServiceControlError
from tests.plugin.control.control_helpers import sample_dir


async def echo_of(websocket_client, text):
    async with websocket_client.get("chat") as chat:
        await chat.send(text)
        return await chat.recv()


async def test_set_values_takes_effect_before_it_returns(dynamic_config, websocket_client):
    """A prefix set with set_values is seen by the service's very next echo and by get()."""
    assert dynamic_config.get("WEBSOCKET_ECHO_PREFIX") == ""
    await dynamic_config.set_values({"WEBSOCKET_ECHO_PREFIX": "> "})
    assert dynamic_config.get("WEBSOCKET_ECHO_PREFIX") == "> "
    assert await echo_of(websocket_client, "hi") == "> hi"
    # Binary messages are echoed as they are: the prefix is for text.
    async with websocket_client.get("chat") as chat:
        await chat.send(b"\x00raw")
        assert await chat.recv() == b"\x00raw"


async def test_an_open_connection_sees_a_change_at_once(dynamic_config, websocket_client):
    """A connection opened before set_values echoes its next message with the new prefix."""
    async with websocket_client.get("chat") as chat:
        await chat.send("one")
        assert await chat.recv() == "one"
        await dynamic_config.set_values({"WEBSOCKET_ECHO_PREFIX": "[x] "})
        await chat.send("two")
        assert await chat.recv() == "[x] two"


def test_get_reads_the_values_the_service_started_with(dynamic_config):
    """get() returns the fallback file's values, a default for an unknown name, and a KeyError listing the names
    otherwise.
    """
    assert dynamic_config.get("USERVER_LOG_REQUEST") is True
    assert "WEBSOCKET_ECHO_PREFIX" in dynamic_config
    assert dynamic_config.get("NO_SUCH_VALUE", 42) == 42
    with pytest.raises(KeyError, match=r"no dynamic config value 'NO_SUCH_VALUE'; it has: .*WEBSOCKET_ECHO_PREFIX"):
        dynamic_config.get("NO_SUCH_VALUE")
    assert dynamic_config.get_values()["WEBSOCKET_ECHO_PREFIX"] == ""


async def test_a_refused_value_changes_nothing(dynamic_config, websocket_client):
    """An unknown name or a wrong JSON type is refused with a message naming it, and no value of the request is
    applied.
    """
    with pytest.raises(
        ServiceControlError, match=r"unknown dynamic config value 'WEBSOCKET_ECHO_PREFX'.*WEBSOCKET_ECHO_PREFIX"
    ) as refused:
        await dynamic_config.set_values({"WEBSOCKET_ECHO_PREFIX": "> ", "WEBSOCKET_ECHO_PREFX": "typo"})
    assert refused.value.status == 400
    with pytest.raises(ServiceControlError, match=r"'USERVER_LOG_REQUEST' must be a JSON boolean, got string"):
        await dynamic_config.set_values({"USERVER_LOG_REQUEST": "yes"})
    assert await echo_of(websocket_client, "hi") == "hi"
    with pytest.raises(TypeError, match=r"the value of WEBSOCKET_ECHO_PREFIX cannot be sent as JSON"):
        await dynamic_config.set_values({"WEBSOCKET_ECHO_PREFIX": object()})


@pytest.mark.config(WEBSOCKET_ECHO_PREFIX="marked: ")
async def test_marker_sets_values_for_the_test(websocket_client):
    """A test marked config(WEBSOCKET_ECHO_PREFIX=...) runs with that prefix without asking for dynamic_config."""
    assert await echo_of(websocket_client, "hi") == "marked: hi"


@pytest.mark.config(WEBSOCKET_ECHO_PREFIX="outer: ", USERVER_LOG_REQUEST=False)
class TestMarkerLayers:
    @pytest.mark.config(WEBSOCKET_ECHO_PREFIX="inner: ")
    async def test_closest_marker_wins(self, dynamic_config, websocket_client):
        """Markers on a class and on its method combine, and the method's value wins a name both set."""
        assert dynamic_config.get("WEBSOCKET_ECHO_PREFIX") == "inner: "
        assert dynamic_config.get("USERVER_LOG_REQUEST") is False
        assert await echo_of(websocket_client, "hi") == "inner: hi"


# One inner run: a failing test changes values, a marked test changes others, and every
# test after them sees the service's original values. Run under every loop scope, since
# the restore must not depend on an event loop.
RESTORE_SUITE = """
import pytest

from tests.plugin.control.control_helpers import sample_dir

async def echo(websocket_client, text):
    async with websocket_client.get("chat") as chat:
        await chat.send(text)
        return await chat.recv()

async def test_1_fails_after_changing_values(dynamic_config, websocket_client):
    await dynamic_config.set_values({"WEBSOCKET_ECHO_PREFIX": "leak: ", "USERVER_LOG_REQUEST": False})
    assert await echo(websocket_client, "x") == "leak: x"
    assert False, "this test fails on purpose"

async def test_2_sees_the_original_values(dynamic_config, websocket_client):
    assert dynamic_config.get("WEBSOCKET_ECHO_PREFIX") == ""
    assert dynamic_config.get("USERVER_LOG_REQUEST") is True
    assert await echo(websocket_client, "x") == "x"

@pytest.mark.config(WEBSOCKET_ECHO_PREFIX="marker: ")
async def test_3_marked(websocket_client):
    assert await echo(websocket_client, "x") == "marker: x"
    raise RuntimeError("a marked test that fails")

async def test_4_without_the_fixture_sees_the_original_values(websocket_client):
    assert await echo(websocket_client, "x") == "x"
"""


@pytest.mark.parametrize("loop_scope", ["function", "module", "session"])
def test_values_are_restored_after_each_test_even_a_failed_one(control_project, loop_scope):
    """Values set by a failing test or by a marker are back to the originals for the next test, whatever the loop
    scope.
    """
    control_project.makeini(
        f"[pytest]\nasyncio_default_fixture_loop_scope = function\nasyncio_default_test_loop_scope = {loop_scope}\n"
    )
    control_project.makepyfile(test_restore=RESTORE_SUITE)
    result = control_project.runpytest_inprocess("-v")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*test_1_fails_after_changing_values FAILED*",
            "*test_2_sees_the_original_values PASSED*",
            "*test_3_marked FAILED*",
            "*test_4_without_the_fixture_sees_the_original_values PASSED*",
        ]
    )


def test_unmarked_coroutine_test_with_only_dynamic_config_runs_in_strict_mode(control_project):
    """An async test without an asyncio marker that asks only for dynamic_config runs (strict mode) and can await
    set_values.
    """
    control_project.makepyfile(
        """
        async def test_only_dynamic_config(dynamic_config):
            await dynamic_config.set_values({"WEBSOCKET_ECHO_PREFIX": "s "})
            assert dynamic_config.get("WEBSOCKET_ECHO_PREFIX") == "s "
        """
    )
    control_project.runpytest_inprocess().assert_outcomes(passed=1)


def test_marker_with_an_unknown_name_errors_in_setup(control_project):
    """A marker naming an unknown value fails the test's setup with one line naming the marker, the test and the value."""
    control_project.makepyfile(
        """
        import pytest

        @pytest.mark.config(NO_SUCH_VALUE=1)
        def test_marked():
            pass
        """
    )
    result = control_project.runpytest_inprocess()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ServiceControlError: tests-control at http://127.0.0.1:*/tests/control refused it: unknown dynamic config "
            "value 'NO_SUCH_VALUE'; the known values are: *WEBSOCKET_ECHO_PREFIX (while setting NO_SUCH_VALUE for "
            "@pytest.mark.config on test_marker_with_an_unknown_name_errors_in_setup.py::test_marked).",
        ]
    )


def test_marker_is_registered(control_project):
    """The config marker is listed by pytest --markers, so --strict-markers accepts it."""
    result = control_project.runpytest_inprocess("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.config(NAME=value, ...): set these dynamic config values*"])
    control_project.makepyfile(
        """
        import pytest

        @pytest.mark.config(WEBSOCKET_ECHO_PREFIX="a")
        def test_marked(dynamic_config):
            assert dynamic_config.get("WEBSOCKET_ECHO_PREFIX") == "a"
        """
    )
    control_project.runpytest_inprocess("--strict-markers").assert_outcomes(passed=1)


def without_tests_control(components):
    del components["tests-control"]


MISSING_COMPONENT_SUITE = """
import pytest

from tests.plugin.control.control_helpers import sample_dir

def test_fixture(dynamic_config):
    pass

@pytest.mark.config(WEBSOCKET_ECHO_PREFIX="> ")
def test_marker():
    pass

async def test_capture(service_client):
    async with service_client.capture_logs():
        pass

async def test_capture_without_flush(service_client, websocket_client):
    async with service_client.capture_logs(flush=False) as capture:
        async with websocket_client.get("chat") as chat:
            await chat.send("no flush needed")
            await chat.recv()
    assert capture.select(text="connection closed")
"""


def test_clear_error_without_the_tests_control_component(control_project, write_sample_config):
    """Without a tests-control section, the fixture, the marker and capture_logs each fail with one paragraph naming
    the config file and what to add.
    """
    config = write_sample_config(without_tests_control)
    control_project.makepyfile(test_missing=MISSING_COMPONENT_SUITE)
    result = control_project.runpytest_inprocess(f"--service-config={config}", "-rA")
    result.assert_outcomes(passed=1, failed=1, errors=2)
    add = (
        "Add it under components_manager.components in the file you pass with --service-config: "
        "'tests-control: {path: /tests/control, method: POST, load-enabled: true}'*"
    )
    result.stdout.fnmatch_lines(
        [
            f"*ServiceControlError: the dynamic_config fixture needs the service's tests-control component, but the "
            f"static config the service runs with ({config}) has no components_manager.components.tests-control "
            f"section. {add}",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            f"*ServiceControlError: @pytest.mark.config on test_missing.py::test_marker needs the service's tests-control component*{add}"
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*ServiceControlError: service_client.capture_logs() needs the service's tests-control component, but the "
            "static config the service runs with (*) has no components_manager.components.tests-control section. "
            f"{add}Or pass capture_logs(flush=False) to read the log file without flushing it first.",
        ]
    )


def test_load_enabled_false_counts_as_missing(control_project):
    """A tests-control section that a user's hook turns off (load-enabled: false, after the plugin turned it on) is
    reported as such, and the service serves no tests-control path.
    """
    control_project.makeconftest(
        """
        pytest_plugins = ['pytest_wsservice']

        def disable(config, config_vars):
            config["components_manager"]["components"]["tests-control"]["load-enabled"] = False

        WSSERVICE_CONFIG_HOOKS = [disable]
        """
    )
    control_project.makepyfile(
        """
        async def test_fixture(dynamic_config):
            pass

        async def test_no_route(service_client):
            response = await service_client.post("/tests/control", json={})
            assert response.status == 404
        """
    )
    result = control_project.runpytest_inprocess()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*the static config the service runs with (*) has load-enabled: false in its components_manager.components.tests-control section.*"
        ]
    )


@pytest.fixture
def running_service(tmp_path, scaled):
    """A sample service started by the test itself, as a container would run it."""
    import sys

    import yaml

    from pytest_wsservice.service.config import (
        MakePathsAbsolute,
        PatchListener,
        build_service_config,
        write_service_config,
    )
    from pytest_wsservice.service.ports import free_port
    from pytest_wsservice.service.process import ServiceProcess

    port = free_port()
    config = build_service_config(
        yaml.safe_load((sample_dir() / "static_config.yaml").read_text()),
        {},
        [("paths", MakePathsAbsolute(sample_dir())), ("listener", PatchListener("127.0.0.1", port))],
    )
    # A test config, as the container's would be: tests-control on (open: no secret).
    config["components_manager"]["components"]["tests-control"]["load-enabled"] = True
    path = write_service_config(config, tmp_path)
    command = [sys.executable, "-m", "sample_service", "--config", str(path)]
    with ServiceProcess.start(
        command, log_path=tmp_path / "running.log", port=port, ping_path="/ping", timeout=scaled(20)
    ) as service:
        yield service


def test_service_url_gets_dynamic_config_from_the_static_config(control_project, running_service):
    """With --service-url the fixture finds tests-control through --service-config, and capture_logs says why it cannot
    flush.
    """
    control_project.makepyfile(
        """
        import pytest

        from pytest_wsservice.errors import ServiceControlError

        @pytest.mark.config(WEBSOCKET_ECHO_PREFIX="remote ")
        async def test_marker(websocket_client):
            async with websocket_client.get("chat") as chat:
                await chat.send("x")
                assert await chat.recv() == "remote x"

        async def test_capture(service_client, websocket_client):
            with pytest.raises(ServiceControlError) as error:
                service_client.capture_logs()
            assert "did not start this service (--service-url). Or pass capture_logs(flush=False)" in str(error.value)
            async with service_client.capture_logs(flush=False) as capture:
                async with websocket_client.get("chat") as chat:
                    await chat.send("y")
                    assert await chat.recv() == "y"
            assert capture.select(level="DEBUG", text="data='y'")
        """
    )
    url = f"--service-url=http://127.0.0.1:{running_service.handle.port}/"
    result = control_project.runpytest_inprocess(url, f"--service-logs-file={running_service.log_path}")
    result.assert_outcomes(passed=2)
    log = running_service.log_path.read_text()
    assert 'dynamic config changed: {"set": {"WEBSOCKET_ECHO_PREFIX": "remote "}}' in log
    assert 'dynamic config changed: {"replace": {' in log
