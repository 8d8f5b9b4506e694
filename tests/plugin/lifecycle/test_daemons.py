"""A service that daemonizes, or starts a daemon, leaves nothing behind (issue 13.3).

Each run is a ``python -m pytest`` subprocess marked with a fresh environment mark; after it
ends, no process on the machine may carry that mark, setsid daemons included.
"""
# ruff: noqa: E501  (long lines are expected messages and inner sources, kept verbatim)

from __future__ import annotations

import json
import signal
import sys
import textwrap

from tests.plugin.lifecycle.lifecycle_helpers import InnerRun, assert_nothing_left, pid_alive, wait_for_file

# Forks, calls setsid, serves /ping in the grandchild, and exits in the parent once the
# daemon answers: the classic daemon. Every daemon it made appends its pid to $DAEMONS.
DAEMONIZING = """
import http.server, os, socket, sys, time, yaml

config = yaml.safe_load(open(sys.argv[1]))
port = config["components_manager"]["components"]["server"]["listener"]["port"]
if os.fork() > 0:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.01)
    print("daemon started", flush=True)
    sys.exit(0)
os.setsid()
if os.fork() > 0:
    os._exit(0)

class Ping(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()

server = http.server.HTTPServer(("127.0.0.1", port), Ping)
with open(os.environ["DAEMONS"], "a") as daemons:
    daemons.write(f"{os.getpid()}\\n")
server.serve_forever()
"""


def test_a_self_daemonizing_service_is_reported_and_killed(project, scaled):
    """The error says the service daemonized and names the listener's pid; no other port is tried (one daemon, not
    four); when the run ends, no process it started is left."""
    (project.path / "daemon.py").write_text(DAEMONIZING)
    daemons = project.path / "daemons"
    project.makeconftest(
        "pytest_plugins = ['pytest_wsservice']\n"
        "import pytest\n"
        "@pytest.fixture(scope='session')\n"
        f"def service_env():\n    return {{'DAEMONS': {str(daemons)!r}}}\n"
    )
    project.makepyfile("def test_it(service_handle):\n    pass\n")
    with InnerRun(project.path, "-p", "no:xdist", f"--service-command={sys.executable} daemon.py {{config}}") as run:
        status, output = run.finish(scaled(60))
        assert_nothing_left(run.mark, within=scaled(2.0))
    assert status == 1, output
    pids = daemons.read_text().split()
    assert len(pids) == 1, output  # no port retries
    assert (
        f"daemonized (its listener pid {pids[0]} left its process group): the plugin can neither watch nor stop a daemon, so it killed it. Run the service in the foreground"
        in output
    ), output
    assert "ServicePortInUse" not in output


# A foreground service (the sample) whose wrapper first starts a helper in a session of its own.
WRAPPER = f"""#!/bin/sh
setsid sleep 300 &
echo $! > "$DAEMON_FILE"
exec {sys.executable} -m sample_service --config "$1"
"""

# The daemon is checked alive from inside the test: once the test has written its state, the
# session may end (and kill the daemon) before the outer test looks.
INNER_TEST = """
import json, os, pathlib, time

import psutil

def test_it(service_handle, service_env):
    daemon = pathlib.Path(service_env['DAEMON_FILE'])
    deadline = time.monotonic() + 10
    while not daemon.read_text().strip():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    pid = int(daemon.read_text())
    alive = psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    pathlib.Path('state.tmp').write_text(json.dumps({{'daemon': pid, 'alive': alive}}))
    os.replace('state.tmp', 'state.json')
    {ending}
"""


def _daemon_run(project, scaled, ending: str, kill: bool) -> None:
    wrapper = project.path / "wrapper.sh"
    wrapper.write_text(WRAPPER)
    wrapper.chmod(0o755)
    daemon_file = project.path / "daemon.pid"
    daemon_file.write_text("")
    project.makeconftest(
        "pytest_plugins = ['pytest_wsservice']\n"
        "import pytest\n"
        "@pytest.fixture(scope='session')\n"
        f"def service_env():\n    return {{'DAEMON_FILE': {str(daemon_file)!r}}}\n"
    )
    project.makepyfile(test_inner=textwrap.dedent(INNER_TEST).format(ending=ending))
    with InnerRun(project.path, "-p", "no:xdist", f"--service-command={wrapper} {{config}}") as run:
        state = json.loads(wait_for_file(project.path / "state.json", scaled(30), run.process))
        assert state["alive"], state  # while the inner test ran
        if kill:
            run.signal(signal.SIGKILL)
        status, output = run.finish(scaled(30))
        assert status == (-signal.SIGKILL if kill else 0), output
        assert_nothing_left(run.mark, within=scaled(2.0))
    assert not pid_alive(state["daemon"])


def test_a_daemon_the_service_started_is_killed_at_the_end(project, scaled):
    """A process the service started in a session of its own (setsid) is gone when the session ends."""
    _daemon_run(project, scaled, "pass", kill=False)


def test_a_daemon_the_service_started_is_killed_when_pytest_is_killed(project, scaled):
    """Even when pytest is SIGKILLed, the orphan guard kills the service's daemon too."""
    _daemon_run(project, scaled, "time.sleep(60)", kill=True)
