"""What the plugin remembers during one pytest process, kept in ``config.stash``.

Only what hooks and fixtures cannot hand to each other as fixture values lives here:
the session's services (stopped at the end, even after an interrupted teardown), the
service spawned early by a hook until a fixture adopts it, the live log follower, the
SIGTERM handler and the restart reasons gathered from xdist workers. Values that one
fixture computes for another are fixture values, never fields of this object.
"""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ..errors import ServiceStartError
    from ..service.handle import ServiceHandle
    from ..service.logfile import LogFollower
    from ..service.recipe import ServiceRecipe
    from ..service.session import EarlyStart, ServiceSession

__all__ = ["LOG_START", "STATE", "EarlyPlan", "PluginState"]


@dataclass(frozen=True)
class EarlyPlan:
    """What the early start chose, handed to the default fixtures (``_wsservice_early``) so
    that the recipe they build is the same: the listener's host and the port it picked
    (``None`` if ``--service-port`` fixed it), and the session's temp dir."""

    host: str
    port: int | None
    tmpdir: Path
    recipe: ServiceRecipe | None = None


@dataclass(eq=False)
class PluginState:
    """Everything the plugin remembers during one pytest process (see the module docstring)."""

    services: ServiceSession | None = None
    external: ServiceHandle | None = None
    follower: LogFollower | None = None
    sigterm_installed: bool = False
    #: Restart reasons reported by xdist workers, for the controller's summary.
    worker_restarts: dict[str, list[str]] = field(default_factory=dict)
    #: The service spawned while pytest collects (see plugin/early.py), until adopted.
    early: EarlyStart | None = None
    #: What the early start chose, for the fixtures to hand on.
    early_plan: EarlyPlan | None = None
    #: Spawn early from the first collected test that needs the service.
    early_on_first_item: bool = False
    #: Whether the plugin's own service_start has returned.
    start_done: bool = False
    #: Per collector node: whether the service_start its tests see is the plugin's.
    start_is_ours: dict[Any, bool] = field(default_factory=dict)

    def close(self, stop_timeout: float) -> list[ServiceStartError]:
        """Stop everything: the early service, the session's services, the follower; the problems found."""
        problems: list[ServiceStartError] = []
        try:
            self.discard_early(stop_timeout)
            if self.services is not None:
                problems = self.services.close()
        finally:
            if self.follower is not None:
                self.follower.close()
                self.follower = None
            self.restore_sigterm()
        return problems

    def discard_early(self, stop_timeout: float) -> None:
        early, self.early = self.early, None
        if early is not None:
            early.discard(stop_timeout)

    def install_sigterm(self) -> None:
        """Turn SIGTERM into a clean pytest exit, so that teardown stops the service.

        Only if nobody else handles SIGTERM (the handler is the default) and only from the
        main thread; the default is restored when the session's services are stopped.
        """
        if self.sigterm_installed or threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return

        def on_sigterm(signum: int, frame: object) -> None:
            self.restore_sigterm()  # a second SIGTERM ends pytest at once (the guard still cleans up)
            pytest.exit("received SIGTERM: stopping the service and exiting", returncode=128 + signal.SIGTERM)

        signal.signal(signal.SIGTERM, on_sigterm)
        self.sigterm_installed = True

    def restore_sigterm(self) -> None:
        if self.sigterm_installed and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            self.sigterm_installed = False


STATE = pytest.StashKey[PluginState]()
#: Per test item: the service's log file and its size when ``service_handle`` was set up.
LOG_START = pytest.StashKey[tuple[Path, int]]()
