"""What the validated tool path costs over a bare function call.

Microseconds per call of a trivial two-integer tool: the bare function, `await tool.execute(...)` with an
async function (validation, output check, retry wrapper), the same with a sync function (plus the hop to a
worker thread), and a cache hit (validation and the cache lookup only). Figures, not assertions.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable

from mastra_nb.tools import tool

ITERATIONS = 5_000


def _add(a: int, b: int) -> int:
    return a + b


async def _add_async(a: int, b: int) -> int:
    return a + b


async def _per_call_us(call: Callable[[], Awaitable[object]], iterations: int) -> float:
    for _ in range(min(200, iterations)):  # warm up: pydantic's validators and the thread pool
        await call()
    started = time.perf_counter()
    for _ in range(iterations):
        await call()
    return (time.perf_counter() - started) / iterations * 1e6


async def _measure(iterations: int) -> list[tuple[str, float, str]]:
    async_tool = tool(id="add_async")(_add_async)
    sync_tool = tool(id="add_sync")(_add)
    cached_tool = tool(id="add_cached", cache=True)(_add_async)
    args = {"a": 2, "b": 3}
    await cached_tool.execute(args)  # every later call is a hit

    started = time.perf_counter()
    for _ in range(iterations):
        _add(2, 3)
    bare = (time.perf_counter() - started) / iterations * 1e6

    return [
        ("bare function call", bare, "µs/call"),
        ("execute, async function", await _per_call_us(lambda: async_tool.execute(args), iterations), "µs/call"),
        ("execute, sync function (thread hop)", await _per_call_us(lambda: sync_tool.execute(args), iterations),
         "µs/call"),
        ("execute, cache hit", await _per_call_us(lambda: cached_tool.execute(args), iterations), "µs/call"),
    ]  # fmt: skip


def run(iterations: int = ITERATIONS) -> list[tuple[str, float, str]]:
    """Measure each path `iterations` times; returns (label, value, unit) rows."""
    return asyncio.run(_measure(iterations))


if __name__ == "__main__":
    rows = run()
    width = max(len(label) for label, _, _ in rows)
    print(f"Tool overhead, {ITERATIONS:,} calls each (Python {sys.version.split()[0]})")
    for label, value, unit in rows:
        print(f"  {label:<{width}}  {value:>10,.2f} {unit}")
