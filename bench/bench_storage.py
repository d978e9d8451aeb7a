"""Storage throughput: key writes and reads, one call per key and batched, for each store.

`run()` returns `(label, value, unit)` rows; `python bench/bench_storage.py` prints them as a table.
DuckDB and SQLite write to files in a temporary folder (the same fsync-backed path a notebook uses). Asserts nothing.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from pathlib import Path

from mastra_nb.storage import DuckDBStore, InMemoryStore, SQLiteStore, Storage

SINGLE = 500  # keys written and read one call at a time
BATCH = 5_000  # keys written and read in one mset / mget


async def _timed(work: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await work()
    return time.perf_counter() - started


async def _measure(name: str, store: Storage) -> list[tuple[str, float, str]]:
    value = {"text": "hello " * 10, "n": 42, "tags": ["a", "b"]}
    await store.list()  # open (and for DuckDB, migrate) outside the timings

    async def set_each() -> None:
        for i in range(SINGLE):
            await store.set(f"single:{i}", value)

    async def get_each() -> None:
        for i in range(SINGLE):
            await store.get(f"single:{i}")

    batch = {f"batch:{i}": value for i in range(BATCH)}
    rows = [
        {
            "id": f"s{i}",
            "scorer_id": "bench",
            "score": i / BATCH,
            "details": value,
            "created_at": datetime.now(timezone.utc),
        }
        for i in range(BATCH)
    ]
    timings = [
        ("set, one call per key", await _timed(set_each), SINGLE),
        ("get, one call per key", await _timed(get_each), SINGLE),
        ("mset, one batch", await _timed(lambda: store.mset(batch)), BATCH),
        ("mget, one batch", await _timed(lambda: store.mget(list(batch))), BATCH),
        ("upsert rows, one batch", await _timed(lambda: store.upsert("scores", rows)), BATCH),
        ("select rows, all", await _timed(lambda: store.select("scores")), BATCH),
    ]
    return [(f"{name}: {label}", count / seconds, "ops/s") for label, seconds, count in timings]


async def _run() -> list[tuple[str, float, str]]:
    results: list[tuple[str, float, str]] = []
    memory = InMemoryStore()
    try:
        results += await _measure("InMemoryStore", memory)
    finally:
        await memory.close()
    with tempfile.TemporaryDirectory() as folder:
        duck = DuckDBStore(Path(folder) / "bench.duckdb")
        try:
            results += await _measure("DuckDBStore", duck)
        finally:
            await duck.close()
        lite = SQLiteStore(Path(folder) / "bench.db")
        try:
            results += await _measure("SQLiteStore", lite)
        finally:
            await lite.close()
    return results


def run() -> list[tuple[str, float, str]]:
    """Measure each store; rows of (label, value, unit)."""
    return asyncio.run(_run())


if __name__ == "__main__":
    table = run()
    width = max(len(label) for label, _, _ in table)
    print(f"{'storage benchmark':<{width}}  {'value':>12}  unit")
    for label, value, unit in table:
        print(f"{label:<{width}}  {value:>12,.0f}  {unit}")
