"""``$vars`` with userver's semantics (issue 15 item 1): ``$name`` -> ``key#env`` -> ``key#fallback`` -> as written."""

from __future__ import annotations

import datetime

import pytest

from pytest_wsservice.errors import ServiceConfigError
from pytest_wsservice.service.config import build_service_config, listener_address
from pytest_wsservice.service.config_vars import resolve_config_vars


def test_an_unresolved_var_is_left_as_written() -> None:
    """userver's own config has testpoint-url: $mockserver/testpoint: with no var, it stays, for the service."""
    config = {"components_manager": {"components": {"tests-control": {"testpoint-url": "$mockserver/testpoint"}}}}
    assert resolve_config_vars(config, {}, environ={}) == config
    assert resolve_config_vars({"urls": ["$a", "b"]}, {}, environ={}) == {"urls": ["$a", "b"]}


def test_a_defined_var_wins_over_env_and_fallback() -> None:
    """The var comes first, even when null; #env and #fallback siblings are dropped once the key has a value."""
    config = {"size": "$size", "size#env": "SIZE", "size#fallback": 3, "none": "$none"}
    resolved = resolve_config_vars(config, {"size": 7, "none": None}, environ={"SIZE": "5"})
    assert resolved == {"size": 7, "none": None}


def test_env_is_read_before_the_fallback_as_yaml() -> None:
    """key#env: an environment variable, read as YAML (or kept as text); unset or empty, #fallback applies."""
    config = {"size": "$size", "size#env": "SIZE", "size#fallback": 3, "name#env": "NAME"}
    environ = {"SIZE": "5", "NAME": "[not yaml"}
    assert resolve_config_vars(config, {}, environ=environ) == {"size": 5, "name": "[not yaml"}
    assert resolve_config_vars(config, {}, environ={"SIZE": "2024-01-01"})["size"] == datetime.date(2024, 1, 1)
    assert resolve_config_vars(config, {}, environ={"SIZE": ""}) == {"size": 3, "name#env": "NAME"}


def test_env_applies_to_an_absent_key() -> None:
    """key#env without the key: the environment, then key#fallback; with neither, #env stays for the service."""
    config = {"level#env": "LEVEL", "level#fallback": "info"}
    assert resolve_config_vars(config, {}, environ={"LEVEL": "debug"}) == {"level": "debug"}
    assert resolve_config_vars(config, {}, environ={}) == {"level": "info"}
    assert resolve_config_vars({"level#env": "LEVEL"}, {}, environ={}) == {"level#env": "LEVEL"}


def test_an_unresolved_var_keeps_its_env_key() -> None:
    """$name unresolved and its #env unset here: both stay, so a service started with the variable reads it."""
    config = {"token": "$token", "token#env": "TOKEN"}
    assert resolve_config_vars(config, {}, environ={}) == config


def test_fallback_keeps_working_and_a_lone_fallback_is_dropped() -> None:
    """#fallback fills an undefined var (its own $var resolved too); a #fallback nothing asks for is dropped."""
    config = {"port": "$port", "port#fallback": "$default_port", "other": 1, "other#fallback": 2, "x#fallback": 3}
    assert resolve_config_vars(config, {"default_port": 80}, environ={}) == {"port": 80, "other": 1}


def test_the_input_is_left_alone() -> None:
    """Resolution works on a copy."""
    config = {"a": {"b": "$b", "b#fallback": [1]}}
    resolved = resolve_config_vars(config, {}, environ={})
    resolved["a"]["b"].append(2)
    assert config == {"a": {"b": "$b", "b#fallback": [1]}}


def test_a_plugin_error_about_a_var_value_does_not_quote_it() -> None:
    """A listener port that a $var made a string (perhaps a password) is described by its type, not its value."""
    config = {"components_manager": {"components": {"server": {"listener": {"port": "$db_password"}}}}}
    patched = build_service_config(config, {"db_password": "S3cr3t-P@ssw0rd"})
    with pytest.raises(ServiceConfigError) as excinfo:
        listener_address(patched)
    assert str(excinfo.value) == (
        "the patched config's components_manager.components.server.listener.port is a YAML string; it should be "
        "a port number (did a config hook remove it or set it to a $var?)."
    )
