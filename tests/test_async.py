import asyncio
import threading

import pytest

from mastra_nb import MastraError, run_sync


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
