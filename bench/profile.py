"""Where the time of a suite goes: the same echo suite, (a) against (b), under cProfile.

    python -m bench.profile [--tests 200] [--top 25]

Prints, for each harness, the CPU time of the pytest process split by package (the
interpreter's own self time per top-level package: pytest, pluggy, pytest_asyncio,
asyncio, websockets, yaml, pytest_wsservice...), then the functions of pytest_wsservice
and of its fixtures by cumulative time, then pytest's slowest set-ups. Profiling slows
everything down, so read the split, not the absolute figures.
"""

from __future__ import annotations

import argparse
import pstats
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "bench"

from bench.common import PYTHON, BenchError, temp_dir
from bench.suites import write_suite


def _package(filename: str) -> str:
    if filename.startswith("<") or filename == "~":
        return "(builtins)"
    parts = Path(filename).parts
    for marker in ("site-packages", "lib-dynload"):
        if marker in parts:
            rest = parts[parts.index(marker) + 1 :]
            return rest[0].removesuffix(".py") if rest else marker
    for known in ("pytest_wsservice", "sample_service", "bench"):
        if known in parts:
            return known
    if "python3" in "".join(parts) or "lib" in parts:
        # the standard library: name the module or package (asyncio, selectors, ...)
        for i, part in enumerate(parts):
            if part.startswith("python3"):
                rest = parts[i + 1 :]
                return "stdlib:" + (rest[0].removesuffix(".py") if rest else "?")
    if Path(filename).name == "conftest.py":
        return "conftest"
    return "other"


def profile(kind: str, n_tests: int, directory: Path) -> tuple[pstats.Stats, str]:
    suite = write_suite(kind, n_tests, directory / kind)
    out = directory / f"{kind}.prof"
    proc = subprocess.run(
        [
            PYTHON,
            "-m",
            "cProfile",
            "-o",
            str(out),
            "-m",
            "pytest",
            "-q",
            "--durations=8",
            "--durations-min=0.002",
            *suite.args,
        ],
        cwd=suite.path,
        env=suite.env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        raise BenchError(f"profiled run of {kind} failed:\n{proc.stdout[-3000:]}{proc.stderr[-2000:]}")
    return pstats.Stats(str(out)), proc.stdout


def by_package(stats: pstats.Stats) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for (filename, _, name), (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        # C functions have no file: name them, since waiting (epoll.poll) and compiling hide there.
        key = f"builtin {name.strip('<>{}')}"[:44] if filename == "~" else _package(filename)
        totals[key] += tottime
    return dict(totals)


def ours_by_cumulative(stats: pstats.Stats, top: int) -> list[tuple[float, int, str]]:
    rows = []
    for (filename, line, name), (_, ncalls, _, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        if "pytest_wsservice" in filename or Path(filename).name == "conftest.py":
            rows.append((cumtime, ncalls, f"{Path(filename).parent.name}/{Path(filename).name}:{line} {name}"))
    return sorted(rows, reverse=True)[:top]


#: pytest's phases and the fixture machinery: their cumulative time splits a run into
#: collection, per-test set-up (fixture closure), call and teardown.
PHASES = (
    ("main.py", "pytest_collection"),
    ("runner.py", "pytest_runtest_setup"),
    ("runner.py", "pytest_runtest_call"),
    ("runner.py", "pytest_runtest_teardown"),
    ("fixtures.py", "_fillfixtures"),
    ("fixtures.py", "getfixtureclosure"),
    ("fixtures.py", "_compute_fixture_value"),
    ("python.py", "pytest_pycollect_makeitem"),
    ("plugin.py", "pytest_pycollect_makeitem"),
)


def phases(stats: pstats.Stats) -> dict[str, tuple[int, float]]:
    found: dict[str, tuple[int, float]] = {}
    for (filename, _, name), (_, ncalls, _, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        for file_suffix, function in PHASES:
            if name == function and filename.endswith(file_suffix):
                package = _package(filename)
                key = f"{package}:{Path(filename).name}:{function}"
                calls, total = found.get(key, (0, 0.0))
                found[key] = (calls + ncalls, total + cumtime)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tests", type=int, default=200)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--kinds", default="wsservice,handwritten")
    args = parser.parse_args(argv)
    kinds = [k for k in args.kinds.split(",") if k]
    with temp_dir("profile") as directory:
        packages = {}
        phase_times = {}
        for kind in kinds:
            stats, output = profile(kind, args.tests, directory)
            packages[kind] = by_package(stats)
            phase_times[kind] = phases(stats)
            print(f"\n=== {kind}: {args.tests} tests, total {stats.total_tt:.2f} s of CPU under cProfile")  # type: ignore[attr-defined]
            durations = [
                line
                for line in output.splitlines()
                if line.strip().endswith(("setup", "call", "teardown"))
                or " setup " in line
                or " call " in line
                or " teardown " in line
            ]
            if durations:
                print("slowest phases (pytest --durations):")
                print("\n".join("  " + line for line in durations[:8]))
            if kind == "wsservice":
                print(f"pytest_wsservice and conftest functions by cumulative time (top {args.top}):")
                for cumtime, ncalls, where in ours_by_cumulative(stats, args.top):
                    print(f"  {cumtime * 1000:9.1f} ms  {ncalls:6d} calls  {where}")
        print("\npytest phases, cumulative ms (calls): " + " | ".join(kinds))
        for key in sorted({k for d in phase_times.values() for k in d}):
            cells = []
            for kind in kinds:
                calls, total = phase_times[kind].get(key, (0, 0.0))
                cells.append(f"{total * 1000:9.1f} ({calls:5d})")
            print(f"  {key:58s} " + " | ".join(cells))
        names = sorted(
            {p for d in packages.values() for p in d}, key=lambda p: -max(d.get(p, 0) for d in packages.values())
        )
        print("\nself time by package (ms): " + " | ".join(kinds) + (" | difference" if len(kinds) == 2 else ""))
        for name in names[: args.top]:
            values = [packages[k].get(name, 0.0) * 1000 for k in kinds]
            diff = f" | {values[0] - values[1]:+9.1f}" if len(values) == 2 else ""
            print(f"  {name:44s} " + " | ".join(f"{v:9.1f}" for v in values) + diff)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
