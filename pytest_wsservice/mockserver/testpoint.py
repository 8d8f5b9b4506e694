"""Testpoints: named hooks inside the service that call back into the test.

The protocol is testsuite's. The service POSTs ``{"name": NAME, "data": DATA}`` to its
``tests-control.testpoint-url`` (the mockserver's ``/testpoint``) and waits for
``{"data": ANSWER, "handled": true}``, or ``{"data": null, "handled": false}`` when no
handler is registered for NAME. A test registers handlers through the registry::

    @testpoint('chat-message-received')
    def received(data):
        return {'close': 4000} if data.get('text') == 'bye' else None

    ...
    assert (await received.wait_call())['data']['text'] == 'bye'

The service calls only the testpoints it has been told are enabled;
:meth:`TestpointRegistry.enabled_names` is the list the plugin sends it through
tests-control before each request of the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .callqueue import CallQueue

__all__ = ["TestpointRegistry"]


class TestpointRegistry(Mapping[str, CallQueue]):
    """The testpoint handlers of one test, by name (``testpoint['name']`` is its call queue)."""

    __test__ = False  # not a test class, whatever its name

    def __init__(self) -> None:
        self._handlers: dict[str, CallQueue] = {}

    def __call__(self, name: str) -> Callable[[Callable[..., Any]], CallQueue]:
        """A decorator registering ``handler(data)`` for testpoint ``name``.

        The handler may be sync or ``async def``; it runs on the mockserver's thread and its
        return value (any JSON value) is the answer sent back to the service. The decorated
        name is the handler's :class:`CallQueue`; ``wait_call()`` gives ``{'data': DATA}``.
        A second registration for the same name replaces the first.
        """
        if not isinstance(name, str) or not name:
            raise TypeError(f"testpoint() takes the testpoint's name as a non-empty str, not {name!r}")

        def register(func: Callable[..., Any]) -> CallQueue:
            queue = func if isinstance(func, CallQueue) else CallQueue(func, label=f"testpoint {name!r}")
            self._handlers[name] = queue
            return queue

        return register

    def __getitem__(self, name: str) -> CallQueue:
        return self._handlers[name]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._handlers))

    def __len__(self) -> int:
        return len(self._handlers)

    def enabled_names(self) -> list[str]:
        """The registered testpoint names, sorted: the list the service should call."""
        return sorted(self._handlers)

    def clear(self) -> None:
        """Unregister every handler."""
        self._handlers.clear()

    async def dispatch(self, body: Any) -> tuple[int, Any]:
        """Answer one testpoint call (on the mockserver's loop): ``(status, answer JSON)``.

        A malformed body gets 400 with an error message; a name with no handler gets
        ``{"data": null, "handled": false}``. A handler that raises propagates, so that
        the session records it against the test.
        """
        if not isinstance(body, dict) or not isinstance(body.get("name"), str) or "data" not in body:
            return 400, {"error": 'a testpoint call is a JSON object {"name": NAME, "data": DATA}'}
        handler = self._handlers.get(body["name"])
        if handler is None:
            return 200, {"data": None, "handled": False}
        answer = await handler(body["data"])
        return 200, {"data": answer, "handled": True}
