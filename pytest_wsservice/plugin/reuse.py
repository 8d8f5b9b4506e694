"""``--service-reuse``: keep the default service between runs, for the edit-run loop.

With ``--service-reuse`` (ini ``service_reuse = yes``) the early start (:mod:`.early`) does
not spawn the service itself: :func:`kept_start` adopts the service a previous run kept,
if its recipe is identical and it checks out (:func:`~pytest_wsservice.service.reuse.adoption_problem`,
then the same probe as any start), or has a detached keeper (:mod:`pytest_wsservice.service.keeper`)
start one that outlives this run. To make two runs' recipes comparable, a reuse run builds
its recipe with the kept port, the project's state directory instead of the session's temp
dir, and the kept tests-control secret (put into :class:`Settings` here, before any fixture
reads it). The session then hands the kept service to tests like any other and, at its
end, leaves it running (``KeptProcess.detach``).

Never under xdist or with ``CI`` set unless ``--service-reuse=force``; never with
``--service-tls`` (each run makes a new CA). ``--service-reuse=stop`` stops the project's
kept service and exits (:func:`pytest_cmdline_main`). What happened is one line per run
(:func:`pytest_collection_finish`).
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

import pytest

from ..errors import ServiceConfigError
from ..service import recipe
from .settings import SETTINGS, settings_of
from .state import EarlyPlan, PluginState

if TYPE_CHECKING:
    from pathlib import Path

    from ..service.config import ConfigHook
    from ..service.process import ServiceProcess
    from ..service.reuse import KeptState
    from ..service.session import EarlyStart

__all__ = ["NOTES", "kept_start", "reuse_active"]

#: What ``--service-reuse`` did in this run, printed once collection is done.
NOTES = pytest.StashKey[list[str]]()
_OPTION = "--service-reuse"
_WRITTEN = pytest.StashKey[int]()


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, args: list[str], parser: pytest.Parser) -> None:
    """A bare ``--service-reuse`` followed by a path means ``=yes`` (its value is optional)."""
    if _OPTION not in args[:-1]:
        return  # the usual run: the engine's reuse module is not imported at all
    from ..service.reuse import MODES

    for index, arg in enumerate(args[:-1]):
        if arg == _OPTION and args[index + 1].strip().lower() not in MODES:
            args[index] = f"{_OPTION}=yes"


def _mode(config: pytest.Config) -> str:
    value = config.getoption("service_reuse", None)
    origin = _OPTION
    if value is None:
        value = config.getini("service_reuse")
        origin = "service_reuse in the ini file"
        if not value:
            return "no"  # the usual run: the engine's reuse module is not imported
    from ..service.reuse import parse_reuse_mode

    return parse_reuse_mode(str(value), origin)


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | None:
    """``--service-reuse=stop``: stop the project's kept service(s), say so in one line, exit 0."""
    try:
        mode = _mode(config)
    except ServiceConfigError as error:
        raise pytest.UsageError(str(error)) from None
    if mode != "stop":
        return None
    from ..service.reuse import project_states, stop_kept

    stopped = [state for state in (stop_kept(path) for path in project_states(config.rootpath)) if state]
    if stopped:
        what = "; ".join(state.describe() for state in stopped)
        print(f"pytest-wsservice: stopped the kept service ({what}).", flush=True)
    else:
        print(f"pytest-wsservice: no kept service for {config.rootpath}.", flush=True)
    return 0


def _refusal(config: pytest.Config) -> str | None:
    """Why ``--service-reuse`` is not used in this run, or ``None``."""
    settings = settings_of(config)
    if settings.service_url is not None:
        return "not used with --service-url (the plugin starts nothing)"
    if settings.runner_mode:
        return "not used with --service-runner-mode (it runs the service until Ctrl-C)"
    if settings.tls:
        return "not with --service-tls (each run makes a new certificate authority)"
    if settings.reuse == "force":
        return None
    if os.environ.get("CI"):
        return "not used: CI is set (--service-reuse=force reuses anyway)"
    if settings.worker_id is not None or getattr(config.option, "numprocesses", None):
        return "not used under pytest-xdist (--service-reuse=force keeps one service per worker)"
    return None


