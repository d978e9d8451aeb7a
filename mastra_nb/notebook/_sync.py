"""Async work driven from a magic: run on `_async`'s private loop, its output shown on the cell's thread.

A magic is sync code on the kernel's main thread, and the kernel routes what that thread prints and displays to
the running cell. The async API runs on `_async`'s private loop; these helpers run each piece of work there as one
task and hand its items and events back to the main thread through a queue, where the magic shows them. An
interrupt (the kernel's stop button) reaches the main thread as `KeyboardInterrupt`; the work is then cancelled,
and the cell ends once the cancellation has run its course (a few seconds at most): the tools it stopped have
left, its records are written, and the next cell never races the interrupted one. A workflow's journal keeps every
step recorded so far, so an interrupted run can be restarted, never half-written.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, Generic, TypeVar

from .._async import background_loop, submit
from ..redaction import guard

__all__ = ["iterate", "run_with_progress"]

T = TypeVar("T")
_END = object()
STOP_WAIT = 5.0  # seconds an interrupted cell waits for its cancelled work to end
logger = guard(logging.getLogger("mastra_nb.notebook"))


class _Work(Generic[T]):
    """A coroutine run as one task on the private loop, which the cell's thread can stop and wait for.

    `stop()` holds wherever the interrupt lands: work that has not begun never will, and work under way is
    cancelled and waited for. Cancelling the future `run_coroutine_threadsafe` returns did neither: an interrupt
    landing after the work was scheduled but before its future was kept left the work running unseen, and the future
    reads "cancelled" at once, while the task is still unwinding.
    """

    def __init__(self, coro: Coroutine[Any, Any, T]) -> None:
        self._coro = coro
        self._lock = threading.Lock()
        self._stopped = False
        self._task: asyncio.Task[Any] | None = None
        self._ended = threading.Event()
        self.future: concurrent.futures.Future[T] | None = None

    def start(self) -> None:
        """Schedule the work; call it inside the `try` whose `finally` calls `stop()`."""
        self.future = submit(self._run())

    async def _run(self) -> T:
        with self._lock:
            if self._stopped:  # interrupted before it began: it never does
                self._coro.close()
                raise asyncio.CancelledError
            self._task = asyncio.current_task()
        try:
            return await self._coro
        finally:
            self._ended.set()

    def done(self) -> bool:
        return self.future is not None and self.future.done()

    def result(self) -> T:
        assert self.future is not None, "started first"
        return self.future.result()

    def stop(self, wait: float = STOP_WAIT) -> None:
        """Cancel the work (a no-op once it has ended) and wait up to `wait` seconds for it to end."""
        with self._lock:
            self._stopped = True
            task = self._task
        if task is None or self._ended.is_set():
            return
        try:
            task.get_loop().call_soon_threadsafe(task.cancel)
        except RuntimeError:  # the loop is closed (the interpreter is exiting): nothing runs any more
            return
        if not self._ended.wait(wait):
            logger.warning("The interrupted work did not stop within %.0f s; it ends in the background.", wait)


def iterate(stream: AsyncIterator[T], poll: float = 0.05) -> Iterator[T]:
    """The items of an async iterator, for a sync `for` loop on this thread.

    The whole iteration runs as one task on the private loop, so context variables the stream sets (the agent's
    open span: its model and tool spans are its children, its result carries the trace id) live as long as the
    stream, as under `async for`. Each item is handed over through a thread-safe queue, and the task asks the
    stream for the next one only when this loop does: the stream never runs ahead of what the cell has shown, so
    an interrupt leaves the tool call it stopped on on screen. Leaving the loop early or an interrupt cancels the
    stream and waits (a few seconds at most) until it has ended.

    Raises:
        KeyboardInterrupt: after cancelling the stream, when the kernel is interrupted.
        Exception: whatever the stream raised, after the items it yielded before.
    """
    loop = background_loop()
    items: queue.SimpleQueue[Any] = queue.SimpleQueue()
    wanted = asyncio.Event()  # set from this thread: the loop body wants the next item

    async def pump() -> None:
        try:
            while True:
                await wanted.wait()
                wanted.clear()
                try:
                    item = await stream.__anext__()
                except StopAsyncIteration:
                    return
                items.put(item)
        finally:
            items.put(_END)

    work: _Work[None] = _Work(pump())
    try:
        work.start()
        while True:
            loop.call_soon_threadsafe(wanted.set)
            while True:
                try:
                    item = items.get(timeout=poll)
                    break
                except queue.Empty:
                    if work.done() and items.empty():  # ended without its end mark: cancelled before it began
                        work.result()
                        return
            if item is _END:
                work.result()  # the stream's error, if it failed
                return
            yield item
    finally:
        work.stop()


def run_with_progress(
    coro: Coroutine[Any, Any, T], progress: queue.Queue[Any], show: Callable[[Any], None], poll: float = 0.05
) -> T:
    """Run `coro` on the private loop and call `show(item)` on this thread for each item put in `progress` (by
    an event handler on the private loop, say) while it runs; return its result.

    Raises:
        KeyboardInterrupt: after cancelling `coro` and waiting (a few seconds at most) until it has ended.
    """
    work: _Work[T] = _Work(coro)
    try:
        work.start()
        while not work.done():
            try:
                show(progress.get(timeout=poll))
            except queue.Empty:
                continue
        while True:
            try:
                show(progress.get_nowait())
            except queue.Empty:
                break
        return work.result()
    finally:
        work.stop()
