"""The migration guide's example suite (docs/migrating-from-pytest-userver.md) runs as written.

Its ini, conftest and tests are copied verbatim into a pytester directory and run against the
bundled sample service; every test in it must pass.
"""

from __future__ import annotations

import pytest

from tests.docs.doc_blocks import ROOT, Block, examples, files_of, the_block

PAGE = "docs/migrating-from-pytest-userver.md"
DOC = ROOT / PAGE


def blocks_run() -> list[Block]:
    """The example suite's blocks, and the after-conftest and the ini lines the tests compare with what runs."""
    return [
        *examples(PAGE)["migrated-suite"],
        the_block(PAGE, "python", "# after\n"),
        the_block(PAGE, "ini", "[pytest]\n"),
    ]


def example_files(name: str) -> dict[str, str]:
    """The files of the guide's example ``name``: file name -> text."""
    found = examples(PAGE)
    assert name in found, f"{DOC.name} has no example {name!r}"
    return files_of(found[name])


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
    assert the_block(PAGE, "python", "# after\n").text == "# after\npytest_plugins = ['pytest_wsservice']\n"
    assert "pytest_plugins = ['pytest_wsservice']\n" in example_files("migrated-suite")["conftest.py"]


def test_the_ini_of_the_guide_is_the_ini_of_the_hint() -> None:
    """The ini lines the guide gives are the ones the strict-mode hint prints."""
    from pytest_wsservice.plugin.asyncio_hint import INI_LINES

    assert the_block(PAGE, "ini", "[pytest]\n").text == f"[pytest]\n{INI_LINES}\n"
    assert the_block(PAGE, "ini", "[pytest]\n").text in example_files("migrated-suite")["pytest.ini"]
