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
import queue
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, TypeVar

from .._async import Work, background_loop

__all__ = ["iterate", "run_with_progress"]

T = TypeVar("T")
_END = object()


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

    work: Work[None] = Work(pump())
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
    work: Work[T] = Work(coro)
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
