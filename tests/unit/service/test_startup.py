"""Readiness with one deadline, against real short-lived processes (no pytester, no sample service)."""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path

import pytest

from pytest_wsservice.errors import ServiceStartError, ServiceStartTimeout
from pytest_wsservice.service.ports import free_port
from pytest_wsservice.service.process import ServiceProcess


def script(tmp_path: Path, code: str) -> list[str]:
    path = tmp_path / "child.py"
    path.write_text(textwrap.dedent(code))
    return [sys.executable, str(path)]


def test_ready_on_notify_before_anything_listens(tmp_path: Path, scaled) -> None:  # type: ignore[no-untyped-def]
    """READY=1 on the private notify socket wins; nothing listens on the port at all."""
    command = script(
        tmp_path,
        """
        import os, socket, time
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.sendto(b"READY=1", os.environ["NOTIFY_SOCKET"])
        time.sleep(60)
        """,
    )
    port = free_port()
    starting = ServiceProcess.launch(command, log_path=tmp_path / "log", port=port)
    process = starting.wait_ready(scaled(10))
    try:
        assert process.handle.port == port and process.poll() is None
        assert str(process.handle.base_url) == f"http://127.0.0.1:{port}/"
    finally:
        result = process.stop(grace=scaled(5))
    assert result.clean


def test_ready_by_tcp_probe(tmp_path: Path, scaled) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    command = script(
        tmp_path,
        f"""
        import socket, time
        s = socket.socket()
        s.bind(("127.0.0.1", {port}))
        s.listen()
        time.sleep(60)
        """,
    )
    with ServiceProcess.start(command, log_path=tmp_path / "log", port=port, notify=False, timeout=scaled(10)) as p:
        assert p.handle.pid == p.pid


def test_exit_before_ready_is_reported_at_once(tmp_path: Path, scaled) -> None:  # type: ignore[no-untyped-def]
    command = script(tmp_path, "import sys; print('bad config'); sys.exit(3)")
    began = time.monotonic()
    with pytest.raises(ServiceStartError, match=r"exited with status 3 before it was ready") as info:
        ServiceProcess.start(command, log_path=tmp_path / "log", port=free_port(), timeout=scaled(30))
    assert time.monotonic() - began < scaled(10)  # the pidfd, not the deadline
    assert "bad config" in str(info.value)


def test_one_deadline_counts_from_the_spawn(tmp_path: Path, scaled) -> None:  # type: ignore[no-untyped-def]
    """wait_ready() after a launch waits what is left of the deadline, not a fresh one."""
    command = script(tmp_path, "import time; time.sleep(60)")
    starting = ServiceProcess.launch(command, log_path=tmp_path / "log", port=free_port())
    time.sleep(0.3)
    began = time.monotonic()
    with pytest.raises(ServiceStartTimeout, match=r"was not ready within 0.5 s"):
        starting.wait_ready(0.5)
    assert time.monotonic() - began < 0.5
    assert starting.process.poll() is not None  # killed, nothing left running
