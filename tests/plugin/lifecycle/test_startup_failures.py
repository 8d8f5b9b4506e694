"""Start-up failures, one test per row of the issue's table, plus the port-identity check.

Ports are the delicate row. A *squatter* (a tiny HTTP server that answers 200 to
everything, in a session of its own) takes the service's port in a few ways: before the
start, or from inside the first start attempt (as another xdist worker's service would,
between the plugin's pick and the service's bind).
"""
# ruff: noqa: E501  (long lines are expected messages and inner test sources, kept verbatim)

from __future__ import annotations

import fnmatch
import os
import shlex
import signal
import socket
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pytest_wsservice.errors import ServiceStartTimeout
from pytest_wsservice.service.ports import free_port
from pytest_wsservice.service.process import ServiceProcess
from tests.plugin.lifecycle.lifecycle_helpers import pid_alive

SQUATTER = """
import http.server, sys

class Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass

http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Answer).serve_forever()
"""

# The first attempt starts a squatter on the service's port, then either exits the way a
# service that cannot bind does ("exit") or stays up without listening ("answer"), so that
# the squatter answers the probe. Any later attempt is the real sample service.
STAND_IN = """
import os, socket, subprocess, sys, time, yaml

config_path = sys.argv[1]
listener = yaml.safe_load(open(config_path))["components_manager"]["components"]["server"]["listener"]
first_attempt = os.environ["FIRST_ATTEMPT_FILE"]
if os.path.exists(first_attempt) and os.environ["MODE"] != "always answer":
    os.execv(sys.executable, [sys.executable, "-m", "sample_service", "--config", config_path])
open(first_attempt, "w").write(str(listener["port"]))
# A foreign process: without the service's mark, which would make it one of the service's daemons.
foreign_env = {key: value for key, value in os.environ.items() if key != "WSSERVICE_INSTANCE"}
squatter = subprocess.Popen([sys.executable, os.environ["SQUATTER"], str(listener["port"])], start_new_session=True, env=foreign_env)
with open(os.environ["SQUATTER_PID_FILE"], "a") as pids:
    pids.write(f"{squatter.pid} ")
deadline = time.monotonic() + 10
while True:
    try:
        socket.create_connection(("127.0.0.1", listener["port"]), timeout=1).close()
        break
    except OSError:
        assert time.monotonic() < deadline
        time.sleep(0.005)
if os.environ["MODE"] == "exit":
    print(f"cannot listen on 127.0.0.1:{listener['port']}: address already in use", file=sys.stderr, flush=True)
    sys.exit(1)
print("up, but not listening myself", flush=True)
time.sleep(60)
"""


@pytest.fixture
def squatters(tmp_path):
    """Kills the squatters a test started (they live in sessions of their own, on purpose)."""
    pid_files: list[Path] = []
    yield pid_files
    for path in pid_files:
        for pid in map(int, path.read_text().split() if path.exists() else []):
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def stand_in(project, tmp_path, squatters):
    """Write the stand-in and its environment; return (--service-command value, first-attempt file)."""
    (tmp_path / "squatter.py").write_text(textwrap.dedent(SQUATTER))
    (tmp_path / "stand_in.py").write_text(textwrap.dedent(STAND_IN))
    first_attempt = tmp_path / "first_attempt"
    squatters.append(tmp_path / "squatter.pid")

    def configure(mode: str) -> str:
        env = {
            "FIRST_ATTEMPT_FILE": str(first_attempt),
            "SQUATTER": str(tmp_path / "squatter.py"),
            "SQUATTER_PID_FILE": str(tmp_path / "squatter.pid"),
            "MODE": mode,
        }
        with open(project.path / "conftest.py", "a") as conftest:
            conftest.write(
                f"\nimport pytest\n\n@pytest.fixture(scope='session')\ndef service_env():\n    return {env!r}\n"
            )
        return shlex.join([sys.executable, str(tmp_path / "stand_in.py"), "{config}"])

    configure.first_attempt = first_attempt  # type: ignore[attr-defined]
    configure.squatter_pid = tmp_path / "squatter.pid"  # type: ignore[attr-defined]
    return configure


RECORD_PORT = """
def test_it(service_handle, websocket_client):
    import pathlib
    pathlib.Path('port').write_text(str(service_handle.port))
"""


def error_block(result) -> list[str]:
    """The lines of the first setup error's report, between its header and the next header."""
    lines = result.stdout.lines
    start = next(i for i, line in enumerate(lines) if "ERROR at setup of" in line) + 1
    end = next(i for i in range(start, len(lines)) if lines[i].startswith(("___", "===")))
    return lines[start:end]


# --------------------------------------------------------------------------- the service exits


