"""ServiceProcess and the readiness wait, used directly as a script would, without pytest fixtures."""
# ruff: noqa: E501  (long lines are expected messages and inner test sources, kept verbatim)

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import yaml

from pytest_wsservice.errors import ServiceStartError, ServiceStartTimeout
from pytest_wsservice.service.config import MakePathsAbsolute, PatchListener, build_service_config, write_service_config
from pytest_wsservice.service.exits import StopResult, describe_returncode
from pytest_wsservice.service.logfile import read_log_tail
from pytest_wsservice.service.ports import free_port
from pytest_wsservice.service.probe import NotifySocket, Probe
from pytest_wsservice.service.process import ServiceProcess
from pytest_wsservice.service.startup import wait_until_ready
from tests.plugin.plugin_helpers import pid_alive


@pytest.fixture
def sample_command(tmp_path, sample_config):
    """The sample service's argv with a patched config on a free port, and that port."""
    port = free_port()
    config = build_service_config(
        yaml.safe_load(sample_config.read_text()),
        {},
        [("paths", MakePathsAbsolute(sample_config.parent)), ("listener", PatchListener("127.0.0.1", port))],
    )
    path = write_service_config(config, tmp_path)
    return [sys.executable, "-m", "sample_service", "--config", str(path)], port


def script(tmp_path, code: str) -> list[str]:
    """Write a Python script and return the argv that runs it."""
    path = tmp_path / "script.py"
    path.write_text(textwrap.dedent(code))
    return [sys.executable, str(path)]


def test_describe_returncode():
    """Exit statuses and signals are put in words."""
    assert describe_returncode(0) == "exited with status 0"
    assert describe_returncode(2) == "exited with status 2"
    assert describe_returncode(-signal.SIGKILL) == "was killed by signal SIGKILL"
    assert StopResult(-signal.SIGTERM).clean and StopResult(0).clean
    assert not StopResult(1).clean
    assert StopResult(1).describe() == "exited with status 1 when asked to stop with SIGTERM"


@pytest.mark.parametrize("signal_name", ["notify", "ping", "tcp"])
def test_each_readiness_signal_alone(tmp_path, sample_command, scaled, signal_name):
    """The sample service is found ready by READY=1 alone, by GET /ping alone, and by a TCP connect alone."""
    command, port = sample_command
    notify = NotifySocket() if signal_name == "notify" else None
    probe = {"notify": None, "ping": Probe("127.0.0.1", port, "/ping"), "tcp": Probe("127.0.0.1", port)}[signal_name]
    process = ServiceProcess.spawn(command, log_path=tmp_path / "log", env=notify.env() if notify else None)
    try:
        result = wait_until_ready(poll=process.poll, timeout=scaled(20), probe=probe, notify=notify)
    finally:
        stopped = process.stop()
        if notify is not None:
            notify.close()
    expected = {
        "notify": f"READY=1 on notify socket {notify.address if notify else ''}",
        "ping": f"GET http://127.0.0.1:{port}/ping answering 2xx",
        "tcp": f"a TCP connect to 127.0.0.1:{port}",
    }[signal_name]
    assert (result.outcome, result.detail) == ("ready", expected)
    assert stopped.clean and stopped.returncode == 0


def test_start_returns_a_ready_handle(tmp_path, sample_command, scaled):
    """ServiceProcess.start, as a script uses it, returns once the service answers, with a handle, and stops it on
    exit.
    """
    command, port = sample_command
    with ServiceProcess.start(
        command, log_path=tmp_path / "log", port=port, ping_path="/ping", timeout=scaled(20)
    ) as service:
        assert str(service.handle.base_url) == f"http://127.0.0.1:{port}/"
        assert service.handle.pid == service.pid
        import urllib.request

        with urllib.request.urlopen(f"{service.handle.base_url}ping", timeout=scaled(5)) as response:
            assert response.status == 200
    assert not pid_alive(service.pid)
    assert service.stop().returncode == 0


def test_exit_before_ready_is_noticed_at_once(tmp_path, scaled):
    """A process that dies before it is ready fails the start immediately, naming the signal, with only its own log
    lines.
    """
    log = tmp_path / "log"
    log.write_text("an earlier run's line\n")
    command = script(
        tmp_path,
        """
        import os, signal
        for i in range(60):
            print(f"line {i}", flush=True)
        os.kill(os.getpid(), signal.SIGUSR1)
        """,
    )
    started = time.monotonic()
    with pytest.raises(ServiceStartError) as excinfo:
        ServiceProcess.start(command, log_path=log, port=free_port(), timeout=30)
    assert time.monotonic() - started < scaled(3)
    error = excinfo.value
    assert error.returncode == -signal.SIGUSR1
    assert "was killed by signal SIGUSR1 before it was ready." in str(error)
    assert error.log_tail.splitlines() == [f"line {i}" for i in range(10, 60)]
    assert f"Last 50 lines of its log {log}:\nline 10\n" in str(error)


