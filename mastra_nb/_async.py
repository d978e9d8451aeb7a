"""The one place that bridges sync and async.

The public API is async. Sync entry points (magics, widget callbacks, scripts) call `run_sync(coro)`, which
runs the coroutine on a private event loop in a daemon thread and waits for it. This works the same with
and without a running loop in the caller's thread (a Jupyter kernel has one), on every Python version,
and patches nothing in asyncio: nest-asyncio, named in the design card, is archived and breaks on 3.12+.

Because coroutines may run on the kernel's loop (top-level `await`) or on this private loop, components
must not keep loop-bound asyncio primitives (`asyncio.Lock`, queues) across calls; they guard shared
state with `threading` locks, and blocking I/O runs in worker threads.
"""

from __future__ import annotations

import asyncio
import atexit
import collections.abc
import concurrent.futures
import contextvars
import logging
import threading
from collections.abc import Coroutine, Generator, Iterable
from typing import Any, Generic, TypeVar

from .errors import ErrorKind, MastraError
from .redaction import guard

__all__ = ["Work", "background_loop", "gather_eagerly", "run_sync", "submit"]

T = TypeVar("T")
STOP_WAIT = 5.0  # seconds an interrupted caller waits for its cancelled work to end
logger = guard(logging.getLogger("mastra_nb"))

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None


def background_loop() -> asyncio.AbstractEventLoop:
    """The private event loop, started on first use in a daemon thread."""
    global _loop, _thread
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def serve() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            _thread = threading.Thread(target=serve, name="mastra_nb-loop", daemon=True)
            _thread.start()
            ready.wait()
            _loop = loop
        return _loop


def submit(coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
    """Schedule `coro` on the private loop and return a thread-safe future of its result."""
    return asyncio.run_coroutine_threadsafe(coro, background_loop())


def run_sync(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run a coroutine to completion from sync code and return its result.

    Args:
        coro: the coroutine to run.
        timeout: seconds to wait before cancelling it; None waits for as long as it takes.

    Raises:
        MastraError: when called from the private loop itself (waiting there would deadlock), or on timeout.
    """
    if threading.current_thread() is _thread:
        coro.close()
        raise MastraError(
            ErrorKind.SYSTEM,
            "SYNC_BRIDGE_REENTRANT",
            "`run_sync` was called from code already running on mastra_nb's loop; `await` the coroutine instead.",
        )
    work: Work[T] = Work(coro)
    try:
        work.start()
        assert work.future is not None
        return work.future.result(timeout)
    except concurrent.futures.TimeoutError:
        raise MastraError(
            ErrorKind.SYSTEM,
            "SYNC_BRIDGE_TIMEOUT",
            f"The call did not finish within {timeout} s and was cancelled; raise the timeout or `await` it.",
            retryable=True,
        ) from None
    finally:
        # Ended, or stopped wherever an interrupt or the timeout landed: not begun, it never begins; under way, it
        # is cancelled and waited for, so nothing runs on behind the caller's back.
        work.stop()


class Work(Generic[T]):
    """A coroutine run as one task on the private loop, which the calling thread can stop and wait for.

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


def _stop() -> None:
    loop, thread = _loop, _thread
    if loop is not None and not loop.is_closed():
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(timeout=1.0)
        if not loop.is_running():
            loop.close()  # an unclosed loop warns (ResourceWarning) when the interpreter collects it


atexit.register(_stop)


async def gather_eagerly(coroutines: Iterable[Coroutine[Any, Any, T]]) -> list[T | BaseException]:
    """What `asyncio.gather(*coroutines, return_exceptions=True)` gives, each coroutine started at once instead.

    Each coroutine runs right away, in a copy of the current context, up to its first real wait; only one that
    waits becomes a task, which goes on in that same context. This is Python 3.12's eager task factory for every
    supported version, for one gather: a workflow's parallel branches and foreach items mostly finish without
    waiting, and a task costs more than their work. Exceptions are results, as with `return_exceptions=True`;
    `KeyboardInterrupt` and `SystemExit` propagate, as they do from a task.
    """
    loop = asyncio.get_running_loop()
    results: list[Any] = []
    waiting: list[tuple[int, asyncio.Task[Any]]] = []
    for coroutine in coroutines:
        context = contextvars.copy_context()
        try:
            awaited = context.run(coroutine.send, None)
        except StopIteration as stop:
            results.append(stop.value)
            continue
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as error:
            results.append(error)
            continue
        # A task made inside `context` copies it, with what the first stretch set (3.10 has no `context=`).
        task = context.run(loop.create_task, _Started(coroutine, awaited))
        waiting.append((len(results), task))
        results.append(None)
    if waiting:
        finished = await asyncio.gather(*(task for _, task in waiting), return_exceptions=True)
        for (index, _), result in zip(waiting, finished, strict=True):
            results[index] = result
    return results


class _Started(collections.abc.Coroutine):  # type: ignore[type-arg]
    """A coroutine that already ran up to waiting on `awaited`, for a task to go on with: the task's first step
    gets `awaited` to wait on, and everything after (what it sends, what it throws, a cancellation even before its
    first step) goes to the coroutine, as `yield from` would pass it."""

    def __init__(self, coroutine: Coroutine[Any, Any, Any], awaited: Any) -> None:
        self._coroutine = coroutine
        self._awaited = awaited
        self._first = True

    def send(self, value: Any) -> Any:
        if self._first:
            self._first = False
            return self._awaited
        return self._coroutine.send(value)

    def throw(self, *error: Any) -> Any:
        self._first = False
        return self._coroutine.throw(*error)

    def close(self) -> None:
        self._coroutine.close()

    def __await__(self) -> Generator[Any, Any, Any]:
        raise TypeError("a started coroutine is for a task to go on with, not to await")
