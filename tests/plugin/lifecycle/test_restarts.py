"""Restarts: a service that dies during a test, and per-test config with the marker."""
# ruff: noqa: E501  (long lines are expected messages and inner test sources, kept verbatim)

from __future__ import annotations

import json


def records(path):
    """The JSON lines the inner tests appended, in the order they ran."""
    return [json.loads(line) for line in path.read_text().splitlines()]


RECORD = """
import json, pathlib

def record(name, handle, **more):
    with open({path!r}, 'a') as out:
        out.write(json.dumps(dict(name=name, pid=handle.pid, port=handle.port, **more)) + '\\n')
"""


def test_service_dying_during_a_test_is_reported_and_replaced(project, tmp_path):
    """A service killed during a test fails that test and errors its teardown with the signal and log tail; the next
    test gets a new service, and the summary counts the restart.
    """
    log = tmp_path / "records"
    project.makepyfile(
        test_inner=RECORD.format(path=str(log))
        + """
import os, signal, time
import psutil

async def test_kill(websocket_client, service_handle):
    record('kill', service_handle)
    async with websocket_client.get('chat') as chat:
        os.kill(service_handle.pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while psutil.Process(service_handle.pid).status() != psutil.STATUS_ZOMBIE:  # dead, not yet reaped
            assert time.monotonic() < deadline
            time.sleep(0.005)
        await chat.send('anyone there?')
        await chat.recv()

async def test_next(websocket_client, service_handle):
    record('next', service_handle)
    async with websocket_client.get('chat') as chat:
        await chat.send('hello again')
        assert await chat.recv() == 'hello again'
"""
    )
    # --tb=short: CPython 3.13.0 crashes when pytest reads the locals of the failed coroutine's
    # frames for a long traceback (python/cpython#125723, fixed in later 3.13 releases).
    result = project.runpytest_inprocess("-p", "no:xdist", "--tb=short")
    result.assert_outcomes(failed=1, passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_kill*",
            "pytest_wsservice.errors.ServiceExitedError: The service (pid *, command: *sample_service*) was killed by "
            "signal SIGKILL during test_inner.py::test_kill.",
            "Last * lines of its log *service.log:",
            "*listening on http://127.0.0.1:*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*- wsservice -*",
            "the service was restarted once:",
            "  test_inner.py::test_next: the service was killed by signal SIGKILL during test_inner.py::test_kill",
        ]
    )
    killed, after = records(log)
    assert killed["pid"] != after["pid"]


SMALL_HOOKS = """
import pytest

def small_payload(config, config_vars):
    chat = config['components_manager']['components']['websocket-handler']
    chat['max-remote-payload'] = chat['fragment-size'] = 10

def tiny_payload(config, config_vars):
    chat = config['components_manager']['components']['websocket-handler']
    chat['max-remote-payload'] = chat['fragment-size'] = 4

def payload(config):
    return config['components_manager']['components']['websocket-handler']['max-remote-payload']
"""


def test_marker_restarts_only_when_the_effective_config_changes(project, tmp_path):
    """Tests run in file order; neighbours with the same effective config share a service, and each change of config
    costs one restart.
    """
    log = tmp_path / "records"
    project.makepyfile(
        test_inner=RECORD.format(path=str(log))
        + SMALL_HOOKS
        + """
from websockets.exceptions import ConnectionClosedError

async def over_limit_closes_with_1009(websocket_client, size):
    async with websocket_client.get('chat') as chat:
        await chat.send('x' * size)
        assert await chat.recv() == 'x' * size
        await chat.send('x' * (size + 1))
        with pytest.raises(ConnectionClosedError):
            await chat.recv()
        assert chat.close_code == 1009

def test_default_1(service_handle, service_effective_config):
    record('default_1', service_handle, payload=payload(service_effective_config))

@pytest.mark.wsservice_config_hooks.with_args(small_payload)
async def test_small_1(service_handle, service_effective_config, websocket_client):
    record('small_1', service_handle, payload=payload(service_effective_config))
    await over_limit_closes_with_1009(websocket_client, 10)

@pytest.mark.wsservice_config_hooks.with_args(small_payload)
def test_small_2(service_handle, service_effective_config):
    record('small_2', service_handle, payload=payload(service_effective_config))

@pytest.mark.wsservice_config_hooks(tiny_payload, 'extra_hook')
async def test_tiny(service_handle, service_effective_config, websocket_client):
    record('tiny', service_handle, payload=payload(service_effective_config))
    await over_limit_closes_with_1009(websocket_client, 4)

def test_default_2(service_handle, service_effective_config, service_config):
    assert service_effective_config == service_config
    record('default_2', service_handle, payload=payload(service_effective_config))

def test_default_3(service_handle):
    record('default_3', service_handle)
"""
    )
    with open(project.path / "conftest.py", "a") as conftest:
        conftest.write(
            "\nimport pytest\n\n@pytest.fixture(scope='session')\ndef extra_hook():\n"
            "    return lambda config, config_vars: None\n"
        )
    result = project.runpytest_inprocess("-p", "no:xdist")
    result.assert_outcomes(passed=6)
    runs = records(log)
    assert [run["name"] for run in runs] == ["default_1", "small_1", "small_2", "tiny", "default_2", "default_3"]
    pids = {run["name"]: run["pid"] for run in runs}
    assert pids["small_1"] == pids["small_2"]
    assert pids["default_2"] == pids["default_3"]
    assert len({pids["default_1"], pids["small_1"], pids["tiny"], pids["default_2"]}) == 4
    assert [run.get("payload") for run in runs] == [100000, 10, 10, 4, 100000, None]
    result.stdout.fnmatch_lines(
        [
            "the service was restarted 3 times:",
            "  test_inner.py::test_small_1: it needs another config",
            "  test_inner.py::test_tiny: it needs another config",
            "  test_inner.py::test_default_2: it needs another config",
        ]
    )


