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
import threading
from collections.abc import Coroutine, Generator, Iterable
from typing import Any, TypeVar

from .errors import ErrorKind, MastraError

__all__ = ["background_loop", "gather_eagerly", "run_sync", "submit"]

T = TypeVar("T")

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
    future = submit(coro)
    try:
        return future.result(timeout)
    except concurrent.futures.TimeoutError:
        future.cancel()
        raise MastraError(
            ErrorKind.SYSTEM,
            "SYNC_BRIDGE_TIMEOUT",
            f"The call did not finish within {timeout} s and was cancelled; raise the timeout or `await` it.",
            retryable=True,
        ) from None
    except KeyboardInterrupt:
        # An interrupted cell must not leave the coroutine running behind the user's back.
        future.cancel()
        raise


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
