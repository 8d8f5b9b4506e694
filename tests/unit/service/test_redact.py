"""Redactor: values of config vars and the tests-control secret are named in reports, not shown."""

from __future__ import annotations

from pytest_wsservice.service.redact import Redactor


def test_values_of_vars_are_named_quoted_or_not() -> None:
    redactor = Redactor({"db_password": "S3cr3t-P@ssw0rd", "port": 8080, "path": "/chat"})
    text = "got 'S3cr3t-P@ssw0rd' (str); in the URL: postgres://u:S3cr3t-P@ssw0rd@db; path /chat"
    assert redactor.apply(text) == (
        "got <the value of config var 'db_password'> (str); in the URL: "
        "postgres://u:<the value of config var 'db_password'>@db; path /chat"
    )


def test_short_and_non_string_values_are_left_alone() -> None:
    redactor = Redactor({"level": "debug", "size": 100000})
    assert not redactor
    assert redactor.apply("level debug, size 100000") == "level debug, size 100000"


def test_extra_secrets_and_the_longest_first() -> None:
    redactor = Redactor({"inner": "abcdef"}, {"xxabcdefxx": "<the tests-control secret>"})
    assert redactor.apply("xxabcdefxx abcdef") == "<the tests-control secret> <the value of config var 'inner'>"
