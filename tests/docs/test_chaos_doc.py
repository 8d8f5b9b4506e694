"""docs/chaos.md: every test it shows runs as written against the bundled sample service."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "chaos.md"
SAMPLE_CONFIG = Path(__file__).resolve().parents[2] / "sample_service" / "static_config.yaml"


def doc_tests() -> list[str]:
    blocks = re.findall(r"^```python\n(.*?)^```$", DOC.read_text(encoding="utf-8"), flags=re.S | re.M)
    return [block for block in blocks if re.search(r"^(?:async )?def test_", block, flags=re.M)]


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
    expected = sum(len(re.findall(r"^(?:async )?def test_", block, flags=re.M)) for block in blocks)
    assert expected >= 7
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--service-config", str(SAMPLE_CONFIG), timeout=scaled(120)
    )
    result.assert_outcomes(passed=expected)