def reuse_active(config: pytest.Config) -> bool:
    """Whether this run keeps (or adopts) the default service; notes a refusal once."""
    settings = settings_of(config)
    if settings.reuse not in ("yes", "force"):
        return False
    notes = _notes(config)
    why = _refusal(config)
    if why and not notes:
        notes.append(f"{_OPTION}: {why}")
    return why is None


def _notes(config: pytest.Config) -> list[str]:
    notes = config.stash.get(NOTES, None)
    if notes is None:
        notes = config.stash[NOTES] = []
    return notes


def pytest_configure(config: pytest.Config) -> None:
    settings = config.stash.get(SETTINGS, None)
    if settings is not None and settings.reuse != "no":
        try:
            settings.require("service-reuse-idle")
        except ServiceConfigError as error:
            raise pytest.UsageError(str(error)) from None
        reuse_active(config)  # notes a refusal now: the xdist controller starts nothing itself


def pytest_collection_finish(session: pytest.Session) -> None:
    _write_notes(session.config)


def pytest_terminal_summary(terminalreporter: object, config: pytest.Config) -> None:
    from .state import STATE

    state = config.stash.get(STATE, None)
    settings = settings_of(config)
    if settings.reuse in ("yes", "force") and not _notes(config) and state is not None and state.services:
        _notes(config).append(
            f"{_OPTION}: not used: a fixture the service's recipe is built from is overridden, or a config hook "
            "is named by its fixture; the service was started for this run only"
        )
    _write_notes(config)  # what collection did not show (the xdist controller collects nothing)


def _write_notes(config: pytest.Config) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    notes = _notes(config)
    if reporter is not None and settings_of(config).worker_id is None:
        for note in notes[config.stash.get(_WRITTEN, 0) :]:
            reporter.write_line(f"wsservice: {note}")
    config.stash[_WRITTEN] = len(notes)


def kept_start(
    config: pytest.Config, state: PluginState, extra_hooks: Sequence[tuple[str, ConfigHook]]
) -> EarlyStart | None:
    """Adopt the kept service, or start a kept one (see the module docstring); never waits for it."""
    from ..service import reuse as engine

    try:
        path = engine.state_path(config.rootpath, settings_of(config).worker_id)
        engine.work_dir(path)
    except (ServiceConfigError, OSError) as error:
        _notes(config).append(f"{_OPTION}: not used: {error}")
        return None
    with engine.deciding(path):
        held = engine.hold_state(path)  # while held, the keeper does not stop the service as idle
        try:
            return _kept_start(config, state, extra_hooks, path, held)
        finally:
            if held is not None:
                os.close(held[0])  # an adopted service holds its own duplicate


