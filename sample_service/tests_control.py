"""The ``tests-control`` component: lets tests change the running service.

Loaded only when the static config has a ``tests-control`` section whose ``load-enabled`` is
not false. The bundled config has it **off**: tests-control lets whoever reaches it rewrite
the service, so only test configs turn it on (the pytest_wsservice plugin does, in the
config it patches).

Who may call it. Every request is refused unless all of these hold:

- the TCP peer is on the loopback interface (127.0.0.0/8, ::1), else 403, whatever
  ``X-Forwarded-For`` or ``Forwarded`` say;
- there is no ``Origin`` header (browsers send one; test clients do not), else 403;
- the ``Host`` header is ``localhost`` or a loopback address, optionally with the port the
  request came in on, else 403 (this defeats DNS rebinding);
- when ``tests-control.secret`` is set, the ``X-Tests-Control-Secret`` header carries it
  (compared in constant time), else 403; the secret is never logged or echoed;
- a ``POST`` has ``Content-Type: application/json``, else 415 (a browser cannot send that
  cross-origin without a preflight).

Without a secret, any local user can reach tests-control, as with userver: keep it off
outside tests, or set a secret.

The protocol is pytest_userver's (and testsuite's). ``POST PATH`` with a JSON object. The
path may be a plain ``/tests/control`` or hold an action, ``/tests/{action}``; the action
``control`` (also what a plain path means) takes these keys, each optional, applied in
this order; keys it does not know are ignored, as in userver::

    {
      "dynamic_config": {                    # this service's own
        "reset": true,                       # back to the values the service started with
        "replace": {"NAME": value, ...},     # every value: left-out names go back too
        "set": {"NAME": value, ...}          # only these values
      },
      "testpoints": ["name", ...],           # exactly these testpoints are enabled
      "mock_now": "2024-01-31T12:00:00+00:00",  # or null: the time the service reads
      "invalidate_caches": {"update_type": "full", "names": [...]},  # no caches: a no-op
      "socket_logging_duplication": false,   # accepted; log capture reads the log file
      "flush_logs": true                     # write out buffered log lines before answering
    }

A body with ``"action": NAME`` runs that action instead (userver's form). The answer is
``200 {"dynamic_config": {...every current value...}}``; ``GET PATH`` answers the same
without changing anything. Other actions: ``log_flush`` and ``log_capture`` (flush the
log), ``reset_metrics`` and ``suspend_periodic_tasks`` (nothing to do), and
``get_dynamic_config_defaults`` (the dynamic config the service started with); each
answers ``200 {}`` or the values. An unknown action, a body that is not a JSON object, or a
malformed known key changes nothing and gets ``400 {"error": "..."}`` saying what is wrong.
Changes take effect before the answer is sent.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .dynamic_config import check_values
from .mocked_time import MOCKED_TIME, parse_time
from .state import DYNAMIC_CONFIG
from .testpoint import TESTPOINTS

__all__ = ["SECRET_HEADER", "TestsControlHandler", "is_local_host_header", "is_loopback"]

logger = logging.getLogger("sample_service.tests_control")

#: The request header that carries ``tests-control.secret``.
SECRET_HEADER = "X-Tests-Control-Secret"

_DYNAMIC_CONFIG_KEYS = ("reset", "replace", "set")
_DEFAULT_ACTION = "control"


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


def is_local_host_header(value: str | None, port: int | None) -> bool:
    """Whether a ``Host`` header names this machine's loopback: ``localhost`` or a loopback address.

    ``[::1]`` needs its brackets. A port, when present, must be ``port`` (the one the
    request came in on); ``port=None`` accepts any port.
    """
    if not value:
        return False
    text = value.strip().lower()
    if text.startswith("["):  # an IPv6 literal: [::1] or [::1]:PORT
        close = text.find("]")
        host, rest = text[1:close], text[close + 1 :]
        if close < 0 or ":" not in host or (rest and not rest.startswith(":")):
            return False
        has_port, port_text = bool(rest), rest[1:]
        local = is_loopback(host)
    else:
        host, sep, port_text = text.partition(":")
        has_port = bool(sep)
        local = host == "localhost" or (":" not in port_text and is_loopback(host))
    if has_port and not (port_text.isdigit() and (port is None or int(port_text) == port)):
        return False
    return local


def _error(status: int, text: str) -> web.Response:
    return web.json_response({"error": text}, status=status)


def _flush_logs() -> None:
    for handler in logging.getLogger().handlers:
        handler.flush()


def _string_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


Action = Callable[[web.Request, dict[str, Any]], Awaitable[web.Response]]


class TestsControlHandler:
    """``GET``/``POST`` on the tests-control path; see the module docstring.

    Args:
        secret: ``tests-control.secret``; ``None`` leaves tests-control open to local users.
    """

    __test__ = False  # not a pytest test class, whatever its name says

    def __init__(self, secret: str | None = None) -> None:
        self._secret = secret.encode() if secret is not None else None
        self._actions: dict[str, Action] = {
            _DEFAULT_ACTION: self._control,
            "log_flush": self._log_flush,
            "log_capture": self._log_flush,
            "reset_metrics": self._nothing,
            "suspend_periodic_tasks": self._nothing,
            "get_dynamic_config_defaults": self._dynamic_config_defaults,
        }

    async def __call__(self, request: web.Request) -> web.Response:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        action = request.match_info.get("action") or _DEFAULT_ACTION
        config = request.app[DYNAMIC_CONFIG]
        if request.method == "GET":
            if action != _DEFAULT_ACTION:
                return _error(405, f"tests-control action {action!r} takes POST")
            return web.json_response({"dynamic_config": config.values})
        try:
            body = json.loads(await request.read() or b"{}")
        except ValueError as exc:
            return _error(400, f"the body must be a JSON object: {exc}")
        if not isinstance(body, dict):
            return _error(400, f"the body must be a JSON object, got {type(body).__name__}")
        if action == _DEFAULT_ACTION and "action" in body:  # userver: the body names the action
            action = body["action"]
        perform = self._actions.get(action) if isinstance(action, str) else None
        if perform is None:
            known = ", ".join(sorted(self._actions))
            return _error(400, f"unknown tests-control action {str(action)[:60]!r}; this service knows: {known}")
        return await perform(request, body)

    def _refusal(self, request: web.Request) -> web.Response | None:
        """The answer refusing ``request`` (403 or 415), or ``None`` when it may go on."""
        peer = request.remote
        if not is_loopback(peer):
            logger.warning("tests-control refused peer=%s: only loopback peers may use it", peer)
            text = f"tests-control answers only loopback peers (127.0.0.1, ::1); this request came from {peer}"
            return _error(403, text)
        if "Origin" in request.headers:
            logger.warning("tests-control refused a request with an Origin header (browsers send one)")
            return _error(403, "tests-control refuses requests with an Origin header: browsers may not use it")
        sockname = request.transport.get_extra_info("sockname") if request.transport is not None else None
        port = sockname[1] if isinstance(sockname, tuple) and len(sockname) > 1 else None
        host = request.headers.get("Host")
        if not is_local_host_header(host, port):
            shown = repr(host[:80]) if host is not None else "no Host header"
            logger.warning("tests-control refused Host %s: only localhost or a loopback address", shown)
            return _error(
                403, f"tests-control answers only Host: localhost or a loopback address (with port {port}); got {shown}"
            )
        if self._secret is not None:
            given = request.headers.get(SECRET_HEADER)
            if given is None:
                logger.warning("tests-control refused a request without the %s header", SECRET_HEADER)
                return _error(403, f"tests-control needs the {SECRET_HEADER} header (tests-control.secret is set)")
            if not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), self._secret):
                logger.warning("tests-control refused a request with a wrong %s header", SECRET_HEADER)
                return _error(403, f"the {SECRET_HEADER} header does not match tests-control.secret")
        if request.method == "POST" and request.content_type != "application/json":
            shown = request.headers.get("Content-Type", "none")[:80]
            return _error(415, f"tests-control takes Content-Type: application/json, got {shown!r}")
        return None

    async def _control(self, request: web.Request, body: dict[str, Any]) -> web.Response:
        app = request.app
        config = app[DYNAMIC_CONFIG]
        testpoints = app[TESTPOINTS]
        problem = self._check(body)
        if not problem and body.get("testpoints") and not testpoints.available:
            problem = "'testpoints' needs tests-control.testpoint-url in the static config; it has none"
        changes = body.get("dynamic_config") or {}
        now = body.get("mock_now")
        try:  # check everything first: a bad request changes nothing
            if problem:
                raise ValueError(problem)
            for key in ("replace", "set"):
                check_values(changes.get(key, {}), config.initial)
            mock_now = parse_time(now) if isinstance(now, str) else None
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
        if "testpoints" in body:
            testpoints.set_enabled(body["testpoints"])
        if "mock_now" in body:
            app[MOCKED_TIME].set(mock_now)
        if body.get("flush_logs"):
            _flush_logs()
        return web.json_response({"dynamic_config": config.values})

    async def _log_flush(self, request: web.Request, body: dict[str, Any]) -> web.Response:
        _flush_logs()
        return web.json_response({})

    async def _nothing(self, request: web.Request, body: dict[str, Any]) -> web.Response:
        return web.json_response({})

    async def _dynamic_config_defaults(self, request: web.Request, body: dict[str, Any]) -> web.Response:
        return web.json_response(request.app[DYNAMIC_CONFIG].initial)

    @staticmethod
    def _check(body: dict[str, Any]) -> str:
        """The first thing wrong with a known key of a ``control`` request, or ``""``."""
        if "testpoints" in body and not _string_list(body["testpoints"]):
            return "'testpoints' must be a list of testpoint names (strings)"
        if "mock_now" in body and not isinstance(body["mock_now"], (str, type(None))):
            return "'mock_now' must be a time string such as '2024-01-31T12:00:00+00:00', or null"
        caches = body.get("invalidate_caches")
        if "invalidate_caches" in body and not isinstance(caches, dict):
            return '\'invalidate_caches\' must be an object such as {"update_type": "full"}'
        if isinstance(caches, dict) and caches.get("update_type", "full") not in ("full", "incremental"):
            return "'invalidate_caches.update_type' must be 'full' or 'incremental'"
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
