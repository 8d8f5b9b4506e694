"""The examples in docs/config-hooks.md run as written against the sample service."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "config-hooks.md"
EXAMPLE = re.compile(r"<!-- example: (?P<name>[\w-]+) -->\n(?P<body>.*?)<!-- end example -->", re.S)
BLOCK = re.compile(r"```python\n# (?P<file>[\w.]+\.py)\n(?P<code>.*?)```", re.S)


def examples() -> dict[str, dict[str, str]]:
    """Return each example's files: name -> {file name: code}."""
    found = {}
    for example in EXAMPLE.finditer(DOC.read_text()):
        files = {block["file"]: block["code"] for block in BLOCK.finditer(example["body"])}
        found[example["name"]] = files
    return found


def test_every_example_has_a_conftest_and_a_test():
    """Each marked example is complete: a conftest.py and at least one test module."""
    found = examples()
    assert len(found) >= 4
    for name, files in found.items():
        assert "conftest.py" in files, name
        assert any(file.startswith("test_") for file in files), name


@pytest.mark.parametrize("name", sorted(examples()))
def test_example_passes(pytester, name):
    """The example's conftest and tests, copied verbatim, pass in pytest-asyncio's default strict mode."""
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    tests = 0
    for file, code in examples()[name].items():
        Path(pytester.path, file).write_text(code)
        tests += (
            code.count("\ndef test_")
            + code.count("\nasync def test_")
            + code.startswith(("def test_", "async def test_"))
        )
    pytester.runpytest_inprocess().assert_outcomes(passed=tests)
