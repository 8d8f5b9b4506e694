"""The examples in docs/expectations.md run as written against the sample service, and fail as shown."""

from __future__ import annotations

import re

import pytest

from tests.docs.doc_blocks import ROOT, Block, files_of
from tests.docs.doc_blocks import examples as page_examples

PAGE = "docs/expectations.md"
DOC = ROOT / PAGE
OUTPUT = re.compile(r"<!-- output: (?P<name>[\w-]+) -->\n```text\n(?P<text>.*?)```\n<!-- end output -->", re.S)


def blocks_run() -> list[Block]:
    """The blocks of the page's ``<!-- example: NAME -->`` regions, which the tests below run."""
    return [block for example in page_examples(PAGE).values() for block in example]


def examples() -> dict[str, tuple[bool, dict[str, str]]]:
    """Each example's name -> (whether its tests fail on purpose, {file name: code})."""
    return {name: (example[0].fails, files_of(example)) for name, example in page_examples(PAGE).items()}


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
        (pytester.path / file).write_text(code)
    tests = sum(block.test_count for block in page_examples(PAGE)[name] if (block.file_name or "").startswith("test_"))
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
