"""No orphans: however pytest ends, the service and what it started are gone within 2 s.

Each case runs a user's suite in a ``python -m pytest`` subprocess. The service is started
through a shell wrapper that leaves a grandchild (``sleep``) behind it, as real service
wrappers do. After the run ends, the test looks at every process on the machine and finds
none that carries the run's environment mark.
"""
# ruff: noqa: E501  (long lines are expected messages and inner test sources, kept verbatim)

from __future__ import annotations

import json
import signal
import textwrap

import pytest

from tests.plugin.lifecycle.lifecycle_helpers import (
    InnerRun,
    assert_nothing_left,
    pid_alive,
    wait_for_file,
    write_wrapper,
)

INNER_CONFTEST = """
import pytest
pytest_plugins = ['pytest_wsservice']

@pytest.fixture(scope='session')
def service_env(tmp_path_factory):
    return {'GRANDCHILD_FILE': str(tmp_path_factory.mktemp('grandchild') / 'pid')}

@pytest.fixture(scope='session')
def service_stop_timeout():
    return 1.0
"""

INNER_TEST = """
import json, os, pathlib, time

def test_service(service_handle, service_env):
    grandchild = pathlib.Path(service_env['GRANDCHILD_FILE'])
    deadline = time.monotonic() + 10
    while not (grandchild.exists() and grandchild.read_text().strip()):
        assert time.monotonic() < deadline, 'the wrapper did not record its grandchild'
        time.sleep(0.005)
    os.kill(int(grandchild.read_text()), 0)  # alive while the service runs
    state = {{'service': service_handle.pid, 'grandchild': int(grandchild.read_text()), 'log': str(service_handle.log_path)}}
    pathlib.Path('state.json').write_text(json.dumps(state))
    {ending}
"""

# How the inner test ends, and what pytest's exit status is then.
CASES = {
    "normal end": ("pass", None, 0),
    "failing tests": ("assert False, 'a failing test'", None, 1),
    "SIGINT": ("time.sleep(30)", signal.SIGINT, 2),
    "SIGTERM": ("time.sleep(30)", signal.SIGTERM, 128 + signal.SIGTERM),
    "SIGKILL": ("time.sleep(30)", signal.SIGKILL, -signal.SIGKILL),
    "SIGKILL to the process group": ("time.sleep(30)", "group", -signal.SIGKILL),
}


@pytest.mark.parametrize("case", list(CASES))
def test_nothing_is_left_when_pytest_ends(pytester, scaled, case):
    """Whether pytest ends normally, with failures, on SIGINT, SIGTERM, SIGKILL or SIGKILL to its group, no process of
    the run is left 2 s later.
    """
    ending, signum, expected_status = CASES[case]
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makeconftest(INNER_CONFTEST)
    pytester.makepyfile(test_inner=INNER_TEST.format(ending=ending))
    wrapper = write_wrapper(pytester.path)
    with InnerRun(
        pytester.path, "-p", "no:xdist", f"--service-command={wrapper} {{config}}", new_session=signum == "group"
    ) as run:
        state = json.loads(wait_for_file(pytester.path / "state.json", scaled(20), run.process))
        if signum is not None:
            assert pid_alive(state["service"]) and pid_alive(state["grandchild"])
        if signum == "group":
            run.signal(signal.SIGKILL, group=True)
        elif signum is not None:
            run.signal(signum)
        status, output = run.finish(scaled(20))
        assert status == expected_status, output
    assert_nothing_left(run.mark, within=2.0)
    assert not pid_alive(state["service"]) and not pid_alive(state["grandchild"])
    log = pytester.path.joinpath(state["log"]).read_text()
    if signum in (None, signal.SIGINT, signal.SIGTERM):
        # Teardown ran: the service was asked to stop, not killed.
        assert "SIGTERM received" in log, log
    if signum == signal.SIGTERM:
        assert "received SIGTERM: stopping the service and exiting" in output


def test_sigterm_handler_is_restored_and_a_users_handler_is_kept(project):
    """The plugin handles SIGTERM only while nobody else does, and puts the default back afterwards; a handler the user
    installed stays.
    """
    import signal as signal_module

    # This very suite may have a service running, with the plugin's handler installed.
    outer = signal_module.signal(signal_module.SIGTERM, signal_module.SIG_DFL)
    try:
        check_handlers(project, signal_module)
    finally:
        signal_module.signal(signal_module.SIGTERM, outer)


def check_handlers(project, signal_module):
    project.makepyfile(
        """
        import signal

        def test_ours(service_handle):
            assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
        """
    )
    project.runpytest_inprocess("-p", "no:xdist").assert_outcomes(passed=1)
    assert signal_module.getsignal(signal_module.SIGTERM) is signal_module.SIG_DFL

    def users_handler(signum, frame):
        pass

    signal_module.signal(signal_module.SIGTERM, users_handler)
    try:
        project.makepyfile(
            textwrap.dedent(
                """
                import signal

                def test_theirs(service_handle):
                    assert signal.getsignal(signal.SIGTERM).__name__ == 'users_handler'
                """
            )
        )
        project.runpytest_inprocess("-p", "no:xdist").assert_outcomes(passed=1)
        assert signal_module.getsignal(signal_module.SIGTERM) is users_handler
    finally:
        signal_module.signal(signal_module.SIGTERM, signal_module.SIG_DFL)
