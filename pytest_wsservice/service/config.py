"""The service's static config: load it, resolve its ``$vars``, patch it with hooks, write it.

Everything here is pure: no process is started and no socket is opened. The only I/O is
reading the static config and the config vars, and writing the patched YAML.

The flow, one way::

    load_static_config(path)                      the YAML as written by the user
    load_config_vars(...)                         the ``$name`` values, a dict
    build_service_config(config, vars, hooks)     hooks patch deep copies in order,
                                                  then ``$vars`` are resolved and
                                                  ``config_vars`` is dropped
    write_service_config(config, directory)       the YAML the service is started with

A *config hook* is any callable ``hook(config: dict, config_vars: dict) -> None`` that
changes the two dicts in place. The plugin's own hooks are the small classes
:class:`PatchListener`, :class:`PatchDefaultLogger` and :class:`MakePathsAbsolute`.
PyYAML is imported on first use, so importing this module costs next to nothing.
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

__all__ = [
    "LOG_LEVELS",
    "ConfigHook",
    "MakePathsAbsolute",
    "PatchDefaultLogger",
    "PatchListener",
    "apply_config_hooks",
    "build_service_config",
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

_FALLBACK_SUFFIX = "#fallback"
_PATH_SUFFIXES = ("-path", "_path")


# --------------------------------------------------------------------------- loading


def _load_yaml(path: Path, label: str) -> Any:
    import yaml  # imported here: PyYAML costs ~10 ms, and most pytest runs never need it

    try:
        with open(path, encoding="utf-8") as stream:
            return yaml.load(stream, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except FileNotFoundError:
        raise ServiceConfigError(f"{label} does not exist; check the path.") from None
    except IsADirectoryError:
        raise ServiceConfigError(f"{label} is a directory, not a YAML file.") from None
    except UnicodeDecodeError as error:
        raise ServiceConfigError(f"{label} is not UTF-8 text ({error.reason} at byte {error.start}).") from None
    except OSError as error:
        raise ServiceConfigError(f"{label} cannot be read: {error.strerror}.") from None
    except yaml.YAMLError as error:
        raise ServiceConfigError(f"{label} is not valid YAML: {_describe_yaml_error(error)}; fix the file.") from None


def _describe_yaml_error(error: Exception) -> str:
    # PyYAML's own str() spans several lines and repeats the file name; keep one line.
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    mark = getattr(error, "problem_mark", None)
    context = getattr(error, "context", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{problem}{where}" + (f" ({context})" if context else "")


def load_static_config(path: str | os.PathLike[str], *, origin: str = "") -> dict[str, Any]:
    """Load the static config, a YAML mapping in the userver layout.

    Args:
        path: The YAML file.
        origin: Where the path came from, for error messages, for example
            ``"from --service-config"``.

    Returns:
        The parsed YAML, exactly as written (``$vars`` unresolved).

    Raises:
        ServiceConfigError: The file is missing, unreadable, not YAML, or not a mapping.
    """
    path = Path(path)
    label = _label("static config", path, origin)
    data = _load_yaml(path, label)
    if data is None:
        raise ServiceConfigError(f"{label} is empty; it should be a mapping with a components_manager key.")
    if not isinstance(data, dict):
        raise ServiceConfigError(
            f"{label} holds a YAML {_yaml_type(data)} at the top level; it should be a mapping "
            "with a components_manager key."
        )
    return data


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
    data = _load_yaml(path, label)
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
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(
        type(value), type(value).__name__
    )


# --------------------------------------------------------------------------- $vars


def resolve_config_vars(config: Any, config_vars: Mapping[str, Any], *, source: str = "static config") -> Any:
    """Return a copy of ``config`` with every ``$name`` string replaced by its var.

    userver's rules: a string value that starts with ``$`` names a config var. If the var
    is not defined, the sibling key ``<key>#fallback`` gives the value. ``#fallback`` keys
    are dropped from the result, which therefore needs no vars file.

    Args:
        config: The static config (or any part of it).
        config_vars: The vars.
        source: Names the config in error messages, for example its path.

    Raises:
        ServiceConfigError: A var is undefined and has no fallback; the message names the
            key path.
    """

    def resolve(value: Any, key_path: str, siblings: Mapping[str, Any] | None, key: str | None) -> Any:
        if isinstance(value, str) and value.startswith("$"):
            name = value[1:]
            if name in config_vars:
                return copy.deepcopy(config_vars[name])
            fallback_key = f"{key}{_FALLBACK_SUFFIX}"
            if siblings is not None and fallback_key in siblings:
                return resolve(siblings[fallback_key], key_path, None, None)
            hint = f" and there is no {fallback_key!r} sibling key" if key is not None else ""
            raise ServiceConfigError(
                f"{source}: {key_path} is {value!r}, but config var {name!r} is not defined{hint}. "
                f"Define {name} in the config vars (--service-config-vars or config_vars:)"
                + (f" or add {fallback_key}: <value> next to {key}." if key is not None else ".")
            )
        if isinstance(value, dict):
            return {
                k: resolve(v, _join(key_path, k), value, str(k))
                for k, v in value.items()
                if not (isinstance(k, str) and k.endswith(_FALLBACK_SUFFIX))
            }
        if isinstance(value, list):
            return [resolve(item, f"{key_path}[{index}]", None, None) for index, item in enumerate(value)]
        return copy.deepcopy(value)

    return resolve(config, "", None, None)


def _join(key_path: str, key: Any) -> str:
    return f"{key_path}.{key}" if key_path else str(key)


# --------------------------------------------------------------------------- hooks


def describe_hook(hook: Any) -> str:
    """Name a hook for messages: ``module.function`` for functions, ``repr`` otherwise."""
    if inspect.isfunction(hook) or inspect.ismethod(hook):
        return f"{hook.__module__}.{hook.__qualname__}"
    return repr(hook)


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
        except Exception as error:
            raise ServiceConfigError(
                f"config hook {name} failed on {source}: {type(error).__name__}: {error}"
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
    or write a ``$name`` reference. Then ``$vars`` are resolved and the top-level
    ``config_vars`` key is removed: the result is self-contained. ``os.PathLike`` values
    become strings.

    Raises:
        ServiceConfigError: A hook failed, a var is undefined, or a hook set a value that
            YAML cannot store.
    """
    patched, patched_vars = apply_config_hooks(config, config_vars, hooks, source=source)
    resolved = resolve_config_vars(patched, patched_vars, source=source)
    resolved.pop("config_vars", None)
    # What tests read must be what the service gets: plain YAML values, paths as strings.
    plain: dict[str, Any] = _plain(resolved, "")
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
        listener.pop(f"host{_FALLBACK_SUFFIX}", None)
        listener.pop(f"port{_FALLBACK_SUFFIX}", None)


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
        logger.pop(f"file_path{_FALLBACK_SUFFIX}", None)
        if self.level is not None:
            logger["level"] = self.level
            logger.pop(f"level{_FALLBACK_SUFFIX}", None)


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
            name = key[: -len(_FALLBACK_SUFFIX)] if isinstance(key, str) and key.endswith(_FALLBACK_SUFFIX) else key
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
        raise ServiceConfigError(
            f"the patched config has {'.'.join(LISTENER)}.port = {port!r}; it should be a port number "
            "(did a config hook remove it?)."
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

    ``os.PathLike`` values (a hook may set a ``pathlib.Path``) are written as strings.

    Raises:
        ServiceConfigError: A value cannot be written as YAML; the message names its key.
    """
    import yaml

    path = Path(directory, name)
    data = _plain(config, "")
    # No line folding (width): long strings stay on one line, so small YAML readers cope.
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    text = yaml.dump(data, Dumper=dumper, sort_keys=False, allow_unicode=True, width=2**30)
    data_bytes = text.encode("utf-8")
    try:
        if path.read_bytes() == data_bytes:
            return path  # already written (by the plugin's early start): a service may be reading it
    except OSError:
        pass
    # Written aside and renamed over: a service reading the file sees the old or the new one whole.
    # 0600: the copy may hold secrets (tests-control's, values of $vars).
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data_bytes)
    os.replace(partial, path)
    return path


def _plain(value: Any, key_path: str) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v, _join(key_path, k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item, f"{key_path}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise ServiceConfigError(
        f"the patched config has a {type(value).__name__} at {key_path or 'the top level'}, which YAML cannot "
        "store; config hooks should set plain values (str, int, float, bool, None, list, dict)."
    )
