"""What the plugin tells the user while it works: the report header, a line while a slow
service starts, the log path under ``-v``, and the CPython 3.13.0 warning.

- **Header.** One line names the service: the command, the static config and the log, or
  the ``--service-url`` it tests.
- **Waiting.** When a start takes more than :data:`WAIT_NOTICE_AFTER` seconds, a line says
  what the plugin is waiting for and for how long; on a terminal it is updated in place,
  elsewhere (CI logs) a new line is written every :data:`WAIT_REPEAT` seconds. The per-test
  cost is two attribute writes: one watcher thread, started with the first wait, looks at
  the current wait a few times a second.
- **``-v``.** The summary ends with the service's log path.

Loaded as a plugin module by ``pytest_wsservice``; it imports nothing heavy.
"""

from __future__ import annotations

import os
import shlex
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pytest

from .settings import settings_of, worker_id
from .state import STATE

__all__ = ["WAIT_NOTICE_AFTER", "WAIT_REPEAT", "describe_start", "waiting_for_service"]

#: Seconds of waiting for a start before the plugin says what it waits for.
WAIT_NOTICE_AFTER = 2.0
#: Seconds between two notices where the line cannot be updated in place.
WAIT_REPEAT = 5.0
#: CPython versions that crash in pytest's traceback rendering (python/cpython#125723).
_CRASHING_PYTHONS = {(3, 13, 0)}


def pytest_configure(config: pytest.Config) -> None:
    if tuple(sys.version_info[:3]) in _CRASHING_PYTHONS:
        config.issue_config_time_warning(
            pytest.PytestConfigWarning(
                "pytest-wsservice: CPython 3.13.0 can crash (segmentation fault) while pytest renders the traceback "
                "of a failed coroutine test (python/cpython#125723, fixed in 3.13.1). Use Python 3.13.1 or newer, "
                "or run with --tb=short."
            ),
            stacklevel=2,
        )


def pytest_report_header(config: pytest.Config) -> list[str]:
    if worker_id(config) is not None:
        return []
    settings = settings_of(config)
    if settings.service_url is not None:
        return [f"wsservice: testing the service at {settings.service_url} (--service-url); nothing is started"]
    if settings.command is not None:
        command = _shown(shlex.join(settings.command))
    else:
        command = "python -m sample_service (the bundled sample)"
    if settings.config_path is not None:
        config_text = _shown(settings.config_path)
    elif settings.command is None:
        config_text = "the bundled sample_service/static_config.yaml"
    else:
        config_text = "none given"
    log = _shown(settings.logs_file) if settings.logs_file is not None else "service.log in the session's temp dir"
    return [f"wsservice: service {command}; static config {config_text}; log {log}"]


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if config.get_verbosity() < 1:
        return
    state = config.stash.get(STATE, None)
    services = getattr(state, "services", None)
    if services is not None:
        terminalreporter.write_line(f"wsservice: the service's log is {_shown(services.recipe.log_path)}")


def _shown(path: object) -> str:
    """A path (or text holding one) as printable text: bytes that are not UTF-8 shown as ``\\xff``."""
    return os.fsencode(str(path)).decode("utf-8", "backslashreplace")


# --------------------------------------------------------------------------- waiting


class _Wait:
    """The wait in progress, if any: what for and since when (written by the main thread)."""

    __slots__ = ("describe", "since", "watcher")

    def __init__(self) -> None:
        self.since = 0.0  # 0: not waiting
        self.describe: Callable[[], str] = str
        self.watcher: threading.Thread | None = None


_WAIT = pytest.StashKey[_Wait]()


@contextmanager
def waiting_for_service(config: pytest.Config, describe: Callable[[], str]) -> Iterator[None]:
    """Say what the plugin waits for, once the wait inside this block exceeds :data:`WAIT_NOTICE_AFTER`.

    Args:
        config: The pytest config (for the terminal and the capture manager).
        describe: Says what is waited for, e.g. ``"GET http://127.0.0.1:8080/ping answering 200"``;
            called only if a notice is shown.
    """
    wait = config.stash.get(_WAIT, None)
    if wait is None:
        if worker_id(config) is not None or config.pluginmanager.get_plugin("terminalreporter") is None:
            yield  # xdist workers' output is not shown; no terminal, no notice
            return
        wait = config.stash[_WAIT] = _Wait()
    wait.describe = describe
    wait.since = time.monotonic()
    if wait.watcher is None:
        wait.watcher = threading.Thread(target=_watch, args=(config, wait), name="wsservice-wait", daemon=True)
        wait.watcher.start()
    try:
        yield
    finally:
        wait.since = 0.0


def _watch(config: pytest.Config, wait: _Wait) -> None:
    """The watcher thread: a notice for a wait that lasts, updated while it lasts."""
    terminal = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    shown_for = 0.0  # the `since` of the wait the notice is about
    last = 0.0
    while True:
        time.sleep(0.25)
        since = wait.since
        now = time.monotonic()
        if not since:
            if shown_for and getattr(terminal, "isatty", False):
                _write(terminal, capture, "", end=True)  # leave the updated line as it is
            shown_for = 0.0
            continue
        if now - since < WAIT_NOTICE_AFTER:
            continue
        tty = bool(getattr(terminal, "isatty", False))
        if shown_for == since and not tty and now - last < WAIT_REPEAT:
            continue
        if shown_for == since and tty and now - last < 1.0:
            continue
        try:
            what = wait.describe()
        except Exception:
            what = "the service"
        _write(terminal, capture, f"wsservice: waiting {now - since:.0f} s for {what}", rewrite=tty)
        shown_for, last = since, now


def _write(terminal: Any, capture: Any, line: str, *, rewrite: bool = False, end: bool = False) -> None:
    """Write to the real terminal, around pytest's output capture."""
    try:
        context = capture.global_and_fixture_disabled() if capture is not None else _nothing()
        with context:
            if end:
                terminal.write("\n")
            elif rewrite:
                terminal.rewrite(line, erase=True)
            else:
                terminal.write_line(line)
            if hasattr(terminal, "flush"):
                terminal.flush()
    except Exception:  # the terminal is gone (pytest is exiting): nothing to tell
        return


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def describe_start(config: Mapping[str, Any] | None) -> str:
    """What a start of the service with ``config`` waits for, in words."""
    from ..service.config import listener_address, ping_path

    try:
        host, port = listener_address(config or {})
    except Exception:
        return "the service to be ready"
    path = ping_path(config or {})
    probe = f"GET http://{host}:{port}{path} answering 200" if path else f"a TCP connect to {host}:{port}"
    return f"the service to be ready: {probe}, or READY=1 on its notify socket"
