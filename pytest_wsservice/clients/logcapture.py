"""The service's log lines written during a block of a test: ``service_client.capture_logs()``.

::

    async def test_too_big_is_logged(service_client, websocket_client):
        async with service_client.capture_logs() as capture:
            ...  # talk to the service
        assert capture.select(level='WARNING', text='protocol error')

The log is the file the service writes (``service_handle.log_path``). Entering the
block flushes the service's log through tests-control and notes where the file ends;
leaving it flushes again and reads what was appended in between, so the capture holds
every line written inside the block and none from before it.

Two line formats are parsed:

- pytest-wsservice's plain format (the sample service's):
  ``2026-11-22 03:15:50.123 INFO sample_service.chat: connection opened peer=...``
- userver's tskv: ``tskv<TAB>timestamp=...<TAB>level=INFO<TAB>module=...<TAB>text=...``

Any other line (a traceback printed to stderr, say) is kept with ``level=None``, so
``select(text=...)`` still finds it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["LogCapture", "LogLine", "parse_log_line"]

_PLAIN = re.compile(
    r"(?P<timestamp>\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?) "
    r"(?P<level>TRACE|DEBUG|INFO|WARNING|ERROR|CRITICAL) (?P<logger>\S+?): (?P<text>.*)\Z"
)
_TSKV_ESCAPE = re.compile(r"\\(.)")
_TSKV_UNESCAPED = {"t": "\t", "n": "\n", "r": "\r", "0": "\0", "\\": "\\"}


class LogLine:
    """One line of the service's log.

    Attributes:
        text: The message (tskv: the ``text`` field; other lines: the whole line).
        level: ``'TRACE'`` ... ``'CRITICAL'``, upper case; ``None`` for a line in neither format.
        logger: The logger's name (tskv: the ``module`` field), or ``None``.
        timestamp: As written in the line, or ``None``.
        line: The line as written, without its line break.
        fields: Every field: tskv's as they are; for the plain format ``timestamp``,
            ``level``, ``logger`` and ``text``.
    """

    __slots__ = ("fields", "level", "line", "logger", "text", "timestamp")

    def __init__(
        self,
        text: str,
        *,
        level: str | None = None,
        logger: str | None = None,
        timestamp: str | None = None,
        line: str = "",
        fields: Mapping[str, str] | None = None,
    ) -> None:
        self.text = text
        self.level = level
        self.logger = logger
        self.timestamp = timestamp
        self.line = line or text
        self.fields: Mapping[str, str] = fields if fields is not None else {}

    def __repr__(self) -> str:
        return f"LogLine({self.line!r})"

    def __str__(self) -> str:
        return self.line

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LogLine) and self.line == other.line

    def __hash__(self) -> int:
        return hash(self.line)


def _unescape_tskv(value: str) -> str:
    return _TSKV_ESCAPE.sub(lambda m: _TSKV_UNESCAPED.get(m.group(1), m.group(0)), value)


def parse_log_line(line: str) -> LogLine:
    """Parse one line (without its line break) in the plain or the tskv format."""
    match = _PLAIN.match(line)
    if match is not None:
        fields = match.groupdict()
        return LogLine(
            fields["text"],
            level=fields["level"],
            logger=fields["logger"],
            timestamp=fields["timestamp"],
            line=line,
            fields=fields,
        )
    if line.startswith("tskv\t"):
        fields = {}
        for item in line[5:].split("\t"):
            key, sep, value = item.partition("=")
            if sep:
                fields[key] = _unescape_tskv(value)
        level = fields.get("level", "").upper() or None
        return LogLine(
            fields.get("text", ""),
            level=level,
            logger=fields.get("module"),
            timestamp=fields.get("timestamp"),
            line=line,
            fields=fields,
        )
    return LogLine(line, line=line)


class LogCapture:
    """Collects the service's log lines written inside an ``async with`` block.

    Made by :meth:`pytest_wsservice.ServiceClient.capture_logs`. After the block,
    :attr:`lines` holds the lines and :meth:`select` filters them.

    Args:
        log_path: The service's log file.
        flush: A coroutine function that makes the service write out buffered lines,
            or ``None`` to read the file as it is.
    """

    def __init__(self, log_path: Path | str, *, flush: Callable[[], Awaitable[Any]] | None = None) -> None:
        self.log_path = Path(log_path)
        self._flush = flush
        self._start: int | None = None
        self._lines: list[LogLine] | None = None

    async def __aenter__(self) -> LogCapture:
        if self._start is not None:
            raise RuntimeError(
                "a log capture can be entered once; call service_client.capture_logs() again for another block"
            )
        if self._flush is not None:
            await self._flush()
        self._start = self._size()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._flush is not None:
            try:
                await self._flush()
            except Exception:
                if exc_type is None:
                    raise
                # The block failed already: read what is there rather than hide that error.
        self._lines = self._read()

    def _size(self) -> int:
        try:
            return os.stat(self.log_path).st_size
        except FileNotFoundError:
            return 0

    def _read(self) -> list[LogLine]:
        start = self._start or 0
        try:
            with open(self.log_path, "rb") as file:
                end = os.fstat(file.fileno()).st_size
                if end < start:  # the file was truncated or replaced: it is all new
                    start = 0
                file.seek(start)
                data = file.read(end - start)
        except FileNotFoundError:
            return []
        # A line still being written (no line break yet) belongs to after the block.
        data = data[: data.rfind(b"\n") + 1]
        return [parse_log_line(line) for line in data.decode("utf-8", "replace").splitlines() if line]

    @property
    def lines(self) -> list[LogLine]:
        """Every line written inside the block, in order.

        Raises:
            RuntimeError: The block has not ended yet.
        """
        if self._lines is None:
            raise RuntimeError(
                "the captured log lines are there once the 'async with service_client.capture_logs() as capture:' "
                "block has ended; read capture.lines or call capture.select() after it"
            )
        return self._lines

    def select(self, *, level: str | None = None, text: str | None = None, logger: str | None = None) -> list[LogLine]:
        """The captured lines that match every criterion given.

        Args:
            level: The exact level, any case: ``'warning'`` matches WARNING lines only.
            text: A substring of the message.
            logger: A logger name; its children match too (``'sample_service'`` matches
                ``'sample_service.chat'``).

        Raises:
            RuntimeError: The block has not ended yet.
        """
        wanted_level = level.upper() if level is not None else None
        child_prefix = logger + "." if logger is not None else ""
        found = []
        for line in self.lines:
            if wanted_level is not None and line.level != wanted_level:
                continue
            if text is not None and text not in line.text:
                continue
            if logger is not None and line.logger != logger and not (line.logger or "").startswith(child_prefix):
                continue
            found.append(line)
        return found

    def __iter__(self) -> Iterator[LogLine]:
        return iter(self.lines)

    def __len__(self) -> int:
        return len(self.lines)

    def __repr__(self) -> str:
        state = f"{len(self._lines)} lines" if self._lines is not None else "open"
        return f"<LogCapture {self.log_path} {state}>"
