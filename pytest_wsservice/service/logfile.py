"""The service's log file: its tail, what was appended since an offset, and a live follower."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import IO

from .logquote import LINE_LIMIT, cap_line, quote_lines, read_last_lines

__all__ = ["TAIL_LINES", "LogFollower", "read_log_since", "read_log_tail"]

#: Lines of log quoted in error messages.
TAIL_LINES = 50
#: The most bytes of log that a failed test's report section quotes.
SECTION_LIMIT = 64 * 1024


def read_log_tail(path: str | os.PathLike[str], lines: int = TAIL_LINES, *, since: int = 0) -> str:
    """Return the last ``lines`` lines of a log file, ignoring its first ``since`` bytes.

    Reads at most the last 256 KiB, so a huge log costs no more than a small one. Each
    line and the whole are bounded (see :mod:`.logquote`). Bytes that are not UTF-8 are
    replaced; a missing file reads as empty.
    """
    if lines <= 0:
        return ""
    try:
        with open(path, "rb") as log:
            found, _ = read_last_lines(log, since, 256 * 1024)
    except OSError:
        return ""
    return "\n".join(quote_lines(found[-lines:]))


def read_log_since(path: str | os.PathLike[str], since: int, max_lines: int = 500) -> str:
    """Return what was appended to a log file after byte ``since``: at most the last
    ``max_lines`` lines, with a note saying how many earlier ones were left out.

    Reads at most the last 1 MiB, so a chatty test costs no more than that; each line and
    the whole are bounded (see :mod:`.logquote`). A missing file reads as empty.
    """
    try:
        with open(path, "rb") as log:
            lines, unread = read_last_lines(log, since, 1024 * 1024)
    except OSError:
        return ""
    left_out = len(lines) - max_lines
    if unread or left_out > 0:
        lines = lines[-max_lines:]
    quoted = quote_lines(lines, quote_limit=SECTION_LIMIT)
    if unread or left_out > 0:
        more = "more" if unread else str(left_out)
        quoted.insert(0, f"[... {more} earlier lines in {os.fspath(path)} ...]")
    return "\n".join(quoted)


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
        self._partial_cut = 0  # bytes of the current line dropped from _partial
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
        *lines, partial = (self._partial + data).split(b"\n")
        if lines and self._partial_cut:  # the first line is the one whose middle was dropped
            lines[0] = _with_cut(lines[0], self._partial_cut)
            self._partial_cut = 0
        # A line without its end yet keeps its first and last LINE_LIMIT / 2 bytes only:
        # megabytes without a newline cost nothing here.
        if len(partial) > LINE_LIMIT:
            half = LINE_LIMIT // 2
            self._partial_cut += len(partial) - LINE_LIMIT
            partial = partial[:half] + partial[-half:]
        self._partial = partial
        if final and self._partial:
            lines.append(_with_cut(self._partial, self._partial_cut))
            self._partial, self._partial_cut = b"", 0
        text = "".join(f"{self._prefix}{cap_line(line).decode('utf-8', 'replace')}\n" for line in lines)
        if text:
            try:
                self._stream.write(text)
                self._stream.flush()
            except (OSError, ValueError):
                self._stop.set()  # the stream is closed: nothing more to show

    @property
    def buffered(self) -> int:
        """How many bytes of an unfinished line are held (at most ``LINE_LIMIT``)."""
        return len(self._partial)

    def close(self, timeout: float = 1.0) -> None:
        """Show what is left, then stop the thread (waiting at most ``timeout`` seconds)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)


def _with_cut(line: bytes, cut: int) -> bytes:
    """A line kept as its first and last bytes, with ``cut`` bytes of its middle dropped: marked."""
    if not cut:
        return line
    half = LINE_LIMIT // 2
    return line[:half] + f" [... {cut} bytes cut ...] ".encode() + line[half:]
