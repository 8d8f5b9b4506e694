"""Helpers of the sample service's tests: configs, the service process, raw HTTP and WebSocket I/O.

Imported by the tests as ``sample_helpers`` (pytest puts this directory on ``sys.path``).
"""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

#: How long a service may take to answer /ping after the spawn, before scaling.
START_TIMEOUT = 15.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def config_dict(
    port: int,
    log_path: str = "service.log",
    *,
    level: str = "debug",
    grace: Any = "2s",
    max_remote_payload: int = 4096,
    fragment_size: int = 1000,
) -> dict[str, Any]:
    """A static config in the userver layout, as the tests use it."""
    return {
        "components_manager": {
            "task_processors": {"main-task-processor": {"worker_threads": 4}},
            "default_task_processor": "main-task-processor",
            "components": {
                "server": {
                    "listener": {"port": port, "task_processor": "main-task-processor"},
                    "shutdown-grace-period": grace,
                },
                "logging": {
                    "loggers": {"default": {"file_path": log_path, "level": level, "overflow_behavior": "discard"}}
                },
                "dynamic-config-fallbacks": {"fallback-path": "dynamic_config_fallback.json"},
                "handler-ping": {"path": "/ping", "method": "GET"},
                "websocket-handler": {
                    "path": "/chat",
                    "method": "GET",
                    "max-remote-payload": max_remote_payload,
                    "fragment-size": fragment_size,
                },
            },
        }
    }


def write_config(directory: Path, config: dict[str, Any], name: str = "static_config.yaml") -> Path:
    """Write ``config`` (and a dynamic config fallback beside it) into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    fallback = directory / "dynamic_config_fallback.json"
    if not fallback.exists():
        fallback.write_text('{"USERVER_LOG_REQUEST": true}\n')
    path = directory / name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def http_get(port: int, path: str, timeout: float, headers: str = "") -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 GET over a fresh connection: (status, lower-cased headers, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Connection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
    return int(lines[0].split()[1]), {k.strip().lower(): v.strip() for k, v in fields.items()}, body


@dataclass
class SampleProcess:
    """One running ``python -m sample_service`` and where to find its output."""

    proc: subprocess.Popen
    port: int
    config_path: Path
    log_path: Path
    stderr_path: Path

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/chat"

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def stderr(self) -> str:
        return self.stderr_path.read_text() if self.stderr_path.exists() else ""

    def wait_log(self, needle: str, timeout: float) -> str:
        """Wait until the log holds ``needle``; return the log."""
        deadline = time.monotonic() + timeout
        while needle not in (text := self.log()):
            if time.monotonic() > deadline:
                raise AssertionError(f"no {needle!r} in the service log within {timeout:.1f}s; log:\n{text[-2000:]}")
            time.sleep(0.01)
        return text

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def stop(self, timeout: float) -> int:
        """SIGTERM, then wait up to ``timeout``; kill the process group if it will not stop."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                kill_group(self.proc)
        return self.proc.returncode


def kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def start_sample(
    config_path: Path,
    port: int,
    log_path: Path,
    timeout: float,
    *,
    env: dict[str, str] | None = None,
    extra_args: tuple[str, ...] = (),
    cwd: Path | None = None,
) -> SampleProcess:
    """Spawn the service and wait until /ping answers 200; fail early if it exits."""
    stderr_path = config_path.with_suffix(".stderr")
    with open(stderr_path, "wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sample_service", "-c", str(config_path), *extra_args],
            cwd=cwd or config_path.parent,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env={**os.environ, **(env or {})},
            start_new_session=True,  # its own process group, killed as a whole
        )
    service = SampleProcess(proc, port, config_path, log_path, stderr_path)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise AssertionError(
                f"the service exited with status {proc.returncode} before answering /ping;\n"
                f"stderr: {service.stderr()[-2000:]}\nlog: {service.log()[-2000:]}"
            )
        try:
            if http_get(port, "/ping", timeout=1.0)[0] == 200:
                return service
        except OSError:
            pass
        if time.monotonic() > deadline:
            kill_group(proc)
            raise AssertionError(
                f"the service did not answer /ping on port {port} within {timeout:.1f}s; log: {service.log()[-2000:]}"
            )
        time.sleep(0.01)


