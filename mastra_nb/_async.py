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
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from .errors import ErrorKind, MastraError

__all__ = ["background_loop", "run_sync", "submit"]

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
