"""Benchmarks 1, 3, 6 and 7: whole pytest runs of generated suites.

Every comparison runs its variants interleaved (a, b, c, a, b, c, ...) after one warm-up
round that is thrown away, so a change in the machine's load hits all variants alike; the
figure quoted is the median.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .common import PeakRss, median, run_pytest
from .suites import Suite, write_suite


@dataclass
class Variant:
    """One pytest command to time: a suite plus extra arguments, under a label."""

    label: str
    suite: Suite
    extra_args: tuple[str, ...] = ()

    def run(self) -> tuple[float, float]:
        """One run: its wall and CPU seconds."""
        result = run_pytest(
            self.suite.path,
            [*self.suite.args, *self.extra_args],
            expect_passed=self.suite.n_tests,
            env=self.suite.env,
        )
        return result.wall, result.cpu

    def command(self) -> str:
        """The command, run in the suite's directory (``python -m bench --keep`` keeps it)."""
        prefix = "TESTSUITE_ALLOW_ROOT=1 " if "TESTSUITE_ALLOW_ROOT" in self.suite.env else ""
        return f"{prefix}python -m pytest -q -x {' '.join([*self.suite.args, *self.extra_args])}".rstrip()


@dataclass
class Timings:
    """Seconds per variant label, one value per round: the wall and the CPU of each run."""

    wall: dict[str, list[float]]
    cpu: dict[str, list[float]]


def interleave(variants: Sequence[Variant], rounds: int, log: Callable[[str], None] = print) -> Timings:
    """Run each variant ``rounds`` times, interleaved, after one discarded warm-up round."""
    timings = Timings({v.label: [] for v in variants}, {v.label: [] for v in variants})
    for round_no in range(rounds + 1):
        this_round = {}
        for variant in variants:
            this_round[variant.label] = wall, cpu = variant.run()
            if round_no:
                timings.wall[variant.label].append(wall)
                timings.cpu[variant.label].append(cpu)
        log(
            ("  warm-up: " if not round_no else f"  round {round_no}/{rounds}: ")
            + ", ".join(f"{label} {wall:.2f} s ({cpu:.2f} CPU)" for label, (wall, cpu) in this_round.items())
        )
    return timings


def per_item(walls: dict[str, list[float]], large: str, small: str, extra_items: int) -> float:
    """Median of the per-round (wall of large - wall of small) / extra_items."""
    return median([(big - little) / extra_items for big, little in zip(walls[large], walls[small], strict=False)])


def ratio(walls: dict[str, list[float]], top: str, bottom: str) -> float:
    """Median of the per-round ratios top/bottom (pairs ran back to back)."""
    return median([t / b for t, b in zip(walls[top], walls[bottom], strict=False)])


def make_suites(kinds: Sequence[str], n_tests: int, root: Path) -> dict[str, Suite]:
    return {kind: write_suite(kind, n_tests, root / f"{kind}-{n_tests}") for kind in kinds}


def peak_rss(suite: Suite) -> PeakRss:
    result = run_pytest(suite.path, suite.args, expect_passed=suite.n_tests, env=suite.env, sample_rss=True)
    assert result.peak is not None
    return result.peak
