"""Benchmark "edit loop" (issue 14): one test, run again and again, against pytest's own floor.

A developer mostly runs one test at a time. This times three whole pytest runs, interleaved
(floor, default, reuse, floor, default, reuse, ...) after a warm-up round that is thrown away:

- *floor*: a one-test async suite with no service, the plugin blocked (``-p no:pytest_wsservice``);
- *default*: a one-test echo suite (``websocket_client``), the plugin starting the sample service;
- *reuse*: the same suite with ``--service-reuse``: the service of the previous run is adopted
  (the warm-up round starts it; it is stopped with ``--service-reuse=stop`` at the end;
  ``CI`` is dropped from its environment, where reuse would be refused); ``--no-reuse`` leaves it out;
- *default@before* (``--before DIR``): the default suite with another checkout's
  ``pytest_wsservice`` first on ``PYTHONPATH`` (e.g. ``git worktree add /tmp/before c849149``),
  to compare two versions of the plugin in the same rounds.

The figure quoted is the median wall; a ratio is the median of the per-round ratios.

Usage (from the repository root)::

    python -m bench.edit_loop                        # 15 rounds, with reuse; rewrites the section in docs/performance.md
    python -m bench.edit_loop --rounds 5 --no-docs
    python -m bench.edit_loop --before /tmp/before   # and the plugin of another checkout
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import sys
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a script: python bench/edit_loop.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "bench"

from bench.common import REPO, child_env, machine_summary, median, run_pytest, temp_dir
from bench.overhead import Variant, interleave, ratio
from bench.suites import Suite, write_suite

DOC = REPO / "docs" / "performance.md"
BEGIN = "<!-- edit-loop:begin -->"
END = "<!-- edit-loop:end -->"
TARGETS = {"default": 1.5, "reuse": 1.15}


#: What an echo test needs that the floor does not: the client libraries, imported by a test.
_LIBS_IMPORT = "import websockets.asyncio.client  # noqa: F401\nimport yaml  # noqa: F401\nimport yarl  # noqa: F401\n"


def _part_variants(root: Path, floor: Suite) -> list[Variant]:
    """``--parts``: where a reused run's cost over the floor goes, by adding one thing at a time."""
    plugin = dataclasses.replace(floor, args=tuple(a for a in floor.args if a not in ("-p", "no:pytest_wsservice")))
    if len(plugin.args) != len(floor.args) - 2:  # the floor blocks the plugin with one "-p no:..." pair
        raise RuntimeError(f"the floor's arguments changed: {floor.args}")
    libs = write_suite("floor-async", 1, root / "floor-libs")
    for module in libs.path.glob("test_*.py"):
        module.write_text(_LIBS_IMPORT + module.read_text())
    libs_plugin = dataclasses.replace(libs, args=plugin.args)
    return [
        Variant("plugin, no fixture", plugin),
        Variant("libraries, no plugin", libs),
        Variant("libraries + plugin", libs_plugin),
    ]


def _variants(root: Path, reuse: bool, before: Path | None = None, parts: bool = False) -> list[Variant]:
    floor = write_suite("floor-async", 1, root / "floor")
    echo = write_suite("wsservice", 1, root / "echo")
    variants = [Variant("floor", floor), Variant("default", echo)]
    if parts:
        variants += _part_variants(root, floor)
    if before is not None:
        old = write_suite("wsservice", 1, root / "echo-before")
        old = dataclasses.replace(old, env={**old.env, "PYTHONPATH": str(before)})
        variants.append(Variant("default@before", old))
    if reuse:
        # Its own copy of the suite: a kept service belongs to one project directory.
        kept = write_suite("wsservice", 1, root / "echo-reuse")
        kept = dataclasses.replace(kept, env={k: v for k, v in kept.env.items() if k != "CI"})
        variants.append(Variant("reuse", kept, ("--service-reuse",)))
    return variants


def _stop_kept(variant: Variant) -> None:
    run_pytest(variant.suite.path, ["--service-reuse=stop"], expect_passed=0, env=child_env())


def measure(
    rounds: int, reuse: bool, keep: bool, before: Path | None = None, parts: bool = False
) -> tuple[dict[str, list[float]], dict[str, list[float]], str, str]:
    """Run the interleaved rounds; the walls, the CPU times, the machine line and a command."""
    machine = machine_summary()
    with temp_dir("edit-loop", keep=keep) as root:
        variants = _variants(root, reuse, before, parts)
        try:
            timings = interleave(variants, rounds)
        finally:
            if reuse:
                _stop_kept(next(v for v in variants if v.label == "reuse"))
        commands = [
            f"  {v.label}: {'PYTHONPATH=' + v.suite.env['PYTHONPATH'] + ' ' if 'PYTHONPATH' in v.suite.env else ''}"
            f"{v.command()}"
            for v in variants
        ]
    end_load = os.getloadavg()[0]
    machine += f", {end_load:.2f} at the end"
    return timings.wall, timings.cpu, machine, "\n".join(commands)


