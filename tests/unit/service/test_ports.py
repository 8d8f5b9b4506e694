"""Free ports, xdist offsets and the one "who holds this port" lookup, on real sockets."""

from __future__ import annotations

import os
import socket

import pytest

from pytest_wsservice.service.ports import free_port, listener_holder, port_holder, port_in_use, worker_port


def test_free_port_is_free_and_on_loopback() -> None:
    port = free_port("127.0.0.1")
    assert 1024 <= port <= 65535
    assert not port_in_use("127.0.0.1", port)
    assert port_holder("127.0.0.1", port) is None


def test_worker_port_offsets() -> None:
    assert worker_port(8080, None) == 8080
    assert worker_port(8080, "gw0") == 8080
    assert worker_port(8080, "gw5") == 8085
    with pytest.raises(ValueError):
        worker_port(65535, "gw1")


def test_port_holder_names_the_process_holding_it() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert port_in_use("127.0.0.1", port)
        holder = port_holder("127.0.0.1", port)
        assert holder is not None
        pid, description = holder
        if os.path.exists("/proc/net/tcp"):
            assert pid == os.getpid()
            assert description.startswith(f"pid {os.getpid()} (")
        # This process is the holder, so it is not foreign to its own session.
        assert listener_holder("127.0.0.1", port, outside_session=os.getsid(0)) is None or pid != os.getpid()
    assert port_holder("127.0.0.1", port) is None
