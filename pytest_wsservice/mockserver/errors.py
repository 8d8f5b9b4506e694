"""The errors the mockserver raises.

They all derive from :class:`MockserverError`, itself a
:class:`pytest_wsservice.errors.WsServiceError`::

    WsServiceError
    └── MockserverError
        ├── MockserverStartError           the server could not start or stop in time
        ├── MockserverTimeout              a wait on an upstream connection ran out
        ├── UpstreamClosedError            recv() or send() on a closed upstream connection
        ├── UnhandledRequestsError         requests no handler took, or handlers that raised
        └── CallQueueError
            ├── CallQueueEmptyError        next_call() on an empty queue
            └── CallQueueTimeoutError      wait_call() ran out of time
"""

from __future__ import annotations

from ..errors import WsServiceError

__all__ = [
    "CallQueueEmptyError",
    "CallQueueError",
    "CallQueueTimeoutError",
    "MockserverError",
    "MockserverStartError",
    "MockserverTimeout",
    "UnhandledRequestsError",
    "UpstreamClosedError",
]


class MockserverError(WsServiceError):
    """Base class of every error the mockserver raises on purpose."""


class MockserverStartError(MockserverError):
    """The mockserver could not bind its port, or did not start or stop before its deadline."""


class MockserverTimeout(MockserverError, TimeoutError):
    """A wait for an upstream connection or message ran out; the message names what and how long."""


class UpstreamClosedError(MockserverError):
    """The upstream WebSocket connection is closed, so nothing more can be received or sent.

    Attributes:
        code: The close code of the connection, or ``None`` if it closed without one.
    """

    def __init__(self, message: str, *, code: int | None) -> None:
        super().__init__(message)
        self.code = code


class UnhandledRequestsError(MockserverError):
    """Requests reached the mockserver that no handler took, or a handler raised.

    Attributes:
        problems: One line per problem, such as ``'POST /auth: no handler'``.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  {problem}" for problem in self.problems)
        super().__init__(
            f"the mockserver answered {len(self.problems)} request(s) with 500 during this test:\n{lines}\n"
            "Register a handler for each path with @mockserver.handler(path) / @mockserver.json_handler(path) "
            "(or mockserver.websocket(path) for a WebSocket upstream), or fix the handler that raised."
        )


class CallQueueError(MockserverError):
    """Base class of the call-queue errors."""


class CallQueueEmptyError(CallQueueError):
    """``next_call()`` found no recorded call."""


class CallQueueTimeoutError(CallQueueError, TimeoutError):
    """``wait_call()`` saw no call before its deadline."""