def test_exit_is_reported_at_once_with_its_stderr(project, tmp_path, scaled):
    """A service that exits on a bad config is reported as soon as it exits, with its exit status and stderr line, not
    after the start timeout.
    """
    config = tmp_path / "static_config.yaml"
    config.write_text(
        "components_manager:\n  components:\n    websocket-handler: {path: /chat, max-remote-payload: -1}\n"
    )
    project.makepyfile("def test_it(service_handle):\n    pass\n")
    started = time.monotonic()
    result = project.runpytest_inprocess("-p", "no:xdist", f"--service-config={config}", "--service-start-timeout=60")
    elapsed = time.monotonic() - started
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "pytest_wsservice.errors.ServiceStartError: The service (pid *) exited with status 2 before it was ready.",
            "Last 1 line of its log *service.log:",
            "*max-remote-payload*",
        ]
    )
    assert elapsed < scaled(5)


# --------------------------------------------------------------------------- up but never ready

NEVER_READY = {
    "accepts, never answers": """
import socket, sys, time, yaml
listener = yaml.safe_load(open(sys.argv[1]))["components_manager"]["components"]["server"]["listener"]
server = socket.create_server((listener["host"], listener["port"]))  # never accepts: requests hang
time.sleep(60)
""",
    "answers 503": """
import http.server, sys, yaml
listener = yaml.safe_load(open(sys.argv[1]))["components_manager"]["components"]["server"]["listener"]
class Unavailable(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(503)
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer((listener["host"], listener["port"]), Unavailable).serve_forever()
""",
}


@pytest.mark.parametrize("case", list(NEVER_READY))
def test_up_but_never_ready_fails_at_the_deadline(tmp_path, sample_dir, scaled, case):
    """A service that is up but never answers the ping with 200 fails at the start deadline, within 0.5 s of it, and is
    stopped.
    """
    import yaml

    from pytest_wsservice.service.config import PatchListener, build_service_config, write_service_config

    port = free_port()
    config = build_service_config(
        yaml.safe_load((sample_dir / "static_config.yaml").read_text()), {}, [("l", PatchListener("127.0.0.1", port))]
    )
    path = write_service_config(config, tmp_path)
    script = tmp_path / "service.py"
    script.write_text(textwrap.dedent(NEVER_READY[case]))
    started = time.monotonic()
    with pytest.raises(ServiceStartTimeout) as excinfo:
        ServiceProcess.start(
            [sys.executable, str(script), str(path)],
            log_path=tmp_path / "log",
            port=port,
            ping_path="/ping",
            timeout=1.0,
        )
    elapsed = time.monotonic() - started
    assert 1.0 <= elapsed < 1.0 + scaled(0.5)
    last = {
        "accepts, never answers": "connected, no answer within * s",
        "answers 503": "answered 'HTTP/1.0 503 Service Unavailable'",
    }[case]
    assert fnmatch.fnmatch(
        str(excinfo.value),
        f"* was not ready within 1 s; probed GET http://127.0.0.1:{port}/ping answering 2xx (last attempt: {last}) *",
    ), str(excinfo.value)
    with pytest.raises(OSError):  # nothing listens any more: the process is gone
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


# --------------------------------------------------------------------------- the port is taken


def test_fixed_port_taken_by_someone_else_is_a_clear_error(project, tmp_path, squatters, scaled):
    """A --service-port that another process listens on fails at once with one line naming the port, the process
    holding it and what to do.
    """
    import subprocess

    port = free_port()
    (tmp_path / "squatter.py").write_text(textwrap.dedent(SQUATTER))
    squatter = subprocess.Popen([sys.executable, str(tmp_path / "squatter.py"), str(port)])
    (tmp_path / "squatter.pid").write_text(str(squatter.pid))
    squatters.append(tmp_path / "squatter.pid")
    deadline = time.monotonic() + scaled(10)
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline
            time.sleep(0.005)
    project.makepyfile("def test_it(service_handle):\n    pass\n")
    started = time.monotonic()
    result = project.runpytest_inprocess("-p", "no:xdist", f"--service-port={port}")
    assert time.monotonic() - started < scaled(3)
    result.assert_outcomes(errors=1)
    assert error_block(result) == [
        f"pytest_wsservice.errors.ServicePortInUse: cannot start the service: its port {port} on 127.0.0.1 (set by "
        f"--service-port) is already in use by pid {squatter.pid} ({sys.executable} {tmp_path / 'squatter.py'} {port}). "
        "Stop that process or choose another port; without --service-port the plugin picks a free port itself."
    ]


@pytest.mark.parametrize("mode", ["exit", "answer"])
def test_port_of_our_choosing_taken_first_is_retried_on_another(project, stand_in, mode):
    """When another process takes the port the plugin chose before the service binds it, the plugin starts the service
    again on a fresh port, whether the service exited or the other process answered the probe.
    """
    command = stand_in(mode)
    project.makepyfile(RECORD_PORT)
    result = project.runpytest_inprocess("-p", "no:xdist", f"--service-command={command}")
    result.assert_outcomes(passed=1)
    taken = int(stand_in.first_attempt.read_text())
    used = int((project.path / "port").read_text())
    assert used != taken
    (squatter,) = map(int, stand_in.squatter_pid.read_text().split())
    assert pid_alive(squatter)  # the squatter kept its port all along


