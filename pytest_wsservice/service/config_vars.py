"""``$vars`` in the static config, resolved as userver resolves them.

A key's value is found in this order (userver's ``yaml_config``; pytest_userver's patching
does the same for the first three):

1. ``key: $name`` takes the config var ``name`` when the vars define it (any value, even
   ``null``); inside a list, ``- $name`` does the same;
2. otherwise ``key#env: NAME`` takes the environment variable ``NAME`` of the pytest
   process when it is set and not empty; its text is read as YAML (``10`` is a number,
   ``true`` a boolean), text that is not YAML stays a string. This applies also when
   ``key`` itself is absent;
3. otherwise ``key#fallback: VALUE`` takes ``VALUE`` (its own ``$vars`` resolved the same
   way), when ``key`` is a ``$name`` or there is a ``key#env``;
4. otherwise ``$name`` is **left as written**, and ``key#env`` with it: the patched config
   has no vars file, so userver (and the sample service) treat the key as missing: an
   optional key takes its default, a required one is an error of the service's that
   names the var. userver's own test configs rely on this
   (``testpoint-url: $mockserver/testpoint``).

``key#fallback`` keys are dropped from the result (used, or ignored as userver ignores a
fallback that no ``$name`` or ``#env`` asks for), and so is ``key#env`` once ``key`` has a
value. Nothing here is ever an error: what cannot be resolved is left to the service.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from typing import Any

__all__ = ["ENV_SUFFIX", "FALLBACK_SUFFIX", "resolve_config_vars"]

FALLBACK_SUFFIX = "#fallback"
ENV_SUFFIX = "#env"


def _from_env(text: str) -> Any:
    """An environment variable's text read as YAML, as userver reads it."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


class _Resolver:
    def __init__(self, config_vars: Mapping[str, Any], environ: Mapping[str, str]) -> None:
        self.config_vars = config_vars
        self.environ = environ

    def var(self, value: Any) -> tuple[bool, Any]:
        """``(True, value)`` for a ``$name`` whose var is defined, else ``(False, None)``."""
        if isinstance(value, str) and value.startswith("$") and value[1:] in self.config_vars:
            return True, copy.deepcopy(self.config_vars[value[1:]])
        return False, None

    def env(self, mapping: Mapping[Any, Any], key: str) -> tuple[bool, Any]:
        name = mapping.get(f"{key}{ENV_SUFFIX}")
        text = self.environ.get(name) if isinstance(name, str) else None
        return (True, _from_env(text)) if text else (False, None)

    def value(self, value: Any) -> Any:
        if isinstance(value, dict):
            return self.mapping(value)
        if isinstance(value, list):
            return [self.item(item) for item in value]
        return copy.deepcopy(value)

    def item(self, item: Any) -> Any:
        found, value = self.var(item)
        return value if found else self.value(item)

    def mapping(self, mapping: dict[Any, Any]) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        for key, value in mapping.items():
            if isinstance(key, str) and key.endswith((FALLBACK_SUFFIX, ENV_SUFFIX)):
                base = key[: -len(FALLBACK_SUFFIX)] if key.endswith(FALLBACK_SUFFIX) else key[: -len(ENV_SUFFIX)]
                if base not in mapping and base not in result:
                    self.absent(mapping, base, result)
                continue
            if not (isinstance(value, str) and value.startswith("$")):
                result[key] = self.value(value)
                continue
            for found, resolved in (self.var(value), self.env(mapping, str(key))):
                if found:
                    result[key] = resolved
                    break
            else:
                fallback_key = f"{key}{FALLBACK_SUFFIX}"
                if fallback_key in mapping:
                    result[key] = self.item(mapping[fallback_key])
                else:
                    result[key] = value  # left as written: the service sees a missing key
                    self.keep_env(mapping, str(key), result)
        return result

    def absent(self, mapping: Mapping[Any, Any], key: str, result: dict[Any, Any]) -> None:
        """``key#env`` (and ``key#fallback``) without ``key``: the environment, then the fallback."""
        if f"{key}{ENV_SUFFIX}" not in mapping:
            return  # a lone #fallback: nothing asks for it
        found, value = self.env(mapping, key)
        if found:
            result[key] = value
        elif f"{key}{FALLBACK_SUFFIX}" in mapping:
            result[key] = self.item(mapping[f"{key}{FALLBACK_SUFFIX}"])
        else:
            self.keep_env(mapping, key, result)

    @staticmethod
    def keep_env(mapping: Mapping[Any, Any], key: str, result: dict[Any, Any]) -> None:
        env_key = f"{key}{ENV_SUFFIX}"
        if env_key in mapping:
            result[env_key] = copy.deepcopy(mapping[env_key])  # the service may have the variable


def resolve_config_vars(
    config: Any, config_vars: Mapping[str, Any], *, environ: Mapping[str, str] | None = None, source: str = ""
) -> Any:
    """Return a copy of ``config`` with ``$vars``, ``#env`` and ``#fallback`` resolved.

    See the module docstring for the order. The input is left untouched.

    Args:
        config: The static config (or any part of it).
        config_vars: The vars.
        environ: The environment ``key#env`` reads; default ``os.environ``.
        source: Unused; kept so that callers that name the config keep working.
    """
    del source  # nothing here is an error any more: an unresolved $name is left to the service
    return _Resolver(config_vars, os.environ if environ is None else environ).value(config)
