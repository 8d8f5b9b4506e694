"""The tests shown in docs/mockserver.md and docs/testpoints.md run as written.

The pages' ``# conftest.py`` block is the project's conftest; every block that defines a
test becomes a test module.
"""

from __future__ import annotations

import re

from tests.docs.doc_blocks import ROOT, TEST, Block, blocks_of, blocks_with_tests, the_block

DOCS = ROOT / "docs"


def blocks_run() -> list[Block]:
    """The mockserver page's ``# conftest.py`` block and both pages' python blocks that define tests."""
    conftest = the_block("docs/mockserver.md", "python", "# conftest.py")
    return [conftest, *blocks_with_tests("docs/mockserver.md"), *blocks_with_tests("docs/testpoints.md")]


def blocks(page: str) -> list[str]:
    return [block.text for block in blocks_of(f"docs/{page}", "python")]


def count_tests(source: str) -> int:
    return len(TEST.findall(source))


def test_the_pages_tests_pass_and_fail_as_they_say(control_project):
    conftests = [block for block in blocks("mockserver.md") if block.startswith("# conftest.py")]
    assert len(conftests) == 1
    control_project.makeconftest(conftests[0])
    expected = {}
    for page in ("mockserver.md", "testpoints.md"):
        source = "\n\n".join(block for block in blocks(page) if count_tests(block))
        expected[page] = count_tests(source)
        control_project.makepyfile(**{"test_" + page[:-3]: source})
    assert expected == {"mockserver.md": 5, "testpoints.md": 2}
    result = control_project.runpytest_inprocess("-p", "no:cacheprovider")
    # The page shows one test failing on purpose: it forgot the auth handler.
    result.assert_outcomes(passed=6, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*the mockserver answered 1 request(s) with 500 during this test:",
            "  POST /auth: no handler",
            "*FAILED test_mockserver.py::test_forgot_the_auth_handler*",
        ]
    )


def test_the_failure_shown_on_the_page_is_the_real_one(control_project):
    page = (DOCS / "mockserver.md").read_text(encoding="utf-8")
    shown = re.search(r"fails with\n\n```text\n(.*?)```", page, flags=re.S)
    assert shown is not None
    from pytest_wsservice.mockserver import UnhandledRequestsError

    assert shown.group(1).strip() == str(UnhandledRequestsError(["POST /auth: no handler"]))
