"""The record of one WebSocket connection: what was sent and received, and when.

A :class:`Transcript` lists the events of one connection, each with its time in
seconds since the connection opened: the messages sent and received (their type,
size and the start of their data), the pings and pongs, and the close with its code,
its reason and who closed first. The connections that ``websocket_client.get()``
yields keep one as ``connection.transcript``::

    async with websocket_client.get('chat') as chat:
        await chat.send('hello')
        await chat.expect('hello')
        print(chat.transcript)

prints::

    WebSocket /chat: 2 events in 0.002 s
      +0.000s  sent      text    5 bytes  'hello'
      +0.002s  received  text    5 bytes  'hello'

``len(transcript)`` counts every event recorded. The transcript is bounded both in
memory and in print: it keeps the first and the last events of a long connection
(:data:`DEFAULT_KEEP_FIRST` and :data:`DEFAULT_KEEP_LAST` unless told otherwise) and
counts those in between, and its ``str()`` shows at most the first and last few of
those it kept, saying how many it left out. The data of each message is cut to
:data:`DEFAULT_DATA_CHARS` characters (or bytes) when recorded, so a connection that
moves gigabytes holds a few kilobytes of transcript.

This module does no I/O and imports neither websockets nor pytest: the connection
calls the ``record_*`` methods, and the failure report prints the result.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Literal, NamedTuple

__all__ = [
    "DEFAULT_DATA_CHARS",
    "DEFAULT_KEEP_FIRST",
    "DEFAULT_KEEP_LAST",
    "ConnectionTranscripts",
    "Event",
    "Transcript",
    "close_code_text",
    "describe_data",
    "size_text",
]

#: How many events a transcript keeps from the start of a connection.
DEFAULT_KEEP_FIRST = 100
#: How many of the latest events a transcript keeps.
DEFAULT_KEEP_LAST = 400
#: How many characters (text) or bytes (binary) of each message a transcript keeps.
DEFAULT_DATA_CHARS = 80

#: How many events ``str(transcript)`` shows from the start and from the end.
PRINT_FIRST = 10
PRINT_LAST = 30

Direction = Literal["sent", "received", "closed", "note"]
Kind = Literal["text", "binary", "ping", "pong", "close", "closed", "note"]

# The standard close codes (RFC 6455 section 7.4.1 and the IANA registry), as words.
_CLOSE_CODES = {
    1000: "normal closure",
    1001: "going away",
    1002: "protocol error",
    1003: "unsupported data",
    1005: "no status code",
    1006: "connection lost without a close frame",
    1007: "invalid data",
    1008: "policy violation",
    1009: "message too big",
    1010: "mandatory extension",
    1011: "internal error",
    1012: "service restart",
    1013: "try again later",
    1014: "bad gateway",
    1015: "TLS handshake failed",
}


def close_code_text(code: int | None) -> str:
    """Word a close code: ``'1001 (going away)'``; ``'none'`` for ``None``."""
    if code is None:
        return "none"
    name = _CLOSE_CODES.get(code)
    if name is None:
        name = "private use" if 4000 <= code <= 4999 else "registered use" if 3000 <= code <= 3999 else "unknown"
    return f"{code} ({name})"


def describe_data(data: str | bytes, limit: int = DEFAULT_DATA_CHARS) -> str:
    """Quote the start of ``data``, at most ``limit`` characters or bytes, as Python would write it.

    A longer value ends with `` ...``.
    """
    text = repr(data[:limit])
    return text + " ..." if len(data) > limit else text


def size_text(data: str | bytes) -> str:
    """``'5 chars'`` for text, ``'5 bytes'`` for binary data (``'1 char'``/``'1 byte'`` for one)."""
    unit = "char" if isinstance(data, str) else "byte"
    return f"{len(data)} {unit}" + ("" if len(data) == 1 else "s")


class Event(NamedTuple):
    """One event of a connection.

    Attributes:
        offset: Seconds since the connection opened.
        direction: ``'sent'`` (by the client), ``'received'`` (from the service),
            ``'closed'`` (the connection ended) or ``'note'`` (something the client did,
            such as not answering a ping while pongs are dropped).
        kind: ``'text'``, ``'binary'``, ``'ping'``, ``'pong'``, ``'close'`` (a close
            frame), ``'closed'`` (the end of the connection) or ``'note'``.
        size: The size of the whole message or payload in bytes on the wire (UTF-8 for
            text); the length of the reason for ``'close'`` and ``'closed'``; 0 for a note.
        data: The start of the data, at most the transcript's ``data_chars`` characters
            (text) or bytes; for a close frame and for ``'closed'``, the reason; for a
            note, its text.
        code: The close code of a close frame or of ``'closed'``, else ``None``.
        by: For ``'closed'``: who closed first, ``'client'``, ``'service'`` or ``''``
            when the connection was lost without a close handshake.
        fragments: How many frames the message came in (1 unless it was fragmented).
    """

    offset: float
    direction: Direction
    kind: Kind
    size: int = 0
    data: str | bytes = ""
    code: int | None = None
    by: str = ""
    fragments: int = 1

    def __str__(self) -> str:
        head = f"+{self.offset:.3f}s  "
        if self.kind == "closed":
            who = f"closed by the {self.by}" if self.by else "connection lost"
            reason = f" {self.data!r}" if self.data else ""
            return f"{head}{who}: {close_code_text(self.code)}{reason}"
        if self.kind == "note":
            note = self.data if isinstance(self.data, str) else repr(self.data)
            return f"{head}{'note':<8}  {note}"
        if self.kind == "close":
            reason = f" {self.data!r}" if self.data else ""
            return f"{head}{self.direction:<8}  close   {close_code_text(self.code)}{reason}"
        size = f"{self.size} byte{'' if self.size == 1 else 's'}"
        cut = len(self.data.encode("utf-8", "surrogatepass") if isinstance(self.data, str) else self.data) < self.size
        quoted = repr(self.data) + (" ..." if cut else "")
        parts = f" in {self.fragments} fragments" if self.fragments > 1 else ""
        return f"{head}{self.direction:<8}  {self.kind:<6}  {size:<8} {quoted}{parts}"


# Builds an Event from a full tuple without the keyword handling of its __new__: twice as fast.
_new_event = tuple.__new__


class Transcript:
    """Every event of one WebSocket connection, with its time since the connection opened.

    Args:
        name: What the connection is, for the heading: usually its path, ``/chat``.
        keep_first: How many events to keep from the start.
        keep_last: How many of the latest events to keep; those in between are only counted.
        data_chars: How many characters (text) or bytes (binary) of each message to keep.
        clock: The monotonic clock, :func:`time.monotonic` unless given.

    The clock starts when the transcript is created, which the connection does when it opens.
    """

    __slots__ = ("_clock", "_data_chars", "_first", "_keep_first", "_last", "_start", "_total", "name")

    # The connection records every frame on the event loop's thread; nothing here awaits.

    def __init__(
        self,
        name: str,
        *,
        keep_first: int = DEFAULT_KEEP_FIRST,
        keep_last: int = DEFAULT_KEEP_LAST,
        data_chars: int = DEFAULT_DATA_CHARS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if keep_first < 0 or keep_last < 1 or data_chars < 0:
            raise ValueError(
                f"Transcript needs keep_first >= 0, keep_last >= 1 and data_chars >= 0, "
                f"not {keep_first}, {keep_last} and {data_chars}"
            )
        self.name = name
        self._clock = clock
        self._start = clock()
        self._keep_first = keep_first
        self._data_chars = data_chars
        self._first: list[Event] = []
        self._last: deque[Event] = deque(maxlen=keep_last)
        self._total = 0  # every event ever added

    # ------------------------------------------------------------------ recording

    def restart_clock(self) -> None:
        """Count offsets from now: the connection calls it when its opening handshake completes.

        It does nothing once an event is recorded, so offsets never go backwards.
        """
        if not self._total:
            self._start = self._clock()

    def add(self, event: Event) -> None:
        """Append an event (the ``record_*`` methods build and add them)."""
        self._total += 1
        if self._total > self._keep_first:
            self._last.append(event)  # a full deque drops its oldest: counted by _total
        else:
            self._first.append(event)

    def record_message(
        self,
        direction: Literal["sent", "received"],
        kind: Literal["text", "binary"],
        size: int,
        data: str | bytes,
        fragments: int = 1,
    ) -> None:
        """Record a whole message of which the caller knows the size and (at least) the start.

        Args:
            direction: ``'sent'`` or ``'received'``.
            kind: ``'text'`` or ``'binary'``.
            size: The size of the message in bytes on the wire.
            data: The message or its start; the transcript keeps ``data_chars`` of it.
            fragments: How many frames the message came or went in.
        """
        cut = data[: self._data_chars]
        if not isinstance(cut, (str, bytes)):  # bytearray, memoryview
            cut = bytes(cut)
        # Event(...) and add(), inlined: this runs for every message.
        event = _new_event(Event, (self._clock() - self._start, direction, kind, size, cut, None, "", fragments))
        self._total += 1
        if self._total > self._keep_first:
            self._last.append(event)
        else:
            self._first.append(event)

    def record_sent(self, message: str | bytes) -> None:
        """Record a message the client sent: ``str`` is a text message, anything else binary."""
        self.record_message("sent", *_kind_and_size(message), message)

    def record_received(self, message: str | bytes) -> None:
        """Record a message the client received from the service."""
        self.record_message("received", *_kind_and_size(message), message)

    def record_ping(self, direction: Literal["sent", "received"], data: bytes = b"") -> None:
        """Record a ping the client sent or received, with its payload."""
        self.add(Event(self._clock() - self._start, direction, "ping", len(data), bytes(data[: self._data_chars])))

    def record_pong(self, direction: Literal["sent", "received"], data: bytes = b"") -> None:
        """Record a pong the client sent or received, with its payload."""
        self.add(Event(self._clock() - self._start, direction, "pong", len(data), bytes(data[: self._data_chars])))

    def record_close_frame(self, direction: Literal["sent", "received"], code: int | None, reason: str = "") -> None:
        """Record a close frame the client sent or received."""
        cut = reason[: self._data_chars]
        code = None if code is None else int(code)  # an IntEnum prints as its name on Python 3.10
        self.add(Event(self._clock() - self._start, direction, "close", len(reason), cut, code))

    def record_closed(self, code: int | None, reason: str = "", by: str = "") -> None:
        """Record the end of the connection.

        Args:
            code: The close code of the connection (1006 when it was lost).
            reason: The close reason.
            by: Who closed first: ``'client'`` or ``'service'``, or ``''`` when the
                connection was lost without a close handshake.
        """
        cut = reason[: self._data_chars]
        code = None if code is None else int(code)
        self.add(Event(self._clock() - self._start, "closed", "closed", len(reason), cut, code, by))

    def record_note(self, text: str) -> None:
        """Record something the client did that is not a frame, such as dropping a pong."""
        self.add(Event(self._clock() - self._start, "note", "note", 0, text))

    # ------------------------------------------------------------------ reading

    @property
    def data_chars(self) -> int:
        """How many characters (text) or bytes (binary) of each message the transcript keeps."""
        return self._data_chars

    def __len__(self) -> int:
        """The number of events recorded, including those no longer kept."""
        return self._total

    @property
    def left_out(self) -> int:
        """How many events between the first and the last ones kept were only counted."""
        return self._total - len(self._first) - len(self._last)

    @property
    def events(self) -> list[Event]:
        """The events kept, oldest first (all of them unless :attr:`left_out` is above 0)."""
        return [*self._first, *self._last]

    def __iter__(self) -> Iterator[Event]:
        """Iterate over the events kept, oldest first."""
        yield from self._first
        yield from self._last

    @property
    def sent(self) -> list[str | bytes]:
        """The start of each message sent that is still kept, oldest first."""
        return [event.data for event in self if event.direction == "sent" and event.kind in ("text", "binary")]

    @property
    def received(self) -> list[str | bytes]:
        """The start of each message received that is still kept, oldest first."""
        return [event.data for event in self if event.direction == "received" and event.kind in ("text", "binary")]

    def elapsed(self) -> float:
        """Seconds from the opening to the last event (0 when there is none)."""
        if self._last:
            return self._last[-1].offset
        return self._first[-1].offset if self._first else 0.0

    def format(self, *, first: int = PRINT_FIRST, last: int = PRINT_LAST, indent: str = "  ") -> str:
        """The transcript as text: a heading, then the first ``first`` and the last ``last`` events.

        The events in between, and those the transcript did not keep, are counted on one line.
        """
        total = len(self)
        lines = [f"WebSocket {self.name}: {_count(total, 'event')} in {self.elapsed():.3f} s"]
        if total == 0:
            return lines[0] + " (nothing was sent or received)"
        kept = self.events
        if len(kept) <= first + last:
            shown_first, shown_last = kept, []
            if self.left_out:  # the gap the transcript itself left
                shown_first, shown_last = kept[: len(self._first)], kept[len(self._first) :]
        else:
            shown_first, shown_last = kept[:first], kept[len(kept) - last :]
        lines.extend(indent + str(event) for event in shown_first)
        skipped = total - len(shown_first) - len(shown_last)
        if skipped:
            lines.append(f"{indent}... {_count(skipped, 'event')} left out ...")
        lines.extend(indent + str(event) for event in shown_last)
        return "\n".join(lines)

    def recent(self, count: int = 10, *, indent: str = "  ") -> str:
        """The last ``count`` events as text, with a heading that says how many there are in all."""
        total = len(self)
        kept = self.events
        shown = kept[max(0, len(kept) - count) :] if count > 0 else []
        if not shown:
            return f"WebSocket {self.name}: {_count(total, 'event')}, none shown"
        which = f"the last {len(shown)} of {total} events" if len(shown) < total else _count(total, "event")
        lines = [f"WebSocket {self.name}, {which}:"]
        lines.extend(indent + str(event) for event in shown)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()

    def __repr__(self) -> str:
        return f"<Transcript {self.name} {_count(len(self), 'event')}>"


def _kind_and_size(message: str | bytes) -> tuple[Literal["text", "binary"], int]:
    if isinstance(message, str):
        return "text", len(message) if message.isascii() else len(message.encode("utf-8", "surrogatepass"))
    return "binary", len(message)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


class ConnectionTranscripts:
    """The transcripts of the connections one client opened, for a failed test's report.

    It keeps the first ``keep_first`` and the last ``keep_last`` transcripts and counts the
    others, so a test that opens thousands of connections keeps a bounded record. It holds
    transcripts only, never connections or anything bound to an event loop.
    """

    __slots__ = ("_first", "_keep_first", "_last", "_left_out")

    def __init__(self, *, keep_first: int = 5, keep_last: int = 10) -> None:
        self._keep_first = keep_first
        self._first: list[Transcript] = []
        self._last: deque[Transcript] = deque(maxlen=max(1, keep_last))
        self._left_out = 0

    def add(self, transcript: Transcript) -> None:
        """Keep the transcript of a connection just opened."""
        if len(self._first) < self._keep_first:
            self._first.append(transcript)
            return
        if len(self._last) == self._last.maxlen:
            self._left_out += 1
        self._last.append(transcript)

    def __len__(self) -> int:
        """How many connections were opened, including those whose transcripts were not kept."""
        return len(self._first) + len(self._last) + self._left_out

    def __iter__(self) -> Iterator[Transcript]:
        yield from self._first
        yield from self._last

    def format(self) -> str:
        """Every kept transcript, numbered; each is shorter when there are many."""
        total = len(self)
        if total == 0:
            return "No WebSocket connection was opened."
        first, last = (PRINT_FIRST, PRINT_LAST) if total <= 3 else (3, 7)
        parts = []
        for number, transcript in enumerate(self._first, 1):
            parts.append(f"[connection {number} of {total}] {transcript.format(first=first, last=last)}")
        if self._left_out:
            parts.append(f"... {_count(self._left_out, 'connection')} left out ...")
        start = total - len(self._last) + 1
        for number, transcript in enumerate(self._last, start):
            parts.append(f"[connection {number} of {total}] {transcript.format(first=first, last=last)}")
        return "\n".join(parts)
