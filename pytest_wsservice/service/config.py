"""The service's static config: load it, resolve its ``$vars``, patch it with hooks, write it.

Everything here is pure: no process is started and no socket is opened. The only I/O is
reading the static config and the config vars, and writing the patched YAML.

The flow, one way::

    load_static_config(path)                      the YAML as written by the user
    load_config_vars(...)                         the ``$name`` values, a dict
    build_service_config(config, vars, hooks)     hooks patch deep copies in order,
                                                  then ``$vars`` are resolved
                                                  (:mod:`.config_vars`) and
                                                  ``config_vars`` is dropped
    write_service_config(config, directory)       the YAML the service is started with

A *config hook* is any callable ``hook(config: dict, config_vars: dict) -> None`` that
changes the two dicts in place. The plugin's own hooks are the small classes
:class:`PatchListener`, :class:`PatchDefaultLogger` and :class:`MakePathsAbsolute`.
Reading and writing YAML (bounded aliases, YAML's own types, private files) is
:mod:`.yamlio`'s. PyYAML is imported on first use, so importing this module costs next to nothing.
"""

from __future__ import annotations

import copy
import inspect
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ServiceConfigError
from .config_vars import ENV_SUFFIX, FALLBACK_SUFFIX, resolve_config_vars
from .yamlio import dump_yaml, load_yaml, write_private, yaml_ready

__all__ = [
    "LOG_LEVELS",
    "ConfigHook",
    "MakePathsAbsolute",
    "PatchDefaultLogger",
    "PatchListener",
    "apply_config_hooks",
    "build_service_config",
    "check_layout",
    "config_vars_path",
    "describe_hook",
    "listener_address",
    "load_config_vars",
    "load_static_config",
    "ping_path",
    "resolve_config_vars",
    "write_service_config",
]

#: ``hook(config, config_vars)``: changes the static config and the config vars in place.
ConfigHook = Callable[[dict[str, Any], dict[str, Any]], None]

#: The log levels of the userver layout; the config accepts them in any case.
LOG_LEVELS = ("trace", "debug", "info", "warning", "error", "critical")

COMPONENTS = ("components_manager", "components")
LISTENER = (*COMPONENTS, "server", "listener")
DEFAULT_LOGGER = (*COMPONENTS, "logging", "loggers", "default")
PING_HANDLER = (*COMPONENTS, "handler-ping")

_PATH_SUFFIXES = ("-path", "_path")


# --------------------------------------------------------------------------- loading


def load_static_config(path: str | os.PathLike[str], *, origin: str = "") -> dict[str, Any]:
    """Load the static config, a YAML mapping in the userver layout.

    Args:
        path: The YAML file.
        origin: Where the path came from, for error messages, for example
            ``"from --service-config"``.

    Returns:
        The parsed YAML, exactly as written (``$vars`` unresolved).

    Raises:
        ServiceConfigError: The file is missing, unreadable, not YAML, an alias bomb, not
            a mapping, or not in userver's layout (:func:`check_layout`).
    """
    path = Path(path)
    label = _label("static config", path, origin)
    data = load_yaml(path, label)
    if data is None:
        raise ServiceConfigError(f"{label} is empty; it should be a mapping with a components_manager key.")
    if not isinstance(data, dict):
        raise ServiceConfigError(
            f"{label} holds a YAML {_yaml_type(data)} at the top level; it should be a mapping "
            "with a components_manager key."
        )
    check_layout(data, label)
    return data


def check_layout(config: Mapping[str, Any], label: str) -> None:
    """Refuse what is not a static config in userver's layout: the top level must have
    ``components_manager:`` with a ``components:`` mapping under it (values are not quoted:
    a file passed by mistake may hold secrets).

    Raises:
        ServiceConfigError: The layout is wrong; the message names the file and the key.
    """
    manager = config.get("components_manager")
    hint = (
        " A static config in userver's layout starts with components_manager:, and its components: map each "
        "component's name to its settings; check that this is the right file."
    )
    if "components_manager" not in config:
        raise ServiceConfigError(f"{label} has no components_manager key at the top level.{hint}")
    if not isinstance(manager, dict):
        raise ServiceConfigError(
            f"{label}: components_manager is a YAML {_yaml_type(manager)}; it should be a mapping.{hint}"
        )
    components = manager.get("components")
    if not isinstance(components, dict):
        what = "has no components" if components is None else f"has components as a YAML {_yaml_type(components)}"
        raise ServiceConfigError(f"{label}: components_manager {what}; it should be a mapping.{hint}")


def config_vars_path(config: Mapping[str, Any], config_path: str | os.PathLike[str]) -> Path | None:
    """Return the file named by the config's top-level ``config_vars:`` key, or ``None``.

    A relative path is relative to the directory of the static config.

    Raises:
        ServiceConfigError: ``config_vars`` is set but is not a non-empty string.
    """
    value = config.get("config_vars")
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ServiceConfigError(
            f"static config {config_path}: config_vars should be the path of a YAML file, got {value!r}."
        )
    return Path(config_path).parent / value


