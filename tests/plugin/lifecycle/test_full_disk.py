"""A full disk does not silently lose the service's log: the failing test's report and the summary say so (issue 13.5).

The log lives on a real 1 MiB tmpfs, mounted for the test (this needs root, or CAP_SYS_ADMIN).
"""
# ruff: noqa: E501  (long lines are expected messages, kept verbatim)

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.plugin.lifecycle.lifecycle_helpers import InnerRun


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs, unmounted afterwards."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


FILLING_TEST = """
import pathlib

def test_fill(service_handle):
    filler = service_handle.log_path.parent / 'filler'
    try:
        with open(filler, 'wb') as out:
            while True:
                out.write(b'x' * 65536)
                out.flush()
    except OSError:
        pass
    assert False, 'the disk is full now'
"""

FULL_DISK_SERVICE = """
import sys
for number in range(100_000):
    print(f"line {number} " + "y" * 100)
sys.exit(4)
"""


def test_a_full_disk_is_reported_in_the_test_and_the_summary(project, small_disk, scaled):
    log = small_disk / "service.log"
    project.makepyfile(test_fill=FILLING_TEST)
    with InnerRun(project.path, "-p", "no:xdist", f"--service-logs-file={log}") as run:
        status, output = run.finish(scaled(60))
    assert status == 1, output
    note = (
        f"The file system holding the service's log {log} is full (0 bytes free): the service's writes to its log "
        "fail (ENOSPC), so the log is missing its last lines. Free some space, or put the log elsewhere with "
        "--service-logs-file."
    )
    assert "wsservice: the service's log is incomplete" in output
    assert output.count(note) == 2, output  # the failed test's report, and the summary


def test_a_start_failure_on_a_full_disk_says_the_log_is_incomplete(project, small_disk, scaled):
    """A service that fills the disk with its output and exits: the error quotes what is there and says the rest was lost."""
    (project.path / "chatty.py").write_text(FULL_DISK_SERVICE)
    project.makepyfile("def test_it(service_handle):\n    pass\n")
    log = small_disk / "service.log"
    with InnerRun(
        project.path,
        "-p",
        "no:xdist",
        f"--service-logs-file={log}",
        f"--service-command={sys.executable} chatty.py {{config}}",
    ) as run:
        status, output = run.finish(scaled(60))
    assert status == 1, output
    assert re.search(r"exited with status \d+ before it was ready", output), output
    assert f"The file system holding the service's log {log} is full (0 bytes free)" in output, output
