import asyncio
import contextvars
import threading
from collections.abc import Coroutine
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mastra_nb import MastraError, run_sync
from mastra_nb._async import gather_eagerly
from mastra_nb.workflows.signals import Suspended


async def answer(value: int) -> int:
    await asyncio.sleep(0.001)
    return value


def test_run_sync_without_a_running_loop():
    assert run_sync(answer(42)) == 42


async def test_run_sync_inside_a_running_loop_as_a_jupyter_kernel_has():
    # A magic or widget callback runs sync code on the kernel's loop thread; run_sync must not deadlock.
    assert run_sync(answer(7)) == 7


def test_run_sync_propagates_the_coroutine_error():
    async def fail() -> None:
        raise KeyError("missing")

    with pytest.raises(KeyError, match="missing"):
        run_sync(fail())


def test_run_sync_times_out_and_cancels():
    cancelled = threading.Event()

    async def slow() -> None:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(MastraError) as info:
        run_sync(slow(), timeout=0.05)
    assert info.value.code == "SYNC_BRIDGE_TIMEOUT"
    assert cancelled.wait(2)


def test_run_sync_from_the_private_loop_is_refused_instead_of_deadlocking():
    async def nested() -> int:
        return run_sync(answer(1))

    with pytest.raises(MastraError) as info:
        run_sync(nested())
    assert info.value.code == "SYNC_BRIDGE_REENTRANT"


def test_asyncio_is_not_patched():
    import mastra_nb._async  # noqa: F401

    assert not hasattr(asyncio, "_nest_patched")
    assert asyncio.run.__module__ == "asyncio.runners"


# -- gather_eagerly: what asyncio.gather(return_exceptions=True) gives, with no task for work that never waits ----

_SEEN: contextvars.ContextVar[str] = contextvars.ContextVar("seen", default="outer")


def _job(index: int, kind: str) -> Coroutine[Any, Any, Any]:
    async def run() -> Any:
        _SEEN.set(f"job {index}")  # each job's context is its own: neither the caller nor a sibling sees this
        if kind == "raise":
            raise ValueError(f"job {index} failed")
        if kind == "signal":
            raise Suspended([str(index)])  # a BaseException, as the engine's signals are
        if kind in ("sleep", "sleep_raise"):
            await asyncio.sleep(0.001 * (index % 3))
            assert _SEEN.get() == f"job {index}"  # the context it set before waiting is still its own
            if kind == "sleep_raise":
                raise KeyError(index)
        if kind == "yield":
            await asyncio.sleep(0)
        return (index, _SEEN.get())

    return run()


def _outcome(result: Any) -> Any:
    return (type(result).__name__, str(result)) if isinstance(result, BaseException) else result


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["done", "raise", "signal", "sleep", "sleep_raise", "yield"]), max_size=12))
def test_gather_eagerly_gives_what_gather_gives_for_any_mix_of_jobs(kinds):
    async def both() -> tuple[list[Any], list[Any]]:
        eager = await gather_eagerly(_job(i, kind) for i, kind in enumerate(kinds))
        assert _SEEN.get() == "outer"
        plain = await asyncio.gather(*(_job(i, kind) for i, kind in enumerate(kinds)), return_exceptions=True)
        return [_outcome(r) for r in eager], [_outcome(r) for r in plain]

    eager, plain = asyncio.run(both())
    assert eager == plain


async def test_gather_eagerly_makes_tasks_only_for_jobs_that_wait():
    before = len(asyncio.all_tasks())
    counts: list[int] = []

    async def count_tasks() -> int:
        counts.append(len(asyncio.all_tasks()))
        await asyncio.sleep(0)
        return len(asyncio.all_tasks())

    async def instant() -> int:
        return 1

    results = await gather_eagerly([instant(), instant(), count_tasks(), instant()])
    assert results[:2] == [1, 1] and results[3] == 1
    assert counts == [before] and results[2] == before + 1  # only the job that waited became a task


async def test_cancelling_the_caller_cancels_the_jobs_that_wait():
    started, cancelled = asyncio.Event(), []

    async def waits() -> None:
        started.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    caller = asyncio.ensure_future(gather_eagerly([waits(), waits()]))
    await started.wait()
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert cancelled == [True, True]


def test_run_sync_cancels_work_that_overruns_its_timeout_and_waits_until_it_has_wound_down():
    wound_down = []

    async def slow() -> None:
        try:
            await asyncio.sleep(30)
        finally:
            await asyncio.sleep(0.2)  # winding down takes a while: closing a session, writing a record
            wound_down.append("done")

    with pytest.raises(MastraError) as late:
        run_sync(slow(), timeout=0.1)
    assert late.value.code == "SYNC_BRIDGE_TIMEOUT"
    assert wound_down == ["done"]  # ended before the caller went on, not behind its back