class RawWebSocket:
    """A WebSocket client over a blocking socket that sends whatever frames it is told to.

    Args:
        port: The service's port on 127.0.0.1.
        timeout: The deadline of every socket read, in seconds.
    """

    def __init__(self, port: int, timeout: float) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # each send_raw is its own segment
        self.buffer = b""

    def close(self) -> None:
        self.sock.close()

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError(f"connection closed by the service; unread: {self.buffer[:100]!r}")
        self.buffer += chunk

    def read_exact(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self._fill()
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def request(self, text: str) -> tuple[int, dict[str, str], bytes]:
        """Send a raw HTTP request; return (status, lower-cased headers, body by Content-Length)."""
        self.send_raw(text.encode("latin-1"))
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        body = self.read_exact(int(headers.get("content-length", "0")))
        return int(lines[0].split()[1]), headers, body

    def handshake(
        self,
        path: str = "/chat",
        *,
        upgrade: str | None = "websocket",
        version: str | None = "13",
        key: str | None = None,
        connection: str | None = "Upgrade",
    ) -> tuple[int, dict[str, str], bytes]:
        """Send an opening handshake with the given header values (``None`` leaves one out)."""
        key = base64.b64encode(os.urandom(16)).decode() if key is None else key
        lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1"]
        for name, value in (
            ("Upgrade", upgrade),
            ("Connection", connection),
            ("Sec-WebSocket-Key", key or None),
            ("Sec-WebSocket-Version", version),
        ):
            if value is not None:
                lines.append(f"{name}: {value}")
        status, headers, body = self.request("\r\n".join(lines) + "\r\n\r\n")
        return status, headers, body

    @staticmethod
    def frame(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0, mask: bool = True) -> bytes:
        """Build one frame; ``rsv`` is the 3-bit RSV1-3 field."""
        first = (0x80 if fin else 0) | (rsv << 4) | opcode
        size = len(payload)
        mask_bit = 0x80 if mask else 0
        if size < 126:
            header = bytes((first, mask_bit | size))
        elif size < 65536:
            header = struct.pack("!BBH", first, mask_bit | 126, size)
        else:
            header = struct.pack("!BBQ", first, mask_bit | 127, size)
        if not mask:
            return header + payload
        key = os.urandom(4)
        repeated = (key * (size // 4 + 1))[:size]
        masked = (
            (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(size, "big") if size else b""
        )
        return header + key + masked

    def send(self, opcode: int, payload: bytes = b"", **options: Any) -> None:
        self.send_raw(self.frame(opcode, payload, **options))

    def recv_frame(self) -> tuple[bool, int, int, bytes]:
        """Read one frame: (fin, rsv, opcode, payload). Server frames must not be masked."""
        first, second = self.read_exact(2)
        assert not second & 0x80, "the service masked a frame"
        size = second & 0x7F
        if size == 126:
            size = struct.unpack("!H", self.read_exact(2))[0]
        elif size == 127:
            size = struct.unpack("!Q", self.read_exact(8))[0]
        return bool(first & 0x80), (first >> 4) & 7, first & 0x0F, self.read_exact(size)

    def recv_message(self) -> tuple[int, bytes]:
        """Read one whole data message, answering nothing and skipping pongs: (opcode, payload)."""
        opcode, parts = None, []
        while True:
            fin, _, op, payload = self.recv_frame()
            if op == 0xA:
                continue
            if op == 0x8:
                raise AssertionError(f"expected a message, got a close frame {payload!r}")
            opcode = op if opcode is None else opcode
            parts.append(payload)
            if fin:
                return opcode, b"".join(parts)

    def recv_close(self) -> int | None:
        """Read frames up to the service's close frame; return its code (None when it had none)."""
        while True:
            _, _, opcode, payload = self.recv_frame()
            if opcode == 0x8:
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None

    def at_eof(self) -> bool:
        """Whether the service closed the TCP connection (waits up to the socket timeout)."""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buffer += chunk
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False
