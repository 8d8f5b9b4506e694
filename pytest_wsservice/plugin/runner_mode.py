"""``--service-runner-mode``: start the service by hand and keep it running until Ctrl-C.

Replaces the collected tests with one item that requests ``service_handle``, so the
service starts through the same fixtures (and the user's overrides of them).
Loaded as a plugin module by ``pytest_wsservice``; it imports nothing heavy.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pytest

from .settings import settings_of
from .state import STATE

if TYPE_CHECKING:
    from ..service.handle import ServiceHandle


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    if not settings_of(config).runner_mode:
        return
    # Run one item instead of the tests: it starts the service through the same
    # fixtures (and the user's overrides of them) and waits for Ctrl-C.
    parent = items[0].parent if items else session
    runner = pytest.Function.from_parent(parent, name="wsservice_runner", callobj=_run_service_by_hand)
    config.hook.pytest_deselected(items=list(items))
    items[:] = [runner]


def _run_service_by_hand(service_handle: ServiceHandle, pytestconfig: pytest.Config) -> None:
    from ..service.logfile import LogFollower

    state = pytestconfig.stash[STATE]
    process = state.services.current if state.services is not None else None
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    reporter = pytestconfig.pluginmanager.getplugin("terminalreporter")
    config = service_handle.config or {}
    lines = [
        f"wsservice runner mode: the service is running (pid {service_handle.pid}).",
        f"  base URL:  {service_handle.base_url}",
        *(f"  {kind + ':':10} {url}" for kind, url in _service_urls(service_handle, config)),
        f"  config:    {service_handle.config_path}",
        f"  log:       {service_handle.log_path}",
        "Its log follows. Press Ctrl-C to stop it.",
    ]
    with capture.global_and_fixture_disabled() if capture is not None else _nothing():
        for line in lines:
            if reporter is not None:
                reporter.write_line(line)
            else:
                print(line, flush=True)
        follower = None
        if state.follower is None and service_handle.log_path is not None:
            follower = LogFollower(service_handle.log_path, sys.stderr, offset=0).start()
        try:
            # Waits for Ctrl-C, on purpose without a deadline; wakes up each second to see
            # whether the service has exited by itself.
            while process is None or process.wait_exit(1.0) is None:
                if process is None:
                    time.sleep(1.0)  # a service_start override: nothing of ours to watch
        except KeyboardInterrupt:
            if reporter is not None:
                reporter.write_line("\nwsservice runner mode: Ctrl-C, stopping the service.")
            return
        finally:
            if follower is not None:
                follower.close()
    # The service exited by itself: service_handle's teardown reports how.


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc_info: object) -> None:
        return None


def _service_urls(handle: ServiceHandle, config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The handlers' URLs from the config: ``("WebSocket", "ws://.../chat")``, ``("HTTP", ...)``."""
    from yarl import URL

    components = config.get("components_manager", {}).get("components", {}) if isinstance(config, Mapping) else {}
    urls = []
    for name, component in components.items() if isinstance(components, Mapping) else ():
        path = component.get("path") if isinstance(component, Mapping) else None
        if not isinstance(path, str) or not path:
            continue
        url = handle.base_url.join(URL(path.lstrip("/")))
        if "websocket" in str(name):
            urls.append(("WebSocket", str(url.with_scheme("wss" if url.scheme == "https" else "ws"))))
        elif name == "handler-chat-page":
            urls.append(("Page", f"{url} (a chat page: open it in a browser)"))
        else:
            urls.append(("HTTP", str(url)))
    return urls