def load_config_vars(path: str | os.PathLike[str], *, origin: str = "") -> dict[str, Any]:
    """Load a config vars file: a YAML mapping from var name to value.

    An empty file holds no vars.

    Args:
        path: The YAML file.
        origin: Where the path came from, for error messages, for example
            ``"named by config_vars in /srv/static_config.yaml"``.

    Raises:
        ServiceConfigError: The file is missing, unreadable, not YAML, or not a mapping.
    """
    path = Path(path)
    label = _label("config vars file", path, origin)
    data = load_yaml(path, label)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ServiceConfigError(
            f"{label} holds a YAML {_yaml_type(data)} at the top level; it should map var names to values."
        )
    return data


def _label(what: str, path: Path, origin: str) -> str:
    return f"{what} {path} ({origin})" if origin else f"{what} {path}"


def _yaml_type(value: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def _join(key_path: str, key: Any) -> str:
    return f"{key_path}.{key}" if key_path else str(key)


# --------------------------------------------------------------------------- hooks


def describe_hook(hook: Any) -> str:
    """Name a hook for messages: ``module.function`` for functions, ``repr`` otherwise."""
    if inspect.isfunction(hook) or inspect.ismethod(hook):
        return f"{hook.__module__}.{hook.__qualname__}"
    try:
        return repr(hook)
    except KeyboardInterrupt:
        raise
    except BaseException:  # user code: a broken __repr__ must not take the session down
        return f"<{type(hook).__module__}.{type(hook).__qualname__} object>"


def apply_config_hooks(
    config: Mapping[str, Any],
    config_vars: Mapping[str, Any],
    hooks: Iterable[tuple[str, ConfigHook]],
    *,
    source: str = "static config",
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Apply hooks in order to deep copies of the config and the vars; return the copies.

    Args:
        config: The static config; left untouched.
        config_vars: The vars; left untouched.
        hooks: ``(name, hook)`` pairs; the name appears in error messages.
        source: Names the config in error messages.

    Raises:
        ServiceConfigError: A hook raised or returned something other than ``None``; the
            message names the hook.
    """
    patched = copy.deepcopy(dict(config))
    patched_vars = copy.deepcopy(dict(config_vars))
    for name, hook in hooks:
        try:
            result: object = hook(patched, patched_vars)
        except KeyboardInterrupt:
            raise
        except BaseException as error:  # user code: SystemExit and the like are hook errors too
            raise ServiceConfigError(
                f"config hook {name} failed on {source}: {type(error).__name__}: {_bounded(error)}"
            ) from error
        if result is not None and result is not patched:
            raise ServiceConfigError(
                f"config hook {name} returned a {type(result).__name__}; hooks change the config dict in "
                "place and return None."
            )
    return patched, patched_vars


def build_service_config(
    config: Mapping[str, Any],
    config_vars: Mapping[str, Any],
    hooks: Iterable[tuple[str, ConfigHook]] = (),
    *,
    source: str = "static config",
) -> dict[str, Any]:
    """Return the config the service is started with.

    Hooks run first, on deep copies of the config *and* the vars, so a hook may set a var
    or write a ``$name`` reference. Then ``$vars``, ``key#env`` and ``key#fallback`` are
    resolved (:mod:`~pytest_wsservice.service.config_vars`: a ``$name`` that nothing
    resolves is left as written) and the top-level ``config_vars`` key is removed.
    YAML's own types (dates, ``!!binary``) are kept; ``os.PathLike`` values become strings.

    Raises:
        ServiceConfigError: A hook failed (any exception but ``KeyboardInterrupt``,
            ``SystemExit`` included), or set a value that YAML cannot store.
    """
    patched, patched_vars = apply_config_hooks(config, config_vars, hooks, source=source)
    resolved = resolve_config_vars(patched, patched_vars)
    resolved.pop("config_vars", None)
    # What tests read must be what the service gets: plain YAML values, paths as strings.
    plain: dict[str, Any] = yaml_ready(resolved)
    return plain


def _section(config: dict[str, Any], keys: Sequence[str], hook: str) -> dict[str, Any]:
    """Return the mapping at ``keys``, creating missing levels."""
    node = config
    for depth, key in enumerate(keys):
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        elif not isinstance(child, dict):
            path = ".".join(keys[: depth + 1])
            raise ServiceConfigError(f"{path} is a YAML {_yaml_type(child)}; {hook} needs a mapping there")
        node = child
    return node


def _lookup(config: Mapping[str, Any], keys: Sequence[str]) -> Any:
    node: Any = config
    for key in keys:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


@dataclass(frozen=True)
class PatchListener:
    """Config hook: point ``components_manager.components.server.listener`` at host:port."""

    host: str
    port: int

    def __call__(self, config: dict[str, Any], config_vars: dict[str, Any]) -> None:
        listener = _section(config, LISTENER, "the listener hook")
        listener["host"] = self.host
        listener["port"] = self.port
        # The resolved values win over any $var the config had there.
        for key in ("host", "port"):
            listener.pop(f"{key}{FALLBACK_SUFFIX}", None)
            listener.pop(f"{key}{ENV_SUFFIX}", None)


@dataclass(frozen=True)
class PatchDefaultLogger:
    """Config hook: set ``file_path`` and, if given, ``level`` of the default logger.

    ``level`` ``None`` keeps the config's level.
    """

    file_path: str
    level: str | None = None

    def __call__(self, config: dict[str, Any], config_vars: dict[str, Any]) -> None:
        logger = _section(config, DEFAULT_LOGGER, "the default-logger hook")
        logger["file_path"] = self.file_path
        logger.pop(f"file_path{FALLBACK_SUFFIX}", None)
        if self.level is not None:
            logger["level"] = self.level
            logger.pop(f"level{FALLBACK_SUFFIX}", None)


@dataclass(frozen=True)
class MakePathsAbsolute:
    """Config hook: make every ``*-path``/``*_path`` value absolute, relative to ``base_dir``.

    Left alone: absolute paths, empty strings and ``@stderr``-style values. A ``$name``
    value is resolved later, so the hook makes the var (and the ``#fallback``) absolute
    instead.
    """

    base_dir: Path

    def __call__(self, config: dict[str, Any], config_vars: dict[str, Any]) -> None:
        self._walk(config, config_vars)

    def _walk(self, node: Any, config_vars: dict[str, Any]) -> None:
        if isinstance(node, list):
            for item in node:
                self._walk(item, config_vars)
            return
        if not isinstance(node, dict):
            return
        for key, value in node.items():
            if isinstance(value, (dict, list)):
                self._walk(value, config_vars)
                continue
            name = key[: -len(FALLBACK_SUFFIX)] if isinstance(key, str) and key.endswith(FALLBACK_SUFFIX) else key
            if not (isinstance(name, str) and name.endswith(_PATH_SUFFIXES) and isinstance(value, str)):
                continue
            if value.startswith("$"):
                var = value[1:]
                if isinstance(config_vars.get(var), str):
                    config_vars[var] = self._absolute(config_vars[var])
            else:
                node[key] = self._absolute(value)

    def _absolute(self, value: str) -> str:
        if not value or value.startswith(("@", "$")) or os.path.isabs(value):
            return value
        return str(Path(self.base_dir, value).absolute())


# --------------------------------------------------------------------------- reading


def listener_address(config: Mapping[str, Any]) -> tuple[str, int]:
    """Return ``(host, port)`` to reach the listener of a patched config.

    A wildcard host (``0.0.0.0``, ``::``, or none) is reached through loopback.

    Raises:
        ServiceConfigError: The listener has no integer port.
    """
    listener = _lookup(config, LISTENER)
    port = listener.get("port") if isinstance(listener, Mapping) else None
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        # Only a number is quoted: a string may be the value of a $var, perhaps a secret.
        shown = f"= {port!r}" if port is None or isinstance(port, (int, float)) else f"is a YAML {_yaml_type(port)}"
        raise ServiceConfigError(
            f"the patched config's {'.'.join(LISTENER)}.port {shown}; it should be a port number "
            "(did a config hook remove it or set it to a $var?)."
        )
    host = listener.get("host") or "127.0.0.1"
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "[::]": "::1"}.get(str(host), str(host))
    return host, port


def ping_path(config: Mapping[str, Any]) -> str | None:
    """Return the path of the config's ``handler-ping``, or ``None`` without one."""
    path = _lookup(config, (*PING_HANDLER, "path"))
    if not isinstance(path, str) or not path:
        return None
    return path if path.startswith("/") else f"/{path}"


def write_service_config(
    config: Mapping[str, Any], directory: str | os.PathLike[str], name: str = "static_config.yaml"
) -> Path:
    """Write a patched config as YAML into ``directory`` and return the file's path.

    ``os.PathLike`` values (a hook may set a ``pathlib.Path``) are written as strings;
    YAML's own types (dates, ``!!binary``) keep their form. The file is readable by its
    owner only (0600): it may hold secrets (tests-control's, values of ``$vars``).

    Raises:
        ServiceConfigError: A value cannot be written as YAML (the message names its key),
            or the file cannot be written (full or read-only disk; the message names the path).
    """
    path = Path(directory, name)
    data_bytes = dump_yaml(yaml_ready(config), path)
    try:
        if path.read_bytes() == data_bytes:
            return path  # already written (by the plugin's early start): a service may be reading it
    except OSError:
        pass
    # Written aside and renamed over: a service reading the file sees the old or the new one whole.
    write_private(path, data_bytes)
    return path


def _bounded(error: BaseException, limit: int = 500) -> str:
    try:
        text = str(error)
    except Exception:
        text = "(its message cannot be shown)"
    return text if len(text) <= limit else f"{text[:limit]} [... {len(text) - limit} characters cut ...]"
