"""The readiness signals a starting service can give: ``READY=1`` on a notify socket, and a probe.

- :class:`NotifySocket`: a private ``NOTIFY_SOCKET`` (the sd_notify protocol): no polling lag;
- :class:`Probe`: ``GET <handler-ping path>`` answering 200, when the config has a ping
  handler; otherwise a TCP connect to the listener. Polled every few milliseconds at
  first, backing off to 50 ms, never blocking: :func:`~.startup.wait_until_ready` drives it.
"""

from __future__ import annotations

import errno
import os
import selectors
import shutil
import socket
import struct
import sys
import tempfile
from collections.abc import Callable

__all__ = ["ATTEMPT_TIMEOUT", "FIRST_INTERVAL", "MAX_INTERVAL", "NotifySocket", "Probe"]

#: First and longest pause between two probe attempts, in seconds.
FIRST_INTERVAL = 0.002
MAX_INTERVAL = 0.05
#: One probe attempt (connect, request, status line) may take this long, in seconds.
ATTEMPT_TIMEOUT = 1.0
#: Without a pidfd the process is polled this often, in seconds.
#: sun_path holds 108 bytes on Linux, 104 on macOS; stay below both.
_MAX_SOCKET_PATH = 100
#: struct ucred: pid, uid, gid.
_UCRED = struct.Struct("iII")


