"""What the plugin remembers during one pytest process, kept in ``config.stash``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .options import DEFAULT_STOP_TIMEOUT
from .signals import _restore_sigterm

if TYPE_CHECKING:
    from .errors import ServiceStartError
    from .lifecycle import EarlyStart, ServiceSession
    from .process import LogFollower, ServiceHandle


class _State:
    """Everything the plugin remembers during one pytest process (kept in ``config.stash``)."""

    def __init__(self) -> None:
        #: The port our ``service_port`` fixture picked, which we may change; else ``None``.
        self.own_port: int | None = None
        #: What our ``service_config`` fixture built the default config from, to rebuild
        #: it with a marker's hooks: (yaml, vars, hooks, source, result).
        self.pipeline: tuple[Any, ...] | None = None
        #: Effective configs for marker hooks, by the hooks' identities.
        self.marker_configs: dict[tuple[int, ...], tuple[list[Any], dict[str, Any]]] = {}
        self.services: ServiceSession | None = None
        self.external: ServiceHandle | None = None
        self.follower: LogFollower | None = None
        self.sigterm_installed = False
        #: Restart reasons reported by xdist workers, for the controller's summary.
        self.worker_restarts: dict[str, list[str]] = {}
        #: The service spawned while pytest collects (see _early_start), until adopted.
        self.early: EarlyStart | None = None
        #: Spawn early from the first collected test that needs the service.
        self.early_on_first_item = False
        #: What the early start chose, which the default fixtures hand out again so that
        #: the recipe they build matches it: (host, port) and the session's temp dir.
        self.early_port: tuple[str, int] | None = None
        self.early_tmpdir: Path | None = None
        #: Whether the plugin's own service_start has returned (so the session fixture
        #: that stops the services at the end is set up).
        self.start_done = False
        #: Per collector node: whether the service_start its tests see is the plugin's.
        self.start_is_ours: dict[Any, bool] = {}

    def close(self) -> list[ServiceStartError]:
        problems: list[ServiceStartError] = []
        try:
            self.discard_early()
            if self.services is not None:
                problems = self.services.close()
        finally:
            if self.follower is not None:
                self.follower.close()
                self.follower = None
            _restore_sigterm(self)
        return problems

    def discard_early(self) -> None:
        early, self.early = self.early, None
        if early is not None:
            early.discard(DEFAULT_STOP_TIMEOUT)


_STATE = pytest.StashKey[_State]()
_LOG_START = pytest.StashKey[tuple[Path, int]]()