def test_a_module_marker_groups_tests_into_one_restart(project, tmp_path):
    """A module-level marker gives its tests one service between them: the whole module costs a single restart."""
    log = tmp_path / "records"
    project.makepyfile(
        test_a_default=RECORD.format(path=str(log))
        + "\ndef test_one(service_handle):\n    record('a', service_handle)\n",
        test_b_small=RECORD.format(path=str(log))
        + SMALL_HOOKS
        + """
pytestmark = pytest.mark.wsservice_config_hooks.with_args(small_payload)

@pytest.mark.parametrize('n', range(4))
def test_small(service_handle, service_effective_config, n):
    record('b', service_handle, payload=payload(service_effective_config))
""",
    )
    result = project.runpytest_inprocess("-p", "no:xdist")
    result.assert_outcomes(passed=5)
    runs = records(log)
    assert [run["name"] for run in runs] == ["a", "b", "b", "b", "b"]
    assert len({run["pid"] for run in runs[1:]}) == 1 and runs[1]["pid"] != runs[0]["pid"]
    assert {run["payload"] for run in runs[1:]} == {10}
    result.stdout.fnmatch_lines(["the service was restarted once:"])


def test_marker_without_a_usable_hook_is_a_clear_error(project):
    """A marker entry that is not a hook, or a hook that fails, errors the test with one line naming the marker and the
    test.
    """
    project.makepyfile(
        test_inner="""
import pytest

def broken(config, config_vars):
    raise KeyError('websocket-handler')

@pytest.mark.wsservice_config_hooks(42)
def test_number(service_handle):
    pass

@pytest.mark.wsservice_config_hooks('no_such_fixture')
def test_missing_fixture(service_handle):
    pass

@pytest.mark.wsservice_config_hooks.with_args(broken)
def test_broken(service_handle):
    pass
"""
    )
    result = project.runpytest_inprocess("-p", "no:xdist")
    result.assert_outcomes(errors=3)
    result.stdout.fnmatch_lines(
        [
            "pytest_wsservice.errors.ServiceConfigError: the wsservice_config_hooks marker of test_inner.py::test_number "
            "holds a int (42); each entry should be a callable hook(config, config_vars) or the name of a fixture "
            "returning one.",
            "pytest_wsservice.errors.ServiceConfigError: the wsservice_config_hooks marker of "
            "test_inner.py::test_missing_fixture names fixture 'no_such_fixture', which does not exist; *",
            "pytest_wsservice.errors.ServiceConfigError: config hook test_inner.broken (in the wsservice_config_hooks "
            "marker of test_inner.py::test_broken) failed on static config *: KeyError: 'websocket-handler'",
        ]
    )


def test_marker_with_one_plain_function_gets_a_hint(project):
    """Writing the marker with a single plain function, which pytest takes as decorating that function, fails
    collection with a hint to use with_args.
    """
    project.makepyfile(
        test_inner="""
import pytest

def small_payload(config, config_vars):
    pass

@pytest.mark.wsservice_config_hooks(small_payload)
def test_it(service_handle):
    pass
"""
    )
    result = project.runpytest_inprocess("-p", "no:xdist")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*pytest takes @pytest.mark.wsservice_config_hooks(f) with a single plain function as decorating f*"
            "write @pytest.mark.wsservice_config_hooks.with_args(f)*",
        ]
    )


def test_first_test_with_a_marker_starts_only_its_own_service(project):
    """A session whose first test has the marker starts the service once, with the marker's config, not the default
    first.
    """
    project.makepyfile(
        test_inner=SMALL_HOOKS
        + """
@pytest.mark.wsservice_config_hooks.with_args(small_payload)
def test_small(service_handle, service_effective_config):
    assert payload(service_effective_config) == 10
    assert service_handle.log_path.read_text().count('listening on') == 1
"""
    )
    project.runpytest_inprocess("-p", "no:xdist").assert_outcomes(passed=1)


def test_service_dying_between_tests_is_warned_about_and_replaced(project):
    """A service that dies after a test's teardown check is replaced for the next test, which gets a warning saying how
    it ended.
    """
    project.makepyfile(
        test_inner="""
import os, signal, time
import psutil, pytest

@pytest.fixture
def kill_after_teardown(request):
    handles = []
    yield handles
    # Runs after service_handle's teardown (fixtures end in reverse order).
    os.kill(handles[0].pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while psutil.Process(handles[0].pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline
        time.sleep(0.005)

def test_first(kill_after_teardown, service_handle):
    kill_after_teardown.append(service_handle)

def test_second(service_handle):
    assert psutil.Process(service_handle.pid).status() != psutil.STATUS_ZOMBIE
"""
    )
    result = project.runpytest_inprocess("-p", "no:xdist")
    # Count our warnings only: an in-process run may add pytest's own assertion-rewrite notes.
    result.assert_outcomes(passed=2)
    assert result.stdout.str().count("was killed by signal SIGKILL between tests; starting a new one") == 1
    result.stdout.fnmatch_lines(
        [
            "*PytestWarning: the service (pid *) was killed by signal SIGKILL between tests; starting a new one for "
            "test_inner.py::test_second. Its log: *service.log",
            "the service was restarted once:",
            "  test_inner.py::test_second: the service was killed by signal SIGKILL between tests",
        ]
    )
