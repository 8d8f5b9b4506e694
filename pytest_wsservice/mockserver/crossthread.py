"""A queue filled on one thread and awaited from any event loop on any thread.

The mockserver runs on its own thread and event loop; tests await its queues from their
own loop, whatever its scope. :class:`CrossThreadQueue` binds to no loop: each waiter
registers the loop it is awaiting in, and a producer wakes it with
``loop.call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import threading
from typing import Generic, TypeVar

__all__ = ["CrossThreadQueue", "QueueTimeout"]

T = TypeVar("T")


class QueueTimeout(Exception):
    """:meth:`CrossThreadQueue.get` saw no item before its deadline (callers reword it)."""


def wake(future: asyncio.Future[None]) -> None:
    """Resolve a waiter's future unless it is already done (run on the waiter's loop)."""
    if not future.done():
        future.set_result(None)


class CrossThreadQueue(Generic[T]):
    """An unbounded FIFO: ``put`` from any thread, ``await get()`` from any loop.

    Args:
        maxlen: Keep at most this many items, dropping the oldest; ``None`` keeps all.
    """

    def __init__(self, maxlen: int | None = None) -> None:
        self._items: collections.deque[T] = collections.deque(maxlen=maxlen)
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def put(self, item: T) -> None:
        """Append ``item`` and wake every waiter; safe from any thread."""
        with self._lock:
            self._items.append(item)
            waiters, self._waiters = self._waiters, []
        for loop, future in waiters:
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits there any more
                loop.call_soon_threadsafe(wake, future)

    def get_nowait(self) -> T:
        """Pop the oldest item; raise :class:`IndexError` when there is none."""
        with self._lock:
            return self._items.popleft()

    def push_front(self, item: T) -> None:
        """Put ``item`` back at the head (used to keep a terminal marker for later readers)."""
        with self._lock:
            self._items.appendleft(item)

    def peek_all(self) -> list[T]:
        """A copy of the items, oldest first, without removing them."""
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        """Drop every item."""
        with self._lock:
            self._items.clear()

    async def get(self, timeout: float) -> T:
        """Pop the oldest item, waiting up to ``timeout`` seconds for one.

        Raises:
            QueueTimeout: No item arrived in time.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            future: asyncio.Future[None] = loop.create_future()
            entry = (loop, future)
            with self._lock:
                if self._items:
                    return self._items.popleft()
                self._waiters.append(entry)
            remaining = deadline - loop.time()
            timed_out = remaining <= 0
            try:
                if not timed_out:
                    await asyncio.wait_for(future, remaining)
            except asyncio.TimeoutError:
                timed_out = True
            finally:
                with self._lock:
                    if entry in self._waiters:
                        self._waiters.remove(entry)
            if timed_out:
                with self._lock:
                    if self._items:  # it arrived just as the wait ran out
                        return self._items.popleft()
                raise QueueTimeout
