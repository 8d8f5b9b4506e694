"""Every code example in the docs is run by a doc test or marked not runnable, with the reason.

The pages are README.md, CONTRIBUTING.md, CHANGELOG.md and docs/**/*.md. A block is run when a
doc test module in tests/docs names it in its ``blocks_run()``, which that module's tests build
their runs from; it is marked with ``<!-- not-run: REASON -->`` on the line before its fence
(see tests/docs/doc_blocks.py). ``text`` blocks are shown output, not code.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from tests.docs.doc_blocks import Block, audited_pages, blocks

HERE = Path(__file__).resolve().parent


def doc_test_modules() -> dict[str, Callable[[], list[Block]]]:
    """Each tests/docs module that runs blocks: module name -> its ``blocks_run``."""
    found = {}
    for path in sorted(HERE.glob("test_*.py")):
        module = importlib.import_module(f"tests.docs.{path.stem}")
        blocks_run = getattr(module, "blocks_run", None)
        if blocks_run is not None:
            found[path.stem] = blocks_run
    return found


def run_blocks() -> dict[tuple[str, int], list[str]]:
    """``(page, line)`` of every block a doc test runs -> the modules that run it."""
    run: dict[tuple[str, int], list[str]] = {}
    for module, blocks_run in doc_test_modules().items():
        for block in blocks_run():
            run.setdefault((block.page, block.line), []).append(module)
    return run


def test_every_code_block_is_run_or_marked_not_runnable():
    run = run_blocks()
    problems = []
    for page in audited_pages():
        for block in blocks(page):
            key = (block.page, block.line)
            if not block.lang:
                problems.append(f"{block.where}: the fence names no language (write ```text for output)")
            elif block.lang == "text":
                if block.not_run is not None:
                    problems.append(f"{block.where}: a text block needs no not-run marker")
            elif key in run and block.not_run is not None:
                problems.append(f"{block.where}: marked not-run ({block.not_run}) but run by {', '.join(run[key])}")
            elif key not in run and block.not_run is None:
                problems.append(
                    f"{block.where}: this {block.lang} block is neither run by a doc test (a blocks_run() in "
                    "tests/docs) nor marked <!-- not-run: REASON --> on the line before its fence"
                )
    assert not problems, "\n".join(problems)


def test_the_doc_tests_name_real_blocks():
    """Each module's ``blocks_run()`` names blocks of audited pages, not text ones, and at least one."""
    pages = set(audited_pages())
    modules = doc_test_modules()
    assert len(modules) >= 8, sorted(modules)
    for module, blocks_run in modules.items():
        named = blocks_run()
        assert named, f"{module}: blocks_run() names no block"
        for block in named:
            assert block.page in pages, (module, block.where)
            assert block.lang not in ("", "text"), (module, block.where)


def test_the_audit_sees_a_marker_an_unmarked_block_and_a_fence_without_language(tmp_path, monkeypatch):
    """The parser reads the marker on the line before a fence, indented fences, and unnamed languages."""
    from tests.docs import doc_blocks

    (tmp_path / "page.md").write_text(
        "Text\n\n<!-- not-run: needs a userver binary -->\n```sh\nuserver-svc --config c.yaml\n```\n\n"
        "```python\nprint(1)\n```\n\n- item\n\n  ```yaml\n  a: 1\n  ```\n\n```\nplain\n```\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(doc_blocks, "ROOT", tmp_path)
    found = [(block.line, block.lang, block.not_run, block.text) for block in blocks("page.md")]
    assert found == [
        (4, "sh", "needs a userver binary", "userver-svc --config c.yaml\n"),
        (8, "python", None, "print(1)\n"),
        (14, "yaml", None, "a: 1\n"),
        (18, "", None, "plain\n"),
    ]
