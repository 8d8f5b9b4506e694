"""docs/reference.md: the engine script, the two fixes for async fixtures in strict mode and the
loop-scope ini run as written."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.docs.doc_blocks import ROOT, Block, the_block

PAGE = "docs/reference.md"
CHAT_TEST = """\
async def test_the_fixture_is_a_connection(chat):
    await chat.send('hi')
    assert await chat.recv() == 'hi'
"""


def blocks_run() -> list[Block]:
    """The engine script, the two strict-mode fixes and the loop-scope ini."""
    return [
        the_block(PAGE, "python", "import sys\n"),
        the_block(PAGE, "python", "import pytest_asyncio\n"),
        the_block(PAGE, "ini", "# 2. or let pytest-asyncio"),
        the_block(PAGE, "ini", "[pytest]\n"),
    ]


def test_the_engine_script_starts_and_stops_the_sample(tmp_path, scaled):
    """The script, run from the checkout with its /tmp paths moved to a temp dir, prints the base URL."""
    script = the_block(PAGE, "python", "import sys\n").text.replace("'/tmp", f"'{tmp_path}")
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=scaled(60), check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("http://127.0.0.1:"), result.stdout
    assert (tmp_path / "service.log").is_file()


def test_fix_one_a_pytest_asyncio_fixture(pytester: pytest.Pytester, scaled):
    """Fix 1: the fixture marked with ``@pytest_asyncio.fixture`` hands the test a connection in strict mode."""
    pytester.makeini(the_block(PAGE, "ini", "[pytest]\n").text)
    fixture = the_block(PAGE, "python", "import pytest_asyncio\n").text
    pytester.makeconftest("pytest_plugins = ['pytest_wsservice']\n" + fixture)
    pytester.makepyfile(test_chat=CHAT_TEST)
    result = pytester.runpytest_subprocess("-W", "error", "-p", "no:cacheprovider", timeout=scaled(60))
    result.assert_outcomes(passed=1)


def test_fix_two_auto_mode(pytester: pytest.Pytester, scaled):
    """Fix 2: with the page's ini (auto mode), the same fixture under plain ``@pytest.fixture`` works."""
    (pytester.path / "pytest.ini").write_text(the_block(PAGE, "ini", "# 2. or let pytest-asyncio").text)
    fixture = the_block(PAGE, "python", "import pytest_asyncio\n").text
    plain = fixture.replace("import pytest_asyncio\n", "import pytest\n").replace(
        "@pytest_asyncio.fixture", "@pytest.fixture"
    )
    assert plain != fixture
    pytester.makeconftest("pytest_plugins = ['pytest_wsservice']\n" + plain)
    pytester.makepyfile(test_chat=CHAT_TEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=scaled(60))
    result.assert_outcomes(passed=1)
