"""The migration guide's example suite (docs/migrating-from-pytest-userver.md) runs as written.

Its ini, conftest and tests are copied verbatim into a pytester directory and run against the
bundled sample service; every test in it must pass.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "migrating-from-pytest-userver.md"
EXAMPLE = re.compile(r"<!-- example: (?P<name>[\w-]+) -->\n(?P<body>.*?)<!-- end example -->", re.S)
BLOCK = re.compile(r"```(?:python|ini)\n# (?P<file>[\w.]+\.(?:py|ini))\n(?P<code>.*?)```", re.S)


def example_files(name: str) -> dict[str, str]:
    """The files of the guide's example ``name``: file name -> text."""
    for example in EXAMPLE.finditer(DOC.read_text()):
        if example["name"] == name:
            return {block["file"]: block["code"] for block in BLOCK.finditer(example["body"])}
    raise AssertionError(f"{DOC.name} has no example {name!r}")


def test_the_migrated_suite_passes(pytester: pytest.Pytester) -> None:
    """The guide's ini (auto mode, session loop), conftest (USERVER_CONFIG_HOOKS, an @pytest.fixture async fixture)
    and tests (responses in testsuite's shape, sync set_values) pass as written."""
    files = example_files("migrated-suite")
    assert set(files) == {"pytest.ini", "conftest.py", "test_chat.py"}
    for file, text in files.items():
        (pytester.path / file).write_text(text)
    tests = files["test_chat.py"].count("\nasync def test_") + files["test_chat.py"].count("\ndef test_")
    result = pytester.runpytest_inprocess("-W", "error::DeprecationWarning:test_chat")
    result.assert_outcomes(passed=tests)
    assert tests == 4


def test_the_conftest_change_is_one_line() -> None:
    """The guide's before and after conftest differ only in the pytest_plugins line."""
    text = DOC.read_text()
    assert "# before\npytest_plugins = ['pytest_userver.plugins.core']\n" in text
    assert "# after\npytest_plugins = ['pytest_wsservice']\n" in text


def test_the_ini_of_the_guide_is_the_ini_of_the_hint() -> None:
    """The ini lines the guide gives are the ones the strict-mode hint prints."""
    from pytest_wsservice.plugin.asyncio_hint import INI_LINES

    assert f"```ini\n[pytest]\n{INI_LINES}\n```" in DOC.read_text()
    assert INI_LINES in example_files("migrated-suite")["pytest.ini"]