def table(walls: dict[str, list[float]], cpus: dict[str, list[float]]) -> list[str]:
    lines = [
        "| variant | wall (median) | CPU (median) | ratio to the floor (wall) | ratio (CPU) | target | holds |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for label in walls:
        wall, cpu = median(walls[label]), median(cpus[label])
        if label == "floor":
            lines.append(f"| floor | {wall * 1000:.0f} ms | {cpu * 1000:.0f} ms | 1 | 1 | — | — |")
            continue
        r_wall, r_cpu = ratio(walls, label, "floor"), ratio(cpus, label, "floor")
        per_round = [t / b for t, b in zip(walls[label], walls["floor"], strict=False)]
        if label.endswith("@before"):
            label = f"{label} (`PYTHONPATH=DIR`)"
        target = TARGETS.get(label)
        holds = "—" if target is None else ("yes" if r_wall <= target else "**no**")
        lines.append(
            f"| {label} | {wall * 1000:.0f} ms | {cpu * 1000:.0f} ms | **{r_wall:.2f}** "
            f"(rounds {min(per_round):.2f}-{max(per_round):.2f}) | {r_cpu:.2f} | "
            f"{'≤ ' + format(target, 'g') if target else '—'} | {holds} |"
        )
    if "default@before" in walls:
        paired = [a / b for a, b in zip(walls["default"], walls["default@before"], strict=False)]
        lines += [
            "",
            f"default / default@before, paired by round: wall **{ratio(walls, 'default', 'default@before'):.2f}** "
            f"(rounds {min(paired):.2f}-{max(paired):.2f}), CPU {ratio(cpus, 'default', 'default@before'):.2f}.",
        ]
    return lines


def plot(walls: dict[str, list[float]], width: int = 60) -> list[str]:
    """A text strip chart: each round's wall over the floor's in the same round, per variant.

    ``o`` is a round (``O`` two or more on one column), ``#`` the median, ``|`` the target.
    """
    ratios = {
        label: [t / b for t, b in zip(values, walls["floor"], strict=False)]
        for label, values in walls.items()
        if label != "floor"
    }
    if not ratios:
        return []
    low = min(0.8, *(min(r) for r in ratios.values()))
    high = max(3.0, *(max(r) for r in ratios.values()))
    step = (high - low) / (width - 1)

    def column(value: float) -> int:
        return min(width - 1, max(0, round((value - low) / step)))

    name_width = max(len(label) for label in ratios)
    axis = [" "] * width
    ticks = [t / 2 for t in range(int(low * 2) + 1, int(high * 2) + 1)]
    for tick in ticks:
        label = f"{tick:g}"
        start = column(tick)
        if start + len(label) <= width and all(c == " " for c in axis[max(0, start - 1) : start + len(label)]):
            axis[start : start + len(label)] = label
    lines = [
        "wall ÷ the floor's wall in the same round: o a round (O several), # the median, | the target",
        "",
        " " * (name_width + 2) + "".join(axis).rstrip(),
    ]
    for label, values in ratios.items():
        row = [" "] * width
        target = TARGETS.get(label)
        if target is not None:
            row[column(target)] = "|"
        for value in values:
            index = column(value)
            row[index] = "O" if row[index] in ("o", "O") else "o"
        row[column(median(values))] = "#"
        lines.append(f"{label.ljust(name_width)}  {''.join(row).rstrip()}")
    return lines


def section(
    lines: list[str], *, rounds: int, machine: str, commands: str, argv: list[str], plot_lines: Sequence[str] = ()
) -> str:
    command = " ".join(["python -m bench.edit_loop", *argv]).strip()
    return "\n".join(
        [
            BEGIN,
            "## Edit loop: one test, again and again (issue 14)",
            "",
            "<!-- Generated by bench/edit_loop.py: edit the generator, not this section. -->",
            f"Measured on {datetime.date.today().isoformat()}, {machine}; {rounds} interleaved rounds after a "
            "warm-up. Reproduce with:",
            "",
            "<!-- not-run: a benchmark: minutes of load on a quiet machine, not a test -->",
            "```sh",
            'pip install -e ".[test,bench]"',
            command,
            "```",
            "",
            *lines,
            "",
            "```text",
            *plot_lines,
            "```",
            "",
            "The pytest commands, each run in its suite's directory (`--keep` keeps them):",
            "",
            "```text",
            commands,
            "```",
            END,
        ]
    )


def write_section(text: str, doc: Path = DOC) -> None:
    old = doc.read_text() if doc.exists() else ""
    if BEGIN in old and END in old:
        head, rest = old.split(BEGIN, 1)
        new = head + text + rest.split(END, 1)[1]
    else:
        new = old.rstrip("\n") + "\n\n" + text + "\n"
    doc.write_text(new)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.edit_loop", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--no-reuse", dest="reuse", action="store_false", help="leave out the --service-reuse variant")
    parser.add_argument("--before", type=Path, help="a checkout whose plugin to compare, on PYTHONPATH")
    parser.add_argument(
        "--parts",
        action="store_true",
        help="add the floor with the plugin loaded, with the client libraries imported, and with both",
    )
    parser.add_argument("--no-docs", action="store_true", help="print only; do not rewrite docs/performance.md")
    parser.add_argument("--keep", action="store_true", help="keep the generated suites")
    args = parser.parse_args(argv)
    before = args.before.resolve() if args.before is not None else None
    walls, cpus, machine, commands = measure(args.rounds, args.reuse, args.keep, before, args.parts)
    lines = table(walls, cpus)
    shown = [a for a in (argv if argv is not None else sys.argv[1:]) if a not in ("--no-docs", "--keep")]
    text = section(lines, rounds=args.rounds, machine=machine, commands=commands, argv=shown, plot_lines=plot(walls))
    print(text)
    if not args.no_docs:
        write_section(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
