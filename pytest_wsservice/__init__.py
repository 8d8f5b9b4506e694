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
import sys
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
    from pytest import PytestPluginManager

    from .clients.http import ServiceClient
    from .clients.logcapture import LogCapture, LogLine
    from .clients.opening import WebSocketOpening
    from .clients.response import ServiceResponse
    from .clients.tests_control import DynamicConfig
    from .clients.websocket import WebSocketClient, WebSocketConnection
    from .errors import WebSocketHandshakeError
    from .service.handle import ServiceHandle
    from .service.process import ServiceProcess

# The plugin's modules, in the order pytest registers them (settings first: its
# pytest_configure parses the options the others read). Not ``pytest_plugins``: pytest
# looks each name of that list up among every installed distribution's entry points
# first, which cost ~10 ms a name; pytest_plugin_registered below imports them directly.
PLUGIN_MODULES = (
    "pytest_wsservice.plugin.settings",
    "pytest_wsservice.plugin.progress",
    "pytest_wsservice.plugin.config",
    "pytest_wsservice.plugin.service",
    "pytest_wsservice.plugin.clients",
    "pytest_wsservice.plugin.chaos",
    "pytest_wsservice.plugin.control",
    "pytest_wsservice.plugin.mockserver",
    "pytest_wsservice.plugin.reuse",
    "pytest_wsservice.plugin.early",
    "pytest_wsservice.plugin.asyncio_marking",
    "pytest_wsservice.plugin.reporting",
    "pytest_wsservice.plugin.runner_mode",
    "pytest_wsservice.plugin.scaling",
    "pytest_wsservice.plugin.xdist_worker",
    "pytest_wsservice.plugin.asyncio_hint",
)


def pytest_plugin_registered(plugin: object, manager: PytestPluginManager) -> None:
    """When pytest registers this package (entry point, ``-p`` or a conftest's
    ``pytest_plugins``), import and register the plugin's modules under their module
    names, as ``pytest_plugins`` would: ``-p no:<module>`` still blocks one, and a
    module already registered is left alone. Their asserts are rewritten as before.
    """
    if plugin is sys.modules[__name__]:
        for module_name in PLUGIN_MODULES:
            manager.import_plugin(module_name)


def _version() -> str:
    """The installed distribution's version (pyproject.toml is the one place it is written).

    Read on first use of ``__version__``: importlib.metadata costs milliseconds to import.
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pytest-wsservice")
    except PackageNotFoundError:  # run from a source tree that is not installed
        return "0+unknown"


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
    "ServiceResponse",
    "ServiceStartError",
    "ServiceStartTimeout",
    "WebSocketClient",
    "WebSocketConnection",
    "WebSocketHandshakeError",
    "WebSocketMessageTypeError",
    "WebSocketOpening",
    "WebSocketTimeout",
    "WsServiceError",
    "__version__",
]

# Public name -> the module that defines it, imported on first use.
_LAZY_NAMES = {
    "DynamicConfig": ".clients.tests_control",
    "LogCapture": ".clients.logcapture",
    "LogLine": ".clients.logcapture",
    "ServiceClient": ".clients.http",
    "ServiceHandle": ".service.handle",
    "ServiceProcess": ".service.process",
    "ServiceResponse": ".clients.response",
    "WebSocketOpening": ".clients.opening",
    "WebSocketHandshakeError": ".errors",  # a websockets InvalidStatus, so defined on first use
    "WebSocketClient": ".clients.websocket",
    "WebSocketConnection": ".clients.websocket",
}


def __getattr__(name: str) -> Any:
    # No __dir__ on purpose: pluggy scans dir(module) for hooks, and listing the lazy
    # names there would import websockets and aiohttp on every pytest start.
    if name == "__version__":
        value: Any = _version()
        globals()[name] = value
        return value
    module_name = _LAZY_NAMES.get(name)
    if module_name is None:
        raise AttributeError(f"module 'pytest_wsservice' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name, __name__), name)
    globals()[name] = value
    return value
