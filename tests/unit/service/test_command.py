"""Placeholders in the service's command and environment (pytest_wsservice.service.command)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_wsservice.errors import ServiceConfigError
from pytest_wsservice.service.command import (
    PLACEHOLDERS,
    CommandTemplate,
    EnvEntry,
    Placeholders,
    expand,
    expand_argv,
    expand_env,
    parse_env_entries,
    parse_ping,
    parse_yes_no,
    uses_placeholders,
)
from pytest_wsservice.service.tls import TlsFiles

TLS = TlsFiles(cert_chain=Path("/t/server.pem"), private_key=Path("/t/server.key"), ca_cert=Path("/t/ca.pem"))
ALL = Placeholders(host="::1", port=8123, tmpdir=Path("/tmp/run"), config=Path("/tmp/run/static_config.yaml"), tls=TLS)
BARE = Placeholders(host="127.0.0.1", port=9000, tmpdir=Path("/tmp/run"))
KNOWN = "The placeholders are {host}, {port}, {config}, {tmpdir}, {tls_cert}, {tls_key}, {tls_ca}"


def test_values_with_everything():
    assert ALL.values() == {
        "host": "::1",
        "port": "8123",
        "tmpdir": "/tmp/run",
        "config": "/tmp/run/static_config.yaml",
        "tls_cert": "/t/server.pem",
        "tls_key": "/t/server.key",
        "tls_ca": "/t/ca.pem",
    }
    assert set(ALL.values()) == set(PLACEHOLDERS)


def test_values_without_config_or_tls():
    assert BARE.values() == {"host": "127.0.0.1", "port": "9000", "tmpdir": "/tmp/run"}


def test_every_placeholder_is_replaced_anywhere_in_a_word():
    argv = [
        "svc",
        "--listen={host}:{port}",
        "-c",
        "{config}",
        "--cert={tls_cert}",
        "{tls_key}",
        "{tls_ca}",
        "{tmpdir}/x",
    ]
    assert expand_argv(argv, ALL.values(), origin="--service-command") == [
        "svc",
        "--listen=::1:8123",
        "-c",
        "/tmp/run/static_config.yaml",
        "--cert=/t/server.pem",
        "/t/server.key",
        "/t/ca.pem",
        "/tmp/run/x",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{port}}", "{port}"),
        ("{{{port}}}", "{9000}"),
        ("{{", "{"),
        ("}}", "}"),
        ("{}", "{}"),
        ('{"a": 1}', '{"a": 1}'),
        ("{ port }", "{ port }"),
        ("a}b{c", "a}b{c"),
        ("plain", "plain"),
        ("", ""),
    ],
)
def test_braces_that_are_not_placeholders(text, expected):
    assert expand(text, BARE.values(), origin="--service-command") == expected


@pytest.mark.parametrize("name", ["prot", "PORT", "host.name", "x-y", "_", "tls"])
def test_unknown_placeholder_is_an_error_listing_the_known_ones(name):
    argv = ["python", "svc.py", "--port", "{" + name + "}"]
    with pytest.raises(ServiceConfigError) as info:
        expand_argv(argv, ALL.values(), origin="--service-command")
    message = str(info.value)
    assert message.startswith(
        f"In --service-command 'python svc.py --port {{{name}}}': {{{name}}} is not a placeholder."
    )
    assert KNOWN in message
    assert "write {{ and }} for a literal brace" in message


@pytest.mark.parametrize("name", ["tls_cert", "tls_key", "tls_ca"])
def test_tls_placeholder_without_tls_says_to_add_service_tls(name):
    with pytest.raises(ServiceConfigError) as info:
        expand_argv(["svc", "--x={" + name + "}"], BARE.values(), origin="ini service_command (/p/pytest.ini)")
    message = str(info.value)
    assert message.startswith("In ini service_command (/p/pytest.ini) 'svc --x={" + name + "}': ")
    assert "this run has no TLS: add --service-tls (ini service_tls = true)" in message
    assert KNOWN in message


def test_config_placeholder_without_a_config_says_to_give_one():
    with pytest.raises(ServiceConfigError) as info:
        expand_argv(["svc", "-c", "{config}"], BARE.values(), origin="--service-command")
    message = str(info.value)
    assert "this run has no static config" in message
    assert "give --service-config PATH, or drop {config}" in message


def test_error_quote_is_bounded():
    long = "x" * 5000 + "{nope}"
    with pytest.raises(ServiceConfigError) as info:
        expand(long, BARE.values(), origin="--service-command")
    message = str(info.value)
    assert "(cut; 5006 characters in all)" in message
    assert len(message) < 700


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["svc", "--port", "{port}"], True),
        (["svc", "--config={config}"], True),
        (["svc", "{nope}"], True),
        (["svc", "{{port}}"], False),
        (["svc", "{}", '{"a": 1}'], False),
        (["svc"], False),
        ([], False),
    ],
)
def test_uses_placeholders(argv, expected):
    assert uses_placeholders(argv) is expected


def test_parse_env_entries():
    lines = ["PORT={port}", "", "   # a comment", "  URL=http://{host}:{port}/a=b  ", "_X1=", "PORT=again"]
    assert parse_env_entries(lines, origin="ini service_env") == [
        EnvEntry("PORT", "{port}", "ini service_env"),
        EnvEntry("URL", "http://{host}:{port}/a=b", "ini service_env"),
        EnvEntry("_X1", "", "ini service_env"),
        EnvEntry("PORT", "again", "ini service_env"),
    ]


@pytest.mark.parametrize(
    ("line", "wording"),
    [
        ("PORT", "'PORT', which is not NAME=VALUE"),
        ("1PORT=3", "whose name '1PORT' is not an environment variable name"),
        ("MY VAR=3", "whose name 'MY VAR' is not an environment variable name"),
        ("PORT =3", "whose name 'PORT ' is not an environment variable name"),
        ("=3", "whose name '' is not an environment variable name"),
        ("PÖRT=3", "whose name 'PÖRT' is not an environment variable name"),
    ],
)
def test_bad_env_entries(line, wording):
    with pytest.raises(ServiceConfigError) as info:
        parse_env_entries([line], origin="--service-env")
    assert str(info.value).startswith("--service-env has ")
    assert wording in str(info.value)


def test_expand_env_later_entries_win_and_errors_name_the_entry():
    entries = parse_env_entries(["PORT={port}", "HOST={host}", "PORT=x{port}"], origin="--service-env")
    assert expand_env(entries, BARE.values()) == {"PORT": "x9000", "HOST": "127.0.0.1"}
    with pytest.raises(ServiceConfigError) as info:
        expand_env(parse_env_entries(["CA={tls_ca}"], origin="--service-env"), BARE.values())
    assert str(info.value).startswith("In --service-env 'CA={tls_ca}': {tls_ca} is the path of a TLS file")


class _Settings:
    def __init__(self, env: tuple[EnvEntry, ...] = (), origin: str = "--service-command") -> None:
        self.env = env
        self._origin = origin

    def command_origin(self) -> str:
        return self._origin


def test_template_without_placeholders_appends_the_config_only_when_there_is_one():
    template = CommandTemplate.of(["svc", "-v"], _Settings(), Path("/tmp/run"), None)
    assert template.append_config is True
    assert template.render("127.0.0.1", 8080, Path("/tmp/run/c.yaml")) == (
        ["svc", "-v", "--config", "/tmp/run/c.yaml"],
        {},
    )
    assert template.render("127.0.0.1", 8080, None) == (["svc", "-v"], {})


def test_template_with_placeholders_is_rendered_anew_for_each_port():
    env = tuple(parse_env_entries(["PORT={port}", "DIR={tmpdir}/x"], origin="--service-env"))
    template = CommandTemplate.of(["svc", "--port", "{port}", "--host={host}"], _Settings(env), Path("/tmp/run"), TLS)
    assert template.append_config is False
    assert template.render("::1", 1000, Path("/c.yaml")) == (
        ["svc", "--port", "1000", "--host=::1"],
        {"PORT": "1000", "DIR": "/tmp/run/x"},
    )
    assert template.render("::1", 2000, None)[0] == ["svc", "--port", "2000", "--host=::1"]


def test_template_errors_name_the_commands_origin():
    template = CommandTemplate.of(["svc", "{config}"], _Settings(origin="service_binary in /p/tox.ini"), Path(), None)
    with pytest.raises(ServiceConfigError, match=r"^In service_binary in /p/tox.ini 'svc \{config\}': \{config\} is"):
        template.render("127.0.0.1", 1, None)


@pytest.mark.parametrize("value", ["/healthz", " /ping ", "/a/b?x=1"])
def test_parse_ping(value):
    assert parse_ping(value, "--service-ping") == value.strip()


@pytest.mark.parametrize("value", ["healthz", "", "/a b", "http://x/ping"])
def test_parse_ping_rejects_what_is_not_a_path(value):
    with pytest.raises(ServiceConfigError, match="it should be an HTTP path starting with '/', such as /healthz"):
        parse_ping(value, "--service-ping")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True),
        ("YES", True),
        ("on", True),
        ("1", True),
        ("false", False),
        ("No", False),
        ("off", False),
        ("0", False),
    ],
)
def test_parse_yes_no(value, expected):
    assert parse_yes_no(value, "service_tls") is expected


def test_parse_yes_no_rejects_anything_else():
    with pytest.raises(
        ServiceConfigError, match=r"^service_tls in /p/pytest.ini is 'maybe'; it should be true or false"
    ):
        parse_yes_no("maybe", "service_tls in /p/pytest.ini")
