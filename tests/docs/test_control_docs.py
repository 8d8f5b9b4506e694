"""The tests shown in docs/dynamic-config.md, docs/log-capture.md and docs/broadcast.md run as written."""

from __future__ import annotations

import re

from tests.docs.doc_blocks import Block, blocks_with_tests

PAGES = ("dynamic-config.md", "log-capture.md", "broadcast.md")


def blocks_run() -> list[Block]:
    """The pages' python blocks that define tests: each page's run as one test module."""
    return [block for page in PAGES for block in blocks_with_tests(f"docs/{page}")]


def doc_tests(page: str) -> str:
    """The page's Python blocks that define tests, as one module."""
    return "\n\n".join(block.text for block in blocks_with_tests(f"docs/{page}"))


def test_every_docs_test_passes(control_project):
    """Each page's tests pass against the bundled sample service, with only the one-line conftest."""
    expected = {}
    for page in PAGES:
        source = doc_tests(page)
        expected[page] = len(re.findall(r"^(?:async )?def test_", source, flags=re.M))
        control_project.makepyfile(**{"test_" + page[:-3].replace("-", "_"): source})
    assert all(count >= 2 for count in expected.values()), expected
    result = control_project.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=sum(expected.values()))
