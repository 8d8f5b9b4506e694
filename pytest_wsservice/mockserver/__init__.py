"""A mockserver for the service's HTTP and WebSocket upstreams, and testpoints.

The engine behind the ``mockserver``, ``mockserver_info`` and ``testpoint`` fixtures; it
never imports pytest. It keeps testsuite's names so that a testsuite user feels at home:

- :class:`MockServer` runs an aiohttp server on ``127.0.0.1`` and a free port, on its
  own thread and event loop; ``start()`` and ``stop()`` are synchronous, with deadlines.
- :class:`MockserverSession` is one test's view: ``handler``, ``json_handler``,
  ``make_response``, ``websocket``, ``url``, ``base_url`` and ``testpoint``.
- :class:`CallQueue` wraps every handler: ``times_called``, ``has_calls``,
  ``next_call()``, ``await wait_call()``, ``flush()``.
- :class:`WebSocketUpstream` and :class:`UpstreamConnection` drive a WebSocket the
  service opened to the mockserver, and record every frame.
- :class:`TestpointRegistry` answers testsuite's testpoint protocol on ``/testpoint``.

Handlers run on the mockserver's loop: they must not await objects of the test's loop.
"""

from __future__ import annotations

from .callqueue import DEFAULT_WAIT_TIMEOUT, CallQueue
from .errors import (
    CallQueueEmptyError,
    CallQueueError,
    CallQueueTimeoutError,
    MockserverError,
    MockserverStartError,
    MockserverTimeout,
    UnhandledRequestsError,
    UpstreamClosedError,
)
from .http import MockRequest, MockResponse, make_response
from .server import MockServer, MockserverInfo
from .session import DEFAULT_TIMEOUT, MockserverSession
from .testpoint import TestpointRegistry
from .websocket import Frame, UpstreamConnection, WebSocketUpstream

__all__ = [
    "DEFAULT_TIMEOUT",
    "DEFAULT_WAIT_TIMEOUT",
    "CallQueue",
    "CallQueueEmptyError",
    "CallQueueError",
    "CallQueueTimeoutError",
    "Frame",
    "MockRequest",
    "MockResponse",
    "MockServer",
    "MockserverError",
    "MockserverInfo",
    "MockserverSession",
    "MockserverStartError",
    "MockserverTimeout",
    "TestpointRegistry",
    "UnhandledRequestsError",
    "UpstreamClosedError",
    "UpstreamConnection",
    "WebSocketUpstream",
    "make_response",
]
