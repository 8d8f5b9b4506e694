"""Reading values out of the static config: config vars, ``#env``, ``#fallback``, and the converters.

A value is resolved as userver resolves it (``yaml_config``), in this order:

1. ``key: $name`` takes the config var ``name`` when the vars file defines it;
2. otherwise ``key#env: NAME`` takes the environment variable ``NAME`` when it is set (its
   text is read as YAML, so ``10`` is a number and ``true`` a boolean); this applies also
   when ``key`` itself is absent;
3. otherwise ``key#fallback: VALUE`` takes ``VALUE``, when ``key`` was a ``$var`` or there is
   a ``key#env``;
4. otherwise the key is **missing**: an optional key gets its default, and a required key's
   error says that it came from the unresolved var ``$name``.

Errors about a value that came from a config var or the environment name the var, never
the value, which may be a secret; so do errors about keys marked secret.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "LOG_LEVELS",
    "MISSING",
    "ConfigError",
    "Loader",
    "Section",
    "bool_value",
    "describe",
    "duration",
    "http_url",
    "log_level",
    "non_empty_str",
    "port",
    "positive_int",
    "secret",
    "url_path",
]

#: Log levels accepted by ``logging.loggers.default.level`` (any case).
LOG_LEVELS = ("trace", "debug", "info", "warning", "error", "critical")

#: What :meth:`Section.raw` returns for a missing key.
MISSING: Any = object()

_DURATION = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h)?\s*\Z")
_DURATION_UNITS = {None: 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class ConfigError(Exception):
    """The static config, a file it names, or a config var is unusable.

    Args:
        file: The file the problem is in (or the file whose key points at the bad file).
        key: The dotted key path, or what stands for it (``--config``, ``config_vars``).
        problem: What is wrong and, where it helps, what to do; one line.
    """

    def __init__(self, file: Path | str, key: str, problem: str) -> None:
        self.file = str(file)
        self.key = key
        # One line is the contract: flatten whatever a library put in the text.
        self.problem = " ".join(problem.split())
        super().__init__(f"{self.file}: {self.key}: {self.problem}")


def describe(value: Any) -> str:
    """A value for an error message: its repr cut to 60 characters, and its type."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


class Loader:
    """Holds the config file, its directory, the config vars and the environment while one config is read."""

    def __init__(self, config_path: Path, environ: Mapping[str, str] | None = None) -> None:
        self.config_path = config_path
        self.config_dir = config_path.parent
        self.config_vars: Mapping[Any, Any] = {}
        self.config_vars_path: Path | None = None
        self.environ: Mapping[str, str] = os.environ if environ is None else environ


