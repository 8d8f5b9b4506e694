"""Log quotes are bounded per line and as a whole, and say what they cut."""

from __future__ import annotations

import io
import os
from pathlib import Path

from pytest_wsservice.service.logfile import read_log_since, read_log_tail
from pytest_wsservice.service.logquote import LINE_LIMIT, QUOTE_LIMIT, cap_line, quote_lines, read_last_lines
from pytest_wsservice.service.tempdirs import remove_stale_dirs


def test_cap_line_keeps_start_and_end() -> None:
    line = b"S" * 3000 + b"E" * 3000
    capped = cap_line(line)
    assert capped.startswith(b"S" * 1000) and capped.endswith(b"E" * 500)
    assert f"[... {6000 - LINE_LIMIT} bytes cut ...]".encode() in capped
    assert cap_line(b"short") == b"short"


def test_quote_lines_drops_the_earliest_lines_beyond_the_limit() -> None:
    lines = [f"line {n} ".encode() + b"z" * 1000 for n in range(100)]
    quoted = quote_lines(lines)
    assert sum(len(line) + 1 for line in quoted[1:]) <= QUOTE_LIMIT
    assert quoted[-1].startswith("line 99 ")
    assert quoted[0].startswith(f"[... {100 - len(quoted) + 1} earlier lines cut")


def test_a_huge_line_cut_by_the_read_window_is_rebuilt_from_its_start() -> None:
    log = io.BytesIO(b"before\nHEAD" + b"x" * 500_000 + b"TAIL\nafter\n")
    lines, unread = read_last_lines(log, 0, 256 * 1024)
    assert lines[0].startswith(b"HEAD") and lines[0].endswith(b"TAIL")
    assert len(lines[0]) <= LINE_LIMIT
    assert lines[-1] == b"after"
    assert unread  # "before" was not read


def test_the_log_readers_stay_bounded(tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.write_bytes((b"q" * 480_000 + b"\n") * 3)
    assert len(read_log_tail(path)) < QUOTE_LIMIT + 200
    assert len(read_log_since(path, 0)) < 3 * (LINE_LIMIT + 100) + 200


def test_stale_dirs_without_an_owner_file_or_with_a_live_owner_are_kept(tmp_path: Path) -> None:
    (tmp_path / "wsservice-noowner").mkdir()
    live = tmp_path / "wsservice-live"
    live.mkdir()
    with open(f"/proc/{os.getpid()}/stat", "rb") as stat:
        start = stat.read().rsplit(b")", 1)[-1].split()[19].decode()
    (live / "owner").write_text(f"{os.getpid()} {start}")
    reused = tmp_path / "wsservice-reused"  # our pid, another start time: a pid reused since
    reused.mkdir()
    (reused / "owner").write_text(f"{os.getpid()} 1")
    (tmp_path / "wsservice-file").write_text("not a dir")
    assert remove_stale_dirs(str(tmp_path)) == [str(reused)]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["wsservice-file", "wsservice-live", "wsservice-noowner"]