def test_port_taken_on_every_attempt_is_not_retried_forever(project, stand_in, scaled):
    """A service that gets its port taken on every attempt (it does it itself) is given up on after a few fresh ports,
    saying so.
    """
    command = stand_in("always answer")
    project.makepyfile(RECORD_PORT)
    started = time.monotonic()
    result = project.runpytest_inprocess("-p", "no:xdist", f"--service-command={command}")
    assert time.monotonic() - started < scaled(10)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "pytest_wsservice.errors.ServicePortInUse: The service (pid *) is not what listens on port *",
            "(The plugin chose this port itself and tried 4 ports; each was taken the same way, so this is not a race "
            "with another process.)",
        ]
    )
    assert len(stand_in.squatter_pid.read_text().split()) == 4


def test_probe_answered_by_another_process_on_a_fixed_port_is_an_error(project, stand_in, scaled):
    """With a fixed port, a probe that reaches a process outside the service fails the start at once, naming that
    process, instead of testing the wrong service.
    """
    command = stand_in("answer")
    port = free_port()
    project.makepyfile(RECORD_PORT)
    started = time.monotonic()
    result = project.runpytest_inprocess("-p", "no:xdist", f"--service-command={command}", f"--service-port={port}")
    assert time.monotonic() - started < scaled(5)  # not the 30 s start timeout
    result.assert_outcomes(errors=1)
    (squatter,) = map(int, stand_in.squatter_pid.read_text().split())
    result.stdout.fnmatch_lines(
        [
            f"pytest_wsservice.errors.ServicePortInUse: The service (pid *, command: *stand_in.py *) is not what "
            f"listens on port {port}: the probe (GET http://127.0.0.1:{port}/ping answering 2xx) connected to a "
            f"listening socket of pid {squatter} (*squatter.py {port}), outside the service's session.",
            "Last 1 line of its log *",
            "up, but not listening myself",
        ]
    )


def test_fixed_port_lost_to_another_process_during_the_start_names_it(project, stand_in):
    """With a fixed port, a service that exits because another process took its port is reported with that process."""
    command = stand_in("exit")
    port = free_port()
    project.makepyfile(RECORD_PORT)
    result = project.runpytest_inprocess("-p", "no:xdist", f"--service-command={command}", f"--service-port={port}")
    result.assert_outcomes(errors=1)
    (squatter,) = map(int, stand_in.squatter_pid.read_text().split())
    # Two orders of events, both reported with the squatter: the service's exit is seen
    # first, or the probe reaches the squatter's listener first.
    exited = (
        f"pytest_wsservice.errors.ServicePortInUse: The service (pid *) exited with status 1 before it was ready: "
        f"port {port} on 127.0.0.1 is in use by pid {squatter} (*squatter.py {port})."
    )
    reached = (
        f"pytest_wsservice.errors.ServicePortInUse: The service (pid *) is not what listens on port {port}: the probe "
        f"(*) connected to a listening socket of pid {squatter} (*squatter.py {port}), outside the service's session."
    )
    output = result.stdout.lines
    if any(fnmatch.fnmatch(line, exited) for line in output):
        result.stdout.fnmatch_lines(
            [exited, "Last 1 line of its log *", f"cannot listen on 127.0.0.1:{port}: address already in use"]
        )
    else:
        result.stdout.fnmatch_lines([reached])


# --------------------------------------------------------------------------- one line


@pytest.mark.parametrize("case", ["missing executable", "unreadable config", "invalid config"])
def test_one_clear_line(project, tmp_path, case):
    """A missing executable, an unreadable config and an invalid config each fail with one line naming it."""
    (tmp_path / "file").write_text("")
    (tmp_path / "invalid.yaml").write_text("components_manager: [1,\n")
    args, expected = {
        "missing executable": (
            ["--service-command=no-such-service {config}"],
            "pytest_wsservice.errors.ServiceStartError: cannot start the service: executable 'no-such-service' was "
            "not found (command: no-such-service */static_config.yaml).",
        ),
        "unreadable config": (
            [f"--service-config={tmp_path / 'file' / 'static_config.yaml'}"],
            f"pytest_wsservice.errors.ServiceConfigError: static config {tmp_path / 'file' / 'static_config.yaml'} "
            "(from --service-config) cannot be read: Not a directory.",
        ),
        "invalid config": (
            [f"--service-config={tmp_path / 'invalid.yaml'}"],
            f"pytest_wsservice.errors.ServiceConfigError: static config {tmp_path / 'invalid.yaml'} (from "
            "--service-config) is not valid YAML: *; fix the file.",
        ),
    }[case]
    project.makepyfile("def test_it(service_handle):\n    pass\n")
    result = project.runpytest_inprocess("-p", "no:xdist", *args)
    result.assert_outcomes(errors=1)
    block = error_block(result)
    assert len(block) == 1, block
    result.stdout.fnmatch_lines([expected])
