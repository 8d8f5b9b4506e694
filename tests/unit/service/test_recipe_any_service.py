"""build_recipe() for configless services, placeholders, --service-env, --service-ping and TLS (no pytest fixtures)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pytest_wsservice.errors import ServiceConfigError
from pytest_wsservice.service.bundled import sample_command
from pytest_wsservice.service.recipe import RawSetting, build_recipe, parse_settings


def _settings(tmp_path: Path, **options: str):
    raw = {
        name.replace("_", "-"): RawSetting(value, tmp_path, f"--{name.replace('_', '-')}")
        for name, value in options.items()
    }
    return parse_settings(raw)


def test_configless_recipe_loads_nothing_and_appends_nothing(tmp_path):
    settings = _settings(tmp_path, service_command="svc --host {host} --port {port}", service_env="PORT={port}")
    assert settings.configless
    recipe = build_recipe(settings, tmpdir=tmp_path, port=41000)
    assert recipe.configless and recipe.default_config_path is None
    assert list(recipe.command) == ["svc", "--host", "127.0.0.1", "--port", "41000"]
    assert recipe.default_config == {
        "components_manager": {"components": {"server": {"listener": {"host": "127.0.0.1", "port": 41000}}}}
    }
    assert str(recipe.default_base_url) == "http://127.0.0.1:41000/"
    assert recipe.template is not None
    assert recipe.template.render("127.0.0.1", 42000, None) == (
        ["svc", "--host", "127.0.0.1", "--port", "42000"],
        {"PORT": "42000"},
    )
    assert list(tmp_path.glob("*.yaml")) == []  # no config written


def test_a_command_naming_config_keeps_the_default_static_config(tmp_path):
    settings = _settings(tmp_path, service_command="svc -c {config}")
    assert not settings.configless
    recipe = build_recipe(settings, tmpdir=tmp_path, port=41001)
    assert recipe.default_config_path is not None
    assert list(recipe.command) == ["svc", "-c", str(recipe.default_config_path)]


def test_the_default_sample_command_gets_config_appended(tmp_path):
    recipe = build_recipe(_settings(tmp_path), tmpdir=tmp_path, port=41002)
    assert list(recipe.command) == sample_command(str(recipe.default_config_path))


def test_service_ping_is_kept_in_the_recipe(tmp_path):
    recipe = build_recipe(_settings(tmp_path, service_ping="/healthz"), tmpdir=tmp_path, port=41003)
    assert recipe.ping_path == "/healthz"


def test_tls_with_a_config_patches_userver_keys_and_makes_https(tmp_path):
    recipe = build_recipe(_settings(tmp_path, service_tls="true"), tmpdir=tmp_path, port=41004)
    assert recipe.tls is not None
    assert str(recipe.default_base_url) == "https://127.0.0.1:41004/"
    written = yaml.safe_load(recipe.default_config_path.read_text())
    listener = written["components_manager"]["components"]["server"]["listener"]
    assert listener["tls"] == {"cert": str(recipe.tls.cert_chain), "private-key": str(recipe.tls.private_key)}
    assert recipe.tls.cert_chain.parent == tmp_path / "tls"


def test_tls_placeholders_in_a_configless_command(tmp_path):
    settings = _settings(
        tmp_path, service_command="svc --cert {tls_cert} --key {tls_key} --ca {tls_ca}", service_tls="yes"
    )
    recipe = build_recipe(settings, tmpdir=tmp_path, port=41005)
    assert recipe.tls is not None
    assert list(recipe.command) == [
        "svc",
        "--cert",
        str(recipe.tls.cert_chain),
        "--key",
        str(recipe.tls.private_key),
        "--ca",
        str(recipe.tls.ca_cert),
    ]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"service_command": "svc {nope}"}, "In --service-command 'svc {nope}': {nope} is not a placeholder."),
        ({"service_command": "svc", "service_env": "A B=1"}, "--service-env has 'A B=1'"),
        ({"service_ping": "healthz"}, "--service-ping is 'healthz'; it should be an HTTP path"),
        ({"service_tls": "maybe"}, "--service-tls is 'maybe'; it should be true or false"),
        ({"service_command": "a", "service_binary": "b"}, "--service-binary is another name for --service-command"),
    ],
)
def test_bad_values_are_one_clear_error(tmp_path, options, message):
    with pytest.raises(ServiceConfigError) as info:
        build_recipe(_settings(tmp_path, **options), tmpdir=tmp_path, port=41006)
    assert message in str(info.value)


def test_service_binary_is_the_command(tmp_path):
    settings = _settings(tmp_path, service_binary="svc --port {port}")
    assert settings.command == ("svc", "--port", "{port}") and settings.configless
    assert settings.command_origin() == "--service-binary"
