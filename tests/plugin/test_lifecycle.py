"""service_start through the plugin: the real sample service, start-up failures, teardown reports."""
# ruff: noqa: E501  (long lines are expected messages and inner test sources, kept verbatim)

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.plugin.plugin_helpers import pid_alive, python_command

# A stand-in that writes its pid where the test says, then never becomes ready.
NEVER_READY = """
import os, sys, time
open(os.environ["PID_FILE"], "w").write(str(os.getpid()))
print("starting, but never listening", flush=True)
time.sleep(60)
"""


def write_pid_fixture(project, pid_file: Path) -> None:
    """Give the inner run's service PID_FILE in its environment through a service_env override."""
    project.makeconftest(
        f"""
        import pytest
        pytest_plugins = ['pytest_wsservice']

        @pytest.fixture(scope="session")
        def service_env():
            return {{"PID_FILE": {str(pid_file)!r}}}
        """
    )


def test_service_start_handle_and_stop(project, tmp_path):
    """service_start returns a handle for the running sample service, reachable on its port, and stops it at session
    end.
    """
    record = tmp_path / "handle.json"
    project.makepyfile(
        f"""
        import json, pathlib, socket

        def test_it(service_start, service_port, service_baseurl, service_config_path_temp, service_logs_file):
            assert service_start.port == service_port
            assert service_start.base_url == service_baseurl
            assert str(service_start.base_url) == f"http://127.0.0.1:{{service_port}}/"
            assert service_start.config_path == service_config_path_temp
            assert service_start.log_path == service_logs_file
            socket.create_connection(("127.0.0.1", service_port), timeout=5).close()
            pathlib.Path({str(record)!r}).write_text(json.dumps({{"pid": service_start.pid, "log": str(service_start.log_path)}}))
        """
    )
    project.runpytest_inprocess().assert_outcomes(passed=1)
    handle = json.loads(record.read_text())
    assert not pid_alive(handle["pid"])
    log = Path(handle["log"]).read_text()
    assert "listening on http://127.0.0.1:" in log
    assert "SIGTERM received" in log


def test_service_env_reaches_the_service(project, tmp_path):
    """Variables from an overridden service_env are in the service's environment, next to NOTIFY_SOCKET."""
    project.makeconftest(
        """
        import pytest
        pytest_plugins = ['pytest_wsservice']

        @pytest.fixture(scope="session")
        def service_env():
            return {"WSSERVICE_TEST_MARK": "present"}
        """
    )
    project.makepyfile(
        """
        def test_it(service_start):
            with open(f"/proc/{service_start.pid}/environ", "rb") as environ:
                variables = dict(item.split(b"=", 1) for item in environ.read().split(b"\\0") if b"=" in item)
            assert variables[b"WSSERVICE_TEST_MARK"] == b"present"
            assert b"NOTIFY_SOCKET" in variables
        """
    )
    project.runpytest_inprocess().assert_outcomes(passed=1)


def test_service_port_override(project):
    """An overridden service_port is the port the service listens on."""
    project.makeconftest(
        """
        import pytest
        from pytest_wsservice.service.ports import free_port

        pytest_plugins = ['pytest_wsservice']

        @pytest.fixture(scope="session")
        def service_port():
            return free_port()
        """
    )
    project.makepyfile(
        """
        import socket

        def test_it(service_start, service_port):
            assert service_start.port == service_port
            socket.create_connection(("127.0.0.1", service_port), timeout=5).close()
        """
    )
    project.runpytest_inprocess().assert_outcomes(passed=1)


def test_logs_file_and_level_reach_the_service(project, tmp_path):
    """--service-logs-file receives the service's log, and --service-log-level=warning silences its info lines."""
    log = tmp_path / "logs" / "service.log"
    project.makepyfile("def test_it(service_start):\n    pass\n")
    project.runpytest_inprocess(f"--service-logs-file={log}", "--service-log-level=info").assert_outcomes(passed=1)
    assert "listening on http://" in log.read_text()
    size = log.stat().st_size
    project.runpytest_inprocess(f"--service-logs-file={log}", "--service-log-level=warning").assert_outcomes(passed=1)
    assert "listening on" not in log.read_text()[size:]