def _kept_start(
    config: pytest.Config,
    state: PluginState,
    extra_hooks: Sequence[tuple[str, ConfigHook]],
    path: Path,
    held: tuple[int, KeptState] | None,
) -> EarlyStart | None:
    from .. import __version__
    from ..service import reuse as engine
    from ..service.ports import port_holder

    settings = settings_of(config)
    workdir = engine.work_dir(path)
    kept = held[1] if held is not None else None
    if kept is not None:  # the kept secret: the clients send it, and the recipe is unchanged
        settings = dataclasses.replace(settings, control_secret=kept.secret)
        config.stash[SETTINGS] = settings
    service_recipe = recipe.build_recipe(
        settings, tmpdir=workdir, extra_hooks=extra_hooks, port=kept.port if kept else None
    )
    command, env = _rendered(service_recipe)
    digest = engine.identity(command, service_recipe.default_config, env, __version__)
    notes = _notes(config)
    if held is not None and kept is not None:
        problem = "the recipe changed" if kept.recipe_hash != digest else engine.adoption_problem(kept, path)
        if problem is None:
            engine.touch_state(path)
            notes.append(f"{_OPTION}: adopted the kept service ({kept.describe()})")
            return _early(state, service_recipe, kept, path, command, env, time.monotonic(), os.dup(held[0]))
        engine.stop_kept(path, service_recipe.stop_timeout)
        note = f"{_OPTION}: {problem}: stopped the kept service ({kept.describe()}) and started a new one"
        host, port = _address(service_recipe)
        holder = port_holder(host, port) if service_recipe.own_port is not None else None
        if holder is not None:  # the kept port was taken meanwhile: another one
            service_recipe = recipe.build_recipe(settings, tmpdir=workdir, extra_hooks=extra_hooks)
            command, env = _rendered(service_recipe)
            digest = engine.identity(command, service_recipe.default_config, env, __version__)
            moved = _address(service_recipe)[1]
            note += f"; its port {port} is now used by {holder[1]}, so the new one listens on {moved}"
        notes.append(note)
    host, port = _address(service_recipe)
    state.early_plan = EarlyPlan(recipe.DEFAULT_HOST, service_recipe.own_port, workdir, service_recipe)
    if service_recipe.own_port is None and port_holder(host, port) is not None:
        return None  # a fixed port, taken: the fixtures report who holds it
    spec = {
        "command": list(command),
        "env": dict(env or {}),
        "log_path": os.fspath(service_recipe.log_path),
        "host": host,
        "port": port,
        "config_path": os.fspath(service_recipe.default_config_path) if service_recipe.default_config_path else None,
        "recipe_hash": digest,
        "secret": settings.control_secret,
        "idle": settings.require("service-reuse-idle").reuse_idle,
        "stop_timeout": service_recipe.stop_timeout,
    }
    started_at = time.monotonic()
    try:
        new = engine.spawn_keeper(spec, path)
    except Exception as error:
        notes.append(f"{_OPTION}: could not keep the service ({error}); it is started for this run only")
        return None
    new_held = engine.hold_state(path)
    if kept is None:
        notes.append(
            f"{_OPTION}: started a kept service ({new.describe()}); it stops after {new.idle:g} s unused, "
            f"or with {_OPTION}=stop"
        )
    lock = new_held[0] if new_held is not None else None
    return _early(state, service_recipe, new, path, command, env, started_at, lock)


def _address(service_recipe: recipe.ServiceRecipe) -> tuple[str, int]:
    from ..service.config import listener_address

    return listener_address(service_recipe.default_config)


def _rendered(service_recipe: recipe.ServiceRecipe) -> tuple[list[str], dict[str, str] | None]:
    """The argv and extra environment, as the session renders them for the default start."""
    command, env = list(service_recipe.command), dict(service_recipe.env or {})
    if service_recipe.template is not None:
        argv, entries = service_recipe.template.render(*_address(service_recipe), service_recipe.default_config_path)
        command, env = argv, {**env, **entries}
    return command, env or None


def _early(
    state: PluginState,
    service_recipe: recipe.ServiceRecipe,
    kept: KeptState,
    path: Path,
    command: list[str],
    env: dict[str, str] | None,
    started_at: float,
    lock: int | None,
) -> EarlyStart:
    from ..service.config import ping_path
    from ..service.kept import KeptProcess
    from ..service.session import EarlyStart
    from ..service.startup import StartingService

    host, port = _address(service_recipe)
    state.early_plan = EarlyPlan(recipe.DEFAULT_HOST, service_recipe.own_port, path.with_suffix(""), service_recipe)
    process = KeptProcess(kept, path, command, grace=service_recipe.stop_timeout, lock=lock)
    starting = StartingService(
        process,
        None,
        started_at=started_at,
        host=host,
        port=port,
        ping_path=service_recipe.ping_path or ping_path(service_recipe.default_config),
        check_listener=True,
    )
    return EarlyStart(
        cast("StartingService[ServiceProcess]", starting),  # a KeptProcess has what the session uses
        tuple(command),
        env,
        service_recipe.default_config,
        service_recipe.default_config_path,
        service_recipe.log_path,
    )
