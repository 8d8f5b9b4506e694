"""docs/chaos.md: every test it shows runs as written against the bundled sample service."""

from __future__ import annotations

import pytest

from tests.docs.doc_blocks import SAMPLE_CONFIG, Block, blocks_with_tests

PAGE = "docs/chaos.md"


def blocks_run() -> list[Block]:
    """The page's python blocks that define tests: each runs as a test module of its own."""
    return blocks_with_tests(PAGE)


def doc_tests() -> list[str]:
    return [block.text for block in blocks_run()]


def test_the_doc_tells_the_three_stories():
    """The reconnect story (1006), the slow network, the half-open connection, and the cut, all as tests."""
    text = "\n".join(doc_tests())
    assert "await tcp_gate.sockets_close()" in text
    assert "chat.close_code == 1006" in text
    assert "to_client_delay(" in text and "to_server_smaller_parts(" in text
    assert "tcp_gate.to_client_noop()" in text
    assert "to_server_cut_mid_frame()" in text


def test_the_doc_tests_pass(pytester: pytest.Pytester, scaled):
    """Each block is a test module of its own; all pass in one run with --service-config."""
    pytester.makeconftest("pytest_plugins = ['pytest_wsservice']\n")
    blocks = doc_tests()
    for number, block in enumerate(blocks):
        pytester.makepyfile(**{f"test_chaos_doc_{number}": block})
    expected = sum(block.test_count for block in blocks_run())
    assert expected >= 7
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--service-config", str(SAMPLE_CONFIG), timeout=scaled(120)
    )
    result.assert_outcomes(passed=expected)
