"""Config hooks that turn test-only components on: tests-control with a per-session secret.

userver's tests-control is meant to be on only in test configs. The plugin turns it on in
the patched copy it writes, together with a secret made once per pytest process and
handed to the service in that copy (readable by its owner only); the plugin's clients send
the secret in the :data:`SECRET_HEADER` header, and a service that knows the key refuses
any request without it. A config that already names a secret keeps its own.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SECRET_HEADER", "TESTS_CONTROL", "PatchTestsControl", "make_control_secret"]

#: The component, under ``components_manager.components``.
TESTS_CONTROL = "tests-control"
#: The request header that carries ``tests-control.secret``.
SECRET_HEADER = "X-Tests-Control-Secret"


def make_control_secret() -> str:
    """A fresh random secret for one pytest process (192 bits, URL-safe text)."""
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class PatchTestsControl:
    """Config hook: if the config has a ``tests-control`` component, turn it on
    (``load-enabled: true``) and give it ``secret`` unless it names one already.

    A config without the component is left alone: the plugin adds no endpoint the
    service does not implement.
    """

    secret: str = field(repr=False)  # never shown in a hook's description or an error

    def __call__(self, config: dict[str, Any], config_vars: dict[str, Any]) -> None:
        manager = config.get("components_manager")
        components = manager.get("components") if isinstance(manager, dict) else None
        if not isinstance(components, dict) or TESTS_CONTROL not in components:
            return
        section = components[TESTS_CONTROL]
        if section is None:  # "tests-control:" with nothing under it
            section = components[TESTS_CONTROL] = {}
        if not isinstance(section, dict):
            return  # not a mapping: the service reports its own config error
        section["load-enabled"] = True
        section.pop("load-enabled#fallback", None)
        if not section.get("secret") and "secret#env" not in section:
            section["secret"] = self.secret
