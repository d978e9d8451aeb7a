"""Exactly-once run state under concurrency: `hub.runs`, compare-and-set transitions and the journal's one write
at a time. Each test is a bug once seen (issue #13), on real DuckDB and SQLite files and on `InMemoryStore`."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from mastra_nb import (
    DuckDBStore,
    InMemoryStore,
    Mastra,
    MastraConfig,
    MastraError,
    SQLiteStore,
    Step,
    StepContext,
    Workflow,
)


class Num(BaseModel):
    n: int


class Approval(BaseModel):
    approved: bool


@pytest.fixture(params=["memory", "duckdb", "sqlite"])
async def hub(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Mastra]:
    stores = {"memory": InMemoryStore, "duckdb": lambda: DuckDBStore(tmp_path / "runs.duckdb"),
              "sqlite": lambda: SQLiteStore(tmp_path / "runs.db")}  # fmt: skip
    store = stores[request.param]()
    made = Mastra(storage=store, config=MastraConfig.load(environ={}), telemetry=False)
    yield made
    await made.shutdown()
    await store.close()


def counted(id: str, calls: list[str], delay: float = 0.0) -> Step:
    async def run(data: Num) -> Num:
        calls.append(id)
        await asyncio.sleep(delay)
        return Num(n=data.n + 1)

    return Step(id, run, input=Num, output=Num)


def gate(calls: list[str], delay: float = 0.0) -> Step:
    async def ask(data: Num, ctx: StepContext) -> Num:
        if ctx.resume_data is None:
            ctx.suspend({"question": f"approve {data.n}?"})
        calls.append(f"gate:{ctx.resume_data.approved}")  # the side effect that must happen once
        await asyncio.sleep(delay)
        return Num(n=data.n if ctx.resume_data.approved else -data.n)

    return Step("gate", ask, input=Num, output=Num, resume=Approval)


def item(calls: list[str]) -> Step:
    async def double(n: int) -> int:
        calls.append(f"item:{n}")
        await asyncio.sleep(0.001)
        return n * 2

    return Step("item", double, input=int, output=int)


@pytest.mark.parametrize("durability", ["strict", "batched"])
async def test_concurrent_parallel_and_foreach_runs_all_succeed_and_store_every_step(hub: Mastra, durability: str):
    """Two branches (and foreach items) reaching a step boundary together once both flushed the journal:
    STORAGE_CONFLICT on DuckDB (every strict run), or records marked stored that no write held."""
    calls: list[str] = []
    workflow = hub.add_workflow(
        Workflow("fan", input=Num, durability=durability)  # type: ignore[arg-type]
        .parallel([counted("a", calls, 0.002), counted("b", calls, 0.002)])
        .map(lambda d: list(range(d["a"].n + 8)))
        .foreach(item(calls), concurrency=4)
    )
    results = await asyncio.gather(*(workflow.create_run().start({"n": 1}) for _ in range(60)))
    assert [r.status for r in results] == ["success"] * 60, {r.error.code for r in results if r.error}
    assert all(r.output == [2 * i for i in range(10)] for r in results)
    for result in results:  # the journal holds every step: 2 branches + 10 items
        rows = await hub.storage.select("workflow_steps", where={"run_id": result.run_id})
        assert sorted(r["position"] for r in rows if r["status"] == "success") == sorted(
            ["0.0", "0.1", *(f"2.{i}" for i in range(10))]
        )
    assert len(calls) == 60 * 12


async def test_records_put_while_a_write_is_in_flight_are_kept_and_not_run_again(hub: Mastra):
    """A branch that finished while its sibling's record was being written was marked stored, but no write held
    it; a resume from a fresh object then ran the finished branch again."""
    calls: list[str] = []
    branches = [counted(f"b{i}", calls, 0.005) for i in range(4)]
    workflow = hub.add_workflow(
        Workflow("race", input=Num, durability="strict")
        .parallel(branches)
        .map(lambda d: Num(n=sum(v.n for v in d.values())))
        .then(gate(calls))
    )
    for _ in range(5):
        calls.clear()
        first = await workflow.create_run().start({"n": 1})
        assert first.status == "suspended" and sorted(calls) == ["b0", "b1", "b2", "b3"]
        stored = await hub.storage.select("workflow_steps", where={"run_id": first.run_id, "status": "success"})
        assert sorted(r["position"] for r in stored) == ["0.0", "0.1", "0.2", "0.3"]
        done = await (await workflow.get_run(first.run_id)).resume({"approved": True})
        assert done.status == "success" and done.output == Num(n=8) and len(calls) == 5, calls


async def test_two_objects_resuming_at_once_run_the_step_once_and_the_loser_changes_nothing(hub: Mastra):
    calls: list[str] = []
    workflow = hub.add_workflow(Workflow("twice", input=Num).then(gate(calls, 0.01)).then(counted("after", calls)))
    for _ in range(8):
        calls.clear()
        run_id = (await workflow.create_run().start({"n": 2})).run_id
        first, second = await workflow.get_run(run_id), await workflow.get_run(run_id)
        outcomes = await asyncio.gather(
            first.resume({"approved": True}), second.resume({"approved": False}), return_exceptions=True
        )
        wins = [o for o in outcomes if not isinstance(o, BaseException)]
        [lost] = [o for o in outcomes if isinstance(o, BaseException)]
        assert len(wins) == 1 and wins[0].status == "success"
        assert isinstance(lost, MastraError) and lost.code in ("RUN_NOT_SUSPENDED", "RUN_CONFLICT"), lost
        assert lost.details["run_id"] == run_id and lost.details["status"] in ("running", "success")
        assert len([c for c in calls if c.startswith("gate:")]) == 1 and calls.count("after") == 1
        stored = await workflow.get_run(run_id)
        assert (stored.status, stored.output) == ("success", wins[0].output)  # the winner's answer stays


async def test_a_double_click_on_one_object_resumes_once(hub: Mastra):
    calls: list[str] = []
    workflow = hub.add_workflow(Workflow("click", input=Num).then(gate(calls, 0.01)))
    run = workflow.create_run()
    await run.start({"n": 4})
    outcomes = await asyncio.gather(
        run.resume({"approved": True}), run.resume({"approved": True}), return_exceptions=True
    )
    assert sorted(type(o).__name__ for o in outcomes) == ["MastraError", "RunResult"]
    [lost] = [o for o in outcomes if isinstance(o, MastraError)]
    assert lost.code == "RUN_NOT_SUSPENDED" and "being resumed" in lost.message
    assert calls == ["gate:True"] and run.status == "success"


async def test_a_stale_object_cannot_resume_or_cancel_a_run_finished_elsewhere(hub: Mastra):
    """The stale object's in-memory status still says suspended; the stored run must not flip back."""
    calls: list[str] = []
    workflow = hub.add_workflow(Workflow("stale", input=Num).then(gate(calls)))
    run_id = (await workflow.create_run().start({"n": 5})).run_id
    stale = await workflow.get_run(run_id)
    assert (await (await workflow.get_run(run_id)).resume({"approved": True})).output == Num(n=5)
    before = await hub.storage.select("workflow_runs")
    for attempt in (stale.resume({"approved": False}), stale.cancel()):
        with pytest.raises(MastraError) as info:
            await attempt
        assert info.value.code in ("RUN_NOT_SUSPENDED", "RUN_CONFLICT") and info.value.details["status"] == "success"
    assert await hub.storage.select("workflow_runs") == before and calls == ["gate:True"]
    assert [r.status for r in await hub.runs.active()] == []


