"""The part of the WebSocket connection that records every frame and checks expectations.

:class:`RecordingConnection` is the base of
:class:`~pytest_wsservice.clients.websocket.WebSocketConnection`, the connection that
``websocket_client.get()`` yields. It adds to websockets'
:class:`~websockets.asyncio.client.ClientConnection`:

* ``connection.transcript``: a :class:`~pytest_wsservice.clients.transcript.Transcript`
  of the connection, recorded as frames arrive and leave (so it also lists messages the
  test never received), which a failed test's report shows;
* :meth:`~RecordingConnection.expect`, :meth:`~RecordingConnection.expect_silence` and
  :meth:`~RecordingConnection.expect_close`, which fail the test with an
  :exc:`AssertionError` that shows what was expected, what arrived and the transcript;
* :meth:`~RecordingConnection.drop_pongs`, to stop answering the service's pings;
* the reassembly of fragmented messages here rather than in websockets, so that a
  message arrives whole however many fragments it came in: only its size is limited
  (by ``max_size``, unlimited unless given), not its number of fragments. (So
  ``recv_streaming()`` yields each message in one piece; the transcript still counts
  the fragments.)

It imports websockets; the plugin imports it only when a test asks for
``websocket_client``.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal, overload

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import Close, Frame, Opcode
from websockets.protocol import State

from ..errors import WebSocketTimeout, seconds_text
from .expect import Expected, mismatch, report, validate
from .transcript import Transcript, close_code_text

if TYPE_CHECKING:
    from websockets.protocol import Event

__all__ = ["RecordingConnection"]

_TEXT, _BINARY, _CONT = Opcode.TEXT, Opcode.BINARY, Opcode.CONT
_PING, _PONG, _CLOSE = Opcode.PING, Opcode.PONG, Opcode.CLOSE
_PONG_BYTE = Opcode.PONG.value  # the low nibble of a frame's first byte is its opcode (RFC 6455 5.2)


class RecordingConnection(ClientConnection):
    """A websockets client connection that keeps a transcript and checks expectations.

    Do not create it yourself: ``websocket_client.get()`` does.

    Args:
        path: The path the connection was opened on; it names the transcript.
        timeout: The default deadline in seconds of receiving and of the expectations.
        timeout_origin: Where that default comes from, for error messages.
    """

    def __init__(
        self, *args: Any, path: str = "/", timeout: float = 10.0, timeout_origin: str = "", **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._rec_path = path
        self._rec_timeout = timeout
        self._rec_timeout_origin = timeout_origin or "the connection's default"
        self._transcript = Transcript(path)
        self._rec_drop_pongs = False
        self._rec_receiving = False  # inside data_received(): the writes are websockets' own answers
        self._rec_close_recorded = False  # the close frame the client sent is in the transcript
        # A fragmented message being reassembled: its opcode, its data and its number of frames.
        self._rec_opcode = _TEXT
        self._rec_partial: bytearray | None = None
        self._rec_frame_count = 0

    if TYPE_CHECKING:
        # WebSocketConnection.recv, which has a deadline and raises WebSocketTimeout.
        @overload
        async def recv(self, decode: Literal[True], *, timeout: float | None = None) -> str: ...
        @overload
        async def recv(self, decode: Literal[False], *, timeout: float | None = None) -> bytes: ...
        @overload
        async def recv(self, decode: bool | None = None, *, timeout: float | None = None) -> str | bytes: ...
        async def recv(self, decode: bool | None = None, *, timeout: float | None = None) -> str | bytes: ...

    @property
    def path(self) -> str:
        """The path (and query string) this connection was opened on, such as ``/chat``."""
        return self._rec_path

    @property
    def timeout(self) -> float:
        """The default deadline in seconds of ``recv``, the expectations and their friends."""
        return self._rec_timeout

    @property
    def closing(self) -> bool:
        """Whether the connection is closing or closed: a close frame went or came, or it dropped."""
        return self.protocol.state is not State.OPEN

    @property
    def timeout_origin(self) -> str:
        """Where :attr:`timeout` comes from, as error messages word it."""
        return self._rec_timeout_origin

    @property
    def transcript(self) -> Transcript:
        """Every frame and event of this connection so far, with its time since the connection opened.

        ``len(connection.transcript)`` counts them; ``print(connection.transcript)`` shows
        them (the first and last ones of a long connection). A failed test's report shows
        the transcripts of every connection the test opened.
        """
        return self._transcript

    # ------------------------------------------------------------------ expectations

    async def expect(self, expected: Expected, *, timeout: float | None = None) -> Any:
        """Receive the next message and check that it is what the test expects.

        Args:
            expected: A ``str`` (a text message equal to it), ``bytes`` (a binary message
                equal to it), a compiled regular expression (a text message it matches
                whole; a ``bytes`` pattern matches a binary message), a ``dict`` (a JSON
                object with at least those keys and values; nested dicts match as subsets
                too) or a predicate (a callable given the message, true for a match).
            timeout: Seconds to wait for the message; ``None`` uses the connection's
                default (``--websocket-timeout``, or the ``timeout=`` of ``get()``).

        Returns:
            The message (``str`` or ``bytes``), so a test can look at it further.

        Raises:
            AssertionError: The message does not match, none arrived in time, or the
                connection closed first. The text shows what was expected, what arrived
                and the last events of the transcript.
            TypeError: ``expected`` is none of the above.
        """
        __tracebackhide__ = True  # pytest shows the test's line, not this method's
        validate(expected)
        seconds, origin = self._rec_deadline(timeout, "expect()")
        try:
            message = await self.recv(timeout=timeout)
        except WebSocketTimeout:
            headline = f"expect() on {self._rec_path}: no message arrived within {seconds_text(seconds)} ({origin})."
            raise AssertionError(report(headline, expected=expected, transcript=self._transcript)) from None
        except ConnectionClosed as exc:
            closed = self._rec_closed_text(exc)
            headline = f"expect() on {self._rec_path}: the connection closed before a message arrived: {closed}."
            raise AssertionError(report(headline, expected=expected, transcript=self._transcript)) from exc
        why = mismatch(expected, message)
        if why is not None:
            headline = f"expect() on {self._rec_path}: the message that arrived does not match."
            text = report(headline, expected=expected, arrived=message, why=why, transcript=self._transcript)
            raise AssertionError(text)
        return message

    async def expect_silence(self, seconds: float) -> None:
        """Check that no message arrives, and that the connection stays open, for ``seconds``.

        Raises:
            AssertionError: A message arrived (the text shows it and the transcript), or
                the connection closed.
            ValueError: ``seconds`` is not a positive number.
        """
        __tracebackhide__ = True
        if not seconds > 0:
            raise ValueError(f"expect_silence() needs a positive number of seconds, not {seconds!r}")
        try:
            message = await self.recv(timeout=seconds)
        except WebSocketTimeout:
            return
        except ConnectionClosed as exc:
            headline = (
                f"expect_silence() on {self._rec_path}: the connection closed within "
                f"{seconds_text(seconds)}: {self._rec_closed_text(exc)}."
            )
            raise AssertionError(report(headline, transcript=self._transcript)) from exc
        headline = (
            f"expect_silence() on {self._rec_path}: a message arrived within {seconds_text(seconds)}, "
            f"where none was expected."
        )
        raise AssertionError(report(headline, arrived=message, transcript=self._transcript))

    async def expect_close(
        self, code: int | None = None, *, timeout: float | None = None, reason: str | None = None
    ) -> None:
        """Wait for the service to close the connection, and check its close code and reason.

        The next thing to arrive must be the close: receive the messages the service
        sends before it first (with :meth:`expect`). A connection lost without a close
        frame counts as closed with 1006.

        Args:
            code: The close code the service must send, such as 1001; ``None`` accepts any.
            timeout: Seconds to wait; ``None`` uses the connection's default.
            reason: The close reason the service must send; ``None`` accepts any.

        Raises:
            AssertionError: A message arrived first, the service did not close in time,
                the client closed the connection itself, or the code or reason differ.
        """
        __tracebackhide__ = True
        seconds, origin = self._rec_deadline(timeout, "expect_close()")
        what = f"a close{'' if code is None else ' with ' + close_code_text(code)}"
        try:
            message = await self.recv(timeout=timeout)
        except WebSocketTimeout:
            headline = (
                f"expect_close() on {self._rec_path}: the service did not close the connection within "
                f"{seconds_text(seconds)} ({origin}); {what} was expected."
            )
            raise AssertionError(report(headline, transcript=self._transcript)) from None
        except ConnectionClosed as exc:
            closed = exc
        else:
            headline = f"expect_close() on {self._rec_path}: a message arrived where {what} was expected."
            raise AssertionError(report(headline, arrived=message, transcript=self._transcript))
        if self._rec_closed_by() == "client":
            headline = (
                f"expect_close() on {self._rec_path}: the client closed the connection, not the service: "
                f"{self._rec_closed_text(closed)}."
            )
            raise AssertionError(report(headline, transcript=self._transcript)) from closed
        got_code, got_reason = self.close_code, self.close_reason or ""
        if (code is not None and got_code != code) or (reason is not None and got_reason != reason):
            wanted = close_code_text(code) if code is not None else "any code"
            if reason is not None:
                wanted += f" with the reason {reason!r}"
            headline = (
                f"expect_close() on {self._rec_path}: the service closed with {close_code_text(got_code)}"
                f"{' ' + repr(got_reason) if got_reason else ''}, where {wanted} was expected."
            )
            raise AssertionError(report(headline, transcript=self._transcript)) from closed

    async def drop_pongs(self, drop: bool = True) -> None:
        """Stop answering the service's pings (``True``), or answer them again (``False``).

        websockets answers every ping with a pong by itself. While pongs are dropped, a
        ping the service sends gets no answer, as from a client that hangs, so a test
        can check that the service's keepalive closes such a connection. The transcript
        notes each ping left unanswered. Pongs the test sends with ``pong()`` still go out.
        """
        if drop != self._rec_drop_pongs:
            self._rec_drop_pongs = drop
            self._transcript.record_note("pongs are dropped from now on" if drop else "pings are answered again")

    def _rec_deadline(self, timeout: float | None, method: str) -> tuple[float, str]:
        if timeout is None:
            return self._rec_timeout, self._rec_timeout_origin
        return timeout, f"the timeout= of {method}"

    def _rec_closed_by(self) -> str:
        """Who closed first: ``'client'``, ``'service'``, or ``''`` if no close frame went either way."""
        protocol = self.protocol
        if protocol.close_rcvd_then_sent is not None:
            return "service" if protocol.close_rcvd_then_sent else "client"
        if protocol.close_sent is not None:
            return "client"
        return "service" if protocol.close_rcvd is not None else ""

    def _rec_cause(self) -> BaseException | None:
        """Why the connection dropped, as websockets noted it (``connection_exc`` from 17, ``recv_exc`` before)."""
        noted = getattr(self, "connection_exc", None) or getattr(self, "recv_exc", None)
        return noted if isinstance(noted, BaseException) else self.protocol.parser_exc

    def _rec_closed_text(self, exc: ConnectionClosed) -> str:
        by = self._rec_closed_by()
        code, reason = self.close_code, self.close_reason or ""
        if by == "client" and self.protocol.close_sent is not None:
            code, reason = self.protocol.close_sent.code, self.protocol.close_sent.reason
        text = f"closed by the {by}" if by else "connection lost"
        text += f" with {close_code_text(code)}" + (f" {reason!r}" if reason else "")
        cause = exc.__cause__ or self._rec_cause()
        if cause is not None:
            text += f" (cause: {type(cause).__name__}: {cause})"
        return text

    # ------------------------------------------------------------------ recording what is sent

    async def send(self, message: Any, text: bool | None = None) -> None:
        if isinstance(message, (str, bytes, bytearray, memoryview)):
            self._rec_sent(message, text, 1, len(message) if not isinstance(message, str) else None)
        elif isinstance(message, AsyncIterable):
            message = self._rec_async_fragments(message, text)
        elif isinstance(message, Iterable) and not isinstance(message, Mapping):
            message = self._rec_fragments(message, text)
        await super().send(message, text=text)

    def _rec_sent(self, first: Any, text: bool | None, fragments: int, size: int | None) -> None:
        is_text = isinstance(first, str) if text is None else text
        data: str | bytes
        if isinstance(first, str):
            data = first  # the transcript keeps only its start
            if size is None:
                size = len(first) if first.isascii() else len(first.encode("utf-8", "surrogatepass"))
            if not is_text:  # send(str, text=False): UTF-8 in a binary frame
                data = first[: self._transcript.data_chars].encode("utf-8", "surrogatepass")
        else:
            data = bytes(first[: self._transcript.data_chars])
            if is_text:
                data = data.decode("utf-8", "replace")
        self._transcript.record_message("sent", "text" if is_text else "binary", size or 0, data, fragments)

    def _rec_fragments(self, fragments: Iterable[Any], text: bool | None) -> Iterator[Any]:
        tally = _Tally()
        for fragment in fragments:
            tally.add(fragment)
            yield fragment
        if tally.first is not None:
            self._rec_sent(tally.first, text, tally.count, tally.size)

    async def _rec_async_fragments(self, fragments: AsyncIterable[Any], text: bool | None) -> AsyncIterator[Any]:
        tally = _Tally()
        async for fragment in fragments:
            tally.add(fragment)
            yield fragment
        if tally.first is not None:
            self._rec_sent(tally.first, text, tally.count, tally.size)

    async def ping(self, data: Any = None) -> Awaitable[float]:
        waiter = await super().ping(data)
        payload = data.encode() if isinstance(data, str) else data
        if payload is None:  # websockets chose four random bytes: the latest pending ping
            pending = getattr(self, "pending_pings", None) or getattr(self, "pong_waiters", {})  # websockets >=17, <17
            payload = next(reversed(pending), b"")
        self._transcript.record_ping("sent", bytes(payload))
        return waiter

    async def pong(self, data: Any = b"") -> None:
        await super().pong(data)
        self._transcript.record_pong("sent", data.encode() if isinstance(data, str) else bytes(data))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        sending = getattr(self, "send_in_progress", None) or getattr(self, "fragmented_send_waiter", None)
        if self.protocol.state is State.OPEN and sending is None:
            self._transcript.record_close_frame("sent", code, reason)
            self._rec_close_recorded = True
        await super().close(code, reason)

    def _rec_note_close_sent(self) -> None:
        """Record a close frame websockets sent by itself (an echo, or a failure of its own)."""
        sent = self.protocol.close_sent
        if sent is not None and not self._rec_close_recorded:
            self._rec_close_recorded = True
            self._transcript.record_close_frame("sent", sent.code, sent.reason)

    # ------------------------------------------------------------------ recording what arrives

    def data_received(self, data: bytes) -> None:
        self._rec_receiving = True
        try:
            super().data_received(data)
        finally:
            self._rec_receiving = False
        self._rec_note_close_sent()

    def send_data(self) -> None:
        if self._rec_receiving and self._rec_drop_pongs:
            # websockets answered the pings in this data by itself: take those pongs out.
            # Each item that data_to_send() returns is one whole frame.
            writes = self.protocol.data_to_send()
            kept = [chunk for chunk in writes if not (chunk and chunk[0] & 0x0F == _PONG_BYTE)]
            self.protocol.writes[:0] = kept
        super().send_data()

    def process_event(self, event: Event) -> None:
        if not isinstance(event, Frame):  # the handshake response: the connection is open from now
            super().process_event(event)
            self._transcript.restart_clock()
            return
        opcode = event.opcode
        transcript = self._transcript
        if opcode is _TEXT or opcode is _BINARY:
            if not event.fin:  # the first fragment: reassemble here, see the module docstring
                self._rec_opcode, self._rec_partial, self._rec_frame_count = opcode, bytearray(event.data), 1
                return
            self._rec_received(opcode, event.data, 1)
        elif opcode is _CONT:
            partial = self._rec_partial
            if partial is None:  # cannot happen: websockets rejects a stray continuation frame
                return
            partial += event.data
            self._rec_frame_count += 1
            if not event.fin:
                return
            self._rec_partial = None
            event = Frame(self._rec_opcode, bytes(partial))
            self._rec_received(self._rec_opcode, event.data, self._rec_frame_count)
        elif opcode is _PING:
            transcript.record_ping("received", bytes(event.data))
            if self._rec_drop_pongs:
                transcript.record_note("did not answer the ping: pongs are dropped")
            else:
                transcript.record_pong("sent", bytes(event.data))
        elif opcode is _PONG:
            transcript.record_pong("received", bytes(event.data))
        elif opcode is _CLOSE:
            close = Close.parse(bytes(event.data))
            transcript.record_close_frame("received", close.code, close.reason)
            self._rec_note_close_sent()
        super().process_event(event)

    def _rec_received(self, opcode: Opcode, data: bytes | bytearray | memoryview, fragments: int) -> None:
        chars = self._transcript.data_chars
        kind: Literal["text", "binary"] = "text" if opcode is _TEXT else "binary"
        start: str | bytes = (
            bytes(data[: chars * 4]).decode("utf-8", "replace") if kind == "text" else bytes(data[:chars])
        )
        self._transcript.record_message("received", kind, len(data), start, fragments)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._rec_note_close_sent()
        if self._rec_partial is not None:
            self._transcript.record_note(
                f"a fragmented message was cut off after {self._rec_frame_count} fragments "
                f"({len(self._rec_partial)} bytes)"
            )
            self._rec_partial = None
        cause = self._rec_cause()
        if cause is not None:
            self._transcript.record_note(f"cause: {type(cause).__name__}: {cause}")
        self._transcript.record_closed(self.close_code, self.close_reason or "", self._rec_closed_by())


class _Tally:
    """The first fragment, the count and the size of a message sent in fragments."""

    __slots__ = ("count", "first", "size")

    def __init__(self) -> None:
        self.first: Any = None
        self.count = 0
        self.size = 0

    def add(self, fragment: Any) -> None:
        if self.first is None:
            self.first = fragment
        self.count += 1
        if isinstance(fragment, str):
            self.size += len(fragment) if fragment.isascii() else len(fragment.encode("utf-8", "surrogatepass"))
        else:
            self.size += len(fragment)
