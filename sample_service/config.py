"""Load and validate the static config (userver layout) into a :class:`ServiceConfig`.

The static config is a YAML file shaped like a userver service's::

    components_manager:
      components:
        server:
          listener: {port: 8080, host: 127.0.0.1}
          shutdown-grace-period: 2s
        logging:
          loggers: {default: {file_path: '@stderr', level: debug}}
        dynamic-config-fallbacks: {fallback-path: dynamic_config_fallback.json}
        handler-ping: {path: /ping}
        websocket-handler: {path: /chat, max-remote-payload: 100000, fragment-size: 100000}
        websocket-broadcast-handler: {path: /broadcast, max-remote-payload: 65536, max-queue-size: 100}
        tests-control: {path: /tests/control, load-enabled: true}

The last two are optional: without them there is no ``/broadcast`` and no tests-control.

A string value ``$name`` is replaced by the config var ``name`` (from the ``--config-vars``
file, else from the file named by a top-level ``config_vars:`` key); when the var is not
defined, ``<key>#env`` (an environment variable), then ``<key>#fallback`` give the value, and
otherwise the key is missing, as in userver (:mod:`sample_service.config_values`). Keys ending in
``-path``/``_path`` are file paths, relative to the directory of the file that holds them.
Keys this module does not read are tolerated.

Every problem raises :class:`ConfigError`, which names the file, the key path and the
problem in one line. Nothing here starts the service; it only reads files.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial  # sample-handlers
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config_values import LOG_LEVELS, ConfigError
from .config_values import Loader as _Loader
from .config_values import Section as _Section
from .config_values import bool_value as _bool
from .config_values import describe as _describe
from .config_values import duration as _duration
from .config_values import http_url as _http_url
from .config_values import log_level as _log_level
from .config_values import non_empty_str as _non_empty_str
from .config_values import port as _port
from .config_values import positive_int as _positive_int
from .config_values import secret as _secret
from .config_values import url_path as _url_path

if TYPE_CHECKING:
    from .handler_config import HandlerConfig  # sample-handlers: the optional handler components

__all__ = ["DEFAULT_CONFIG_PATH", "LOG_LEVELS", "ConfigError", "ServiceConfig", "load_config"]

#: The config ``python -m sample_service`` uses when no ``--config`` is given.
DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent / "static_config.yaml"

# userver's defaults for the websocket handler's static options.
DEFAULT_MAX_REMOTE_PAYLOAD = 65536
DEFAULT_FRAGMENT_SIZE = 65536
DEFAULT_SHUTDOWN_GRACE_PERIOD = 2.0
DEFAULT_BROADCAST_MAX_QUEUE = 100
DEFAULT_TESTS_CONTROL_PATH = "/tests/control"
DEFAULT_TESTPOINT_TIMEOUT = 1.0  # userver's default for tests-control.testpoint-timeout
DEFAULT_HANDSHAKE_TIMEOUT = 10.0  # sample-infra: server.listener.handshake-timeout
DEFAULT_IDLE_TIMEOUT = 300.0  # sample-infra: websocket-*.idle-timeout


@dataclass(frozen=True)
class ServiceConfig:
    """The validated static config: every value the service reads, with defaults applied."""

    config_path: Path
    port: int
    host: str = "127.0.0.1"
    log_file_path: str = "@stderr"  # '@stderr', '@stdout', '@null' or an absolute file path
    log_level: str = "info"  # one of LOG_LEVELS
    shutdown_grace_period: float = DEFAULT_SHUTDOWN_GRACE_PERIOD  # seconds
    ping_path: str | None = "/ping"
    chat_path: str = "/chat"
    max_remote_payload: int = DEFAULT_MAX_REMOTE_PAYLOAD
    fragment_size: int = DEFAULT_FRAGMENT_SIZE
    dynamic_config_path: Path | None = None
    dynamic_config: dict[str, Any] = field(default_factory=dict)
    broadcast_path: str | None = None  # None: no /broadcast handler
    broadcast_max_remote_payload: int = DEFAULT_MAX_REMOTE_PAYLOAD
    broadcast_max_queue: int = DEFAULT_BROADCAST_MAX_QUEUE  # messages waiting for one client
    tests_control_path: str | None = None  # None: no tests-control component
    testpoint_url: str | None = None  # tests-control.testpoint-url; None: testpoints are off
    testpoint_timeout: float = DEFAULT_TESTPOINT_TIMEOUT  # seconds, tests-control.testpoint-timeout
    skip_unregistered_testpoints: bool = False  # tests-control.skip-unregistered-testpoints
    tests_control_secret: str | None = field(default=None, repr=False)  # tests-control.secret
    # sample-handlers: the optional handler components the config names, by component name.
    handlers: dict[str, HandlerConfig] = field(default_factory=dict)
    # sample-infra: connection limits and the TLS listener (parsed in sample-infra's block of load_config).
    handshake_timeout: float = DEFAULT_HANDSHAKE_TIMEOUT  # server.listener.handshake-timeout; 0: none
    idle_timeouts: dict[str, float] = field(default_factory=dict)  # WebSocket path -> idle-timeout; 0: none
    tls_cert: Path | None = None  # server.listener.tls.cert
    tls_private_key: Path | None = None  # server.listener.tls.private-key


def _read_text(where: Path, key: str, path: Path, *, what: str = "") -> str:
    """Read a UTF-8 file; errors name ``where`` (the file holding ``key``) and ``path``."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(where, key, f"cannot read {what}{path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(where, key, f"cannot read {what}{path}: not UTF-8 text") from None


def _read_yaml(path: Path, key: str, *, owner: Path | None = None) -> Any:
    """Parse a YAML file; errors name ``owner`` (the file holding ``key``) or the file itself."""
    import yaml  # imported here: ``--help`` and the plugin never pay for it

    text = _read_text(owner or path, key, path)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(path, f"(YAML syntax{at})", f"invalid YAML: {problem}") from None


def _load_config_vars(loader: _Loader, path: Path, key: str, owner: Path | None) -> None:
    data = _read_yaml(path, key, owner=owner)
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(
            path, "(top level)", f"config vars must be a mapping of names to values, got {_describe(data)}"
        )
    loader.config_vars = data
    loader.config_vars_path = path


def _load_dynamic_config(config_path: Path, key: str, path: Path) -> dict[str, Any]:
    text = _read_text(config_path, key, path, what="dynamic config fallback ")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(config_path, key, f"invalid JSON in {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(config_path, key, f"{path} must hold a JSON object, got {type(data).__name__}")
    return data


def load_config(
    config_path: str | os.PathLike[str], config_vars_path: str | os.PathLike[str] | None = None
) -> ServiceConfig:
    """Read, resolve and validate the static config.

    Args:
        config_path: The static config YAML file.
        config_vars_path: A YAML mapping of config vars; overrides the config's own
            top-level ``config_vars:`` path. Relative to the current directory.

    Returns:
        The validated config, with defaults applied, paths made absolute and the dynamic
        config fallback (if the config names one) loaded.

    Raises:
        ConfigError: A file is unreadable or malformed, a required key is missing, a value
            has the wrong type, or a ``$var`` is undefined without a fallback.
    """
    path = Path(config_path).absolute()
    loader = _Loader(path)
    data = _read_yaml(path, "(--config)")
    if not isinstance(data, Mapping):
        raise ConfigError(
            path, "(top level)", f"expected a mapping with a 'components_manager' section, got {_describe(data)}"
        )
    top = _Section(loader, data, "")

    if config_vars_path is not None:
        _load_config_vars(loader, Path(config_vars_path).absolute(), "(--config-vars)", None)
    else:
        vars_path = top.path_value("config_vars", None)
        if vars_path is not None:
            _load_config_vars(loader, vars_path, "config_vars", path)

    manager = top.section("components_manager", required=True)
    assert manager is not None
    components = manager.section("components", required=True)
    assert components is not None

    server = components.section("server", required=True)
    assert server is not None
    listener = server.section("listener", required=True)
    assert listener is not None
    port = listener.value("port", _port)
    host = listener.value("host", _non_empty_str, "127.0.0.1")
    grace = server.value("shutdown-grace-period", _duration, DEFAULT_SHUTDOWN_GRACE_PERIOD)

    log_file_path, log_level = "@stderr", "info"
    logging_section = components.section("logging", required=False)
    if logging_section is not None:
        loggers = logging_section.section("loggers", required=False)
        default_logger = loggers.section("default", required=False) if loggers is not None else None
        if default_logger is not None:
            log_level = default_logger.value("level", _log_level, "info")
            raw_file_path = default_logger.value("file_path", _non_empty_str, "@stderr")
            if raw_file_path.startswith("@"):
                if raw_file_path not in ("@stderr", "@stdout", "@null"):
                    raise ConfigError(
                        path,
                        f"{default_logger.path}.file_path",
                        f"expected '@stderr', '@stdout', '@null' or a file path, got {raw_file_path!r}",
                    )
                log_file_path = raw_file_path
            else:
                log_file_path = str(default_logger.path_value("file_path"))

    dynamic_config_path: Path | None = None
    dynamic_config: dict[str, Any] = {}
    fallbacks = components.section("dynamic-config-fallbacks", required=False)
    if fallbacks is not None:
        dynamic_config_path = fallbacks.path_value("fallback-path")
        dynamic_config = _load_dynamic_config(path, f"{fallbacks.path}.fallback-path", dynamic_config_path)

    ping = components.section("handler-ping", required=False)
    ping_path = ping.value("path", _url_path) if ping is not None else None

    chat = components.section("websocket-handler", required=True)
    assert chat is not None
    chat_path = chat.value("path", _url_path)
    max_remote_payload = chat.value("max-remote-payload", _positive_int, DEFAULT_MAX_REMOTE_PAYLOAD)
    fragment_size = chat.value("fragment-size", _positive_int, DEFAULT_FRAGMENT_SIZE)
    if ping_path is not None and ping_path == chat_path:
        raise ConfigError(path, f"{chat.path}.path", f"{chat_path!r} is also the path of handler-ping; pick another")
    taken = {ping_path: "handler-ping", chat_path: "websocket-handler"}

    broadcast_path = None
    broadcast_max_remote_payload = DEFAULT_MAX_REMOTE_PAYLOAD
    broadcast_max_queue = DEFAULT_BROADCAST_MAX_QUEUE
    broadcast = components.section("websocket-broadcast-handler", required=False)
    if broadcast is not None:
        broadcast_path = broadcast.value("path", _url_path)
        if broadcast_path in taken:
            raise ConfigError(
                path,
                f"{broadcast.path}.path",
                f"{broadcast_path!r} is also the path of {taken[broadcast_path]}; pick another",
            )
        taken[broadcast_path] = "websocket-broadcast-handler"
        broadcast_max_remote_payload = broadcast.value("max-remote-payload", _positive_int, DEFAULT_MAX_REMOTE_PAYLOAD)
        broadcast_max_queue = broadcast.value("max-queue-size", _positive_int, DEFAULT_BROADCAST_MAX_QUEUE)

    # --- sample-handlers: the optional handler components (see sample_service/handler_config.py) ---
    from .handler_config import FEED, HANDLER_COMPONENTS, PRIVATE, HandlerConfig, check_url

    handlers: dict[str, HandlerConfig] = {}
    for name in HANDLER_COMPONENTS:
        section = components.section(name, required=False)
        if section is None:
            continue
        handler_path = section.value("path", _url_path)
        if handler_path in taken:
            raise ConfigError(
                path,
                f"{section.path}.path",
                f"{handler_path!r} is also the path of {taken[handler_path]}; pick another",
            )
        taken[handler_path] = name
        # An undefined $var leaves a URL unset: /private then answers 503 and /feed closes with 1011.
        private, feed = name == PRIVATE, name == FEED
        handlers[name] = HandlerConfig(
            component=name,
            path=handler_path,
            max_remote_payload=section.value("max-remote-payload", _positive_int, DEFAULT_MAX_REMOTE_PAYLOAD),
            fragment_size=section.value("fragment-size", _positive_int, DEFAULT_FRAGMENT_SIZE),
            auth_url=section.value("auth-url", partial(check_url, "auth-url"), None) if private else None,
            auth_timeout=section.value("auth-timeout", _duration, HandlerConfig.auth_timeout)
            if private
            else HandlerConfig.auth_timeout,
            upstream_url=section.value("upstream-url", partial(check_url, "upstream-url"), None) if feed else None,
            connect_timeout=section.value("connect-timeout", _duration, HandlerConfig.connect_timeout)
            if feed
            else HandlerConfig.connect_timeout,
        )
    # --- end of sample-handlers' block ---

    tests_control_path = testpoint_url = tests_control_secret = None
    testpoint_timeout, skip_unregistered_testpoints = DEFAULT_TESTPOINT_TIMEOUT, False
    tests_control = components.section("tests-control", required=False)
    if tests_control is not None and tests_control.value("load-enabled", _bool, True):
        tests_control_path = tests_control.value("path", _url_path, DEFAULT_TESTS_CONTROL_PATH)
        if tests_control_path in taken:
            raise ConfigError(
                path,
                f"{tests_control.path}.path",
                f"{tests_control_path!r} is also the path of {taken[tests_control_path]}; pick another",
            )
        testpoint_url = tests_control.value("testpoint-url", _http_url, None)
        testpoint_timeout = tests_control.value("testpoint-timeout", _duration, DEFAULT_TESTPOINT_TIMEOUT)
        skip_unregistered_testpoints = tests_control.value("skip-unregistered-testpoints", _bool, False)
        tests_control_secret = tests_control.value("secret", _secret, None, quote=False)

    # --- sample-infra: connection limits and the TLS listener ---
    handshake_timeout = listener.value("handshake-timeout", _duration, DEFAULT_HANDSHAKE_TIMEOUT)
    idle_timeouts: dict[str, float] = {}
    for handler_path, component in taken.items():
        handler_section = components.section(component, required=False)
        if handler_path is not None and handler_section is not None and component.startswith("websocket-"):
            idle_timeouts[handler_path] = handler_section.value("idle-timeout", _duration, DEFAULT_IDLE_TIMEOUT)
    tls_cert = tls_private_key = None
    tls = listener.section("tls", required=False)
    if tls is not None:
        tls_cert = tls.path_value("cert", None)
        tls_private_key = tls.path_value("private-key", None)
        if (tls_cert is None) != (tls_private_key is None):
            missing = "private-key" if tls_private_key is None else "cert"
            raise ConfigError(path, f"{tls.path}.{missing}", "tls needs both 'cert' and 'private-key' (PEM file paths)")
    # --- end of sample-infra's block ---

    if dynamic_config_path is not None and fallbacks is not None:
        from .dynamic_config import DEFAULTS, check_values

        try:
            check_values({name: dynamic_config[name] for name in DEFAULTS if name in dynamic_config}, DEFAULTS)
        except ValueError as exc:
            raise ConfigError(path, f"{fallbacks.path}.fallback-path", f"in {dynamic_config_path}: {exc}") from None

    return ServiceConfig(
        config_path=path,
        port=port,
        host=host,
        log_file_path=log_file_path,
        log_level=log_level,
        shutdown_grace_period=grace,
        ping_path=ping_path,
        chat_path=chat_path,
        max_remote_payload=max_remote_payload,
        fragment_size=fragment_size,
        dynamic_config_path=dynamic_config_path,
        dynamic_config=dynamic_config,
        broadcast_path=broadcast_path,
        broadcast_max_remote_payload=broadcast_max_remote_payload,
        broadcast_max_queue=broadcast_max_queue,
        tests_control_path=tests_control_path,
        testpoint_url=testpoint_url,
        testpoint_timeout=testpoint_timeout,
        skip_unregistered_testpoints=skip_unregistered_testpoints,
        tests_control_secret=tests_control_secret,
        handlers=handlers,  # sample-handlers
        handshake_timeout=handshake_timeout,  # sample-infra
        idle_timeouts=idle_timeouts,  # sample-infra
        tls_cert=tls_cert,  # sample-infra
        tls_private_key=tls_private_key,  # sample-infra
    )
