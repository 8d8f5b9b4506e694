"""The tutorial's examples run as written, against the bundled sample service."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

TUTORIAL = Path(__file__).resolve().parents[2] / "docs" / "tutorial.md"
SAMPLE_CONFIG = Path(__file__).resolve().parents[2] / "sample_service" / "static_config.yaml"


def python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", TUTORIAL.read_text(encoding="utf-8"), flags=re.S | re.M)


def test_tutorial_has_the_userver_test_and_conftest():
    """The tutorial shows the userver test verbatim and the one-line conftest."""
    blocks = python_blocks()
    assert "pytest_plugins = ['pytest_wsservice']\n" in blocks
    assert (
        "async def test_echo(websocket_client):\n"
        "    async with websocket_client.get('chat') as chat:\n"
        "        await chat.send('hello')\n"
        "        response = await chat.recv()\n"
        "        assert response == 'hello'\n"
    ) in blocks


def test_tutorial_tests_pass(pytester: pytest.Pytester, scaled):
    """Every test in the tutorial passes when run as the tutorial says, with --service-config."""
    blocks = python_blocks()
    (conftest,) = [block for block in blocks if block.startswith("pytest_plugins")]
    pytester.makeconftest(conftest)
    tests = [block for block in blocks if re.search(r"^async def test_|^def test_", block, flags=re.M)]
    for number, block in enumerate(tests):
        pytester.makepyfile(**{f"test_tutorial_{number}": block})
    expected = sum(len(re.findall(r"^(?:async )?def test_", block, flags=re.M)) for block in tests)
    assert expected >= 10
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--service-config", str(SAMPLE_CONFIG), timeout=scaled(60)
    )
    result.assert_outcomes(passed=expected)