def _from_env(text: str) -> Any:
    """An environment variable's text read as YAML, as userver does; text that is not YAML stays a string."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


class Section:
    """A mapping inside the config, with its dotted path, that resolves ``$vars`` on read."""

    __slots__ = ("_loader", "_mapping", "path")

    def __init__(self, loader: Loader, mapping: Mapping[Any, Any], path: str) -> None:
        self._loader = loader
        self._mapping = mapping
        self.path = path

    def _key_path(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def _error(self, key: str, problem: str) -> ConfigError:
        return ConfigError(self._loader.config_path, self._key_path(key), problem)

    def resolve(self, key: str) -> tuple[Any, str, str]:
        """Resolve ``key`` (see the module docstring).

        Returns:
            ``(value, source, unresolved)``: the value or :data:`MISSING`; ``source`` names a
            config var or environment variable the value came from (``""`` for a value
            written in the config); ``unresolved`` says why a missing key is missing when a
            ``$var`` or ``#env`` was involved (``""`` otherwise).
        """
        mapping, loader = self._mapping, self._loader
        value = mapping.get(key, MISSING)
        var = None
        if isinstance(value, str) and value.startswith("$"):
            var = value[1:]
            if var in loader.config_vars:
                where = f" from {loader.config_vars_path}" if loader.config_vars_path else ""
                return loader.config_vars[var], f"config var {var!r}{where}", ""
        elif value is not MISSING:
            return value, "", ""
        env_key, fallback_key = f"{key}#env", f"{key}#fallback"
        env = mapping.get(env_key)
        if env is not None and not isinstance(env, str):
            raise self._error(env_key, f"expected the name of an environment variable, got {describe(env)}")
        if env is not None and env in loader.environ:
            return _from_env(loader.environ[env]), f"environment variable {env!r}", ""
        if (var is not None or env is not None) and fallback_key in mapping:
            return mapping[fallback_key], "", ""
        if var is None and env is None:
            return MISSING, "", ""
        reasons = []
        if var is not None:
            where = f"not defined in {loader.config_vars_path}" if loader.config_vars_path else "no config vars file"
            reasons.append(f"it is the unresolved config var '${var}' ({where})")
        if env is not None:
            reasons.append(f"environment variable {env!r} ({env_key}) is not set")
        return MISSING, "", "; ".join(reasons) + f", and there is no {fallback_key!r}"

    def raw(self, key: str) -> tuple[Any, str]:
        """The value of ``key`` (or :data:`MISSING`) and a note on where it came from, for messages."""
        value, source, _ = self.resolve(key)
        return value, f" (from {source})" if source else ""

    def section(self, key: str, *, required: bool) -> Section | None:
        """Return the nested mapping at ``key`` (``None`` when optional and absent)."""
        value, source, unresolved = self.resolve(key)
        if value is MISSING or value is None:
            if required:
                raise self._error(key, _missing("section", unresolved))
            return None
        if not isinstance(value, Mapping):
            got = f"the value of {source} ({type(value).__name__})" if source else describe(value)
            raise self._error(key, f"expected a mapping, got {got}")
        return Section(self._loader, value, self._key_path(key))

    def value(self, key: str, convert: Callable[[Any], Any], default: Any = MISSING, *, quote: bool = True) -> Any:
        """Return ``convert(value)`` for ``key``, or ``default`` when the key is missing.

        Args:
            quote: ``False`` for secrets: an error never shows the value, only its type.

        Raises:
            ConfigError: The key is required and missing, or ``convert`` rejects the value
                (it raises ``ValueError`` with the expectation as its message).
        """
        value, source, unresolved = self.resolve(key)
        if value is MISSING or value is None:
            if default is MISSING:
                raise self._error(key, _missing("key", unresolved))
            return default
        try:
            return convert(value)
        except ValueError as exc:
            if source:
                got = f"the value of {source} ({type(value).__name__})"
            elif not quote:
                got = f"a value of type {type(value).__name__} (not shown: it is a secret)"
            else:
                got = describe(value)
            raise self._error(key, f"expected {exc}, got {got}") from None

    def path_value(self, key: str, default: Any = MISSING) -> Any:
        """Return the file path at ``key``, made absolute relative to the config file's directory."""
        text = self.value(key, non_empty_str, default)
        if text is default:
            return default
        return self._loader.config_dir / os.path.expanduser(text)


def _missing(what: str, unresolved: str) -> str:
    if unresolved:
        return (
            f"missing required {what}: {unresolved}; define the var, set the environment variable or add the fallback"
        )
    return f"missing required {what}; add it (see docs/sample-service.md)"


# Converters: each returns the checked value or raises ValueError("<what was expected>").


def positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError("a positive integer")
    return value


def port(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        raise ValueError("a TCP port, an integer 0-65535 (0 picks a free port)")
    return value


def non_empty_str(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("a non-empty string")
    return value


def url_path(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("/"):
        raise ValueError("a URL path starting with '/'")
    return value


def http_url(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith(("http://", "https://")) or len(value) < 10:
        raise ValueError("an http:// or https:// URL")
    return value


def secret(value: Any) -> str:
    """A secret: a non-empty string (read it with ``quote=False``)."""
    if not isinstance(value, str) or not value:
        raise ValueError("a non-empty string")
    return value


def bool_value(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("true or false")
    return value


def log_level(value: Any) -> str:
    if not isinstance(value, str) or value.lower() not in LOG_LEVELS:
        raise ValueError(f"one of {', '.join(LOG_LEVELS)} (any case)")
    return value.lower()


def duration(value: Any) -> float:
    """Seconds from a number of seconds or a userver-style string such as ``2s`` or ``500ms``."""
    expected = "a duration: seconds as a number, or a string such as '2s', '500ms', '1m'"
    if isinstance(value, bool):
        raise ValueError(expected)
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    else:
        raise ValueError(expected)
    if not 0 <= seconds < 1e6:
        raise ValueError(expected + " (non-negative)")
    return seconds
