"""Benchmark 5: what loading the plugin costs a suite that uses none of its fixtures.

- ``python -X importtime -c "import pytest_wsservice"``: the package on its own, and
  ``import pytest`` then the plugin modules pytest loads (``pytest_wsservice.PLUGIN_MODULES``: what pytest pays on top of itself
  when the entry point loads the plugin), medians of several interpreter starts;
- which heavy modules (websockets, aiohttp, yaml) loading the plugin drags in;
- the wall of a trivial pytest run, with the plugin loaded by its entry point and with
  ``-p no:pytest_wsservice``, interleaved.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field

from .common import PYTHON, BenchError, child_env, has_module, median, run_pytest, temp_dir
from .suites import write_trivial_suite

HEAVY = ("websockets", "aiohttp", "yaml", "yarl", "multidict")


@dataclass
class ImportEntry:
    self_us: int
    cumulative_us: int
    depth: int
    name: str


def importtime(code: str) -> list[ImportEntry]:
    """Run ``python -X importtime -c CODE`` and parse its report."""
    proc = subprocess.run(
        [PYTHON, "-X", "importtime", "-c", code],
        env=child_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if proc.returncode != 0:
        raise BenchError(f"python -c {code!r} failed:\n{proc.stderr[-2000:]}")
    entries = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line or "self [us]" in line:
            continue
        _, self_us, cumulative, name = (part for part in line.replace("import time:", "|", 1).split("|"))
        stripped = name.lstrip()
        depth = (len(name) - len(stripped) - 1) // 2
        entries.append(ImportEntry(int(self_us), int(cumulative), depth, stripped.rstrip()))
    return entries


def _ours(entries: list[ImportEntry]) -> int:
    """Microseconds spent in top-level imports of pytest_wsservice modules."""
    return sum(e.cumulative_us for e in entries if e.depth == 0 and e.name.startswith("pytest_wsservice"))


def heaviest(entries: list[ImportEntry], limit: int = 8) -> list[tuple[str, int]]:
    """The modules that importing our package pulled in, heaviest first (cumulative µs)."""
    inside: list[tuple[str, int]] = []
    in_ours = False
    for e in reversed(entries):  # importtime prints children before their parent
        if e.depth == 0:
            in_ours = e.name.startswith("pytest_wsservice")
            continue
        if in_ours and e.depth == 1:
            inside.append((e.name, e.cumulative_us))
    return sorted(inside, key=lambda item: -item[1])[:limit]


@dataclass
class ImportResult:
    package_us: list[int] = field(default_factory=list)
    plugin_after_pytest_us: list[int] = field(default_factory=list)
    heavy_loaded: list[str] = field(default_factory=list)
    heaviest: list[tuple[str, int]] = field(default_factory=list)
    wall_with: list[float] = field(default_factory=list)
    wall_without: list[float] = field(default_factory=list)
    cpu_with: list[float] = field(default_factory=list)
    cpu_without: list[float] = field(default_factory=list)


def run(*, starts: int, rounds: int, trivial_tests: int = 50, log=print) -> ImportResult:
    if not has_module("pytest_wsservice.plugin"):
        raise BenchError("pytest_wsservice.plugin is not importable yet")
    load_plugin = (
        "import pytest\nimport pytest_wsservice\nfor name in pytest_wsservice.PLUGIN_MODULES:\n    __import__(name)\n"
    )
    result = ImportResult()
    for _ in range(starts):
        result.package_us.append(_ours(importtime("import pytest_wsservice")))
        entries = importtime(load_plugin)
        result.plugin_after_pytest_us.append(_ours(entries))
    result.heaviest = heaviest(entries)
    probe = subprocess.run(
        [PYTHON, "-c", load_plugin + f"import sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    result.heavy_loaded = probe.stdout.split()

    base_args = ["-p", "no:aiohttp"] if has_module("pytest_aiohttp") else []
    with temp_dir("imports") as directory:
        suite = write_trivial_suite(trivial_tests, directory)
        for round_no in range(rounds + 1):
            with_ = run_pytest(suite, base_args, expect_passed=trivial_tests)
            without = run_pytest(suite, [*base_args, "-p", "no:pytest_wsservice"], expect_passed=trivial_tests)
            if round_no:
                result.wall_with.append(with_.wall)
                result.wall_without.append(without.wall)
                result.cpu_with.append(with_.cpu)
                result.cpu_without.append(without.cpu)
    log(
        f"  import: package {median(result.package_us) / 1000:.1f} ms, "
        f"plugin after pytest {median(result.plugin_after_pytest_us) / 1000:.1f} ms, heavy loaded: "
        f"{result.heavy_loaded or 'none'}"
    )
    return result


def added_wall(result: ImportResult) -> float:
    """Median of the per-round differences (with - without), in seconds."""
    return median([w - wo for w, wo in zip(result.wall_with, result.wall_without, strict=False)])


def added_cpu(result: ImportResult) -> float:
    """Median of the per-round CPU differences (with - without), in seconds."""
    return median([w - wo for w, wo in zip(result.cpu_with, result.cpu_without, strict=False)])
