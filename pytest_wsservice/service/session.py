"""The service across a test session: one process at a time, restarted when needed.

A :class:`ServiceSession` keeps at most one service running (per pytest process, so per
xdist worker). Each test asks it for a service with the config the test needs
(:meth:`ServiceSession.ensure`); the running one is handed back when it is alive and has
that config, and replaced otherwise. So:

- tests with the same effective config share one process;
- a test that needs another config (the ``wsservice_config_hooks`` marker) costs one
  restart, and the next test with the default config costs another; nothing is reordered;
- a service that died is noticed after the test that was running
  (:meth:`ServiceSession.check_after`), reported there, and the next test gets a fresh one.

Ports: when the port is the plugin's own choice, a start that fails because another
process holds the port (:class:`~pytest_wsservice.errors.ServicePortInUse`) is retried
on a fresh port within the same start deadline. A port fixed by the user is checked
before the start, and a taken one is reported with the process holding it.

Nothing here depends on pytest; the plugin's fixtures drive it.
"""

from __future__ import annotations

import contextlib
import copy
import os
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ServiceConfigError, ServiceExitedError, ServicePortInUse, ServiceStartError
from .config import LISTENER, listener_address, ping_path, write_service_config
from .exits import StopResult, describe_returncode
from .guard import OrphanGuard
from .handle import ServiceHandle, build_base_url
from .logquote import refer_to
from .ports import free_port, port_holder
from .process import ServiceProcess, StartingService
from .recipe import ServiceRecipe

__all__ = ["EarlyStart", "ServiceRecipe", "ServiceSession"]

#: A start moves to a fresh port at most this many times (within its deadline anyway).
MAX_PORT_CHANGES = 3


@dataclass
class EarlyStart:
    """A service spawned before anyone asked for it (while pytest collects), not waited for.

    :class:`ServiceSession` adopts it for its first start if that start would run exactly
    the same thing: the same command, environment, log file and config (so the same port);
    otherwise it stops it and starts the right one. Errors surface only when it is waited
    for, exactly as for a normal start.

    Attributes:
        starting: The spawned process, with its readiness signals.
        command: Its argv.
        env: The extra environment variables it was given (besides ``NOTIFY_SOCKET``).
        config: The patched config it runs with.
        config_path: Where that config is written.
        log_path: Its log file.
        guard: The orphan guard watching it, handed on to the session that adopts it.
    """

    starting: StartingService[ServiceProcess]
    command: tuple[str, ...]
    env: Mapping[str, str] | None
    config: Mapping[str, Any]
    config_path: Path | None
    log_path: Path
    guard: OrphanGuard | None = None

    def matches(
        self,
        command: Sequence[str],
        env: Mapping[str, str] | None,
        config: Mapping[str, Any],
        config_path: Path | None,
        log_path: Path,
    ) -> bool:
        """Whether a start with these inputs would run exactly this process."""
        return (
            self.command == tuple(command)
            and (self.env or None) == (env or None)
            and self.config_path == config_path
            and self.log_path == log_path
            and self.config == config
        )

    @property
    def kept(self) -> bool:
        """Whether it is a kept service (``--service-reuse``), which needs no orphan guard."""
        return bool(getattr(self.starting.process, "kept", False))

    def discard(self, grace: float = 5.0, *, keep: bool = True) -> None:
        """Stop the process group and close the guard (for a process nobody adopted); a kept
        service (``--service-reuse``) is left running unless ``keep`` is false."""
        try:
            detach = getattr(self.starting.process, "detach", None)
            if keep and detach is not None:
                detach()
            else:
                self.starting.abandon(grace)
        finally:
            if self.guard is not None:
                self.guard.close()
                self.guard = None


@dataclass
class _Running:
    process: ServiceProcess
    config: Mapping[str, Any]  # the config asked for, before a port change
    reported: bool = False  # its unexpected exit has been reported already


