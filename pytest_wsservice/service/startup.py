"""Wait until a freshly started service is ready, with one deadline in seconds.

Three signals race; the first one wins:

- ``READY=1`` on a private ``NOTIFY_SOCKET`` (the sd_notify protocol): no polling lag;
- ``GET <handler-ping path>`` answering 200, when the config has a ping handler;
- otherwise a TCP connect to the listener.

The probes are polled every few milliseconds at first, backing off to 50 ms. The
service's exit is watched through a pidfd (Linux), so a service that dies is noticed at
once, not at the deadline. Everything runs in one ``selectors`` loop in the calling
thread: no threads, no event loop, no sleeps longer than the next thing to do.
"""

from __future__ import annotations

import os
import selectors
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from ..errors import ServicePortInUse, ServiceStartError, ServiceStartTimeout
from .exits import describe_returncode
from .ports import port_holder
from .probe import NotifySocket, Probe

if TYPE_CHECKING:
    from yarl import URL

    from .tls import TlsFiles

__all__ = ["NotifySocket", "Probe", "ReadinessResult", "SpawnedProcess", "StartingService", "wait_until_ready"]

#: Without a pidfd the process is polled this often, in seconds.
EXIT_POLL_INTERVAL = 0.005

#: What a failed TLS handshake of a service the plugin started asks the user to check.
TLS_HINT = (
    "With --service-tls the service must serve TLS with the certificate the plugin made: "
    "server.listener.tls.cert and .private-key in the patched config, or {tls_cert} and {tls_key} "
    "in --service-command or --service-env."
)


@dataclass(frozen=True)
class ReadinessResult:
    """How waiting ended.

    Attributes:
        outcome: ``"ready"``, ``"exited"``, ``"timeout"``, ``"foreign"`` (the probe
            connected to a listener of another process) or ``"refused"`` (an answer that
            waiting cannot change: a 404 on the ping path, a failed TLS handshake).
        detail: For ``ready``, which signal won; for ``timeout``, what was probed and the
            last result of each probe; for ``foreign``, which process holds the listener;
            for ``refused``, what the probe got (:attr:`Probe.fatal`).
        returncode: The exit status for ``exited`` (negative for a signal).
        via: For ``ready``, ``"notify"`` or ``"probe"``.
    """

    outcome: str
    detail: str
    returncode: int | None = None
    via: str = ""


def wait_until_ready(
    *,
    poll: Callable[[], int | None],
    timeout: float,
    probe: Probe | None = None,
    notify: NotifySocket | None = None,
    exit_fd: int | None = None,
    accept_sender: Callable[[int], bool] | None = None,
) -> ReadinessResult:
    """Wait until the service is ready, has exited, or ``timeout`` seconds have passed.

    Args:
        poll: Returns the process's exit status, or ``None`` while it runs
            (``subprocess.Popen.poll``).
        timeout: The one deadline, in seconds from now.
        probe: The HTTP ping or TCP probe, or ``None`` to rely on ``notify`` alone.
        notify: The notify socket passed to the child, or ``None``.
        exit_fd: A file descriptor that becomes readable when the process exits
            (a pidfd); without one the process is polled every few milliseconds.
        accept_sender: Says whether a ``READY=1`` from this pid counts (see
            :meth:`NotifySocket.received_ready`); every sender counts by default.

    Returns:
        A :class:`ReadinessResult`; this function never raises for a service that is
        not ready.
    """
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        if exit_fd is not None:
            selector.register(exit_fd, selectors.EVENT_READ, "exit")
        if notify is not None:
            selector.register(notify, selectors.EVENT_READ, "notify")
        try:
            while True:
                returncode = poll()
                if returncode is not None:
                    return ReadinessResult("exited", "the process exited", returncode)
                now = time.monotonic()
                if now >= deadline:
                    # A READY=1 already waiting counts (an early start may be waited for late).
                    if notify is not None and notify.received_ready(accept_sender):
                        return ReadinessResult("ready", f"READY=1 on notify socket {notify.address}", via="notify")
                    return ReadinessResult("timeout", _describe_probes(probe, notify))
                wakeup = deadline
                if probe is not None:
                    probe.step(now, selector)
                    wakeup = min(wakeup, probe.next_wakeup())
                if exit_fd is None:
                    wakeup = min(wakeup, now + EXIT_POLL_INTERVAL)
                for key, _ in selector.select(max(0.0, wakeup - now)):
                    if key.data == "notify" and notify is not None and notify.received_ready(accept_sender):
                        return ReadinessResult("ready", f"READY=1 on notify socket {notify.address}", via="notify")
                    if isinstance(key.data, Probe):
                        if key.data.on_event(time.monotonic()):
                            return ReadinessResult("ready", key.data.describe(), via="probe")
                        if key.data.foreign is not None:
                            return ReadinessResult("foreign", key.data.foreign)
                        if key.data.fatal is not None:
                            return ReadinessResult("refused", key.data.fatal)
        finally:
            if probe is not None:
                probe.close()


