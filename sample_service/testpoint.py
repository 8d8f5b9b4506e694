"""Testpoints: named points in the service's code that a test can observe and steer.

This is testsuite's protocol, as userver's ``TESTPOINT`` speaks it. At a testpoint the
service POSTs ``{"id": ID, "name": NAME, "data": DATA}`` (JSON) to tests-control's
``testpoint-url`` and waits at most ``testpoint-timeout`` (default ``1s``) for the answer
``{"data": ANSWER, "handled": true|false}`` (``handled`` defaults to true). When the answer
is handled, :meth:`Testpoints.call` returns ``ANSWER``; the handler decides what it means.

Which names are enabled, as in userver:

- without a ``testpoint-url`` (or with tests-control off) no testpoint is ever enabled;
- with ``skip-unregistered-testpoints: false`` (the default) every name is enabled until a
  tests-control request brings a ``testpoints`` list;
- with ``skip-unregistered-testpoints: true`` (pytest_userver sets it) no name is enabled
  until such a list comes;
- once a list comes (``{"testpoints": [...]}``), exactly its names are enabled.

A disabled testpoint costs one method call and no request, so the echo path pays nothing in
a run without tests. A call that fails (connection refused, timeout, an HTTP error, an
answer that is not JSON) logs one warning line and returns ``None``: a testpoint never
breaks the request it sits in.

Handlers reach the instance as ``request.app[TESTPOINTS]``::

    testpoints = request.app[TESTPOINTS]
    if testpoints.is_enabled("chat-message-received"):
        answer = await testpoints.call("chat-message-received", {"size": 5})
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    import aiohttp

    from .config import ServiceConfig

__all__ = ["TESTPOINTS", "Testpoints"]

logger = logging.getLogger("sample_service.testpoint")


class Testpoints:
    """The service's testpoint client: which names are enabled, and the calls themselves.

    Args:
        url: tests-control's ``testpoint-url``; ``None`` turns every testpoint off.
        timeout: The deadline of one call in seconds (``testpoint-timeout``).
        skip_unregistered: ``skip-unregistered-testpoints``: start with no name enabled
            instead of every name.
    """

    __slots__ = ("_all", "_enabled", "_ids", "_session", "timeout", "url")
    __test__ = False  # not a pytest test class, whatever its name says

    def __init__(self, url: str | None = None, timeout: float = 1.0, *, skip_unregistered: bool = False) -> None:
        self.url = url
        self.timeout = timeout
        self._all = not skip_unregistered
        self._enabled: frozenset[str] = frozenset()
        self._session: aiohttp.ClientSession | None = None
        self._ids = itertools.count(1)

    @classmethod
    def from_config(cls, config: ServiceConfig) -> Testpoints:
        """The testpoints a service started from ``config`` has (all off without tests-control)."""
        url = config.testpoint_url if config.tests_control_path is not None else None
        return cls(url, config.testpoint_timeout, skip_unregistered=config.skip_unregistered_testpoints)

    @property
    def available(self) -> bool:
        """Whether a ``testpoint-url`` is configured, so that names can be enabled at all."""
        return self.url is not None

    @property
    def enabled_names(self) -> frozenset[str] | None:
        """The enabled names, or ``None`` while every name is enabled."""
        return None if self._all else self._enabled

    def set_enabled(self, names: Iterable[str]) -> None:
        """Enable exactly ``names`` (tests-control's ``testpoints`` list)."""
        self._enabled = frozenset(names)
        self._all = False

    def is_enabled(self, name: str) -> bool:
        """Whether ``call(name, ...)`` would send a request; cheap, call it before building the data."""
        return self.url is not None and (self._all or name in self._enabled)

    async def call(self, name: str, data: Any) -> Any:
        """Run testpoint ``name`` with ``data`` (JSON-serialisable) and return the test's answer.

        Returns:
            The answer's ``data`` when the testpoint is enabled and the answer is handled;
            ``None`` when it is disabled, not handled, or the call failed (logged).
        """
        if not self.is_enabled(name):
            return None
        assert self.url is not None
        import aiohttp

        body = json.dumps({"id": f"{os.getpid()}-{next(self._ids)}", "name": name, "data": data})
        try:
            session = self._session
            if session is None or session.closed:
                session = self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
            async with session.post(self.url, data=body, headers={"Content-Type": "application/json"}) as response:
                if response.status >= 400:
                    logger.warning("testpoint %s: %s answered HTTP %d", name, self.url, response.status)
                    return None
                raw = await response.read()
            answer = json.loads(raw)
        except asyncio.TimeoutError:
            logger.warning("testpoint %s: %s did not answer within %.3gs", name, self.url, self.timeout)
            return None
        except (aiohttp.ClientError, OSError) as exc:
            logger.warning("testpoint %s: %s failed: %s", name, self.url, str(exc)[:200] or type(exc).__name__)
            return None
        except ValueError as exc:
            logger.warning("testpoint %s: %s answered with invalid JSON: %s", name, self.url, str(exc)[:200])
            return None
        if not isinstance(answer, dict):
            logger.warning("testpoint %s: %s answered %s, not a JSON object", name, self.url, type(answer).__name__)
            return None
        if not answer.get("handled", True):
            return None
        return answer.get("data")

    async def close(self) -> None:
        """Close the HTTP session (aiohttp's ``on_cleanup`` calls it)."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def on_cleanup(self, app: web.Application) -> None:
        """``app.on_cleanup`` callback: :meth:`close`."""
        await self.close()


#: The application's :class:`Testpoints`; always present, all off without tests-control.
TESTPOINTS: web.AppKey[Testpoints] = web.AppKey("testpoints", Testpoints)
