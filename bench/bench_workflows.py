"""What the workflow engine costs: per-step overhead, suspend/resume round trip, foreach, bytes per step,
and many runs at once on one DuckDB file.

Figures, not assertions. The workloads are those of issue 4, so they compare with the peers measured there
on this machine (Mastra 1.71: ~73 us/step in memory; LangGraph with SqliteSaver: ~1,200 us/step; ...).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel

from mastra_nb import DuckDBStore, InMemoryStore, Mastra, MastraConfig, SQLiteStore, Step, Workflow
from mastra_nb.telemetry import Telemetry
from mastra_nb.workflows import StepContext

STEPS = 200
ITEMS = 1_000
CONCURRENT_RUNS = 200
FANOUT = 10


class Count(BaseModel):
    n: int


async def _increment(data: Count) -> Count:
    return Count(n=data.n + 1)


def _linear(durability: str) -> Workflow:
    workflow = Workflow(f"linear_{durability}", input=Count, output=Count, durability=durability)  # type: ignore[arg-type]
    for i in range(STEPS):
        workflow.then(Step(f"s{i}", _increment, input=Count, output=Count))
    return workflow.commit()


async def _per_step_us(workflow: Workflow, hub: Mastra, runs: int = 20) -> float:
    hub.add_workflow(workflow)
    await workflow.create_run().start({"n": 0})  # warm up
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        result = await workflow.create_run().start({"n": 0})
        timings.append(time.perf_counter() - started)
        assert result.output.n == STEPS
    return sorted(timings)[len(timings) // 2] / STEPS * 1e6


def _hub(path: Path | None, tracing: bool | Telemetry = False) -> Mastra:
    # The engine's own cost is measured with tracing off, as the peers were; one row adds it back.
    # A path ending in `.db` is a SQLite file, as `SQLiteStore` names its own; anything else is DuckDB's.
    if path is None:
        storage: InMemoryStore | DuckDBStore | SQLiteStore = InMemoryStore()
    else:
        storage = SQLiteStore(path) if str(path).endswith(".db") else DuckDBStore(path)
    return Mastra(storage=storage, config=MastraConfig.load(environ={}), telemetry=tracing)


class Approval(BaseModel):
    ok: bool


async def _gate(data: Count, ctx: StepContext) -> Count:
    if ctx.resume_data is None:
        ctx.suspend({"n": data.n})
    return data


def _approval_workflow() -> Workflow:
    return (
        Workflow("approval", input=Count, output=Count)
        .then(Step("before", _increment, input=Count, output=Count))
        .then(Step("gate", _gate, input=Count, output=Count, resume=Approval))
        .then(Step("after", _increment, input=Count, output=Count))
        .commit()
    )


async def _round_trip_ms(folder: Path, rounds: int = 20, suffix: str = ".duckdb") -> float:
    """Suspend a run, close everything, then time loading it with fresh objects and resuming it to the end."""
    timings = []
    for i in range(rounds):
        path = folder / f"trip{i}{suffix}"
        hub = _hub(path)
        workflow = hub.add_workflow(_approval_workflow())
        run_id = (await workflow.create_run().start({"n": 0})).run_id
        await hub.storage.close()
        hub = _hub(path)
        await hub.storage.count("workflow_runs")  # open the file first: the round trip, not the file open
        fresh = hub.add_workflow(_approval_workflow())
        started = time.perf_counter()
        result = await (await fresh.get_run(run_id)).resume({"ok": True})
        timings.append(time.perf_counter() - started)
        assert result.status == "success", result
        await hub.storage.close()
    return sorted(timings)[len(timings) // 2] * 1e3


async def _duckdb_floor_ms(folder: Path, rounds: int = 20) -> float:
    """The statements a resume of this run issues, run in plain DuckDB with no mastra_nb code: read the run
    row and its journal rows; then, in one transaction, update the run row, update the resumed step's row and
    insert the next step's, with the same columns the journal writes. The round trip's excess over this is the
    framework's own cost: Python, validation and the worker-thread hops."""
    import duckdb

    timings = []
    for i in range(rounds):
        path = folder / f"floor{i}.duckdb"
        hub = _hub(path)
        workflow = hub.add_workflow(_approval_workflow())
        run_id = (await workflow.create_run().start({"n": 0})).run_id
        await hub.storage.close()
        conn = duckdb.connect(str(path))
        conn.execute("SELECT count(*) FROM workflow_runs").fetchone()  # open the file first, as above
        started = time.perf_counter()
        conn.execute("SELECT * FROM workflow_runs WHERE run_id = ? LIMIT 1", [run_id]).fetchone()
        steps = conn.execute("SELECT * FROM workflow_steps WHERE run_id = ?", [run_id]).fetchall()
        gate = next(row[1] for row in steps if row[4] == "suspended")  # (run_id, position, seq, step_id, status)
        at = datetime.now()
        conn.execute("BEGIN TRANSACTION")
        conn.execute(
            "UPDATE workflow_runs SET status = ?, output = ?::JSON, error = ?::JSON, snapshot = ?::JSON, "
            "updated_at = ? WHERE run_id = ?",
            ["success", '{"n": 2}', None, '{"suspended": [], "state": null}', at, run_id],
        )
        conn.execute(
            "UPDATE workflow_steps SET step_id = ?, status = ?, attempt = ?, input = ?::JSON, output = ?::JSON, "
            "suspend_payload = ?::JSON, resume_payload = ?::JSON, error = ?::JSON, state = ?::JSON, "
            "started_at = ?, ended_at = ?, suspended_at = ?, resumed_at = ? WHERE run_id = ? AND position = ?",
            [
                "gate",
                "success",
                0,
                '{"n": 1}',
                '{"n": 1}',
                '{"n": 1}',
                '{"ok": true}',
                None,
                None,
                *[at] * 4,
                run_id,
                gate,
            ],
        )
        conn.execute(
            "INSERT INTO workflow_steps VALUES (?, 'next', 9, 'after', 'success', 0, ?::JSON, ?::JSON, ?::JSON, "
            "?::JSON, ?::JSON, ?::JSON, ?, ?, ?, ?)",
            [run_id, '{"n": 1}', '{"n": 2}', None, None, None, None, at, at, None, None],
        )
        conn.execute("COMMIT")
        timings.append(time.perf_counter() - started)
        conn.close()
    return sorted(timings)[len(timings) // 2] * 1e3


def _round_trip_fresh_process_ms(folder: Path) -> float:
    path = folder / "process.duckdb"
    setup = f"""
        import asyncio, sys, time
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from bench_workflows import _approval_workflow, _hub

        async def main():
            hub = _hub({str(path)!r})
            workflow = hub.add_workflow(_approval_workflow())
            if sys.argv[1] == "suspend":
                print((await workflow.create_run().start({{"n": 0}})).run_id)
                return
            await hub.storage.count("workflow_runs")
            started = time.perf_counter()
            result = await (await workflow.get_run(sys.argv[1])).resume({{"ok": True}})
            print((time.perf_counter() - started) * 1e3, result.status)

        asyncio.run(main())
    """
    script = textwrap.dedent(setup)
    run_id = subprocess.run([sys.executable, "-c", script, "suspend"], capture_output=True, text=True, check=True)
    out = subprocess.run([sys.executable, "-c", script, run_id.stdout.strip()], capture_output=True, text=True)
    return float(out.stdout.split()[0])


async def _foreach_ms(rounds: int = 20, tracing: bool | Telemetry = False) -> float:
    workflow = Workflow("fanout", input=list[Count]).foreach(Step("inc", _increment, input=Count, output=Count))
    hub = _hub(None, tracing)
    hub.add_workflow(workflow.commit())
    items = [{"n": i} for i in range(ITEMS)]
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        result = await workflow.create_run(durability="none").start(items)
        timings.append(time.perf_counter() - started)
        assert len(result.output) == ITEMS
    return sorted(timings)[len(timings) // 2] * 1e3


async def _bytes_per_step(folder: Path) -> tuple[float, float]:
    """Stored bytes of the journal row of loop iteration 10 and iteration 1,000."""
    hub = _hub(folder / "loop.duckdb")
    workflow = Workflow("loop", input=Count, output=Count).dountil(
        Step("inc", _increment, input=Count, output=Count), lambda out: out.n >= ITEMS
    )
    hub.add_workflow(workflow.commit())
    result = await workflow.create_run().start({"n": 0})
    rows = await hub.storage.select("workflow_steps", where={"run_id": result.run_id}, order_by="seq")
    await hub.storage.close()
    size = [len(json.dumps(row, default=str)) for row in rows]
    return size[9], size[ITEMS - 1]


async def _tick(data: Count) -> Count:
    await asyncio.sleep(0)  # yield, so the runs and the parallel branches interleave
    return Count(n=data.n + 1)


def _spread(outputs: dict) -> list[dict]:
    total = sum(o.n if isinstance(o, Count) else o["n"] for o in outputs.values())
    return [{"n": total + i} for i in range(FANOUT)]


def _fan_workflow(durability: str) -> Workflow:
    return (
        Workflow(f"fan_{durability}", input=Count, durability=durability)  # type: ignore[arg-type]
        .parallel([Step("a", _tick, input=Count, output=Count), Step("b", _tick, input=Count, output=Count)])
        .map(_spread)
        .foreach(Step("item", _tick, input=Count, output=Count), concurrency=4)
        .commit()
    )


async def _concurrent_runs(folder: Path, durability: str) -> tuple[float, int, int, str]:
    """CONCURRENT_RUNS runs of a parallel + foreach workflow started at once on one DuckDB file: runs/s over the
    whole batch, how many ended "success", how many did not, and the first error code seen (runs that fail are
    counted, not raised: a failure here is a figure too)."""
    hub = _hub(folder / f"concurrent_{durability}.duckdb")
    workflow = hub.add_workflow(_fan_workflow(durability))
    await workflow.create_run().start({"n": 0})  # warm up
    started = time.perf_counter()
    results = await asyncio.gather(
        *(workflow.create_run().start({"n": i}) for i in range(CONCURRENT_RUNS)), return_exceptions=True
    )
    elapsed = time.perf_counter() - started
    await hub.storage.close()
    ok, first_error = 0, ""
    for result in results:
        if not isinstance(result, BaseException) and result.status == "success":
            ok += 1
            continue
        if not first_error:
            error = result if isinstance(result, BaseException) else result.error
            first_error = getattr(error, "code", None) or (type(error).__name__ if error else result.status)
    return CONCURRENT_RUNS / elapsed, ok, CONCURRENT_RUNS - ok, first_error


async def _measure() -> list[tuple[str, float, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        none = await _per_step_us(_linear("none"), _hub(None))
        traced = await _per_step_us(_linear("none"), _hub(None, tracing=True))
        memory = await _per_step_us(_linear("batched"), _hub(None))
        batched = await _per_step_us(_linear("batched"), _hub(folder / "batched.duckdb"))
        strict = await _per_step_us(_linear("strict"), _hub(folder / "strict.duckdb"), runs=3)
        sqlite_batched = await _per_step_us(_linear("batched"), _hub(folder / "batched.db"))
        sqlite_strict = await _per_step_us(_linear("strict"), _hub(folder / "strict.db"), runs=3)
        trip = await _round_trip_ms(folder)
        sqlite_trip = await _round_trip_ms(folder, suffix=".db")
        trip_process = _round_trip_fresh_process_ms(folder)
        floor = await _duckdb_floor_ms(folder)
        fanout = await _foreach_ms()
        fanout_traced = await _foreach_ms(tracing=True)
        fanout_all = await _foreach_ms(tracing=Telemetry(step_spans="all"))
        sqlite_strict_traced = await _per_step_us(_linear("strict"), _hub(folder / "traced.db", tracing=True), runs=3)
        at_10, at_1000 = await _bytes_per_step(folder)
        concurrent = {d: await _concurrent_runs(folder, d) for d in ("batched", "strict")}
    rows = [
        (f"linear {STEPS} steps, no persistence (durability none)", none, "µs/step"),
        (f"linear {STEPS} steps, no persistence, tracing on (stored spans)", traced, "µs/step"),
        (f"linear {STEPS} steps, InMemoryStore, batched journal", memory, "µs/step"),
        (f"linear {STEPS} steps, DuckDB, batched journal (default)", batched, "µs/step"),
        (f"linear {STEPS} steps, DuckDB, strict journal", strict, "µs/step"),
        (f"linear {STEPS} steps, SQLite, batched journal", sqlite_batched, "µs/step"),
        (f"linear {STEPS} steps, SQLite, strict journal", sqlite_strict, "µs/step"),
        (f"linear {STEPS} steps, SQLite, strict journal, tracing on", sqlite_strict_traced, "µs/step"),
        ("suspend -> resume round trip, fresh objects, DuckDB", trip, "ms"),
        ("suspend -> resume round trip, fresh objects, SQLite", sqlite_trip, "ms"),
        ("suspend -> resume round trip, fresh process, DuckDB", trip_process, "ms"),
        ("  its DuckDB statements alone, plain DuckDB, no mastra_nb", floor, "ms"),
        (f"foreach over {ITEMS:,} trivial items", fanout, "ms"),
        (f"foreach over {ITEMS:,} trivial items, tracing on (default: spans for the first 10)", fanout_traced, "ms"),
        (f"foreach over {ITEMS:,} trivial items, tracing on, step_spans='all' (a span per item)", fanout_all, "ms"),
        ("bytes stored for loop step 10", at_10, "bytes"),
        (f"bytes stored for loop step {ITEMS:,}", at_1000, "bytes"),
    ]
    for durability, (rate, ok, failed, first_error) in concurrent.items():
        rows += [
            (f"{CONCURRENT_RUNS} concurrent runs, parallel + foreach({FANOUT}), DuckDB, {durability}", rate, "runs/s"),
            ("  of them ended success", ok, "runs"),
            (f"  of them did not{f' (first error: {first_error})' if failed else ''}", failed, "runs"),
        ]
    return rows


def run() -> list[tuple[str, float, str]]:
    """Measure each workload; returns (label, value, unit) rows."""
    return asyncio.run(_measure())


if __name__ == "__main__":
    for label, value, unit in run():
        print(f"{label:<60} {value:>12,.2f} {unit}")
