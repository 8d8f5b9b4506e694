"""Quoting a service's log in messages and reports, bounded however the service writes.

A service may print one line of half a megabyte, or megabytes without a newline; a report
that quotes it whole for every failing test grows without bound. Here every quoted line is
cut to :data:`LINE_LIMIT` bytes (its start and its end kept, ``[... N bytes cut ...]`` in
between) and every quote as a whole to :data:`QUOTE_LIMIT` bytes (its last lines kept).
"""

from __future__ import annotations

import os
from typing import BinaryIO

from ..errors import ServicePortInUse, ServiceStartError

__all__ = ["LINE_LIMIT", "QUOTE_LIMIT", "cap_line", "quote_lines", "read_last_lines", "refer_to"]

#: The most bytes of one log line that a message quotes.
LINE_LIMIT = 2048
#: The most bytes of log that one message quotes.
QUOTE_LIMIT = 16 * 1024
#: How far back :func:`read_last_lines` looks for the start of a line cut by its window.
_LOOK_BACK = 4 * 1024 * 1024


def cap_line(line: bytes, limit: int = LINE_LIMIT) -> bytes:
    """``line`` if it has at most ``limit`` bytes; else its first three quarters and its last
    quarter of ``limit`` around ``[... N bytes cut ...]``."""
    if len(line) <= limit:
        return line
    head = limit * 3 // 4
    tail = limit - head
    return line[:head] + f" [... {len(line) - limit} bytes cut ...] ".encode() + line[-tail:]


def read_last_lines(log: BinaryIO, since: int, window: int) -> tuple[list[bytes], bool]:
    """Read the lines of the last ``window`` bytes of an open log, after byte ``since``.

    If the window starts inside a line, that line is rebuilt from its real start: its first
    bytes, ``[... N bytes cut ...]`` with N counting what is left out, and the part read;
    so a huge line is quoted by its start and its end, whatever its size.

    Returns:
        The lines, and whether bytes before the window (after ``since``) were not read.
    """
    size = log.seek(0, os.SEEK_END)
    start = max(since, size - window)
    log.seek(start)
    lines = log.read().splitlines()
    if start <= since or not lines:
        return lines, False
    # Where does the first line read really begin? Look back at most _LOOK_BACK bytes.
    look_from = max(since, start - _LOOK_BACK)
    log.seek(look_from)
    before = log.read(start - look_from)
    newline = before.rfind(b"\n")
    if newline < 0 and look_from > since:
        return lines[1:], True  # its start is too far back: leave it out
    line_start = look_from + newline + 1
    if line_start == start:
        return lines, True
    log.seek(line_start)
    head = log.read(min(start - line_start, LINE_LIMIT * 3 // 4 - 64))  # with the note, within LINE_LIMIT
    first = lines[0]
    cut = start - line_start - len(head) + max(0, len(first) - LINE_LIMIT // 4)
    lines[0] = head + f" [... {cut} bytes cut ...] ".encode() + first[-(LINE_LIMIT // 4) :]
    return lines, line_start > since


def quote_lines(lines: list[bytes], *, line_limit: int = LINE_LIMIT, quote_limit: int = QUOTE_LIMIT) -> list[str]:
    """The lines to quote, decoded (bad UTF-8 replaced): each cut by :func:`cap_line`, and
    the earliest ones dropped (with a note saying how many) to keep the whole within ``quote_limit``."""
    capped = [cap_line(line, line_limit) for line in lines]
    total = 0
    keep = len(capped)
    while keep > 0 and total + len(capped[keep - 1]) + 1 <= quote_limit:
        keep -= 1
        total += len(capped[keep]) + 1
    quoted = [line.decode("utf-8", "replace") for line in capped[keep:]]
    if keep:
        quoted.insert(
            0,
            f"[... {keep} earlier line{'s' if keep != 1 else ''} cut: the quote is limited to {quote_limit} bytes ...]",
        )
    return quoted


def refer_to(error: BaseException, first: str) -> BaseException:
    """The error to raise when a start that failed for ``first`` is asked for again.

    The log was quoted in ``first``'s report; this one names that report and the error's
    first line instead of quoting it again, so a suite of many tests gives a short report.
    Same type as ``error`` (and the same attributes), so it is handled the same way.
    """
    summary = str(error).split("\n", 1)[0]
    message = f"{summary}\n(The same start failed before, for {first}; its report quotes the log.)"
    if "\n" not in str(error):
        return error  # one line, no log quoted: nothing to shorten
    if isinstance(error, ServicePortInUse):
        return ServicePortInUse(message, port=error.port, holder=error.holder, returncode=error.returncode)
    if isinstance(error, ServiceStartError):
        return type(error)(message, returncode=error.returncode)
    return error
