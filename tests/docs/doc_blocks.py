"""The fenced code blocks of the docs, for the doc tests that run them and the audit that checks them.

Every doc test reads the pages through this module, and each doc test module names the blocks it
runs in a module-level ``blocks_run()`` that its own tests build their runs from.
``tests/docs/test_examples_audit.py`` collects those and fails for any block of a documented
language that is neither run by a doc test nor marked not runnable.

The marker is an HTML comment on the line right before the opening fence, giving the reason::

    <!-- not-run: installs packages -->
    ```sh
    pip install -e ".[test]"
    ```

Markdown keeps the comment out of the rendered page. A ``text`` block is shown output, a diagram or
a format, not code: it needs no marker. Every fence names its language.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_CONFIG = ROOT / "sample_service" / "static_config.yaml"
NOT_RUN = re.compile(r"^\s*<!-- not-run: (?P<reason>\S.*?) -->\s*$")
EXAMPLE = re.compile(r"^<!-- example: (?P<name>[\w-]+)(?P<fails> fails)? -->$")
END_EXAMPLE = "<!-- end example -->"
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
TEST = re.compile(r"^(?:async )?def test_", re.M)
FILE_NAME = re.compile(r"# (?P<file>[\w.]+\.(?:py|ini|toml|yaml))\n")


@dataclass(frozen=True)
class Block:
    """One fenced block of a page: where it is, its language, its text and its marker.

    ``text`` is the block's content with the fence's indentation removed, ending in a newline.
    ``example`` names the ``<!-- example: NAME -->`` region the block lies in, if any.
    """

    page: str
    line: int
    lang: str
    text: str
    not_run: str | None
    example: str | None
    fails: bool

    @property
    def where(self) -> str:
        """``page:line`` of the opening fence."""
        return f"{self.page}:{self.line}"

    @property
    def file_name(self) -> str | None:
        """The file the block stands for, when its first line is a ``# name.py`` comment."""
        match = FILE_NAME.match(self.text)
        return match["file"] if match else None

    @property
    def test_count(self) -> int:
        """How many test functions the block defines."""
        return len(TEST.findall(self.text))


def audited_pages() -> list[str]:
    """The pages whose blocks the audit checks, relative to the repository root."""
    pages = ["README.md", "CONTRIBUTING.md", "CHANGELOG.md"]
    pages += sorted(str(path.relative_to(ROOT)) for path in (ROOT / "docs").rglob("*.md"))
    return [page for page in pages if (ROOT / page).is_file()]


def blocks(page: str) -> list[Block]:
    """Every fenced block of ``page`` (a path relative to the repository root), in order."""
    lines = (ROOT / page).read_text(encoding="utf-8").split("\n")
    found: list[Block] = []
    example: str | None = None
    fails = False
    index = 0
    while index < len(lines):
        line = lines[index]
        opened = EXAMPLE.match(line)
        if opened:
            example, fails = opened["name"], bool(opened["fails"])
        elif line == END_EXAMPLE:
            example, fails = None, False
        fence = FENCE.match(line)
        if not fence:
            index += 1
            continue
        indent, mark = fence["indent"], fence["fence"]
        closing = re.compile(rf"^ *{re.escape(mark[0])}{{{len(mark)},}}\s*$")
        end = index + 1
        while end < len(lines) and not closing.match(lines[end]):
            end += 1
        body = [text[len(indent) :] if text.startswith(indent) else text for text in lines[index + 1 : end]]
        marker = NOT_RUN.match(lines[index - 1]) if index else None
        found.append(
            Block(
                page=page,
                line=index + 1,
                lang=fence["info"].strip().split(" ")[0],
                text="".join(text + "\n" for text in body),
                not_run=marker["reason"] if marker else None,
                example=example,
                fails=fails,
            )
        )
        index = end + 1
    return found


def blocks_of(page: str, lang: str) -> list[Block]:
    """The blocks of ``page`` in language ``lang``."""
    return [block for block in blocks(page) if block.lang == lang]


def blocks_with_tests(page: str) -> list[Block]:
    """The python blocks of ``page`` that define at least one test."""
    return [block for block in blocks_of(page, "python") if block.test_count]


def examples(page: str) -> dict[str, list[Block]]:
    """The page's ``<!-- example: NAME -->`` regions: name -> the blocks that name their file."""
    found: dict[str, list[Block]] = {}
    for block in blocks(page):
        if block.example is not None and block.file_name is not None:
            found.setdefault(block.example, []).append(block)
    return found


def files_of(example: Iterable[Block]) -> dict[str, str]:
    """An example's files: file name -> text after the ``# name`` line (so line numbers match the output shown)."""
    return {block.file_name: block.text.split("\n", 1)[1] for block in example if block.file_name is not None}


def the_block(page: str, lang: str, starting: str) -> Block:
    """The one block of ``page`` in ``lang`` whose text starts with ``starting``."""
    matches = [block for block in blocks_of(page, lang) if block.text.startswith(starting)]
    assert len(matches) == 1, f"{page}: {len(matches)} {lang} blocks start with {starting!r}, expected one"
    return matches[0]


def copy_sample_config(directory: Path, name: str = "static_config.yaml", text: str | None = None) -> Path:
    """Write the sample's static config (or ``text``) and its dynamic config fallback into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    fallback = SAMPLE_CONFIG.parent / "dynamic_config_fallback.json"
    (directory / fallback.name).write_text(fallback.read_text(encoding="utf-8"), encoding="utf-8")
    path = directory / name
    path.write_text(SAMPLE_CONFIG.read_text(encoding="utf-8") if text is None else text, encoding="utf-8")
    return path


def make_placeholder_service(root: Path) -> None:
    """Make the docs' placeholders real under ``root``: ``path/to/static_config.yaml`` (the sample's
    config) and ``path/to/your-service`` (a script that runs the sample service), so that a command
    written with them runs as shown."""
    import stat
    import sys

    copy_sample_config(root / "path" / "to")
    service = root / "path" / "to" / "your-service"
    service.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m sample_service "$@"\n', encoding="utf-8")
    service.chmod(service.stat().st_mode | stat.S_IXUSR)


def pytest_args(block: Block) -> list[str]:
    """The arguments of the one ``pytest ...`` command of an ``sh`` block, split as a shell would,
    with backslash-continued lines joined."""
    import shlex

    words = shlex.split(block.text.replace("\\\n", " "))
    assert words[0] == "pytest" and "pytest" not in words[1:], f"{block.where}: not one pytest command"
    return words[1:]
