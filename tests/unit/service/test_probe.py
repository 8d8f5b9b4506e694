"""The readiness probe's schedule: how soon after a service listens the plugin sees it."""

from __future__ import annotations

import pytest

from pytest_wsservice.service.probe import EARLY_MAX_INTERVAL, EARLY_PERIOD, FIRST_INTERVAL, MAX_INTERVAL, Probe


def _pauses(probe: Probe, start: float, count: int) -> list[float]:
    """The pauses between ``count`` failed attempts, the first one at ``start``."""
    pauses = []
    now = start
    for _ in range(count):
        probe._retry_later(now, "connection refused")
        pauses.append(round(probe.next_wakeup() - now, 6))
        now = probe.next_wakeup()
    return pauses


def test_pauses_double_up_to_ten_ms_while_the_service_starts() -> None:
    probe = Probe("127.0.0.1", 9)
    pauses = _pauses(probe, 1000.0, 40)  # 40 attempts span well under EARLY_PERIOD
    assert sum(pauses) < EARLY_PERIOD
    assert pauses[:3] == [FIRST_INTERVAL, FIRST_INTERVAL * 2, FIRST_INTERVAL * 4]
    assert max(pauses) == EARLY_MAX_INTERVAL == pytest.approx(0.01)
    assert pauses[-10:] == [EARLY_MAX_INTERVAL] * 10


def test_a_slow_start_is_probed_less_often_after_the_early_period() -> None:
    probe = Probe("127.0.0.1", 9)
    _pauses(probe, 1000.0, 5)  # the first attempt fixes the start of the early period
    late = _pauses(probe, 1000.0 + EARLY_PERIOD + 0.5, 6)
    assert late[0] == EARLY_MAX_INTERVAL  # set before the period was seen to be over
    assert late[1:3] == [EARLY_MAX_INTERVAL * 2, EARLY_MAX_INTERVAL * 4]
    assert late[-1] == MAX_INTERVAL
