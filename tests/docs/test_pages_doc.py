"""The README's quick start, the expectations page's conftest and the Perl example of
docs/other-services.md run as written, against real services."""

from __future__ import annotations

import pytest
import yaml

from tests.docs.doc_blocks import (
    ROOT,
    Block,
    blocks_of,
    copy_sample_config,
    examples,
    files_of,
    make_placeholder_service,
    pytest_args,
    the_block,
)

README = "README.md"
OTHER = "docs/other-services.md"


def readme_blocks() -> dict[str, Block]:
    return {
        "static_config.yaml": the_block(README, "yaml", "# static_config.yaml\n"),
        "conftest.py": the_block(README, "python", "pytest_plugins"),
        "pytest.ini": the_block(README, "ini", "[pytest]\n"),
        "test_echo.py": the_block(README, "python", "async def test_echo("),
        "command": the_block(README, "sh", "pytest --service-config=path/to/"),
    }


def perl_blocks() -> dict[str, Block]:
    return {
        "conftest.py": the_block(OTHER, "python", "pytest_plugins"),
        "test_echo.py": the_block(OTHER, "python", "async def test_echo("),
        "command": the_block(OTHER, "sh", "pytest --service-config=/path/to/examples/perl_echo/"),
    }


def expectations_conftest() -> Block:
    """The page's one-line conftest, shown before (outside) its examples."""
    (block,) = [
        block
        for block in blocks_of("docs/expectations.md", "python")
        if block.example is None and block.text.startswith("# conftest.py\n")
    ]
    return block


def blocks_run() -> list[Block]:
    """The README's quick start (config, conftest, ini, test, command), the Perl suite, and the
    expectations page's conftest (the one its examples run with)."""
    return [
        *readme_blocks().values(),
        *perl_blocks().values(),
        expectations_conftest(),
        the_block("docs/sample-service.md", "yaml", "components_manager:\n"),
    ]


def test_the_readme_quick_start_passes_quietly(pytester: pytest.Pytester, scaled):
    """The README's config, conftest, ini and test, run by its command with path/to/ made real
    (the config is the README's, the command runs the sample), pass under -W error."""
    blocks = readme_blocks()
    make_placeholder_service(pytester.path)
    (pytester.path / "path" / "to" / "static_config.yaml").write_text(blocks["static_config.yaml"].text)
    for file in ("conftest.py", "pytest.ini", "test_echo.py"):
        (pytester.path / file).write_text(blocks[file].text)
    args = pytest_args(blocks["command"])
    result = pytester.runpytest_subprocess("-W", "error", "-p", "no:cacheprovider", *args, timeout=scaled(60))
    result.assert_outcomes(passed=1)
    assert "warning" not in result.stdout.str().lower()


@pytest.mark.skipif(not (ROOT / "examples" / "perl_echo").is_dir(), reason="the Perl example is not in this tree")
def test_the_perl_suite_passes(pytester: pytest.Pytester, scaled):
    """The Perl echo service's conftest and tests pass with the page's command, /path/to/ being the checkout."""
    blocks = perl_blocks()
    for file in ("conftest.py", "test_echo.py"):
        (pytester.path / file).write_text(blocks[file].text)
    args = [arg.replace("/path/to/", f"{ROOT}/") for arg in pytest_args(blocks["command"])]
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=scaled(60))
    result.assert_outcomes(passed=blocks["test_echo.py"].test_count)
    assert blocks["test_echo.py"].test_count == 3


def test_the_expectations_conftest_is_the_one_its_examples_run_with():
    """The one-line conftest the expectations page asks for is each example's conftest, which runs."""
    shown = expectations_conftest().text.split("\n", 1)[1]
    conftests = {files_of(example)["conftest.py"] for example in examples("docs/expectations.md").values()}
    assert conftests == {shown}


def test_the_sample_config_shown_is_the_bundled_one():
    """docs/sample-service.md shows the bundled config: the same YAML, key for key, without its comments."""
    shown = yaml.safe_load(the_block("docs/sample-service.md", "yaml", "components_manager:\n").text)
    bundled = yaml.safe_load((ROOT / "sample_service" / "static_config.yaml").read_text())
    assert shown == bundled


def test_the_sample_config_shown_runs_the_readme_test(pytester: pytest.Pytester, scaled):
    """The config docs/sample-service.md shows as the bundled one starts the sample: the README's test passes."""
    shown = the_block("docs/sample-service.md", "yaml", "components_manager:\n").text
    config = copy_sample_config(pytester.path / "conf", text=shown)
    (pytester.path / "conftest.py").write_text(readme_blocks()["conftest.py"].text)
    (pytester.path / "test_echo.py").write_text(readme_blocks()["test_echo.py"].text)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--service-config={config}", timeout=scaled(60))
    result.assert_outcomes(passed=1)
