"""Huge log lines do not blow up reports, and the ``-s`` follower holds a bounded buffer (issue 13.4).

Each run is a ``python -m pytest`` subprocess, as a user would run it.
"""

from __future__ import annotations

import io
import re
import sys
import textwrap
import threading
import time
from pathlib import Path

from pytest_wsservice.service.logfile import LogFollower
from pytest_wsservice.service.logquote import LINE_LIMIT
from tests.plugin.lifecycle.lifecycle_helpers import InnerRun

HUGE_LINE_SERVICE = """
import sys
sys.stdout.write("start " + "x" * 480_000 + " end\\n")
sys.stdout.flush()
sys.exit(3)
"""


def test_a_huge_line_is_cut_and_a_repeated_failure_is_quoted_once(project, scaled):
    """A service that prints one 480 KB line and exits, in a suite of 20 tests: the report stays small, the line is
    cut with a note saying how many bytes, and the 19 later tests refer to the first one's report.
    """
    (project.path / "huge.py").write_text(HUGE_LINE_SERVICE)
    project.makepyfile(test_many="\n".join(f"def test_{index}(service_handle):\n    pass\n" for index in range(20)))
    # -rN: no short summary, whose lines repeat the messages in full when $CI is set (pytest's rule).
    command = f"--service-command={sys.executable} huge.py {{config}}"
    with InnerRun(project.path, "-p", "no:xdist", "-rN", command) as run:
        status, output = run.finish(scaled(60))
    assert status == 1, output[-3000:]
    assert "20 errors" in output, output[-3000:]
    assert len(output) < 100_000, f"the report has {len(output)} characters"
    cut = re.findall(r"\[\.\.\. (\d+) bytes cut \.\.\.\]", output)
    assert cut and int(cut[0]) > 470_000, output[:3000]
    assert "start xxx" in output and "xxx end" in output  # the line's start and end are kept
    referring = output.count("(The same start failed before, for test_many.py::test_0; its report quotes the log.)")
    assert referring == 19, output[-3000:]


def test_the_follower_holds_at_most_one_bounded_line(tmp_path: Path):
    """Megabytes without a newline cost the ``-s`` follower no more than ``LINE_LIMIT`` bytes; the line it finally
    shows is cut, saying how much."""
    log = tmp_path / "service.log"
    log.write_bytes(b"")
    shown = io.StringIO()
    follower = LogFollower(log, shown, prefix="[service] ", interval=0.01).start()
    biggest = 0
    done = threading.Event()

    def watch() -> None:
        nonlocal biggest
        while not done.is_set():
            biggest = max(biggest, follower.buffered)
            time.sleep(0.001)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with open(log, "ab") as out:
            for _ in range(40):
                out.write(b"y" * 1024 * 1024)
                out.flush()
            out.write(b"\nsmall line\n")
        deadline = time.monotonic() + 30
        while "small line" not in shown.getvalue():
            assert time.monotonic() < deadline, "the follower did not catch up"
            time.sleep(0.01)
    finally:
        done.set()
        watcher.join()
        follower.close()
    biggest = max(biggest, follower.buffered)
    assert biggest <= LINE_LIMIT
    lines = shown.getvalue().splitlines()
    assert lines[-1] == "[service] small line"
    assert len(lines[0]) < 2 * LINE_LIMIT
    assert f"[... {40 * 1024 * 1024 - LINE_LIMIT} bytes cut ...]" in lines[0], lines[0][:200]


def test_a_follower_shows_an_unfinished_huge_line_cut_at_the_end(tmp_path: Path):
    log = tmp_path / "service.log"
    log.write_bytes(b"a" * 100_000)
    shown = io.StringIO()
    follower = LogFollower(log, shown, interval=0.01).start()
    follower.close()
    text = shown.getvalue()
    assert text.startswith("a" * 1024) and text.endswith("a\n")
    assert f"[... {100_000 - LINE_LIMIT} bytes cut ...]" in text
    assert textwrap.shorten(text, 10)  # one line, bounded
    assert len(text) < 2 * LINE_LIMIT
