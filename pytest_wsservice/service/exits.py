"""How a service process ended, in words: exit statuses, signals, stop results."""

from __future__ import annotations

import signal
from dataclasses import dataclass

__all__ = ["StopResult", "describe_returncode"]


def describe_returncode(returncode: int) -> str:
    """Say in words how a process ended: ``"exited with status 2"``,
    ``"was killed by signal SIGKILL"``."""
    if returncode >= 0:
        return f"exited with status {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"number {-returncode}"
    return f"was killed by signal {name}"


@dataclass(frozen=True)
class StopResult:
    """How a stopped service ended.

    Attributes:
        returncode: The exit status, negative for a signal.
        exited_on_its_own: The process had already exited when it was asked to stop.
        killed_after_grace: It ignored SIGTERM for the grace period and got SIGKILL.
    """

    returncode: int
    exited_on_its_own: bool = False
    killed_after_grace: bool = False

    @property
    def clean(self) -> bool:
        """Whether this is an ordinary stop: SIGTERM ended it (status 0, or the signal)."""
        return not self.exited_on_its_own and not self.killed_after_grace and self.returncode in (0, -signal.SIGTERM)

    def describe(self, grace: float | None = None) -> str:
        """Say in words how it ended, for example ``"exited with status 3 on its own"``."""
        words = describe_returncode(self.returncode)
        if self.exited_on_its_own:
            return f"{words} on its own, before it was asked to stop"
        if self.killed_after_grace:
            within = f" within {grace:g} s" if grace is not None else ""
            return f"did not stop{within} after SIGTERM and {describe_returncode(self.returncode)}"
        return f"{words} when asked to stop with SIGTERM"
