"""Two sessions given one ``--service-logs-file`` do not mix their logs: the second gets a clear error (issue 13.6)."""
# ruff: noqa: E501  (long lines are expected messages, kept verbatim)

from __future__ import annotations

import fnmatch

from tests.plugin.lifecycle.lifecycle_helpers import BASE_INI, InnerRun, wait_for_file

HOLDING_TEST = """
import pathlib, time

def test_hold(service_handle):
    pathlib.Path('started').write_text('yes')
    deadline = time.monotonic() + 60
    while not pathlib.Path('release').exists() and time.monotonic() < deadline:
        time.sleep(0.01)
"""


def test_a_second_session_on_the_same_log_file_is_refused(project, pytester, scaled, tmp_path_factory):
    """While one session's service writes the log file, a second session given the same file fails its tests with
    one paragraph naming the file, the first session's pytest and what to do; the first session is unaffected."""
    log = tmp_path_factory.mktemp("shared") / "service.log"
    project.makepyfile(test_hold=HOLDING_TEST)
    second = tmp_path_factory.mktemp("second")
    (second / "pytest.ini").write_text(BASE_INI)
    (second / "conftest.py").write_text("pytest_plugins = ['pytest_wsservice']\n")
    (second / "test_other.py").write_text("def test_other(service_handle):\n    pass\n")
    with InnerRun(project.path, "-p", "no:xdist", f"--service-logs-file={log}") as first:
        wait_for_file(project.path / "started", scaled(30), first.process)
        with InnerRun(second, "-p", "no:xdist", f"--service-logs-file={log}") as other:
            status, output = other.finish(scaled(30))
        (project.path / "release").write_text("yes")
        first_status, first_output = first.finish(scaled(30))
    assert first_status == 0, first_output
    assert status == 1, output
    assert fnmatch.fnmatch(
        output,
        f"*pytest_wsservice.errors.ServiceStartError: cannot start the service: its log file {log} is in use by another "
        f"test session's service (locked by pid {first.process.pid} (*)). Two sessions writing one file would quote each "
        "other's lines in their reports: give each session its own --service-logs-file (or leave it out: each session "
        "then writes its own temp dir).*",
    ), output
