"""Matching a WebSocket message against what a test expects, and wording the failure.

``connection.expect(expected)`` receives the next message and checks it against
``expected``, which may be:

* a ``str``: a text message equal to it;
* ``bytes``: a binary message equal to it (a ``str`` never equals ``bytes``: the type
  of the message is part of what is expected);
* a compiled regular expression: a text message that it matches whole
  (:meth:`re.Pattern.fullmatch`); a pattern of ``bytes`` matches a binary message;
* a ``dict`` (any mapping): a message, text or binary, that is a JSON object with those
  keys and those values; other keys may be present. A value that is itself a mapping is
  matched the same way (a subset); every other value must be equal, with ``True`` and
  ``1`` told apart (inside a list, objects must be equal, not a subset);
* any other callable: a predicate, given the message (``str`` or ``bytes``); the message
  matches when it returns a true value. If it raises, the message does not match and
  the error says what it raised.

When the message does not match, or none arrives in time, the test fails with an
:exc:`AssertionError` whose text shows what was expected, what arrived (its type, its
size and the start of its data) and the last events of the connection's transcript.

This module does no I/O and imports neither websockets nor pytest.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable, Mapping
from typing import Any, Union

from .transcript import Transcript, describe_data, size_text

__all__ = [
    "Expected",
    "describe_expected",
    "describe_message",
    "mismatch",
    "report",
    "validate",
]

#: What ``expect()`` accepts.
Expected = Union[str, bytes, "re.Pattern[str]", "re.Pattern[bytes]", Mapping[str, Any], Callable[[Any], object]]

#: How much of a message, an expected value or a predicate's source the text quotes.
QUOTE_CHARS = 120
#: How many of the latest transcript events a failure shows.
RECENT_EVENTS = 12

_MISSING: Any = object()


def validate(expected: object) -> None:
    """Raise :exc:`TypeError` unless ``expected`` is something :func:`mismatch` understands."""
    if isinstance(expected, (str, bytes, re.Pattern, Mapping)) or callable(expected):
        return
    raise TypeError(
        f"expect() takes a str, bytes, a compiled regular expression, a dict (JSON keys and values) or a "
        f"predicate, not {type(expected).__name__} {_bounded_repr(expected)}; for a list of messages, "
        f"call expect() once for each"
    )


def mismatch(expected: Expected, message: str | bytes) -> str | None:
    """Say why ``message`` does not match ``expected``, or return ``None`` when it does.

    Args:
        expected: What the test expects (see the module's docstring).
        message: The message: ``str`` for a text message, ``bytes`` for a binary one.

    Returns:
        ``None`` for a match; otherwise one sentence, such as
        ``"at ['user']['name']: expected 'bob', got 'alice'"``.
    """
    if isinstance(expected, (str, bytes)):
        return _mismatch_equal(expected, message)
    if isinstance(expected, re.Pattern):
        return _mismatch_pattern(expected, message)
    if isinstance(expected, Mapping):
        return _mismatch_json(expected, message)
    try:
        result = expected(message)
    except Exception as exc:
        return f"the predicate raised {type(exc).__name__}: {_cut(str(exc))}"
    if result:
        return None
    return f"the predicate returned {_bounded_repr(result)}"


def _kind(message: str | bytes) -> str:
    return "text" if isinstance(message, str) else "binary"


def _mismatch_equal(expected: str | bytes, message: str | bytes) -> str | None:
    if isinstance(expected, str) != isinstance(message, str):
        return f"a {_kind(expected)} message was expected, a {_kind(message)} message arrived"
    if expected == message:
        return None
    common = min(len(expected), len(message))
    index = next((i for i in range(common) if expected[i] != message[i]), common)
    unit = "character" if isinstance(expected, str) else "byte"
    if index == common:
        longer = "the message is longer" if len(message) > len(expected) else "the message is shorter"
        return f"{longer}: {size_text(message)} where {size_text(expected)} were expected, equal up to there"
    return (
        f"they differ from {unit} {index} on: expected {describe_data(expected[index:], 40)}, "
        f"got {describe_data(message[index:], 40)}"
    )


def _mismatch_pattern(pattern: re.Pattern[Any], message: str | bytes) -> str | None:
    wants_text = isinstance(pattern.pattern, str)
    if wants_text != isinstance(message, str):
        return f"a {'text' if wants_text else 'binary'} message was expected, a {_kind(message)} message arrived"
    if pattern.fullmatch(message):
        return None
    if pattern.match(message):
        return "the pattern matches the start of the message but not the whole of it (fullmatch)"
    return "the pattern does not match the message (fullmatch)"


def _mismatch_json(expected: Mapping[str, Any], message: str | bytes) -> str | None:
    try:
        value = json.loads(message)
    except ValueError as exc:  # JSONDecodeError, and UnicodeDecodeError for binary data
        return f"a JSON object was expected, the message is not JSON ({_cut(str(exc))})"
    if not isinstance(value, dict):
        return f"a JSON object was expected, the message is JSON but a {_json_type(value)}"
    return _subset(expected, value, "")


def _subset(expected: Mapping[str, Any], actual: dict[str, Any], where: str) -> str | None:
    for key, want in expected.items():
        here = f"{where}[{key!r}]"
        if key not in actual:
            keys = ", ".join(repr(name) for name in list(actual)[:10]) + (", ..." if len(actual) > 10 else "")
            inside = f"the object at {where}" if where else "the object"
            return f"the key {here} is missing; {inside} has {'the keys ' + keys if actual else 'no keys'}"
        got = actual[key]
        if isinstance(want, Mapping):
            if not isinstance(got, dict):
                return f"at {here}: a JSON object was expected, got a {_json_type(got)} {_bounded_repr(got)}"
            why = _subset(want, got, here)
            if why is not None:
                return why
        elif not _equal(want, got):
            return f"at {here}: expected {_bounded_repr(want)}, got {_bounded_repr(got)}"
    return None


def _equal(want: Any, got: Any) -> bool:
    """Equality of a JSON value with an expected one, with booleans apart from numbers."""
    if isinstance(want, bool) or isinstance(got, bool):
        return type(want) is type(got) and want == got
    if isinstance(want, (list, tuple)):
        return isinstance(got, list) and len(got) == len(want) and all(map(_equal, want, got))
    if isinstance(want, Mapping):
        return isinstance(got, dict) and want.keys() == got.keys() and all(_equal(want[k], got[k]) for k in want)
    return bool(want == got)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "object" if isinstance(value, dict) else type(value).__name__


# ------------------------------------------------------------------ wording


def describe_expected(expected: Expected) -> str:
    """Word what was expected: ``"the text message 'hello' (5 chars)"``, ``"a JSON object with {...}"``."""
    if isinstance(expected, (str, bytes)):
        return f"the {_kind(expected)} message {describe_data(expected, QUOTE_CHARS)} ({size_text(expected)})"
    if isinstance(expected, re.Pattern):
        kind = "text" if isinstance(expected.pattern, str) else "binary"
        return f"a {kind} message that matches {_cut(repr(expected))} whole"
    if isinstance(expected, Mapping):
        return f"a JSON object with {_bounded_repr(dict(expected))}"
    return f"a message for which the predicate {_predicate_name(expected)} is true"


def describe_message(message: str | bytes) -> str:
    """Word a message that arrived: ``"a text message of 5 chars: 'hallo'"``."""
    return f"a {_kind(message)} message of {size_text(message)}: {describe_data(message, QUOTE_CHARS)}"


def _predicate_name(predicate: Callable[[Any], object]) -> str:
    name = getattr(predicate, "__qualname__", None) or type(predicate).__name__
    if name.endswith("<lambda>"):
        try:
            source = inspect.getsource(predicate).strip()
        except (OSError, TypeError):
            return name
        start = source.find("lambda")
        return _cut(_lambda_text(source[start:].splitlines()[0])) if start >= 0 else name
    return name


def _lambda_text(line: str) -> str:
    """The lambda at the start of ``line``, up to the bracket or comma that ends it."""
    depth, quote = 0, ""
    for index, char in enumerate(line):
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}" or (char == "," and depth == 0):
            if depth == 0:
                return line[:index].rstrip()
            depth -= 1
    return line.rstrip()


def report(
    headline: str,
    *,
    expected: Any = _MISSING,
    arrived: str | bytes | None = None,
    why: str | None = None,
    transcript: Transcript | None = None,
    recent: int = RECENT_EVENTS,
) -> str:
    """The text of a failed expectation.

    Args:
        headline: The first sentence, naming the method and the path, such as
            ``"expect() on /chat: the message does not match."``.
        expected: What was expected (see the module's docstring); left out when not given.
        arrived: The message that arrived, if any.
        why: Why it does not match, as :func:`mismatch` says.
        transcript: The connection's transcript; its last ``recent`` events are shown.
        recent: How many transcript events to show.

    Returns:
        Several lines: the headline, ``expected:``, ``arrived:``, ``mismatch:``, then the
        recent transcript.
    """
    lines = [headline]
    if expected is not _MISSING:
        lines.append(f"  expected: {describe_expected(expected)}")
    if arrived is not None:
        lines.append(f"  arrived:  {describe_message(arrived)}")
    if why:
        lines.append(f"  mismatch: {why}")
    if transcript is not None:
        lines.append(transcript.recent(recent))
    return "\n".join(lines)


def _cut(text: str, limit: int = QUOTE_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + " ..."


def _bounded_repr(value: object) -> str:
    try:
        text = repr(value)
    except Exception:  # a user object whose repr fails must not hide the real failure
        text = f"<{type(value).__name__} object>"
    return _cut(text)