def test_service_exiting_before_ready_fails_fast(project, sample_config, scaled):
    """A service that exits on a bad config fails the start at once, with its exit status and its stderr line."""
    sample_config.write_text(sample_config.read_text().replace("dynamic_config_fallback.json", "missing.json"))
    project.makepyfile("def test_one(service_start):\n    pass\n\ndef test_two(service_start):\n    pass\n")
    started = time.monotonic()
    result = project.runpytest_inprocess(f"--service-config={sample_config}", "--service-start-timeout=30")
    elapsed = time.monotonic() - started
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "pytest_wsservice.errors.ServiceStartError: The service (pid *, command: *sample_service* --config *) "
            "exited with status 2 before it was ready.",
            "Last * of its log *service.log:",
            "*missing.json*",
        ]
    )
    assert elapsed < scaled(10), "waited for the start timeout instead of noticing the exit"


def test_never_ready_service_fails_at_the_deadline(project, tmp_path, scaled):
    """A service that never becomes ready fails at the start deadline, says what was probed, and is not left running."""
    pid_file = tmp_path / "pid"
    write_pid_fixture(project, pid_file)
    project.makepyfile("def test_it(service_start):\n    pass\n")
    started = time.monotonic()
    result = project.runpytest_inprocess(
        "--service-command", python_command(project.path, NEVER_READY), "--service-start-timeout=0.5"
    )
    elapsed = time.monotonic() - started
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "pytest_wsservice.errors.ServiceStartTimeout: The service (pid *, command: *standin.py *) was not ready within 0.5 s; "
            "probed GET http://127.0.0.1:*/ping answering 2xx (last attempt: Connection refused) and listened for "
            "READY=1 on notify socket * (received: nothing).",
            "Last 1 line of its log *service.log:",
            "starting, but never listening",
        ]
    )
    assert 0.5 <= elapsed < 0.5 + scaled(3)
    assert not pid_alive(int(pid_file.read_text()))


def test_missing_executable(project):
    """A --service-command whose program does not exist fails with one line naming it."""
    project.makepyfile("def test_it(service_start):\n    pass\n")
    result = project.runpytest_inprocess("--service-command", "no-such-service-binary --port 1")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "pytest_wsservice.errors.ServiceStartError: cannot start the service: executable 'no-such-service-binary' "
            "was not found (command: no-such-service-binary --port 1)."
        ]
    )


def test_service_dying_during_the_session_fails_teardown(project):
    """A service that died during the session is reported at teardown with the signal that killed it."""
    project.makepyfile(
        """
        import os, signal, time
        from tests.plugin.plugin_helpers import pid_alive

        def test_kill_it(service_start):
            os.kill(service_start.pid, signal.SIGKILL)
            deadline = time.monotonic() + 5
            while pid_alive(service_start.pid) and time.monotonic() < deadline:
                time.sleep(0.005)  # the kernel finishes the kill asynchronously
        """
    )
    result = project.runpytest_inprocess()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_kill_it*",
            "pytest_wsservice.errors.ServiceExitedError: The service (pid *, command: *) was killed by signal SIGKILL on its own, "
            "before it was asked to stop.",
            "Last * lines of its log *",
        ]
    )


