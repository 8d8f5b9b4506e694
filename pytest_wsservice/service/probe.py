"""The readiness signals a starting service can give: ``READY=1`` on a notify socket, and a probe.

- :class:`NotifySocket`: a private ``NOTIFY_SOCKET`` (the sd_notify protocol): no polling lag;
- :class:`Probe`: ``GET <ping path>`` answering 2xx (``--service-ping``, else the config's
  ``handler-ping``); otherwise a TCP connect to the listener; over TLS when asked to, with
  the handshake verified. Polled every few milliseconds at
  first, backing off to 50 ms, never blocking: :func:`~.startup.wait_until_ready` drives it.
"""

from __future__ import annotations

import errno
import os
import selectors
import shutil
import socket
import ssl
import struct
import sys
from collections.abc import Callable

from .tempdirs import make_private_dir

__all__ = [
    "ATTEMPT_TIMEOUT",
    "EARLY_MAX_INTERVAL",
    "EARLY_PERIOD",
    "FIRST_INTERVAL",
    "MAX_INTERVAL",
    "NotifySocket",
    "Probe",
]

#: First and longest pause between two probe attempts, in seconds. The pause doubles after
#: each failed attempt, up to ``EARLY_MAX_INTERVAL`` during the first ``EARLY_PERIOD`` seconds
#: of probing (a service that starts in a few hundred ms is seen ready within 10 ms of it; an
#: attempt on a port nobody listens on costs a refused connect, some 50 µs), then up to
#: ``MAX_INTERVAL``.
FIRST_INTERVAL = 0.002
EARLY_MAX_INTERVAL = 0.01
EARLY_PERIOD = 2.0
MAX_INTERVAL = 0.05
#: One probe attempt (connect, request, status line) may take this long, in seconds.
ATTEMPT_TIMEOUT = 1.0
#: A TLS probe gives up (the service speaks no TLS) after this many handshakes the service
#: closed, spread over at least this many seconds.
CLOSED_HANDSHAKES = 5
CLOSED_HANDSHAKES_SECONDS = 0.25
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
        self._dir: str | None = make_private_dir()  # stale ones of killed sessions are removed
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
    """Non-blocking readiness probe: ``GET path`` expecting 2xx, or a bare connect.

    Drive it with :meth:`step` and :meth:`on_event` from a selector loop. With ``tls`` every
    attempt makes a TLS handshake first (a connect without ``path`` is ready once the
    handshake succeeds), verified against the context's trusted certificates.

    Two answers end the wait at once, because waiting longer cannot change them; they set
    :attr:`fatal`:

    - the ping path answers 404 (the service is up, and has no such path);
    - the TLS handshake fails on a certificate or protocol error (the service presents
      another certificate, or speaks plain HTTP).

    Args:
        host: The listener's address, an IP address.
        port: The listener's port.
        path: The ping handler's path, or ``None`` for a connect (and handshake).
        host_header: The ``Host`` header to send; ``host:port`` by default. Set it when
            ``host`` is an address resolved from a name.
        identify: Called after each successful connect; returns a description of the
            process holding the listener if that is not the service, else ``None``. A
            foreign listener ends the wait at once (see :func:`~.startup.wait_until_ready`).
        tls: The client context for ``https``; ``None`` for plain HTTP.
        server_hostname: The name the certificate must carry; default ``host``.
        tls_hint: What to check when the TLS handshake fails, appended to :attr:`fatal`.
    """

    def __init__(
        self,
        host: str,
        port: int,
        path: str | None = None,
        *,
        host_header: str | None = None,
        identify: Callable[[], str | None] | None = None,
        tls: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        tls_hint: str = "",
    ) -> None:
        self.host = host
        self.port = port
        self.path = path
        self.tls = tls
        self._server_hostname = server_hostname or host
        self._tls_hint = tls_hint
        self._host_header = host_header
        self._identify = identify
        #: Set when ``identify`` said the listener belongs to another process.
        self.foreign: str | None = None
        #: Set when an answer means that waiting longer cannot help, worded to follow "the
        #: service": "answered GET /health on 127.0.0.1:8080 with '...404...': it has no such
        #: path", or "failed the TLS handshake on 127.0.0.1:8080: <why>" (then :attr:`tls_hint`).
        self.fatal: str | None = None
        self.last_result = "not tried yet"
        self._family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._interval = FIRST_INTERVAL
        self._probing_since: float | None = None  # the first failed attempt
        self._next_attempt = 0.0
        self._attempt_started = 0.0
        self._attempt_deadline = 0.0
        self._sock: socket.socket | None = None
        self._phase = ""  # "connect", "handshake", "request" or "response" while an attempt runs
        self._closed_handshakes = 0
        self._first_closed_handshake = 0.0
        self._buffer = b""
        self._selector: selectors.BaseSelector | None = None

    def netloc(self) -> str:
        """``host:port``, with IPv6 addresses in brackets."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def describe(self) -> str:
        """Say what is probed, for messages."""
        if self.path is None:
            if self.tls is not None:
                return f"a TCP connect and TLS handshake to {self.netloc()}"
            return f"a TCP connect to {self.netloc()}"
        scheme = "https" if self.tls is not None else "http"
        return f"GET {scheme}://{self.netloc()}{self.path} answering 2xx"

    def last_attempt(self, now: float) -> str:
        """Say how the last attempt went, or what the one in flight has got so far."""
        if self._sock is None:
            return self.last_result
        connected = self._phase in ("handshake", "request", "response")
        if self.last_result.startswith("answered") or (not connected and self.last_result != "not tried yet"):
            return self.last_result  # says more than an attempt that has not got anywhere yet
        waited = f"no answer within {now - self._attempt_started:.2g} s"
        if self._phase == "handshake":
            return f"connected, TLS handshake unfinished: {waited}"
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
        if now < self._next_attempt or self.fatal is not None:
            return
        sock = socket.socket(self._family, socket.SOCK_STREAM)
        sock.setblocking(False)
        code = sock.connect_ex((self.host, self.port))
        if code not in (0, errno.EINPROGRESS, errno.EAGAIN):
            sock.close()
            self._retry_later(now, os.strerror(code))
            return
        self._sock = sock
        self._phase = "connect"
        self._buffer = b""
        self._attempt_started = now
        self._attempt_deadline = now + ATTEMPT_TIMEOUT
        selector.register(sock, selectors.EVENT_WRITE, self)

    def on_event(self, now: float) -> bool:
        """Handle readiness of the probe's socket; return whether the service is ready."""
        assert self._sock is not None and self._selector is not None
        if self._phase == "connect":
            return self._connected(now)
        if self._phase == "handshake":
            return self._handshake(now)
        if self._phase == "request":
            return self._send_request(now)
        return self._read_response(now)

    def _connected(self, now: float) -> bool:
        sock = self._sock
        assert sock is not None and self._selector is not None
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
        if self.tls is not None:
            # The wrapped socket is a new object on the same descriptor: register it anew.
            self._selector.unregister(sock)
            self._sock = self.tls.wrap_socket(
                sock, server_hostname=self._server_hostname, do_handshake_on_connect=False
            )
            self._selector.register(self._sock, selectors.EVENT_WRITE, self)
            self._phase = "handshake"
            return self._handshake(now)
        if self.path is None:
            self._close()
            self.last_result = "connected"
            return True
        self._phase = "request"
        return self._send_request(now)

    def _handshake(self, now: float) -> bool:
        sock = self._sock
        assert isinstance(sock, ssl.SSLSocket) and self._selector is not None
        try:
            sock.do_handshake()
        except ssl.SSLWantReadError:
            self._selector.modify(sock, selectors.EVENT_READ, self)
            return False
        except ssl.SSLWantWriteError:
            self._selector.modify(sock, selectors.EVENT_WRITE, self)
            return False
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError, ConnectionError) as error:
            # A service that is still starting may close a connection; one that does it again
            # and again for a while speaks something else than TLS (it dropped our ClientHello).
            self._fail(now, f"the connection was closed during the TLS handshake ({error.__class__.__name__})")
            self._closed_handshakes += 1
            self._first_closed_handshake = self._first_closed_handshake or now
            elapsed = now - self._first_closed_handshake
            if self._closed_handshakes >= CLOSED_HANDSHAKES and elapsed >= CLOSED_HANDSHAKES_SECONDS:
                self.fatal = (
                    f"failed the TLS handshake on {self.netloc()}: the service closed the connection during the "
                    f"handshake {self._closed_handshakes} times in {elapsed:.1f} s, so it does not seem to speak TLS."
                ) + (f" {self._tls_hint}" if self._tls_hint else "")
            return False
        except ssl.SSLError as error:
            self._close()
            reason = _tls_failure(error)
            self.last_result = f"TLS handshake failed: {reason}"
            self.fatal = f"failed the TLS handshake on {self.netloc()}: {reason}." + (
                f" {self._tls_hint}" if self._tls_hint else ""
            )
            return False
        except OSError as error:
            self._fail(now, f"TLS handshake: {error.strerror or error}")
            return False
        if self.path is None:
            self._close()
            self.last_result = f"TLS handshake done ({sock.version()})"
            return True
        self._phase = "request"
        return self._send_request(now)

    def _send_request(self, now: float) -> bool:
        sock = self._sock
        assert sock is not None and self._selector is not None
        host = f"[{self.host}]" if ":" in self.host else self.host
        host_header = self._host_header or f"{host}:{self.port}"
        request = (
            f"GET {self.path} HTTP/1.1\r\nHost: {host_header}\r\n"
            "User-Agent: pytest-wsservice\r\nConnection: close\r\n\r\n"
        )
        try:
            sock.send(request.encode("ascii"))  # a few dozen bytes: fits any socket buffer
        except ssl.SSLWantWriteError:
            self._selector.modify(sock, selectors.EVENT_WRITE, self)
            return False
        except ssl.SSLWantReadError:
            self._selector.modify(sock, selectors.EVENT_READ, self)
            return False
        except OSError as error:
            self._fail(now, error.strerror or str(error))
            return False
        self._phase = "response"
        self._selector.modify(sock, selectors.EVENT_READ, self)
        return False

    def _read_response(self, now: float) -> bool:
        sock = self._sock
        assert sock is not None
        try:
            data = sock.recv(4096)
        except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
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
        status = parts[1] if len(parts) >= 2 and parts[0].startswith("HTTP/") else ""
        if len(status) == 3 and status.startswith("2"):
            self._close()
            self.last_result = status
            return True
        self._fail(now, f"answered {status_line[:200]!r}")
        if status == "404":
            self.fatal = f"answered GET {self.path} on {self.netloc()} with {status_line[:200]!r}: it has no such path"
        return False

    def _fail(self, now: float, reason: str) -> None:
        self._close()
        self._retry_later(now, reason)

    def _retry_later(self, now: float, reason: str) -> None:
        self.last_result = reason
        self._next_attempt = now + self._interval
        if self._probing_since is None:
            self._probing_since = now
        early = now - self._probing_since < EARLY_PERIOD
        self._interval = min(self._interval * 2, EARLY_MAX_INTERVAL if early else MAX_INTERVAL)

    def _close(self) -> None:
        if self._sock is not None:
            if self._selector is not None:
                self._selector.unregister(self._sock)
            self._sock.close()
            self._sock = None
            self._phase = ""

    def close(self) -> None:
        """Abandon any attempt in flight."""
        self._close()


def _tls_failure(error: ssl.SSLError) -> str:
    """Word a failed handshake: what the client saw, in words, then the library's code."""
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"the service's certificate was not accepted ({error.verify_message or error.reason})"
    reason = str(getattr(error, "reason", None) or error)
    if reason in ("WRONG_VERSION_NUMBER", "HTTP_REQUEST", "PACKET_LENGTH_TOO_LONG", "RECORD_LAYER_FAILURE"):
        return f"the service did not answer in TLS ({reason}): it seems to speak plain HTTP"
    return reason
