"""Keeping secrets out of reports: values of ``$vars`` (and tests-control's secret) are named, not shown.

The plugin resolves ``$name`` before it writes the patched config, so the service sees a plain
value and its own errors quote it (``got 'S3cr3t-P@ssw0rd' (str)``), and so may the service's
log. Every text the plugin puts into a report goes through :meth:`Redactor.apply`, which
replaces each such value with ``<the value of config var 'name'>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["MIN_SECRET_LENGTH", "Redactor"]

#: Shorter strings (``on``, ``/chat``, ``1s``) are too common to hide without hiding other text.
MIN_SECRET_LENGTH = 6


class Redactor:
    """Replaces known secret values in text with their names.

    Args:
        config_vars: The config vars: each string value of at least :data:`MIN_SECRET_LENGTH`
            characters is named ``<the value of config var 'NAME'>``.
        extra: More secrets: value -> how to name it.
    """

    __slots__ = ("_replacements",)

    def __init__(self, config_vars: Mapping[str, Any], extra: Mapping[str, str] | None = None) -> None:
        named: dict[str, str] = {}
        for name, value in config_vars.items():
            if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH:
                named.setdefault(value, f"<the value of config var '{name}'>")
        for value, label in (extra or {}).items():
            if value:
                named.setdefault(value, label)
        # Quoted forms first (repr() may escape), longest first so a secret holding another stays whole.
        pairs: list[tuple[str, str]] = []
        for value, label in named.items():
            pairs += [(repr(value), label), (value, label)]
        self._replacements = sorted(set(pairs), key=lambda pair: -len(pair[0]))

    def __bool__(self) -> bool:
        return bool(self._replacements)

    def apply(self, text: str) -> str:
        """``text`` with every known secret replaced by its name."""
        for value, label in self._replacements:
            if value in text:
                text = text.replace(value, label)
        return text
