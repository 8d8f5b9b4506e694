"""Notify-socket temp dirs left by a pytest killed during the start are removed by the next session (issue 13.9);
those of a session that still runs are kept."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.plugin.lifecycle.lifecycle_helpers import InnerRun, pid_alive, wait_for_file

NEVER_READY = """
import pathlib, sys, time
pathlib.Path("spawned").write_text("yes")
time.sleep(120)
"""

# Holds a NotifySocket open until its stdin closes: a concurrent session's dir.
HOLDER = textwrap.dedent(
    """
    import sys
    from pytest_wsservice.service.probe import NotifySocket
    with NotifySocket() as notify:
        print(notify.address, flush=True)
        sys.stdin.read()
    """
)


def _dirs(tmp: Path) -> set[Path]:
    return {path for path in tmp.iterdir() if path.name.startswith("wsservice-")}


def test_stale_dirs_of_a_killed_session_are_removed_and_live_ones_kept(project, scaled, tmp_path, monkeypatch):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    (project.path / "never_ready.py").write_text(NEVER_READY)
    project.makepyfile("def test_it(service_handle):\n    pass\n")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip()
        live = _dirs(tmp)
        assert len(live) == 1
        command = f"--service-command={sys.executable} {project.path / 'never_ready.py'} {{config}}"
        with InnerRun(project.path, "-p", "no:xdist", command) as run:
            wait_for_file(project.path / "spawned", scaled(30), run.process)
            run.signal(signal.SIGKILL)
            run.finish(scaled(20))
        stale = _dirs(tmp) - live
        assert len(stale) == 1, "the killed session left its notify dir"
        (project.path / "spawned").unlink()
        project.makepyfile("def test_it(service_handle):\n    pass\n")
        with InnerRun(project.path, "-p", "no:xdist") as run:
            status, output = run.finish(scaled(60))
        assert status == 0, output
        assert _dirs(tmp) == live, "the stale dir is gone, the live session's dir is kept"
        assert pid_alive(holder.pid)
    finally:
        holder.communicate("")
    assert _dirs(tmp) == set()
