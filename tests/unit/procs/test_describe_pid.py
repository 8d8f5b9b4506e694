"""``describe_pid`` quotes long command lines usefully: the program whole, the middle cut."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pytest_wsservice.service.procfs import COMMAND_QUOTE_LIMIT, cut_middle, describe_pid


def test_a_long_interpreter_path_is_quoted_whole(tmp_path: Path) -> None:
    """A command line of a few hundred characters (a deep temp dir) is quoted whole: tests and users compare it."""
    deep = tmp_path.joinpath(*["a-rather-long-directory-name"] * 8)
    deep.mkdir(parents=True)
    script = deep / "squatter.py"
    script.write_text("import sys; print('ready', flush=True); sys.stdin.read()\n")
    process = subprocess.Popen([sys.executable, str(script), "12345"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None and process.stdout.readline() == b"ready\n"  # it runs the script now
        assert len(f"{sys.executable} {script} 12345") > 200
        assert describe_pid(process.pid) == f"pid {process.pid} ({sys.executable} {script} 12345)"
    finally:
        process.communicate(b"")


def test_a_huge_command_line_keeps_its_program_and_its_end() -> None:
    """Beyond the limit the middle is cut, never the program, and the message stays bounded."""
    arguments = [f"--option-{index}=value" for index in range(400)]
    code = "import sys; print('ready', flush=True); sys.stdin.read()"
    process = subprocess.Popen([sys.executable, "-c", code, *arguments], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None and process.stdout.readline() == b"ready\n"
        text = describe_pid(process.pid)
    finally:
        process.communicate(b"")
    assert text.startswith(f"pid {process.pid} ({sys.executable} -c ")
    assert text.endswith("--option-399=value)")
    assert "characters cut ...]" in text
    assert len(text) < COMMAND_QUOTE_LIMIT + 100


def test_cut_middle_counts_what_it_cut() -> None:
    text = "P" * 10 + "x" * 100 + "E" * 10
    cut = cut_middle(text, 40, keep_head=10)
    assert cut.startswith("P" * 10) and cut.endswith("E" * 10)
    kept = len(cut.split(" [...")[0]) + len(cut.split("cut ...] ")[1])
    assert f"[... {len(text) - kept} characters cut ...]" in cut
    assert cut_middle("short", 40) == "short"
