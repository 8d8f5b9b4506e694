"""Config vars with userver's semantics in the sample's config loader (issue 15 item 1, issue 13 item 2).

Order: ``$var`` -> ``key#env`` -> ``key#fallback`` -> missing (default, or an error naming the var).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sample_service.config import ConfigError, load_config
from tests.sample_service.sample_helpers import (
    START_TIMEOUT,
    config_dict,
    free_port,
    http_get,
    start_sample,
    write_config,
)

PASSWORD = "S3cr3t-P@ssw0rd"
CHAT = "components_manager.components.websocket-handler"


def load(tmp_path: Path, chat: dict[str, Any] | None = None, variables: str | None = None, **components: Any) -> Any:
    config = config_dict(8080, str(tmp_path / "service.log"))
    handler = config["components_manager"]["components"]["websocket-handler"]
    for key in chat or {}:  # 'key#env' alone: the key itself is absent
        if "#" in key and key.split("#")[0] not in (chat or {}):
            handler.pop(key.split("#")[0], None)
    handler.update(chat or {})
    config["components_manager"]["components"].update(components)
    path = write_config(tmp_path, config)
    vars_path = None
    if variables is not None:
        vars_path = tmp_path / "vars.yaml"
        vars_path.write_text(variables)
    return load_config(path, vars_path)


def test_an_unresolved_var_is_a_missing_key(tmp_path: Path) -> None:
    """An optional key whose $var is undefined gets its default, as in userver: the service still starts."""
    control = {"path": "/tests/control", "testpoint-url": "$mockserver/testpoint", "secret": "$no_such_secret"}
    config = load(tmp_path, {"max-remote-payload": "$undefined_size"}, **{"tests-control": control})
    assert config.max_remote_payload == 65536
    assert config.testpoint_url is None and config.tests_control_secret is None


def test_an_unresolved_var_of_a_required_key_names_the_var(tmp_path: Path) -> None:
    """A required key whose $var is undefined: the error names the var and the vars file."""
    with pytest.raises(ConfigError) as error:
        load(tmp_path, {"path": "$chat_path"}, variables="other: 1\n")
    assert error.value.key == f"{CHAT}.path"
    assert error.value.problem.startswith(
        "missing required key: it is the unresolved config var '$chat_path' "
        f"(not defined in {tmp_path / 'vars.yaml'}), and there is no 'path#fallback'"
    )


def test_env_is_read_before_the_fallback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """key#env names an environment variable, read as YAML; it beats #fallback, and an unset one falls back."""
    chat = {"max-remote-payload": "$size", "max-remote-payload#env": "SAMPLE_SIZE", "max-remote-payload#fallback": 300}
    monkeypatch.setenv("SAMPLE_SIZE", "1234")
    assert load(tmp_path, chat).max_remote_payload == 1234
    monkeypatch.delenv("SAMPLE_SIZE")
    assert load(tmp_path, chat).max_remote_payload == 300


def test_a_defined_var_beats_env_and_a_written_value_ignores_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The $var comes first; a value written in the config is used as it is, whatever #env says."""
    monkeypatch.setenv("SAMPLE_SIZE", "1234")
    chat = {"max-remote-payload": "$size", "max-remote-payload#env": "SAMPLE_SIZE"}
    assert load(tmp_path, chat, variables="size: 77\n").max_remote_payload == 77
    chat = {"max-remote-payload": 55, "max-remote-payload#env": "SAMPLE_SIZE"}
    assert load(tmp_path, chat).max_remote_payload == 55


def test_env_applies_to_an_absent_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """key#env without the key itself: the environment, then key#fallback, then the default (userver's order)."""
    chat = {"fragment-size#env": "SAMPLE_FRAGMENT", "fragment-size#fallback": 20}
    monkeypatch.setenv("SAMPLE_FRAGMENT", "10")
    assert load(tmp_path, chat).fragment_size == 10
    monkeypatch.delenv("SAMPLE_FRAGMENT")
    assert load(tmp_path, chat).fragment_size == 20
    assert load(tmp_path, {"fragment-size#env": "SAMPLE_FRAGMENT"}).fragment_size == 65536


def test_fallback_keeps_working(tmp_path: Path) -> None:
    """An undefined $var with key#fallback takes the fallback."""
    assert load(tmp_path, {"fragment-size": "$frag", "fragment-size#fallback": 10}).fragment_size == 10


def test_a_fallback_without_var_or_env_is_ignored(tmp_path: Path) -> None:
    """As in userver, key#fallback applies only after a $var or a key#env: alone, it changes nothing."""
    assert load(tmp_path, {"fragment-size#fallback": 10}).fragment_size == 65536


@pytest.mark.parametrize("source", ["var", "env"])
def test_errors_name_the_var_never_its_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str) -> None:
    """A value of the wrong type that came from a $var or the environment: the error names it, not the value."""
    if source == "var":
        chat, variables = {"max-remote-payload": "$db_password"}, f"db_password: {PASSWORD}\n"
        named = f"got the value of config var 'db_password' from {tmp_path / 'vars.yaml'} (str)"
    else:
        monkeypatch.setenv("DB_PASSWORD", PASSWORD)
        chat, variables = {"max-remote-payload#env": "DB_PASSWORD"}, None
        named = "got the value of environment variable 'DB_PASSWORD' (str)"
    with pytest.raises(ConfigError) as error:
        load(tmp_path, chat, variables)
    assert str(error.value).endswith(f"{CHAT}.max-remote-payload: expected a positive integer, {named}")
    assert PASSWORD not in str(error.value)


def test_a_secret_written_in_the_config_is_not_quoted(tmp_path: Path) -> None:
    """tests-control.secret of the wrong type: the error gives its type only."""
    with pytest.raises(ConfigError) as error:
        load(tmp_path, **{"tests-control": {"path": "/tests/control", "secret": 987654321}})
    assert "987654321" not in str(error.value)
    assert error.value.problem == "expected a non-empty string, got a value of type int (not shown: it is a secret)"


def test_env_key_must_name_a_variable(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"fragment-size#env: expected the name of an environment variable, got 5 \(int\)"
    ):
        load(tmp_path, {"fragment-size#env": 5})


def test_the_service_reads_its_port_from_the_environment(tmp_path: Path, scaled: Callable[[float], float]) -> None:
    """A real process: `port: $service_port` with `port#env: SAMPLE_PORT` listens on the port in the environment."""
    port = free_port()
    config = config_dict(0, str(tmp_path / "service.log"))
    config["components_manager"]["components"]["server"]["listener"].update(
        {"port": "$service_port", "port#env": "SAMPLE_PORT", "port#fallback": 1}
    )
    path = write_config(tmp_path, config)
    service = start_sample(path, port, tmp_path / "service.log", scaled(START_TIMEOUT), env={"SAMPLE_PORT": str(port)})
    try:
        assert http_get(port, "/ping", timeout=scaled(5))[0] == 200
    finally:
        service.stop(scaled(10))