def _describe_probes(probe: Probe | None, notify: NotifySocket | None) -> str:
    parts = []
    if probe is not None:
        parts.append(f"probed {probe.describe()} (last attempt: {probe.last_attempt(time.monotonic())})")
    if notify is not None:
        heard = (
            "; ".join(
                message.strip() + ("" if sender is None else f" from pid {sender}")
                for message, sender in zip(notify.messages, notify.senders, strict=False)
            )
            or "nothing"
        )
        parts.append(f"listened for READY=1 on notify socket {notify.address} (received: {heard})")
    return " and ".join(parts) or "waited without a probe"


# --------------------------------------------------------------------------- a spawned service


class SpawnedProcess(Protocol):
    """What :class:`StartingService` needs of the process it waits for
    (:class:`~pytest_wsservice.service.process.ServiceProcess` is one)."""

    @property
    def pid(self) -> int: ...
    @property
    def pidfd(self) -> int | None: ...
    @property
    def foreign_holder(self) -> int | None: ...
    def poll(self) -> int | None: ...
    def kill(self) -> None: ...
    def stop(self, grace: float = 5.0) -> object: ...
    def in_session(self, pid: int) -> bool: ...
    def identify_listener(self, host: str, port: int) -> Callable[[], str | None]: ...
    def failure(
        self, kind: type[ServiceStartError], what: str, returncode: int | None = None, **attributes: Any
    ) -> ServiceStartError: ...
    def mark_ready(
        self,
        host: str,
        port: int,
        base_url: URL | None = None,
        config_path: str | os.PathLike[str] | None = None,
        config: Mapping[str, Any] | None = None,
        tls: TlsFiles | None = None,
    ) -> object: ...


P = TypeVar("P", bound=SpawnedProcess)


class StartingService(Generic[P]):
    """A service spawned by :meth:`ServiceProcess.launch`, not yet known to be ready.

    Call :meth:`wait_ready` once to get the ready :class:`ServiceProcess`, or
    :meth:`abandon` to stop it. Either way the notify socket is closed.
    """

    def __init__(
        self,
        process: P,
        notify: NotifySocket | None,
        *,
        started_at: float,
        host: str,
        port: int,
        ping_path: str | None,
        check_listener: bool,
        tls: TlsFiles | None = None,
    ) -> None:
        self.process = process
        self.started_at = started_at
        self.host = host
        self.port = port
        self.ping_path = ping_path
        self.tls = tls
        self._notify = notify
        self._check_listener = check_listener

    def wait_ready(
        self,
        timeout: float,
        *,
        base_url: URL | None = None,
        config_path: str | os.PathLike[str] | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> P:
        """Wait until the service is ready, ``timeout`` seconds after it was spawned at most.

        Args and Raises: as :meth:`ServiceProcess.start`. If anything goes wrong the
        process group is killed before the error is raised.
        """
        process, host, port, ping_path = self.process, self.host, self.port, self.ping_path
        notify_socket, self._notify = self._notify, None
        try:
            result = wait_until_ready(
                poll=process.poll,
                timeout=max(0.0, self.started_at + timeout - time.monotonic()),
                probe=Probe(
                    host,
                    port,
                    ping_path,
                    identify=process.identify_listener(host, port) if self._check_listener else None,
                    tls=self.tls.client_context() if self.tls is not None else None,
                    tls_hint=TLS_HINT,
                ),
                notify=notify_socket,
                exit_fd=process.pidfd,
                accept_sender=process.in_session,
            )
            if result.outcome == "exited":
                assert result.returncode is not None
                what = f"{describe_returncode(result.returncode)} before it was ready"
                holder = port_holder(host, port)
                if holder is not None:
                    raise process.failure(
                        ServicePortInUse,
                        f"{what}: port {port} on {host} is in use by {holder[1]}",
                        result.returncode,
                        port=port,
                        holder=holder[0],
                    )
                raise process.failure(ServiceStartError, what, result.returncode)
            if result.outcome == "timeout":
                process.kill()  # stop its writing before the tail is read
                raise process.failure(ServiceStartTimeout, f"was not ready within {timeout:g} s; {result.detail}")
            if result.outcome == "foreign":
                process.kill()
                raise process.failure(
                    ServicePortInUse,
                    f"is not what listens on port {port}: the probe ({Probe(host, port, ping_path).describe()}) "
                    f"connected to {result.detail}, outside the service's session",
                    port=port,
                    holder=process.foreign_holder,
                )
            if result.outcome == "refused":
                process.kill()
                raise process.failure(ServiceStartError, self._refusal(result.detail))
            process.mark_ready(host, port, base_url, config_path, config, tls=self.tls)
            return process
        except BaseException:
            # Whatever happened (an error, Ctrl-C), leave nothing running.
            process.kill()
            raise
        finally:
            if notify_socket is not None:
                notify_socket.close()

    def _refusal(self, detail: str) -> str:
        """What the service answered that waiting cannot change, and what to fix."""
        path = self.ping_path
        if not detail.startswith("answered") or path is None:
            return detail.rstrip(".")
        return (
            f"{detail}. Fix the ping path {path!r} (--service-ping, else the config's handler-ping.path), "
            f"or serve GET {path} with a 2xx status"
        )

    def abandon(self, grace: float = 5.0) -> None:
        """Stop the process group (SIGTERM, then SIGKILL after ``grace`` s) and close the socket."""
        try:
            self.process.stop(grace=grace)
        finally:
            if self._notify is not None:
                self._notify.close()
                self._notify = None
