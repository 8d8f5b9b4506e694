"""Matching messages against expectations, and the text of a failed expectation."""

from __future__ import annotations

import json
import re
from collections import OrderedDict

import pytest

from pytest_wsservice.clients.expect import describe_expected, describe_message, mismatch, report, validate
from pytest_wsservice.clients.transcript import Transcript

# ------------------------------------------------------------------ str and bytes


def test_equal_text_and_bytes_match():
    assert mismatch("hello", "hello") is None
    assert mismatch(b"\x00\x01", b"\x00\x01") is None
    assert mismatch("", "") is None


def test_the_type_of_the_message_is_part_of_the_expectation():
    assert mismatch("hello", b"hello") == "a text message was expected, a binary message arrived"
    assert mismatch(b"hello", "hello") == "a binary message was expected, a text message arrived"


def test_a_different_message_says_where_it_differs():
    assert mismatch("hello world", "hello there") == ("they differ from character 6 on: expected 'world', got 'there'")
    assert mismatch(b"abc", b"abd") == "they differ from byte 2 on: expected b'c', got b'd'"
    assert mismatch("hello", "hello!") == (
        "the message is longer: 6 chars where 5 chars were expected, equal up to there"
    )
    assert mismatch("hello", "hell") == "the message is shorter: 4 chars where 5 chars were expected, equal up to there"


def test_the_difference_quotes_are_bounded():
    why = mismatch("a" * 10 + "b" * 1000, "a" * 10 + "c" * 1000)
    assert why is not None and len(why) < 150 and why.endswith(" ...")


# ------------------------------------------------------------------ patterns


def test_a_pattern_must_match_a_whole_text_message():
    pattern = re.compile(r"user \d+ joined")
    assert mismatch(pattern, "user 12 joined") is None
    assert mismatch(pattern, "user 12 joined!") == (
        "the pattern matches the start of the message but not the whole of it (fullmatch)"
    )
    assert mismatch(pattern, "user x joined") == "the pattern does not match the message (fullmatch)"
    assert mismatch(pattern, b"user 12 joined") == "a text message was expected, a binary message arrived"


def test_a_bytes_pattern_matches_a_binary_message():
    pattern = re.compile(rb"\x00+")
    assert mismatch(pattern, b"\x00\x00") is None
    assert mismatch(pattern, "\x00") == "a binary message was expected, a text message arrived"


# ------------------------------------------------------------------ JSON subsets


def test_a_dict_matches_a_json_object_with_those_keys_and_values():
    message = json.dumps({"type": "joined", "user": {"name": "bob", "id": 7}, "extra": [1, 2]})
    assert mismatch({"type": "joined"}, message) is None
    assert mismatch({"user": {"name": "bob"}}, message) is None
    assert mismatch({"user": {}}, message) is None
    assert mismatch({}, message) is None
    assert mismatch({"extra": [1, 2]}, message) is None
    assert mismatch({"extra": (1, 2)}, message) is None
    assert mismatch(OrderedDict(type="joined"), message.encode()) is None  # binary JSON too


def test_a_dict_names_the_first_difference():
    message = json.dumps({"type": "joined", "user": {"name": "alice"}, "n": 1, "list": [{"a": 1, "b": 2}]})
    assert mismatch({"type": "left"}, message) == "at ['type']: expected 'left', got 'joined'"
    assert mismatch({"user": {"name": "bob"}}, message) == "at ['user']['name']: expected 'bob', got 'alice'"
    assert mismatch({"user": {"id": 1}}, message) == (
        "the key ['user']['id'] is missing; the object at ['user'] has the keys 'name'"
    )
    assert mismatch({"room": 1}, message) == (
        "the key ['room'] is missing; the object has the keys 'type', 'user', 'n', 'list'"
    )
    assert mismatch({"type": {"x": 1}}, message) == "at ['type']: a JSON object was expected, got a string 'joined'"
    # Booleans and numbers are told apart; objects inside lists are compared whole.
    assert mismatch({"n": True}, message) == "at ['n']: expected True, got 1"
    assert mismatch({"list": [{"a": 1}]}, message) == "at ['list']: expected [{'a': 1}], got [{'a': 1, 'b': 2}]"


def test_a_dict_needs_a_json_object():
    why = mismatch({"a": 1}, "not json")
    assert why is not None and why.startswith("a JSON object was expected, the message is not JSON (Expecting value")
    assert mismatch({"a": 1}, "[1, 2]") == "a JSON object was expected, the message is JSON but a list"
    assert mismatch({"a": 1}, "null") == "a JSON object was expected, the message is JSON but a null"
    why = mismatch({"a": 1}, b"\xff\xfe\x00")
    assert why is not None and why.startswith("a JSON object was expected, the message is not JSON")