def test_timeout_kills_the_process(tmp_path, scaled):
    """A start that times out leaves no process behind and reports the TCP probe's last result."""
    command = script(tmp_path, "import os, time\nprint(os.getpid(), flush=True)\ntime.sleep(60)\n")
    port = free_port()
    started = time.monotonic()
    with pytest.raises(ServiceStartTimeout) as excinfo:
        ServiceProcess.start(command, log_path=tmp_path / "log", port=port, timeout=0.3, notify=False)
    elapsed = time.monotonic() - started
    assert 0.3 <= elapsed < 0.3 + scaled(1)
    message = str(excinfo.value)
    assert (
        f"was not ready within 0.3 s; probed a TCP connect to 127.0.0.1:{port} (last attempt: Connection refused)."
        in message
    )
    assert not pid_alive(int(excinfo.value.log_tail))


def test_missing_and_unexecutable_programs(tmp_path):
    """A missing program and a file without execute permission are each reported in one line naming them."""
    with pytest.raises(
        ServiceStartError,
        match=r"^cannot start the service: executable 'no-such-program' was not found \(command: no-such-program --flag\)\.$",
    ):
        ServiceProcess.spawn(["no-such-program", "--flag"], log_path=tmp_path / "log")
    plain = tmp_path / "plain.txt"
    plain.write_text("not a program")
    with pytest.raises(
        ServiceStartError, match=rf"^cannot start the service: '{plain}' is not executable \(command: {plain}\)\.$"
    ):
        ServiceProcess.spawn([str(plain)], log_path=tmp_path / "log")


def test_stop_reaches_grandchildren(tmp_path, scaled):
    """Stopping the service also stops the processes it started, including one that ignores SIGTERM."""
    pids = tmp_path / "pids"
    ignoring_ready = tmp_path / "ignoring"
    command = script(
        tmp_path,
        f"""
        import subprocess, sys, time
        ignoring = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                    "open({str(ignoring_ready)!r}, 'w').write('yes'); time.sleep(60)")
        children = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]),
                    subprocess.Popen([sys.executable, "-c", ignoring])]
        open({str(pids)!r}, "w").write(" ".join(str(c.pid) for c in children))
        time.sleep(60)
        """,
    )
    process = ServiceProcess.spawn(command, log_path=tmp_path / "log")
    deadline = time.monotonic() + scaled(10)
    # Until the SIGTERM-ignoring child has installed its handler (it says so in a file).
    while not (pids.exists() and len(pids.read_text().split()) == 2 and ignoring_ready.exists()):
        assert time.monotonic() < deadline, "the service's children did not start"
        time.sleep(0.01)
    started = time.monotonic()
    result = process.stop(grace=0.5)
    assert time.monotonic() - started < 0.5 + scaled(2)
    assert result.killed_after_grace and result.returncode == -signal.SIGTERM
    assert result.describe(0.5) == "did not stop within 0.5 s after SIGTERM and was killed by signal SIGTERM"
    for pid in map(int, pids.read_text().split()):
        assert not pid_alive(pid)


def test_parent_death_kills_the_service(tmp_path, scaled):
    """If the Python process that started the service is SIGKILLed, the kernel kills the service too."""
    child_pid = tmp_path / "child"
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from pytest_wsservice.service.process import ServiceProcess
                service = ServiceProcess.spawn([sys.executable, "-c", "import time; time.sleep(60)"], log_path={str(tmp_path / "log")!r})
                open({str(child_pid)!r}, "w").write(str(service.pid))
                time.sleep(60)
                """
            ),
        ]
    )
    try:
        deadline = time.monotonic() + scaled(10)
        while not (child_pid.exists() and child_pid.read_text()) and time.monotonic() < deadline:
            time.sleep(0.01)
        service_pid = int(child_pid.read_text())
        assert pid_alive(service_pid)
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + scaled(2)
    while pid_alive(service_pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not pid_alive(service_pid)


def test_started_from_a_thread_survives_the_thread(tmp_path):
    """Started from a non-main thread, the service does not die when that thread ends (no parent-death signal there)."""
    started: list[ServiceProcess] = []
    thread = threading.Thread(
        target=lambda: started.append(
            ServiceProcess.spawn([sys.executable, "-c", "import time; time.sleep(60)"], log_path=tmp_path / "log")
        )
    )
    thread.start()
    thread.join()
    process = started[0]
    try:
        time.sleep(0.1)
        assert process.poll() is None
    finally:
        assert process.stop().clean


def test_read_log_tail(tmp_path):
    """The log tail has the last N lines after the given offset; a missing log reads as empty."""
    log = tmp_path / "log"
    log.write_text("old\n" + "".join(f"{i}\n" for i in range(5)))
    assert read_log_tail(log, 2) == "3\n4"
    assert read_log_tail(log, 50, since=4) == "0\n1\n2\n3\n4"
    assert read_log_tail(tmp_path / "missing", 5) == ""


def test_notify_socket_is_private_and_removed():
    """The notify socket lives in a 0700 directory that closing removes."""
    with NotifySocket() as notify:
        directory = os.path.dirname(notify.address)
        assert os.stat(directory).st_mode & 0o777 == 0o700
    assert not os.path.exists(directory)
