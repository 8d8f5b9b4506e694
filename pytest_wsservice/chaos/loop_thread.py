"""An asyncio event loop in a daemon thread of its own, and the bridges into it.

The chaos gate runs here, so it binds nothing to the event loop of the test that uses it:
the test's loop may be function-, module- or session-scoped, or there may be no loop at all
(a sync fixture). Every call into the thread has a deadline:

- :meth:`LoopThread.call` runs a plain function on the loop and returns its result;
- :meth:`LoopThread.run` runs a coroutine on the loop and blocks the calling thread for it;
- :meth:`LoopThread.run_async` runs a coroutine on the loop and is awaited from *another*
  loop (``asyncio.run_coroutine_threadsafe`` + ``asyncio.wrap_future``), so the caller's
  loop keeps running while the gate works.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from ..errors import seconds_text
from .errors import GateError, GateTimeout

__all__ = ["LoopThread"]

T = TypeVar("T")

# How long a call waits past its own deadline for the loop thread to answer at all.
_BRIDGE_MARGIN = 5.0


class LoopThread:
    """An event loop running in a daemon thread, started and stopped synchronously.

    Args:
        name: The thread's name, shown in tracebacks and ``threading.enumerate()``.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The running loop; :class:`GateError` if the thread is not running."""
        if self._loop is None or self._thread is None or not self._thread.is_alive():
            raise GateError(f"The event loop thread {self.name!r} is not running: start the gate first.")
        return self._loop

    @property
    def running(self) -> bool:
        """Whether the thread and its loop are running."""
        return self._thread is not None and self._thread.is_alive() and self._loop is not None

    def in_thread(self) -> bool:
        """Whether the caller runs in this loop's thread."""
        return self._thread is not None and threading.current_thread() is self._thread

    def start(self, *, timeout: float) -> None:
        """Start the thread and wait until its loop runs, at most ``timeout`` seconds."""
        if self.running:
            return
        ready = threading.Event()
        loop = asyncio.new_event_loop()

        def main() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            try:
                loop.run_forever()
            finally:
                _cancel_leftovers(loop)
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        thread = threading.Thread(target=main, name=self.name, daemon=True)
        self._loop, self._thread = loop, thread
        thread.start()
        if not ready.wait(timeout):
            raise GateTimeout(f"The event loop thread {self.name!r} did not start within {seconds_text(timeout)}.")

    def stop(self, *, timeout: float) -> None:
        """Stop the loop (cancelling what still runs on it) and join the thread, at most ``timeout`` seconds."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if self.in_thread():
            raise GateError(f"The event loop thread {self.name!r} cannot stop itself: stop it from another thread.")
        if thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
            if thread.is_alive():
                raise GateTimeout(
                    f"The event loop thread {self.name!r} did not stop within {seconds_text(timeout)}; "
                    "something on it blocks the loop."
                )
        self._loop = self._thread = None

    def call(self, func: Callable[[], T], *, timeout: float, what: str) -> T:
        """Run ``func()`` on the loop and return its result (or raise its exception).

        Called from the loop's own thread, it runs ``func`` directly.
        """
        if self.in_thread():
            return func()
        loop = self.loop
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def runner() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(func())
            except BaseException as exc:  # handed to the caller's thread
                future.set_exception(exc)

        loop.call_soon_threadsafe(runner)
        return self._result(future, timeout, what)

    def run(self, coro: Coroutine[Any, Any, T], *, timeout: float, what: str) -> T:
        """Run ``coro`` on the loop and block until it finishes, at most ``timeout`` seconds.

        On the deadline the coroutine is cancelled and :class:`GateTimeout` names ``what``.
        Not for the loop's own thread (it would wait for itself).
        """
        if self.in_thread():
            coro.close()
            raise GateError(f"{what}: cannot block the gate's own thread {self.name!r} waiting for itself.")
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return self._result(future, timeout, what)

    async def run_async(self, coro: Coroutine[Any, Any, T], *, timeout: float, what: str) -> T:
        """Run ``coro`` on this loop, awaited from the caller's loop, at most ``timeout`` seconds.

        The coroutine should keep its own, shorter deadline and say what it saw; this one is
        the safety net. Cancelling the caller cancels the coroutine.
        """
        if self.in_thread():
            return await asyncio.wait_for(coro, timeout)
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        wrapped = asyncio.wrap_future(future)
        try:
            done, _ = await asyncio.wait([wrapped], timeout=timeout + _BRIDGE_MARGIN)
        except asyncio.CancelledError:
            future.cancel()
            raise
        if done:
            return wrapped.result()
        future.cancel()
        raise GateTimeout(
            f"{what}: the gate's thread {self.name!r} did not answer within "
            f"{seconds_text(timeout + _BRIDGE_MARGIN)}; something blocks its loop."
        )

    @staticmethod
    def _result(future: concurrent.futures.Future[T], timeout: float, what: str) -> T:
        concurrent.futures.wait([future], timeout + _BRIDGE_MARGIN)
        if future.done():
            return future.result()
        future.cancel()
        raise GateTimeout(
            f"{what}: the gate did not finish within {seconds_text(timeout + _BRIDGE_MARGIN)}; "
            "something blocks its loop."
        )


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