def test_many_keys_are_listed_bounded():
    message = json.dumps({f"k{n}": n for n in range(50)})
    why = mismatch({"missing": 1}, message)
    assert why is not None and why.endswith("'k8', 'k9', ...")


# ------------------------------------------------------------------ predicates


def test_a_predicate_decides():
    assert mismatch(lambda message: message.startswith("he"), "hello") is None
    assert mismatch(lambda message: message.startswith("he"), "bye") == "the predicate returned False"
    assert mismatch(len, "") == "the predicate returned 0"


def test_a_predicate_that_raises_is_a_mismatch_that_says_what_it_raised():
    def wants_json(message: str) -> bool:
        return json.loads(message)["ok"]

    why = mismatch(wants_json, "{}")
    assert why == "the predicate raised KeyError: 'ok'"

    def asserts(message: str) -> bool:
        assert message == "x", "not x"
        return True

    why = mismatch(asserts, "y")
    assert why is not None and why.startswith("the predicate raised AssertionError: not x")


# ------------------------------------------------------------------ validation and wording


@pytest.mark.parametrize("expected", [1, 2.5, None, ["a"], ("a",)])
def test_what_cannot_be_expected_is_refused(expected):
    with pytest.raises(TypeError, match=r"expect\(\) takes a str, bytes, a compiled regular expression"):
        validate(expected)


@pytest.mark.parametrize("expected", ["a", b"a", re.compile("a"), {"a": 1}, len, lambda m: True])
def test_what_can_be_expected_is_accepted(expected):
    validate(expected)


def test_descriptions():
    assert describe_expected("hello") == "the text message 'hello' (5 chars)"
    assert describe_expected(b"\x01") == "the binary message b'\\x01' (1 byte)"
    assert describe_expected(re.compile(r"\d+")) == "a text message that matches re.compile('\\\\d+') whole"
    assert describe_expected({"type": "joined"}) == "a JSON object with {'type': 'joined'}"
    assert describe_expected(len) == "a message for which the predicate len is true"
    assert describe_expected(lambda m: m.startswith("x")) == (
        'a message for which the predicate lambda m: m.startswith("x") is true'
    )
    assert describe_expected(sorted) == "a message for which the predicate sorted is true"
    in_call = [lambda m: m == "a, b", 1]
    in_dict = {"check": lambda m: m[0] in {"x": 1}}
    assert describe_expected(in_call[0]) == 'a message for which the predicate lambda m: m == "a, b" is true'
    assert describe_expected(in_dict["check"]) == 'a message for which the predicate lambda m: m[0] in {"x": 1} is true'
    assert describe_message("hallo") == "a text message of 5 chars: 'hallo'"
    assert describe_message(b"x" * 500).endswith(" ...")
    assert len(describe_message(b"x" * 500)) < 200


def test_report_shows_expected_arrived_why_and_the_recent_transcript():
    transcript = Transcript("/chat")
    transcript.record_sent("hello")
    transcript.record_received("hallo")
    text = report(
        "expect() on /chat: the message that arrived does not match.",
        expected="hello",
        arrived="hallo",
        why=mismatch("hello", "hallo"),
        transcript=transcript,
    )
    lines = text.splitlines()
    assert lines[0] == "expect() on /chat: the message that arrived does not match."
    assert lines[1] == "  expected: the text message 'hello' (5 chars)"
    assert lines[2] == "  arrived:  a text message of 5 chars: 'hallo'"
    assert lines[3] == "  mismatch: they differ from character 1 on: expected 'ello', got 'allo'"
    assert lines[4] == "WebSocket /chat, 2 events:"
    assert "sent      text    5 bytes  'hello'" in lines[5]
    assert "received  text    5 bytes  'hallo'" in lines[6]


def test_report_is_bounded():
    transcript = Transcript("/chat")
    for _ in range(1000):
        transcript.record_received("x" * 100_000)
    text = report("headline", expected="y" * 100_000, arrived="x" * 100_000, transcript=transcript, recent=5)
    assert len(text.splitlines()) == 3 + 1 + 5
    assert len(text) < 2000
    assert "the last 5 of 1000 events" in text


def test_report_leaves_out_what_it_was_not_given():
    assert report("expect_silence() on /chat: a message arrived.", arrived=b"\x00") == (
        "expect_silence() on /chat: a message arrived.\n  arrived:  a binary message of 1 byte: b'\\x00'"
    )
