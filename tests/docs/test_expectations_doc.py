"""The examples in docs/expectations.md run as written against the sample service, and fail as shown."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "expectations.md"
EXAMPLE = re.compile(r"<!-- example: (?P<name>[\w-]+)(?P<fails> fails)? -->\n(?P<body>.*?)<!-- end example -->", re.S)
OUTPUT = re.compile(r"<!-- output: (?P<name>[\w-]+) -->\n```text\n(?P<text>.*?)```\n<!-- end output -->", re.S)
BLOCK = re.compile(r"```python\n# (?P<file>[\w.]+\.py)\n(?P<code>.*?)```", re.S)
TEST = re.compile(r"^(?:async )?def test_", re.M)


def examples() -> dict[str, tuple[bool, dict[str, str]]]:
    """Each example's name -> (whether its tests fail on purpose, {file name: code})."""
    text = DOC.read_text(encoding="utf-8")
    return {
        match["name"]: (bool(match["fails"]), {block["file"]: block["code"] for block in BLOCK.finditer(match["body"])})
        for match in EXAMPLE.finditer(text)
    }


def outputs() -> dict[str, str]:
    return {match["name"]: match["text"] for match in OUTPUT.finditer(DOC.read_text(encoding="utf-8"))}


def shown_line_pattern(line: str) -> re.Pattern[str]:
    """A shown output line as a pattern: the times (``+0.002s``, ``in 0.006 s``) may differ."""
    parts = re.split(r"(\+\d+\.\d{3}s|in \d+\.\d{3} s)", line)
    pattern = "".join(
        re.escape(part) if index % 2 == 0 else (r"\+\d+\.\d{3}s" if part.startswith("+") else r"in \d+\.\d{3} s")
        for index, part in enumerate(parts)
    )
    return re.compile(pattern)


def test_the_page_has_its_examples():
    found = examples()
    assert {"kinds", "failure", "silence-and-close", "transcript", "keepalive", "handshake"} <= set(found)
    for name, (_, files) in found.items():
        assert "conftest.py" in files and any(file.startswith("test_") for file in files), name
    assert set(outputs()) == {name for name, (fails, _) in found.items() if fails}


@pytest.mark.parametrize("name", sorted(examples()))
def test_example_runs_as_shown(pytester: pytest.Pytester, scaled, name):
    fails, files = examples()[name]
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    for file, code in files.items():
        Path(pytester.path, file).write_text(code)
    tests = sum(len(TEST.findall(code)) for file, code in files.items() if file.startswith("test_"))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=scaled(90))
    if not fails:
        result.assert_outcomes(passed=tests)
        return
    result.assert_outcomes(failed=tests)
    lines = result.stdout.lines
    position = 0
    for shown in outputs()[name].splitlines():
        pattern = shown_line_pattern(shown)
        found = next((i for i in range(position, len(lines)) if pattern.fullmatch(lines[i])), None)
        assert found is not None, f"the shown line {shown!r} is not in the output (in order):\n{result.stdout.str()}"
        position = found + 1
