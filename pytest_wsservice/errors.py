"""Exceptions raised by pytest-wsservice.

Every message is one paragraph that names what went wrong (the file, key, option,
path or process) and what to do about it. Users catch these by the names exported
from :mod:`pytest_wsservice`.
"""

from __future__ import annotations

__all__ = [
    "ServiceConfigError",
    "ServiceControlError",
    "ServiceExitedError",
    "ServicePortInUse",
    "ServiceRequestTimeout",
    "ServiceStartError",
    "ServiceStartTimeout",
    "WebSocketHandshakeError",
    "WebSocketMessageTypeError",
    "WebSocketTimeout",
    "WsServiceError",
]


def seconds_text(value: float) -> str:
    """Word a duration as the messages do: ``'1 second'``, ``'2.5 seconds'``."""
    return f"{value:g} second" + ("" if value == 1 else "s")


class WsServiceError(Exception):
    """Base class of every error that pytest-wsservice raises on purpose."""


class ServiceConfigError(WsServiceError):
    """The static config, the config vars, a config hook or an option is unusable.

    The message names the file and the key path (``components_manager.components.server``)
    or the option, and says what to change.
    """


class ServiceStartError(WsServiceError):
    """The service could not be started, or exited before it was ready.

    Attributes:
        returncode: The exit status (negative for a signal), or ``None`` if the
            process never ran or is still running.
        log_tail: The last lines of the service's output and log, as one string.
    """

    def __init__(self, message: str, *, returncode: int | None = None, log_tail: str = "") -> None:
        super().__init__(message)
        self.returncode = returncode
        self.log_tail = log_tail


class ServiceStartTimeout(ServiceStartError, TimeoutError):
    """The service did not become ready before ``--service-start-timeout`` seconds."""


class ServiceExitedError(ServiceStartError):
    """The service exited while tests were using it."""


class ServicePortInUse(ServiceStartError):
    """The service's port is held by another process, so the service cannot listen there.

    Raised when a fixed port is taken before the start, when the service exits because
    it could not bind, or when the process answering on the port is not the service.
    A port the plugin chose itself is retried on another port instead.

    Attributes:
        port: The port.
        holder: The pid of the process holding it, or ``None`` if it cannot be seen.
    """

    def __init__(
        self, message: str, *, port: int, holder: int | None = None, returncode: int | None = None, log_tail: str = ""
    ) -> None:
        super().__init__(message, returncode=returncode, log_tail=log_tail)
        self.port = port
        self.holder = holder


class WebSocketHandshakeError(WsServiceError):
    """The service rejected the WebSocket opening handshake.

    Attributes:
        url: The URL that was requested.
        status: The HTTP status of the rejection, for example 400 or 426.
        headers: The response headers, as a mapping.
        body: The response body, as bytes.
    """

    def __init__(self, message: str, *, url: str, status: int, headers: dict[str, str], body: bytes) -> None:
        super().__init__(message)
        self.url = url
        self.status = status
        self.headers = headers
        self.body = body


class WebSocketTimeout(WsServiceError, TimeoutError):
    """No message arrived (or the connection did not open) before the deadline.

    The message names the path and how many seconds were waited.
    """


class WebSocketMessageTypeError(WsServiceError, TypeError):
    """``recv_text`` received a binary message, or ``recv_bytes`` a text one.

    Attributes:
        received: The message that did arrive (``bytes`` or ``str``), so nothing is lost.
    """

    def __init__(self, message: str, *, received: str | bytes) -> None:
        super().__init__(message)
        self.received = received


class ServiceRequestTimeout(WsServiceError, TimeoutError):
    """An HTTP request of ``service_client`` got no complete response before its deadline.

    The message names the method, the path and the seconds waited.
    """


class ServiceControlError(WsServiceError):
    """The service's tests-control component is missing, refused a request, or answered badly.

    Raised by ``dynamic_config``, the ``config`` marker and ``service_client.capture_logs()``.
    The message names the static config, the component or the value, and what to change.

    Attributes:
        status: The HTTP status tests-control answered with, or ``None`` if no answer
            came (or the component is missing).
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
