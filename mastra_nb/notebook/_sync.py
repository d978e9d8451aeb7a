"""Async work driven from a magic: pulled step by step through `_async`, so output stays on the cell's thread.

A magic is sync code on the kernel's main thread, and the kernel routes what that thread prints and displays to
the running cell. The async API runs on `_async`'s private loop; these helpers bring its results and events back
to the main thread one at a time, where the magic shows them. An interrupt (the kernel's stop button) reaches the
main thread as `KeyboardInterrupt` and cancels the work on the private loop, as `run_sync` does: a workflow's
journal keeps every step recorded so far, so an interrupted run can be restarted, never half-written.
"""

from __future__ import annotations

import queue
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, TypeVar

from .._async import run_sync, submit

__all__ = ["iterate", "run_with_progress"]

T = TypeVar("T")
_END = object()


def iterate(stream: AsyncIterator[T]) -> Iterator[T]:
    """The items of an async iterator, for a sync `for` loop; each one is awaited on the private loop."""

    async def step() -> Any:
        try:
            return await stream.__anext__()
        except StopAsyncIteration:
            return _END

    while True:
        item = run_sync(step())
        if item is _END:
            return
        yield item


def run_with_progress(
    coro: Coroutine[Any, Any, T], progress: queue.Queue[Any], show: Callable[[Any], None], poll: float = 0.05
) -> T:
    """Run `coro` on the private loop and call `show(item)` on this thread for each item put in `progress` (by
    an event handler on the private loop, say) while it runs; return its result.

    Raises:
        KeyboardInterrupt: after cancelling `coro`, when the kernel is interrupted.
    """
    future = submit(coro)
    try:
        while not future.done():
            try:
                show(progress.get(timeout=poll))
            except queue.Empty:
                continue
        while True:
            try:
                show(progress.get_nowait())
            except queue.Empty:
                break
        return future.result()
    except KeyboardInterrupt:
        future.cancel()
        raise
