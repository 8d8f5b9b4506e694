"""The tests shown in docs/dynamic-config.md, docs/log-capture.md and docs/broadcast.md run as written."""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = ("dynamic-config.md", "log-capture.md", "broadcast.md")


def doc_tests(page: str) -> str:
    """The page's Python blocks that define tests, as one module."""
    blocks = re.findall(r"^```python\n(.*?)^```$", (DOCS / page).read_text(encoding="utf-8"), flags=re.S | re.M)
    return "\n\n".join(block for block in blocks if re.search(r"^(?:async )?def test_", block, flags=re.M))


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
