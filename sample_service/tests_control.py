"""The ``tests-control`` component: lets tests change the running service.

Loaded only when the static config has a ``tests-control`` section (and its
``load-enabled`` is not false). It answers only peers on the loopback interface
(127.0.0.0/8, ::1): anyone else gets 403, whatever ``X-Forwarded-For`` or ``Forwarded``
headers say, because the peer address is taken from the TCP connection.

``POST PATH`` with a JSON object; every key is optional and they apply in this order::

    {
      "dynamic_config": {
        "reset": true,                       # back to the values the service started with
        "replace": {"NAME": value, ...},     # every value: left-out names go back too
        "set": {"NAME": value, ...}          # only these values
      },
      "flush_logs": true                     # write out buffered log lines before answering
    }

The answer is ``200 {"dynamic_config": {...every current value...}}``. ``GET PATH``
answers the same without changing anything. A bad request (not JSON, an unknown key, an
unknown dynamic config name, a value of the wrong JSON type) changes nothing and gets
``400 {"error": "..."}`` saying what is wrong. Changes take effect before the answer is
sent: the next message any handler processes sees them.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from typing import Any

from aiohttp import web

from .dynamic_config import check_values
from .state import DYNAMIC_CONFIG

__all__ = ["TestsControlHandler", "is_loopback"]

logger = logging.getLogger("sample_service.tests_control")

_DYNAMIC_CONFIG_KEYS = ("reset", "replace", "set")


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` (a peer address as aiohttp reports it) is on the loopback interface.

    Accepts 127.0.0.0/8, ``::1`` and IPv4-mapped loopback (``::ffff:127.0.0.1``); an IPv6
    zone (``::1%lo``) is ignored. Anything else, including ``None`` and names, is not.
    """
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def _error(status: int, text: str) -> web.Response:
    return web.json_response({"error": text}, status=status)


def _flush_logs() -> None:
    for handler in logging.getLogger().handlers:
        handler.flush()


class TestsControlHandler:
    """``GET``/``POST`` on the tests-control path; see the module docstring."""

    __test__ = False  # not a pytest test class, whatever its name says

    async def __call__(self, request: web.Request) -> web.Response:
        peer = request.remote
        if not is_loopback(peer):
            logger.warning("tests-control refused peer=%s: only loopback peers may use it", peer)
            return _error(403, f"tests-control answers only loopback peers (127.0.0.1, ::1); this request came from {peer}")
        config = request.app[DYNAMIC_CONFIG]
        if request.method == "GET":
            return web.json_response({"dynamic_config": config.values})
        try:
            body = json.loads(await request.read() or b"{}")
        except ValueError as exc:
            return _error(400, f"the body must be a JSON object: {exc}")
        problem = self._check(body)
        if problem:
            return _error(400, problem)
        changes = body.get("dynamic_config") or {}
        try:  # check everything first: a bad request changes nothing
            for key in ("replace", "set"):
                check_values(changes.get(key, {}), config.initial)
        except ValueError as exc:
            return _error(400, str(exc))
        if changes.get("reset"):
            config.reset()
        if "replace" in changes:
            config.replace(changes["replace"])
        if "set" in changes:
            config.update(changes["set"])
        if changes:
            logger.info("dynamic config changed: %s", json.dumps(changes, sort_keys=True)[:300])
        if body.get("flush_logs"):
            _flush_logs()
        return web.json_response({"dynamic_config": config.values})

    @staticmethod
    def _check(body: Any) -> str:
        """The first thing wrong with the request's shape, or ``""``."""
        if not isinstance(body, dict):
            return f"the body must be a JSON object, got {type(body).__name__}"
        unknown = sorted(set(body) - {"dynamic_config", "flush_logs"})
        if unknown:
            return f"unknown key(s) {', '.join(map(repr, unknown))}; the keys are 'dynamic_config' and 'flush_logs'"
        changes = body.get("dynamic_config")
        if changes is None:
            return ""
        if not isinstance(changes, dict):
            return "'dynamic_config' must be an object with 'reset', 'replace' or 'set'"
        unknown = sorted(set(changes) - set(_DYNAMIC_CONFIG_KEYS))
        if unknown:
            names = ", ".join(map(repr, unknown))
            return f"unknown key(s) {names} in 'dynamic_config'; the keys are 'reset', 'replace' and 'set'"
        for key in ("replace", "set"):
            if key in changes and not isinstance(changes[key], dict):
                return f"'dynamic_config.{key}' must be an object of names to values"
        return ""