class NotifySocket:
    """A private ``AF_UNIX`` datagram socket that receives sd_notify messages.

    It lives in a fresh ``0700`` temp dir; if that path is too long for a socket, Linux's
    abstract namespace (an address starting with ``@``) is used instead. Pass
    :meth:`env` to the child. Close it (or use ``with``) to remove the directory.
    """

    def __init__(self) -> None:
        self._dir: str | None = tempfile.mkdtemp(prefix="wsservice-")
        path = os.path.join(self._dir, "notify.sock")
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            if len(os.fsencode(path)) > _MAX_SOCKET_PATH and sys.platform.startswith("linux"):
                name = f"wsservice-notify-{os.getpid()}-{os.path.basename(self._dir)}"
                self._sock.bind("\0" + name)
                self.address = "@" + name
            else:
                self._sock.bind(path)
                self.address = path
            self._sock.setblocking(False)
            # Ask the kernel for each sender's pid: the abstract namespace has no file
            # permissions, so "who sent READY=1" is checked, not assumed.
            self._credentials = hasattr(socket, "SO_PASSCRED")
            if self._credentials:
                self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        except BaseException:
            self.close()
            raise
        self.messages: list[str] = []
        #: The pid of each message's sender (``None`` where the platform does not say).
        self.senders: list[int | None] = []

    def env(self) -> dict[str, str]:
        """Return the environment that tells the child where to send ``READY=1``."""
        return {"NOTIFY_SOCKET": self.address}

    def fileno(self) -> int:
        return self._sock.fileno()

    def received_ready(self, accept_sender: Callable[[int], bool] | None = None) -> bool:
        """Read every pending datagram; return whether one of them said ``READY=1``.

        Args:
            accept_sender: Called with the sender's pid where the kernel reports it
                (Linux); a ``READY=1`` from a sender it rejects does not count.
        """
        ready = False
        while True:
            try:
                if self._credentials:
                    data, ancillary, _, _ = self._sock.recvmsg(65536, socket.CMSG_SPACE(_UCRED.size))
                else:
                    data, ancillary = self._sock.recv(65536), []
            except (BlockingIOError, InterruptedError):
                return ready
            sender = None
            for level, kind, payload in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS and len(payload) >= _UCRED.size:
                    sender = _UCRED.unpack_from(payload)[0]
            message = data.decode("utf-8", "replace")
            self.messages.append(message)
            self.senders.append(sender)
            if "READY=1" in message.split("\n"):
                ready = ready or sender is None or accept_sender is None or accept_sender(sender)

    def close(self) -> None:
        self._sock.close()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> NotifySocket:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class Probe:
    """Non-blocking readiness probe: ``GET path`` expecting 200, or a bare TCP connect.

    Drive it with :meth:`step` and :meth:`on_event` from a selector loop.

    Args:
        host: The listener's address, an IP address.
        port: The listener's port.
        path: The ping handler's path, or ``None`` for a TCP connect.
        host_header: The ``Host`` header to send; ``host:port`` by default. Set it when
            ``host`` is an address resolved from a name.
        identify: Called after each successful connect; returns a description of the
            process holding the listener if that is not the service, else ``None``. A
            foreign listener ends the wait at once (see :func:`wait_until_ready`).
    """

    def __init__(
        self,
        host: str,
        port: int,
        path: str | None = None,
        *,
        host_header: str | None = None,
        identify: Callable[[], str | None] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.path = path
        self._host_header = host_header
        self._identify = identify
        #: Set when ``identify`` said the listener belongs to another process.
        self.foreign: str | None = None
        self.last_result = "not tried yet"
        self._family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._interval = FIRST_INTERVAL
        self._next_attempt = 0.0
        self._attempt_started = 0.0
        self._attempt_deadline = 0.0
        self._sock: socket.socket | None = None
        self._buffer = b""
        self._selector: selectors.BaseSelector | None = None

    def describe(self) -> str:
        """Say what is probed, for messages."""
        netloc = f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
        if self.path is None:
            return f"a TCP connect to {netloc}"
        return f"GET http://{netloc}{self.path} answering 200"

    def last_attempt(self, now: float) -> str:
        """Say how the last attempt went, or what the one in flight has got so far."""
        if self._sock is None:
            return self.last_result
        assert self._selector is not None
        connected = self.path is not None and bool(self._selector.get_key(self._sock).events & selectors.EVENT_READ)
        if self.last_result.startswith("answered") or (not connected and self.last_result != "not tried yet"):
            return self.last_result  # says more than an attempt that has not got anywhere yet
        waited = f"no answer within {now - self._attempt_started:.2g} s"
        return f"connected, {waited}" if connected else waited

    def next_wakeup(self) -> float:
        """Return the monotonic time at which :meth:`step` has something to do."""
        return self._attempt_deadline if self._sock is not None else self._next_attempt

    def step(self, now: float, selector: selectors.BaseSelector) -> None:
        """Start an attempt if one is due; abandon one that took too long."""
        self._selector = selector
        if self._sock is not None:
            if now >= self._attempt_deadline:
                self._fail(now, f"no answer within {ATTEMPT_TIMEOUT:g} s")
            return
        if now < self._next_attempt:
            return
        sock = socket.socket(self._family, socket.SOCK_STREAM)
        sock.setblocking(False)
        code = sock.connect_ex((self.host, self.port))
        if code not in (0, errno.EINPROGRESS, errno.EAGAIN):
            sock.close()
            self._retry_later(now, os.strerror(code))
            return
        self._sock = sock
        self._buffer = b""
        self._attempt_started = now
        self._attempt_deadline = now + ATTEMPT_TIMEOUT
        selector.register(sock, selectors.EVENT_WRITE, self)

    def on_event(self, now: float) -> bool:
        """Handle readiness of the probe's socket; return whether the service is ready."""
        sock = self._sock
        assert sock is not None and self._selector is not None
        if self._selector.get_key(sock).events & selectors.EVENT_WRITE:
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                self._fail(now, os.strerror(code))
                return False
            if self._identify is not None:
                self.foreign = self._identify()
                if self.foreign is not None:
                    self._close()
                    self.last_result = f"connected to {self.foreign}"
                    return False
            if self.path is None:
                self._close()
                self.last_result = "connected"
                return True
            host = f"[{self.host}]" if ":" in self.host else self.host
            host_header = self._host_header or f"{host}:{self.port}"
            request = (
                f"GET {self.path} HTTP/1.1\r\nHost: {host_header}\r\n"
                "User-Agent: pytest-wsservice\r\nConnection: close\r\n\r\n"
            )
            try:
                sock.send(request.encode("ascii"))  # a few dozen bytes: fits any socket buffer
            except OSError as error:
                self._fail(now, error.strerror or str(error))
                return False
            self._selector.modify(sock, selectors.EVENT_READ, self)
            return False
        try:
            data = sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError as error:
            self._fail(now, error.strerror or str(error))
            return False
        if not data:
            self._fail(now, "the connection was closed without a response")
            return False
        self._buffer += data
        if b"\r\n" not in self._buffer:
            return False
        status_line = self._buffer.split(b"\r\n", 1)[0].decode("latin-1")
        parts = status_line.split(" ", 2)
        if len(parts) >= 2 and parts[0].startswith("HTTP/") and parts[1] == "200":
            self._close()
            self.last_result = "200"
            return True
        self._fail(now, f"answered {status_line!r}")
        return False

    def _fail(self, now: float, reason: str) -> None:
        self._close()
        self._retry_later(now, reason)

    def _retry_later(self, now: float, reason: str) -> None:
        self.last_result = reason
        self._next_attempt = now + self._interval
        self._interval = min(self._interval * 2, MAX_INTERVAL)

    def _close(self) -> None:
        if self._sock is not None:
            if self._selector is not None:
                self._selector.unregister(self._sock)
            self._sock.close()
            self._sock = None

    def close(self) -> None:
        """Abandon any attempt in flight."""
        self._close()
