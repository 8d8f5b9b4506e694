"""The dynamic config: values that can change while the service runs.

It starts as the contents of the dynamic config fallback JSON (the static config's
``dynamic-config-fallbacks.fallback-path``) on top of :data:`DEFAULTS`, and the
``tests-control`` component changes it (:mod:`sample_service.tests_control`). Values the
service reads:

``WEBSOCKET_ECHO_PREFIX`` (string, default ``""``)
    Prepended to every text message that ``/chat`` echoes.
``USERVER_LOG_REQUEST`` (boolean, default ``true``)
    Log a DEBUG line for every message received on ``/chat`` and ``/broadcast``.

Any other name in the fallback file is kept and can be changed too (userver's fallback
lists values of the framework that this service does not read). A name that is neither a
default nor in the fallback file is unknown, and setting it is an error, so a typo never
passes silently. A new value must have the JSON type of the fallback's value.

Handlers read the derived attributes (:attr:`DynamicConfig.echo_prefix`,
:attr:`DynamicConfig.log_messages`): one attribute load per message on the echo path.
This module does not import aiohttp, so the config loader can use it to check the file.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

__all__ = ["DEFAULTS", "DynamicConfig", "check_values"]

#: The values the service reads, with the defaults used when the fallback file omits them.
DEFAULTS: dict[str, Any] = {
    "WEBSOCKET_ECHO_PREFIX": "",
    "USERVER_LOG_REQUEST": True,
}

#: The logger whose DEBUG level decides whether per-message lines are written at all.
MESSAGE_LOGGER = "sample_service.chat"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def check_values(values: Mapping[str, Any], known: Mapping[str, Any]) -> None:
    """Check new ``values`` against the ``known`` ones: names must exist, JSON types must match.

    Raises:
        ValueError: One sentence naming the first bad value and what is expected.
    """
    for name, value in values.items():
        if not isinstance(name, str) or name not in known:
            names = ", ".join(sorted(known)) or "none"
            raise ValueError(f"unknown dynamic config value {name!r}; the known values are: {names}")
        expected, got = _json_type(known[name]), _json_type(value)
        # null in the fallback says nothing about the type: accept anything there.
        if expected != "null" and expected != got:
            raise ValueError(f"dynamic config value {name!r} must be a JSON {expected}, got {got} {value!r}")


class DynamicConfig:
    """The service's current dynamic config, and what handlers derive from it.

    Args:
        fallback: The fallback file's values (they override :data:`DEFAULTS`).

    Raises:
        ValueError: A value the service reads has the wrong JSON type in ``fallback``.
    """

    __slots__ = ("echo_prefix", "initial", "log_messages", "values")

    def __init__(self, fallback: Mapping[str, Any]) -> None:
        check_values({name: fallback[name] for name in DEFAULTS if name in fallback}, DEFAULTS)
        #: The values at start: what ``reset`` returns to.
        self.initial: dict[str, Any] = {**DEFAULTS, **fallback}
        self.values: dict[str, Any] = dict(self.initial)
        #: ``WEBSOCKET_ECHO_PREFIX`` as UTF-8 bytes, ready to prepend.
        self.echo_prefix = b""
        #: ``USERVER_LOG_REQUEST`` and DEBUG enabled: write a line per message.
        self.log_messages = False
        self._derive()

    def _derive(self) -> None:
        values = self.values
        self.echo_prefix = str(values["WEBSOCKET_ECHO_PREFIX"]).encode()
        self.log_messages = bool(values["USERVER_LOG_REQUEST"]) and logging.getLogger(MESSAGE_LOGGER).isEnabledFor(
            logging.DEBUG
        )

    def update(self, values: Mapping[str, Any]) -> None:
        """Set some values, all or none.

        Raises:
            ValueError: A name is unknown or a value has the wrong JSON type.
        """
        check_values(values, self.initial)
        self.values.update(values)
        self._derive()

    def replace(self, values: Mapping[str, Any]) -> None:
        """Set every value: names left out go back to their values at start (all or none).

        Raises:
            ValueError: A name is unknown or a value has the wrong JSON type.
        """
        check_values(values, self.initial)
        self.values = {**self.initial, **values}
        self._derive()

    def reset(self) -> None:
        """Go back to the values the service started with."""
        self.values = dict(self.initial)
        self._derive()
