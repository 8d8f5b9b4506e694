"""The optional handler components in the static config: defaults, URLs, unset vars, path clashes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sample_service.config import ConfigError, load_config
from tests.sample_service.sample_helpers import config_dict, write_config


def load(tmp_path, components, config_vars=None):
    config = config_dict(8080, str(tmp_path / "service.log"))
    config["components_manager"]["components"].update(components)
    if config_vars is not None:
        (tmp_path / "vars.yaml").write_text("".join(f"{k}: {v}\n" for k, v in config_vars.items()))
        config["config_vars"] = "vars.yaml"
    return load_config(write_config(tmp_path, config))


def test_defaults_and_values(tmp_path):
    """Each named component is read with userver's size defaults and 2s timeouts; unnamed ones are absent."""
    config = load(
        tmp_path,
        {
            "websocket-handler-alt": {"path": "/alt", "fragment-size": 10},
            "websocket-private-chat-handler": {
                "path": "/p",
                "auth-url": "https://auth.example/x",
                "auth-timeout": "500ms",
            },
            "websocket-feed-handler": {"path": "/f", "upstream-url": "wss://up.example/feed"},
        },
    )
    assert set(config.handlers) == {"websocket-handler-alt", "websocket-private-chat-handler", "websocket-feed-handler"}
    alt = config.handlers["websocket-handler-alt"]
    assert (alt.path, alt.max_remote_payload, alt.fragment_size) == ("/alt", 65536, 10)
    private = config.handlers["websocket-private-chat-handler"]
    assert (private.auth_url, private.auth_timeout) == ("https://auth.example/x", 0.5)
    feed = config.handlers["websocket-feed-handler"]
    assert (feed.upstream_url, feed.connect_timeout) == ("wss://up.example/feed", 2.0)


def test_undefined_var_leaves_the_url_unset_and_a_defined_one_sets_it(tmp_path):
    """auth-url: $auth_url with no such var is unset (503 later); the var, when defined, is the URL."""
    components = {
        "websocket-private-chat-handler": {"path": "/p", "auth-url": "$auth_url"},
        "websocket-feed-handler": {"path": "/f", "upstream-url": "$feed_upstream_url"},
    }
    unset = load(tmp_path, components)
    assert unset.handlers["websocket-private-chat-handler"].auth_url is None
    assert unset.handlers["websocket-feed-handler"].upstream_url is None
    defined = load(
        tmp_path, components, {"auth_url": "http://127.0.0.1:1/auth", "feed_upstream_url": "http://127.0.0.1:1/f"}
    )
    assert defined.handlers["websocket-private-chat-handler"].auth_url == "http://127.0.0.1:1/auth"
    assert defined.handlers["websocket-feed-handler"].upstream_url == "http://127.0.0.1:1/f"


@pytest.mark.parametrize(
    ("component", "key", "value", "expected"),
    [
        ("websocket-private-chat-handler", "auth-url", "ws://127.0.0.1/auth", "http://, https://"),
        ("websocket-feed-handler", "upstream-url", "ftp://127.0.0.1/f", "ws://, wss://, http://, https://"),
        ("websocket-feed-handler", "upstream-url", "ws:///nohost", "ws://, wss://, http://, https://"),
        ("websocket-private-chat-handler", "auth-timeout", "soon", "a duration"),
    ],
)
def test_bad_values_name_the_key(tmp_path, component, key, value, expected):
    """A URL of the wrong scheme (or without a host), or a bad timeout, is a ConfigError naming the key."""
    with pytest.raises(ConfigError) as error:
        load(tmp_path, {component: {"path": "/x", key: value}})
    assert error.value.key == f"components_manager.components.{component}.{key}"
    assert expected in error.value.problem


def test_path_clash_is_an_error(tmp_path):
    """An optional component on a path another handler has is a ConfigError naming both."""
    with pytest.raises(ConfigError) as error:
        load(tmp_path, {"websocket-duplex-handler": {"path": "/chat"}})
    assert error.value.key == "components_manager.components.websocket-duplex-handler.path"
    assert "'/chat' is also the path of websocket-handler" in error.value.problem


def test_bad_config_exits_2_with_one_line(tmp_path):
    """The service itself refuses such a config: status 2, one line on stderr naming the key."""
    config = config_dict(8080, str(tmp_path / "service.log"))
    config["components_manager"]["components"]["websocket-feed-handler"] = {"path": "/f", "upstream-url": "nope"}
    path = write_config(tmp_path, config)
    result = subprocess.run(
        [sys.executable, "-m", "sample_service", "-c", str(path)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "websocket-feed-handler.upstream-url" in result.stderr
