"""Call queues: a handler wrapped so that a test can see and wait for its calls.

The mockserver turns every handler and testpoint into a :class:`CallQueue`, as
testsuite does. The handler runs on the mockserver's thread; each finished call is
recorded as a dict of the handler's arguments by name (``{'request': ...}`` for a
mockserver handler, ``{'data': ...}`` for a testpoint ``handler(data)``). The test
reads the calls from its own event loop, whatever its scope::

    assert handler.times_called == 1
    call = handler.next_call()            # pops, never waits
    call = await handler.wait_call()      # pops, waits up to 10 seconds
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from .crossthread import CrossThreadQueue, QueueTimeout
from .errors import CallQueueEmptyError, CallQueueTimeoutError

__all__ = ["DEFAULT_WAIT_TIMEOUT", "CallQueue"]

#: Seconds ``wait_call()`` waits when no timeout is given (testsuite's default).
DEFAULT_WAIT_TIMEOUT = 10.0


def callable_name(func: Callable[..., Any]) -> str:
    """The name a message uses for ``func``: its ``__name__``, or its class's for a callable object."""
    name = getattr(func, "__name__", None)
    return name if isinstance(name, str) else type(func).__name__


class CallQueue:
    """A handler wrapped so that its calls are recorded and can be awaited.

    Calling it (``await queue(*args, **kwargs)``) runs the handler, awaiting it if it
    is ``async def``, and records the call when the handler returns or raises.

    Args:
        func: The handler, sync or async.
        label: How messages name it, such as ``"mockserver handler '/auth'"``.
    """

    def __init__(self, func: Callable[..., Any], *, label: str | None = None) -> None:
        self._func = func
        self._name = callable_name(func)
        self._label = label or f"{self._name}()"
        try:
            self._signature: inspect.Signature | None = inspect.signature(func)
        except (TypeError, ValueError):
            self._signature = None
        self._calls: CrossThreadQueue[dict[str, Any]] = CrossThreadQueue()
        functools.update_wrapper(self, func)

    def __repr__(self) -> str:
        return f"<CallQueue {self._label}: {self.times_called} call(s) queued>"

    @property
    def func(self) -> Callable[..., Any]:
        """The handler this queue wraps."""
        return self._func

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the handler with these arguments and record the call."""
        try:
            result = self._func(*args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
            return result
        finally:
            self._calls.put(self._arguments(args, kwargs))

    def _arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        if self._signature is not None:
            try:
                bound = self._signature.bind(*args, **kwargs)
            except TypeError:
                pass
            else:
                bound.apply_defaults()
                return dict(bound.arguments)
        named = {f"arg{index}": value for index, value in enumerate(args)}
        named.update(kwargs)
        return named

    @property
    def times_called(self) -> int:
        """How many recorded calls are queued (calls popped by ``next_call``/``wait_call`` are gone)."""
        return len(self._calls)

    @property
    def has_calls(self) -> bool:
        """Whether at least one recorded call is queued."""
        return self.times_called > 0

    def next_call(self) -> dict[str, Any]:
        """Pop the oldest recorded call: the handler's arguments by name.

        Raises:
            CallQueueEmptyError: No call is queued.
        """
        try:
            return self._calls.get_nowait()
        except IndexError:
            raise CallQueueEmptyError(
                f"{self._label} has no calls left in its queue; use 'await ...wait_call()' to wait for one"
            ) from None

    async def wait_call(self, timeout: float | None = DEFAULT_WAIT_TIMEOUT) -> dict[str, Any]:
        """Pop the oldest recorded call, waiting up to ``timeout`` seconds for one.

        Await it from any event loop: the call is signalled across threads.

        Raises:
            CallQueueTimeoutError: No call came before the deadline.
        """
        seconds = DEFAULT_WAIT_TIMEOUT if timeout is None else timeout
        try:
            return await self._calls.get(seconds)
        except QueueTimeout:
            raise CallQueueTimeoutError(f"{self._label} was not called within {seconds:g} seconds") from None

    def flush(self) -> None:
        """Forget every recorded call."""
        self._calls.clear()
