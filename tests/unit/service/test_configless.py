"""The recipe's pieces for configless services and TLS (pytest_wsservice.service.configless)."""

from __future__ import annotations

import stat

from pytest_wsservice.service.config import listener_address, ping_path
from pytest_wsservice.service.configless import PatchListenerTls, listener_config, no_config_message, tls_files


def test_listener_config_holds_only_the_listener():
    config = listener_config("::1", 4242)
    assert config == {"components_manager": {"components": {"server": {"listener": {"host": "::1", "port": 4242}}}}}
    assert listener_address(config) == ("::1", 4242)
    assert ping_path(config) is None


def test_patch_listener_tls_sets_userver_keys_and_keeps_the_rest():
    config = {"components_manager": {"components": {"server": {"listener": {"port": 1, "tls": {"old": 1}}}}}}
    PatchListenerTls("/t/server.pem", "/t/server.key")(config, {})
    listener = config["components_manager"]["components"]["server"]["listener"]
    assert listener == {"port": 1, "tls": {"cert": "/t/server.pem", "private-key": "/t/server.key"}}


def test_patch_listener_tls_creates_missing_sections():
    config: dict = {"components_manager": {}}
    PatchListenerTls("c", "k")(config, {})
    assert config["components_manager"]["components"]["server"]["listener"]["tls"] == {"cert": "c", "private-key": "k"}


def test_tls_files_are_made_once_then_reused(tmp_path):
    first = tls_files(tmp_path / "tls")
    ca = first.ca_cert.read_bytes()
    second = tls_files(tmp_path / "tls")
    assert second == first
    assert second.ca_cert.read_bytes() == ca  # not made again: an early-started service keeps being trusted
    assert stat.S_IMODE(second.private_key.stat().st_mode) == 0o600


def test_no_config_message_names_the_option_and_the_fix():
    message = no_config_message("--service-command", "read")
    assert message.startswith("this run has no static config: --service-command starts a configless service")
    assert "Give --service-config PATH" in message
