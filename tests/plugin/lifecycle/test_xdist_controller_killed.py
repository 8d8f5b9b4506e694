"""Under xdist, SIGKILL to the controller leaves no worker's service behind for long (issue 13.8).

The documentation promises that nothing of a run is left 2 s after pytest is killed; this
holds under ``-n 2`` too: each worker follows its controller (see
``pytest_wsservice.service.guard.follow_parent``).
"""

from __future__ import annotations

import signal
import time

from tests.plugin.lifecycle.lifecycle_helpers import InnerRun, assert_nothing_left, processes_of_run

INNER_TESTS = """
import pathlib, time
import pytest

@pytest.mark.parametrize("n", [0, 1])
def test_wait(service_handle, n, worker_id):
    pathlib.Path(f"up-{worker_id}").write_text(str(service_handle.pid))
    time.sleep(60)
"""


def test_killing_the_controller_leaves_nothing_within_2_s(project, scaled):
    project.makepyfile(test_wait=INNER_TESTS)
    with InnerRun(project.path, "-n", "2", "-p", "no:randomly") as run:
        deadline = time.monotonic() + scaled(60)
        while len(list(project.path.glob("up-gw*"))) < 2:
            assert run.process.poll() is None, run.finish(1)[1]
            assert time.monotonic() < deadline, "the workers' services did not start"
            time.sleep(0.01)
        assert len(processes_of_run(run.mark)) >= 5  # the controller, 2 workers, their services (and guards)
        run.signal(signal.SIGKILL)
        killed = time.monotonic()
        run.finish(scaled(10))
        assert_nothing_left(run.mark, within=scaled(2.0))
        print(f"nothing of the run left {time.monotonic() - killed:.2f} s after SIGKILL to the controller")