def test_service_ignoring_sigterm_is_killed_and_reported(project, tmp_path, scaled):
    """A service that ignores SIGTERM is killed after the stop timeout, with its whole group, and the run says so
    after its summary, with a failing exit status."""
    pid_file = tmp_path / "pid"
    write_pid_fixture(project, pid_file)
    with open(project.path / "conftest.py", "a") as conftest:
        conftest.write("\n@pytest.fixture(scope='session')\ndef service_stop_timeout():\n    return 0.3\n")
    stubborn = """
    import os, signal, socket, sys, yaml
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    open(os.environ["PID_FILE"], "w").write(str(os.getpid()))
    config = yaml.safe_load(open(sys.argv[1]))
    listener = config["components_manager"]["components"]["server"]["listener"]
    server = socket.create_server((listener["host"], listener["port"]))
    while True:
        server.accept()
    """
    project.makefile(".yaml", static="components_manager:\n  components: {}\n")  # no ping: ready on TCP
    project.makepyfile("def test_it(service_start):\n    pass\n")
    started = time.monotonic()
    result = project.runpytest_inprocess(
        "--service-config=static.yaml", "--service-command", python_command(project.path, stubborn)
    )
    elapsed = time.monotonic() - started
    # The stop is collected after pytest's report (the service got SIGTERM at the session's
    # end): the test passed, the run fails, and the problem is printed after the summary.
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*1 passed*",
            "*ERROR at the end of the session: stopping the service*",
            "pytest_wsservice.errors.ServiceExitedError: The service (pid *, command: *) did not stop within 0.3 s after SIGTERM "
            "and was killed by signal SIGKILL.",
            "It wrote nothing to its log *",
        ]
    )
    assert elapsed < scaled(5)
    assert not pid_alive(int(pid_file.read_text()))


def test_service_without_notify_or_ping_is_ready_on_tcp(project):
    """A service that neither sends READY=1 nor has a ping handler is ready once its listener accepts connections."""
    project.makefile(".yaml", static="components_manager:\n  components: {}\n")
    server = """
    import http.server, sys, yaml
    listener = yaml.safe_load(open(sys.argv[1]))["components_manager"]["components"]["server"]["listener"]
    http.server.ThreadingHTTPServer((listener["host"], listener["port"]), http.server.SimpleHTTPRequestHandler).serve_forever()
    """
    project.makepyfile(
        """
        import urllib.request

        def test_it(service_start):
            with urllib.request.urlopen(str(service_start.base_url), timeout=5) as response:
                assert response.status == 200
        """
    )
    result = project.runpytest_inprocess(
        "--service-config=static.yaml", "--service-command", python_command(project.path, server)
    )
    result.assert_outcomes(passed=1)


def test_xdist_workers_each_start_their_own_service(project, tmp_path):
    """Under `-n 2` each worker starts its own sample service on its own port (N+K with --service-port) and log file,
    and stops it.
    """
    records = tmp_path / "records"
    records.mkdir()
    project.makepyfile(
        f"""
        import json, os, pathlib, pytest

        @pytest.mark.parametrize("n", range(4))
        async def test_echo(websocket_client, service_start, n):
            async with websocket_client.get("chat") as chat:
                await chat.send("hi")
                assert await chat.recv() == "hi"
            record = {{"worker": os.environ["PYTEST_XDIST_WORKER"], "pid": service_start.pid,
                       "port": service_start.port, "log": str(service_start.log_path)}}
            pathlib.Path({str(records)!r}, f"{{n}}.json").write_text(json.dumps(record))
        """
    )
    base_port = free_port_pair()
    log = tmp_path / "logs" / "service.log"
    result = project.runpytest_subprocess("-n", "2", f"--service-port={base_port}", f"--service-logs-file={log}")
    result.assert_outcomes(passed=4)
    seen = {}
    for path in records.iterdir():
        record = json.loads(path.read_text())
        seen.setdefault(record["worker"], set()).add((record["pid"], record["port"], record["log"]))
    assert sorted(seen) == ["gw0", "gw1"]
    for index, worker in enumerate(("gw0", "gw1")):
        ((pid, port, log_path),) = seen[worker]  # one service per worker, for all its tests
        assert port == base_port + index
        assert log_path == str(tmp_path / "logs" / f"service.{worker}.log")
        assert not pid_alive(pid)
        assert "listening on" in Path(log_path).read_text()


def free_port_pair() -> int:
    """Return a port N such that N and N+1 are both free right now, below the ephemeral range.

    Not from ``bind(0)``: that gives an odd port N in the ephemeral range, and Linux hands the
    even ports there, N+1 among them, to outgoing connections, so another test's client could
    take N+1 before the second worker's service binds it.
    """
    import random
    import socket

    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    for _ in range(200):
        port = random.randrange(max(1024, low - 12000), max(1026, low - 2))
        with socket.socket() as first, socket.socket() as second:
            try:
                first.bind(("127.0.0.1", port))
                second.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return port
    raise RuntimeError("no two adjacent free ports found")
