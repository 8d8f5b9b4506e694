"""The service's log file: its tail, what was appended since an offset, and a live follower."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import IO

__all__ = ["TAIL_LINES", "LogFollower", "read_log_since", "read_log_tail"]

#: Lines of log quoted in error messages.
TAIL_LINES = 50


def read_log_tail(path: str | os.PathLike[str], lines: int = TAIL_LINES, *, since: int = 0) -> str:
    """Return the last ``lines`` lines of a log file, ignoring its first ``since`` bytes.

    Reads at most the last 256 KiB, so a huge log costs no more than a small one. Bytes
    that are not UTF-8 are replaced; a missing file reads as empty.
    """
    try:
        with open(path, "rb") as log:
            size = log.seek(0, os.SEEK_END)
            start = max(since, size - 256 * 1024)
            log.seek(start)
            data = log.read()
    except OSError:
        return ""
    text = data.decode("utf-8", "replace")
    return "\n".join(text.splitlines()[-lines:]) if lines > 0 else ""


def read_log_since(path: str | os.PathLike[str], since: int, max_lines: int = 500) -> str:
    """Return what was appended to a log file after byte ``since``: at most the last
    ``max_lines`` lines, with a note saying how many earlier ones were left out.

    Reads at most the last 1 MiB, so a chatty test costs no more than that. A missing
    file reads as empty.
    """
    try:
        with open(path, "rb") as log:
            size = log.seek(0, os.SEEK_END)
            start = max(since, size - 1024 * 1024)
            log.seek(start)
            data = log.read()
    except OSError:
        return ""
    lines = data.decode("utf-8", "replace").splitlines()
    if start > since:
        lines = lines[1:]  # the first line read is probably cut
    left_out = len(lines) - max_lines
    if start > since or left_out > 0:
        lines = lines[-max_lines:]
        more = "more" if start > since else str(left_out)
        lines.insert(0, f"[... {more} earlier lines in {os.fspath(path)} ...]")
    return "\n".join(lines)


class LogFollower:
    """Copies what is appended to a log file to a stream as it is written (``pytest -s``).

    A daemon thread reads new bytes every ``interval`` seconds and writes whole lines,
    each with ``prefix``. Restarted services append to the same file, so one follower
    shows them all.
    """

    def __init__(
        self, path: str | os.PathLike[str], stream: IO[str], *, prefix: str = "", interval: float = 0.1, offset: int = 0
    ) -> None:
        self.path = Path(path)
        self._stream = stream
        self._prefix = prefix
        self._interval = interval
        self._offset = offset
        self._partial = b""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wsservice-log-follower", daemon=True)

    def start(self) -> LogFollower:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._copy()
        self._copy(final=True)

    def _copy(self, final: bool = False) -> None:
        try:
            with open(self.path, "rb") as log:
                log.seek(self._offset)
                data = log.read(1024 * 1024)
        except OSError:
            return
        self._offset += len(data)
        *lines, self._partial = (self._partial + data).split(b"\n")
        if final and self._partial:
            lines.append(self._partial)
            self._partial = b""
        text = "".join(f"{self._prefix}{line.decode('utf-8', 'replace')}\n" for line in lines)
        if text:
            try:
                self._stream.write(text)
                self._stream.flush()
            except (OSError, ValueError):
                self._stop.set()  # the stream is closed: nothing more to show

    def close(self, timeout: float = 1.0) -> None:
        """Show what is left, then stop the thread (waiting at most ``timeout`` seconds)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
