"""The examples in docs/config-hooks.md run as written against the sample service."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.doc_blocks import Block, examples, files_of

PAGE = "docs/config-hooks.md"


def blocks_run() -> list[Block]:
    """The blocks of the page's ``<!-- example: NAME -->`` regions, which the tests below run."""
    return [block for example in examples(PAGE).values() for block in example]


def test_every_example_has_a_conftest_and_a_test():
    """Each marked example is complete: a conftest.py and at least one test module."""
    found = {name: files_of(example) for name, example in examples(PAGE).items()}
    assert len(found) >= 4
    for name, files in found.items():
        assert "conftest.py" in files, name
        assert any(file.startswith("test_") for file in files), name


@pytest.mark.parametrize("name", sorted(examples(PAGE)))
def test_example_passes(pytester, name):
    """The example's conftest and tests, copied verbatim, pass in pytest-asyncio's default strict mode."""
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    example = examples(PAGE)[name]
    for file, code in files_of(example).items():
        Path(pytester.path, file).write_text(code)
    pytester.runpytest_inprocess().assert_outcomes(passed=sum(block.test_count for block in example))