async def test_a_cancel_that_lands_while_a_runs_end_is_written_comes_too_late(hub: Mastra):
    """Found by the property suite: the cancel interrupted the final write, so the resume raised RUN_CANCELED
    though its success was stored, and cancel() found the run already finished."""
    calls: list[str] = []
    workflow = hub.add_workflow(Workflow("late", input=Num).then(gate(calls)))
    run = workflow.create_run()
    await run.start({"n": 1})
    resuming = asyncio.ensure_future(run.resume({"approved": True}))
    while run.status != "success":  # the step has run; the run's end is being written
        await asyncio.sleep(0)
    assert run._busy
    with pytest.raises(MastraError) as info:
        await run.cancel()
    assert info.value.code == "RUN_NOT_ACTIVE" and info.value.details["status"] == "success"
    result = await resuming
    assert result.status == "success" and calls == ["gate:True"]
    assert (await workflow.get_run(run.run_id)).status == "success"


async def test_two_restarts_of_one_orphaned_run_continue_it_once(hub: Mastra):
    calls: list[str] = []
    workflow = hub.add_workflow(
        Workflow("orphan", input=Num, durability="strict").then(counted("one", calls)).then(counted("two", calls))
    )
    run = workflow.create_run()
    await run.start({"n": 0})
    # As a crash leaves it: running, owned by a process of this host that no longer exists, step two not recorded.
    dead = {"pid": _dead_pid(), "host": socket.gethostname(), "token": "gone"}
    [row] = await hub.storage.select("workflow_runs")
    await hub.storage.upsert("workflow_runs", [{**row, "status": "running", "output": None,
                                                "snapshot": {**row["snapshot"], "owner": dead}}])  # fmt: skip
    await hub.storage.delete_rows("workflow_steps", {"run_id": run.run_id, "position": "1"})
    calls.clear()
    orphans = await hub.runs.active()
    assert [o.run_id for o in orphans] == [run.run_id]
    twin = await workflow.get_run(run.run_id)
    outcomes = await asyncio.gather(orphans[0].restart(), twin.restart(), return_exceptions=True)
    wins = [o for o in outcomes if not isinstance(o, BaseException)]
    [lost] = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(wins) == 1 and wins[0].output == Num(n=2)
    assert isinstance(lost, MastraError) and lost.code == "RUN_CONFLICT", lost
    assert calls == ["two"] and await hub.runs.active() == []


async def test_hub_runs_lists_gets_and_refuses_ids_that_are_filters(hub: Mastra):
    calls: list[str] = []
    workflow = hub.add_workflow(Workflow("listed", input=Num).then(gate(calls)))
    suspended = await workflow.create_run(resource_id="ada").start({"n": 1})
    info = await hub.runs.get(suspended.run_id)
    assert (info.kind, info.name, info.status, info.resource_id, info.version) == (
        "workflow", "listed", "suspended", "ada", 2
    )  # fmt: skip
    assert [i.run_id for i in await hub.runs.list(workflow="listed", status="suspended")] == [suspended.run_id]
    assert await hub.runs.list(agent="nobody") == [] and await hub.runs.list(resource_id="bob") == []
    for bad in ({"$ne": "x"}, "", None):
        with pytest.raises(MastraError) as error:
            await hub.runs.get(bad)  # type: ignore[arg-type]
        assert error.value.code == "RUN_ID_INVALID" and error.value.details["errors"][0]["field"] == "run_id"
    with pytest.raises(MastraError) as error:
        await hub.runs.get("missing")
    assert error.value.code == "RUN_NOT_FOUND"


def _dead_pid() -> int:
    pid = 4_000_000
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            pass
        pid += 1
