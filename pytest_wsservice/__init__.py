"""pytest-wsservice: start a WebSocket service from its static config and test it.

Load it with ``pytest_plugins = ['pytest_wsservice']`` in the root ``conftest.py``
(the ``pytest11`` entry point loads it too), then run
``pytest --service-config path/to/static_config.yaml``.

The names below are the public surface. Heavy modules (websockets, aiohttp, PyYAML)
are imported only when a name that needs them is first used, so loading the plugin
costs a pytest run that uses none of its fixtures next to nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    ServiceConfigError,
    ServiceControlError,
    ServiceExitedError,
    ServicePortInUse,
    ServiceRequestTimeout,
    ServiceStartError,
    ServiceStartTimeout,
    WebSocketMessageTypeError,
    WebSocketTimeout,
    WsServiceError,
)

if TYPE_CHECKING:
    from .errors import WebSocketHandshakeError
    from .http import ServiceClient
    from .logcapture import LogCapture, LogLine
    from .process import ServiceHandle, ServiceProcess
    from .tests_control import DynamicConfig
    from .websocket import WebSocketClient, WebSocketConnection

# pytest registers this package as the plugin and then loads the hooks and fixtures.
pytest_plugins = [
    "pytest_wsservice.plugin",
    "pytest_wsservice.early",
    "pytest_wsservice.asyncio_marking",
    "pytest_wsservice.reporting",
    "pytest_wsservice.runner_mode",
    "pytest_wsservice.control",
]

__version__ = "0.1.0"

__all__ = [
    "DynamicConfig",
    "LogCapture",
    "LogLine",
    "ServiceClient",
    "ServiceConfigError",
    "ServiceControlError",
    "ServiceExitedError",
    "ServiceHandle",
    "ServicePortInUse",
    "ServiceProcess",
    "ServiceRequestTimeout",
    "ServiceStartError",
    "ServiceStartTimeout",
    "WebSocketClient",
    "WebSocketConnection",
    "WebSocketHandshakeError",
    "WebSocketMessageTypeError",
    "WebSocketTimeout",
    "WsServiceError",
    "__version__",
]

# Public name -> the private module that defines it, imported on first use.
_LAZY_NAMES = {
    "DynamicConfig": ".tests_control",
    "LogCapture": ".logcapture",
    "LogLine": ".logcapture",
    "ServiceClient": ".http",
    "ServiceHandle": ".process",
    "ServiceProcess": ".process",
    "WebSocketHandshakeError": ".errors",  # a websockets InvalidStatus: defined on first use
    "WebSocketClient": ".websocket",
    "WebSocketConnection": ".websocket",
}


def __getattr__(name: str) -> Any:
    # No __dir__ on purpose: pluggy scans dir(module) for hooks, and listing the lazy
    # names there would import websockets and aiohttp on every pytest start.
    module_name = _LAZY_NAMES.get(name)
    if module_name is None:
        raise AttributeError(f"module 'pytest_wsservice' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name, __name__), name)
    globals()[name] = value
    return value
