"""Settings and the default recipe, without pytest's option machinery: parse_settings, build_recipe."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_wsservice.errors import ServiceConfigError
from pytest_wsservice.service.bundled import sample_command
from pytest_wsservice.service.command import CommandTemplate
from pytest_wsservice.service.config import listener_address
from pytest_wsservice.service.recipe import (
    DEFAULT_START_TIMEOUT,
    RawSetting,
    Settings,
    build_recipe,
    logs_file,
    parse_settings,
)


def service_command(settings: Settings, patched: Path) -> list[str]:
    """The argv for a static config at ``patched`` (placeholders rendered for port 0)."""
    return CommandTemplate.for_settings(settings, patched.parent, None).render("127.0.0.1", 0, patched)[0]


def raw(value: str, origin: str = "--x", base_dir: Path = Path("/base")) -> RawSetting:
    return RawSetting(value, base_dir, origin)


def test_defaults_when_nothing_is_set() -> None:
    settings = parse_settings({})
    assert settings == Settings(origins={}, errors={})
    assert settings.start_timeout == DEFAULT_START_TIMEOUT and settings.early_start and not settings.configured


def test_values_are_parsed_once_into_types() -> None:
    settings = parse_settings(
        {
            "service-port": raw("8080", "--service-port"),
            "service-start-timeout": raw("2.5"),
            "service-log-level": raw(" DEBUG "),
            "service-command": raw("./build/svc --flag {config}"),
            "service-config": raw("conf/static.yaml"),
            "service-early-start": raw("off"),
        },
        worker_id="gw3",
    )
    assert settings.port == 8083  # the xdist worker's offset
    assert settings.start_timeout == 2.5
    assert settings.log_level == "debug"
    assert settings.command == ("/base/build/svc", "--flag", "{config}")
    assert settings.config_path == Path("/base/conf/static.yaml")
    assert settings.early_start is False
    assert settings.configured
    assert settings.origin("service-port") == "--service-port"


def test_a_bad_value_is_raised_where_it_is_needed() -> None:
    settings = parse_settings({"service-port": raw("http", "service_port in /x/pytest.ini")})
    assert settings.port is None
    settings.require("service-log-level")  # another option: fine
    with pytest.raises(ServiceConfigError, match=r"service_port in /x/pytest.ini is 'http'; it should be a port"):
        settings.require("service-port")


def test_a_bad_early_start_value_is_a_usage_error() -> None:
    with pytest.raises(ValueError, match="it should be yes or no"):
        parse_settings({"service-early-start": raw("maybe")})


def test_options_that_configure_nothing() -> None:
    assert not parse_settings({"websocket-timeout": raw("3"), "service-url": raw("http://h:1/")}).configured


def test_logs_file_gets_the_workers_suffix(tmp_path: Path) -> None:
    assert logs_file(parse_settings({}), tmp_path) == tmp_path / "service.log"
    settings = parse_settings({"service-logs-file": raw("logs/s.log")}, worker_id="gw1")
    assert logs_file(settings, tmp_path) == Path("/base/logs/s.gw1.log")


def test_service_command(tmp_path: Path) -> None:
    patched = tmp_path / "static_config.yaml"
    assert service_command(parse_settings({}), patched) == sample_command(str(patched))
    with_placeholder = parse_settings({"service-command": raw("svc -c {config}")})
    assert service_command(with_placeholder, patched) == ["svc", "-c", str(patched)]
    without = parse_settings({"service-command": raw("svc")})
    assert service_command(without, patched) == ["svc", "--config", str(patched)]


def test_build_recipe_is_the_default_pipeline(tmp_path: Path, sample_config: Path) -> None:
    settings = parse_settings({"service-config": raw(str(sample_config), "--service-config")})
    recipe = build_recipe(settings, tmpdir=tmp_path, port=45678)
    assert listener_address(recipe.default_config) == ("127.0.0.1", 45678)
    assert recipe.own_port == 45678  # the plugin's choice: it may change it
    assert recipe.default_config_path.parent == tmp_path and recipe.default_config_path.is_file()
    assert recipe.command[-2:] == ("--config", str(recipe.default_config_path))
    assert recipe.log_path == tmp_path / "service.log"
    assert str(recipe.default_base_url) == "http://127.0.0.1:45678/"
    # The patched config's paths are absolute against the config's directory.
    components = recipe.default_config["components_manager"]["components"]
    fallbacks = [c["fallback-path"] for c in components.values() if isinstance(c, dict) and "fallback-path" in c]
    assert fallbacks and all(Path(path) == sample_config.parent / "dynamic_config_fallback.json" for path in fallbacks)


def test_build_recipe_with_a_fixed_port(tmp_path: Path, sample_config: Path) -> None:
    settings = parse_settings(
        {"service-config": raw(str(sample_config)), "service-port": raw("40000", "--service-port")}, worker_id="gw2"
    )
    recipe = build_recipe(settings, tmpdir=tmp_path, port=12345)
    assert listener_address(recipe.default_config)[1] == 40002
    assert recipe.own_port is None and recipe.port_origin == "--service-port"


def test_build_recipe_applies_extra_hooks_last(tmp_path: Path, sample_config: Path) -> None:
    def move_port(config: dict, config_vars: dict) -> None:  # type: ignore[type-arg]
        config["components_manager"]["components"]["server"]["listener"]["port"] = 41000

    settings = parse_settings({"service-config": raw(str(sample_config))})
    recipe = build_recipe(settings, tmpdir=tmp_path, extra_hooks=[("move_port", move_port)], port=45679)
    assert listener_address(recipe.default_config)[1] == 41000
    assert recipe.own_port is None  # a hook fixed the port: not the plugin's to change


def test_build_recipe_reports_a_missing_config(tmp_path: Path) -> None:
    settings = parse_settings({"service-config": raw(str(tmp_path / "nope.yaml"), "--service-config")})
    with pytest.raises(ServiceConfigError, match=r"nope\.yaml"):
        build_recipe(settings, tmpdir=tmp_path)
