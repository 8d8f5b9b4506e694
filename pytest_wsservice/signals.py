"""SIGTERM during a run: turned into a clean pytest exit, so that teardown stops the service."""

from __future__ import annotations

import signal
import threading
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .state import _State


def _install_sigterm(state: _State) -> None:
    """Turn SIGTERM into a clean pytest exit, so that teardown stops the service.

    Only if nobody else handles SIGTERM (the handler is the default) and only from the
    main thread; the default is restored when the session's services are stopped.
    """
    if state.sigterm_installed or threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return

    def on_sigterm(signum: int, frame: object) -> None:
        _restore_sigterm(state)  # a second SIGTERM ends pytest at once (the guard still cleans up)
        pytest.exit("received SIGTERM: stopping the service and exiting", returncode=128 + signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_sigterm)
    state.sigterm_installed = True


def _restore_sigterm(state: _State) -> None:
    if state.sigterm_installed and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        state.sigterm_installed = False