class ServiceSession:
    """The services of one test session; see the module docstring.

    Args:
        recipe: How to start the service.
        guard: Whether to run an :class:`~pytest_wsservice.process.OrphanGuard`.
        on_first_start: Called once, just before the first service is spawned.
        early: A service spawned ahead of time, adopted by the first start if it matches
            (see :class:`EarlyStart`) and stopped otherwise; the session owns it from now on.
    """

    def __init__(
        self,
        recipe: ServiceRecipe,
        *,
        guard: bool = True,
        on_first_start: Callable[[], None] | None = None,
        early: EarlyStart | None = None,
    ) -> None:
        self.recipe = recipe
        #: One line per restart, naming the test it was for and why:
        #: ``"t.py::test_y: the service was killed by signal SIGKILL during t.py::test_x"``.
        self.restarts: list[str] = []
        #: How many processes were started (port retries included).
        self.starts = 0
        self._use_guard = guard
        self._guard: OrphanGuard | None = None
        self._on_first_start = on_first_start
        self._current: _Running | None = None
        self._handles: set[int] = set()  # id() of every handle handed out
        self._keep: list[ServiceHandle] = []  # keeps those ids unique
        self._port = recipe.own_port
        self._configs: list[tuple[Mapping[str, Any], Path]] = []
        self._last_exit = ""
        self._problems: list[ServiceStartError] = []
        self._failed: list[tuple[Mapping[str, Any], Exception, str]] = []
        self._marker_configs: dict[tuple[int, ...], tuple[list[object], Mapping[str, Any]]] = {}
        self._early = early
        self._stop_deadline: float | None = None  # set by begin_close()
        if early is not None:
            self._guard, early.guard = early.guard, None
        #: Whether the first start adopted the service spawned ahead of time.
        self.adopted_early = False

    # ----------------------------------------------------------------- asking for a service

    @property
    def current(self) -> ServiceProcess | None:
        """The running service's process, if any."""
        return self._current.process if self._current is not None else None

    def config_for(self, hooks: Sequence[object], build: Callable[[], Mapping[str, Any]]) -> Mapping[str, Any]:
        """The effective config for a marker's ``hooks``: built once by ``build()``, then
        shared by every test with the same hooks (the same objects), so they share a service."""
        key = tuple(id(hook) for hook in hooks)
        cached = self._marker_configs.get(key)
        if cached is None:
            cached = self._marker_configs[key] = (list(hooks), build())  # keeps the ids valid
        return cached[1]

    def owns(self, handle: object) -> bool:
        """Whether ``handle`` came from this session (and not from an overridden fixture)."""
        return id(handle) in self._handles

    def ensure(
        self, config: Mapping[str, Any], why: str, *, warn: Callable[[str], None] | None = None
    ) -> ServiceHandle:
        """Return a ready service running ``config``, starting one if needed.

        Args:
            config: The effective patched config (before any port change of ours).
            why: Names who asks, for restart reasons: ``"tests/test_x.py::test_y"``.
            warn: Called with a message if the running service had exited unnoticed.

        Raises:
            ServiceStartError: As :meth:`ServiceProcess.start`, and
                :class:`ServicePortInUse` for a fixed port held by another process.
            ServiceConfigError: ``config`` cannot be written or passed to the command.
        """
        running = self._current
        reason = ""
        if running is not None:
            returncode = running.process.poll()
            if returncode is None and running.process.suspended():
                reason = self._last_exit = "the service was stopped (SIGSTOP) between tests"
                if warn is not None:
                    warn(
                        f"the service (pid {running.process.pid}) was stopped (SIGSTOP: state T in /proc/"
                        f"{running.process.pid}/stat) between tests; starting a new one for {why}."
                    )
                self._stop_current()
            elif returncode is None:
                if running.config is config or running.config == config:
                    return running.process.handle
                reason = "it needs another config"
                self._stop_current()
            else:
                if not running.reported:
                    running.reported = True  # the warning reports it
                    self._last_exit = f"the service {describe_returncode(returncode)} between tests"
                    if warn is not None:
                        warn(
                            f"the service (pid {running.process.pid}) {describe_returncode(returncode)} between "
                            f"tests; starting a new one for {why}. Its log: {running.process.log_path}"
                        )
                reason = self._last_exit
                self._stop_current()
        elif self._handles:
            reason = self._last_exit or "the service had stopped"
        for failed_config, error, first in self._failed:
            if failed_config == config:
                raise refer_to(error, first)  # failed before: do not wait for it again in every test
        try:
            handle = self._start(config)
        except (ServiceStartError, ServiceConfigError) as error:
            self._failed.append((config, error, why))
            self._last_exit = f"the start for {why} had failed"
            raise
        if reason:
            self.restarts.append(f"{why}: {reason}")
        self._last_exit = ""
        return handle

    def check_after(self, what: str) -> ServiceExitedError | None:
        """Return an error if the running service has exited (during ``what``), else ``None``.

        The exited service's group is stopped (its children too) and the next
        :meth:`ensure` starts a new one.
        """
        running = self._current
        if running is None or running.reported:
            return None
        returncode = running.process.poll()
        if returncode is None:
            return None
        running.reported = True
        words = describe_returncode(returncode)
        self._last_exit = f"the service {words} during {what}"
        running.process.stop(grace=self.recipe.stop_timeout)  # reaps it; ends what it left running
        self._current = None
        error = running.process.failure(ServiceExitedError, f"{words} during {what}", returncode)
        return error  # type: ignore[return-value]

    # ----------------------------------------------------------------- ending

    def begin_close(self) -> bool:
        """Send SIGTERM to the running service's group and return at once, so that the caller
        can go on (pytest prints its report) while the service shuts down; :meth:`close`
        then collects how it ended, within the recipe's ``stop_timeout`` counted from now.

        Returns:
            Whether a stop was begun: ``False`` if no service runs, or it has exited already
            (then :meth:`close` says so at once).
        """
        running = self._current
        if running is None or self._stop_deadline is not None or running.process.poll() is not None:
            return False
        if getattr(running.process, "kept", False):
            return False  # --service-reuse: close() leaves it running
        self._stop_deadline = time.monotonic() + self.recipe.stop_timeout
        pid = running.process.pid  # setsid(): the pid is the group's id; not reaped yet, so not reused
        for signum in (signal.SIGTERM, signal.SIGCONT):  # SIGCONT: a stopped service must see the SIGTERM
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signum)
        return True

    def close(self) -> list[ServiceStartError]:
        """Stop the running service and the orphan guard.

        Returns:
            The problems found while stopping services that were not reported yet: a
            service that exited on its own, failed to stop in time, or exited badly.
        """
        try:
            self._discard_early()
            detach = getattr(self.current, "detach", None)
            if detach is not None and self.current is not None and self.current.poll() is None:
                self._current = None
                detach()  # --service-reuse: it outlives the session
            elif self._current is not None:
                self._stop_current()
        finally:
            if self._guard is not None:
                self._guard.close()
                self._guard = None
        problems, self._problems = self._problems, []
        return problems

    def _stop_current(self) -> None:
        running, self._current = self._current, None
        assert running is not None
        grace = self.recipe.stop_timeout
        deadline, self._stop_deadline = self._stop_deadline, None
        if deadline is None:
            result = running.process.stop(grace=grace)
        else:  # SIGTERM went out in begin_close(): wait for what is left of the grace period
            returncode = running.process.wait_exit(max(0.0, deadline - time.monotonic()))
            # stop() reaps the group (children too) and releases the guard; SIGKILL if still running.
            stopped = running.process.stop(grace=max(0.0, deadline - time.monotonic()))
            if returncode is None:
                result = StopResult(stopped.returncode, killed_after_grace=not stopped.exited_on_its_own)
            else:
                result = StopResult(returncode)
        if not result.clean and not running.reported:
            running.reported = True
            self._problems.append(
                running.process.failure(ServiceExitedError, result.describe(grace), result.returncode)
            )

    def _discard_early(self) -> None:
        early, self._early = self._early, None
        if early is not None:
            early.discard(self.recipe.stop_timeout)  # not ours to report: nobody asked for it

    # ----------------------------------------------------------------- starting

    def _start(self, config: Mapping[str, Any]) -> ServiceHandle:
        recipe = self.recipe
        deadline = time.monotonic() + recipe.start_timeout
        if self._guard is None and self._use_guard and not (self._early is not None and self._early.kept):
            self._guard = OrphanGuard.start()
        if self._on_first_start is not None:
            self._on_first_start()
            self._on_first_start = None
        first_port = self._port
        port_changes = 0
        while True:
            effective = self._with_own_port(config)
            host, port = listener_address(effective)
            own = self._port is not None and port == self._port
            path = self._config_file(effective)
            command, env = self._command(path, host, port)
            early, self._early = self._early, None
            if early is not None and not early.matches(command, env, effective, path, recipe.log_path):
                early.discard(recipe.stop_timeout, keep=False)  # before ours takes its port
                early = None
            if not own and early is None:
                self._check_port_free(host, port, effective)
            if effective is recipe.default_config or (host, port) == listener_address(recipe.default_config):
                base_url = recipe.default_base_url
            else:
                base_url = build_base_url(host, port, scheme="https" if recipe.tls else "http")
            recorded = None if recipe.configless else effective  # what the handle shows as its config
            self.starts += 1
            # The full timeout the first time, so that messages name it; what is left after.
            timeout = recipe.start_timeout if self._port == first_port else max(0.001, deadline - time.monotonic())
            try:
                if early is not None:
                    # Spawned during collection: its deadline counts from then.
                    self.adopted_early = True
                    process = early.starting.wait_ready(timeout, base_url=base_url, config_path=path, config=recorded)
                else:
                    if self._guard is None and self._use_guard:  # a kept service was not adopted
                        self._guard = OrphanGuard.start()
                    process = ServiceProcess.start(
                        command,
                        log_path=recipe.log_path,
                        host=host,
                        port=port,
                        ping_path=recipe.ping_path or ping_path(effective),
                        config_path=path,
                        base_url=base_url,
                        env=env,
                        timeout=timeout,
                        guard=self._guard,
                        config=recorded,
                        tls=recipe.tls,
                    )
            except ServicePortInUse as error:
                port_changes += 1
                if not own or time.monotonic() >= deadline:
                    raise
                if port_changes > MAX_PORT_CHANGES:
                    # A race loses once in a blue moon; losing every time means the service
                    # (or something it starts) takes the port itself. Say so, do not spin.
                    raise type(error)(
                        f"{error}\n(The plugin chose this port itself and tried {port_changes} ports; each "
                        "was taken the same way, so this is not a race with another process.)",
                        port=error.port,
                        holder=error.holder,
                        returncode=error.returncode,
                        log_tail=error.log_tail,
                    ) from None
                # Our free port was taken between our pick and the service's bind: another.
                self._port = free_port(host)
                continue
            self._current = _Running(process, config)
            handle = process.handle
            self._handles.add(id(handle))
            self._keep.append(handle)
            return handle

    def _with_own_port(self, config: Mapping[str, Any]) -> Mapping[str, Any]:
        """``config``, with our current port if it asks for the port we first chose."""
        first = self.recipe.own_port
        if first is None or self._port == first or listener_address(config)[1] != first:
            return config
        patched = copy.deepcopy(dict(config))
        node: Any = patched
        for key in LISTENER:
            node = node[key]
        node["port"] = self._port
        return patched

    def _check_port_free(self, host: str, port: int, config: Mapping[str, Any]) -> None:
        holder = port_holder(host, port)
        if holder is None:
            return
        pid, who = holder
        origin = (
            self.recipe.port_origin if port == listener_address(self.recipe.default_config)[1] else "the patched config"
        )
        advice = (
            " Stop that process or choose another port; without --service-port the plugin picks a free port itself."
            if "--service-port" in origin or "service_port" in origin
            else " Stop that process, or let the plugin choose the port (do not fix it in a config hook)."
        )
        raise ServicePortInUse(
            f"cannot start the service: its port {port} on {host} (set by {origin}) is already in use by {who}."
            f"{advice}",
            port=port,
            holder=pid,
        )

    def _config_file(self, config: Mapping[str, Any]) -> Path | None:
        recipe = self.recipe
        if recipe.default_config_path is None:
            return None  # a configless service: its "config" is only the listener, never written
        if config is recipe.default_config or config == recipe.default_config:
            return recipe.default_config_path
        for known, path in self._configs:
            if known == config:
                return path
        stem = recipe.default_config_path.stem
        path = write_service_config(config, recipe.directory, f"{stem}.{len(self._configs) + 1}.yaml")
        self._configs.append((config, path))
        return path

    def _command(self, path: Path | None, host: str, port: int) -> tuple[list[str], Mapping[str, str] | None]:
        """The argv and extra environment for a start on ``host:port`` with config ``path``."""
        recipe = self.recipe
        if recipe.template is not None:
            argv, entries = recipe.template.render(host, port, path)
            return argv, ({**(recipe.env or {}), **entries} or None)
        if path == recipe.default_config_path or path is None or recipe.default_config_path is None:
            return list(recipe.command), recipe.env
        default = os.fspath(recipe.default_config_path)
        if not any(default in arg for arg in recipe.command):
            raise ServiceConfigError(
                f"the service command ({' '.join(recipe.command)}) does not contain the patched config's path "
                f"{default}, so the plugin cannot start the service with another config ({path}); build "
                "service_command from service_config_path_temp."
            )
        return [arg.replace(default, os.fspath(path)) for arg in recipe.command], recipe.env
