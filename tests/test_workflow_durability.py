"""Durability of workflow runs: across processes, after a kill, through sleeps, at scale, through pruning.

The workflows live in `durable_app.py`, which a subprocess runs as a CLI on a real DuckDB file under
`tmp_path`. Every step logs each execution, so the tests count how many times each step ran in all processes
together. One process holds a DuckDB file at a time: each process ends (or is killed) before the next opens it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import durable_app
import pytest
from durable_app import executions, executions_by_path, make_hub
from pydantic import BaseModel

from mastra_nb import DuckDBStore, ErrorKind, Mastra, MastraConfig, MastraError, Step, Workflow

ROOT = Path(__file__).resolve().parents[1]
APP = Path(__file__).with_name("durable_app.py")
TIMEOUT = 60.0  # for any one subprocess or wait; a healthy run takes a second or two


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "runs.duckdb"


@pytest.fixture
def log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The step execution log; steps run in this process log there too."""
    path = tmp_path / "steps.log"
    monkeypatch.setattr(durable_app, "LOG_PATH", path)
    return path


# -- helpers --------------------------------------------------------------------------------------------------


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def app(db: Path, log: Path, *args: str) -> dict[str, Any]:
    """Run one command of the app in a fresh interpreter; its JSON answer."""
    done = subprocess.run(
        [sys.executable, str(APP), str(db), str(log), *args],
        capture_output=True, text=True, timeout=TIMEOUT, env=_env(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def spawn(db: Path, log: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(APP), str(db), str(log), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
    )  # fmt: skip


def wait_for_log(log: Path, proc: subprocess.Popen[str], found: Callable[[list[str]], bool]) -> list[str]:
    """Poll the log until `found(lines)`; fails if the process ends first or the deadline passes."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        lines = log.read_text().splitlines() if log.exists() else []
        if found(lines):
            return lines
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the process ended (code {proc.returncode}) before the log showed it: {out}\n{err}")
        if time.monotonic() > deadline:
            kill(proc)
            pytest.fail(f"the log never showed it within {TIMEOUT} s: {lines}")
        time.sleep(0.01)


def kill(proc: subprocess.Popen[str]) -> None:
    """SIGKILL: no `finally`, no flush, no atexit; the process just stops."""
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == -signal.SIGKILL


def raw_rows(db: Path, run_id: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The run's row and journal rows exactly as stored (JSON as its text), read with plain DuckDB."""
    conn = duckdb.connect(str(db), read_only=True)
    try:
        run = conn.execute("SELECT * FROM workflow_runs WHERE run_id = ?", [run_id]).fetchall()
        steps = conn.execute("SELECT * FROM workflow_steps WHERE run_id = ? ORDER BY seq", [run_id]).fetchall()
    finally:
        conn.close()
    return run, steps


async def stored(db: Path, run_id: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The run's row and its journal rows by path, read through a `DuckDBStore` that is closed again."""
    store = DuckDBStore(db)
    try:
        [run] = await store.select("workflow_runs", where={"run_id": run_id})
        steps = await store.select("workflow_steps", where={"run_id": run_id}, order_by="seq")
    finally:
        await store.close()
    return run, {row["position"]: row for row in steps}


def at(value: str | None) -> datetime:
    assert value is not None
    return datetime.fromisoformat(value)


# -- 1. suspend in one process, resume in another -------------------------------------------------------------


def test_suspended_run_resumes_in_a_fresh_process(db: Path, log: Path) -> None:
    started = app(db, log, "start", "approval", '{"order_id": "o-7", "amount": 5}', "--run-id", "order-7")

    assert started["status"] == "suspended" and started["suspended"] == ["2"]
    assert started["steps"]["2"]["suspend_payload"] == {"question": "Approve order o-7?", "total": 15}
    assert executions(log) == {"check_order": 1, "quote": 1, "approve": 1}

    resumed = app(db, log, "resume", "approval", "order-7", '{"approved": true, "reviewer": "ann"}')

    assert resumed["status"] == "success", resumed
    assert resumed["output"] == {"message": "order o-7 (15) approved by ann"}
    assert resumed["error"] is None and resumed["suspended"] == []
    # steps before the suspended one ran once, in the first process; the suspended one once more
    assert executions(log) == {"check_order": 1, "quote": 1, "approve": 2, "notify": 1}
    steps = resumed["steps"]
    assert [(p, s["step_id"], s["status"]) for p, s in steps.items()] == [
        ("0", "check_order", "success"), ("1", "quote", "success"), ("2", "approve", "success"),
        ("3", "notify", "success"),
    ]  # fmt: skip
    for path in ("0", "1"):  # replayed from the journal: the first process's results, times included
        assert steps[path] == started["steps"][path]
    gate = steps["2"]
    assert gate["input"] == {"order_id": "o-7", "total": 15}
    assert gate["suspend_payload"] == {"question": "Approve order o-7?", "total": 15}
    assert gate["resume_payload"] == {"approved": True, "reviewer": "ann"}
    assert gate["output"] == {"order_id": "o-7", "total": 15, "approved": True, "reviewer": "ann"}
    assert gate["suspended_at"] == started["steps"]["2"]["suspended_at"]
    assert at(steps["1"]["ended_at"]) <= at(gate["suspended_at"]) < at(gate["resumed_at"])
    assert at(gate["resumed_at"]) <= at(gate["ended_at"]) <= at(steps["3"]["started_at"])
    assert steps["3"]["input"] == gate["output"]
    assert steps["3"]["output"] == {"message": "order o-7 (15) approved by ann"}


# -- 2. invalid resume data in another process ----------------------------------------------------------------


def test_invalid_resume_data_in_another_process_changes_nothing(db: Path, log: Path) -> None:
    app(db, log, "start", "approval", '{"order_id": "o-8", "amount": 2}', "--run-id", "order-8")
    before = raw_rows(db, "order-8")

    refused = app(db, log, "resume", "approval", "order-8", '{"approved": "maybe", "reviewer": "bob"}')

    error = refused["error"]
    assert (error["kind"], error["code"]) == ("validation", "RESUME_DATA_INVALID")
    assert [e["field"] for e in error["details"]["errors"]] == ["approved"]
    assert "`approved`" in error["message"] and "`approve`" in error["message"]
    assert raw_rows(db, "order-8") == before  # byte for byte: the run row and every journal row
    assert before[0][0][3] == "suspended"  # workflow_runs.status
    assert executions(log)["approve"] == 1  # the refused resume ran nothing

    resumed = app(db, log, "resume", "approval", "order-8", '{"approved": false, "reviewer": "bob"}')

    assert resumed["status"] == "success"
    assert resumed["output"] == {"message": "order o-8 (6) rejected by bob"}
    assert executions(log) == {"check_order": 1, "quote": 1, "approve": 2, "notify": 1}


async def test_resume_data_that_cannot_be_stored_is_refused_and_the_run_stays_suspended(db: Path, log: Path) -> None:
    """A step without a `resume` schema: resume data it could not get back from storage is a validation error
    naming the field, raised before anything changes, like any invalid resume data."""
    hub = make_hub(db)
    run = hub.get_workflow("loose").create_run(run_id="loose-1")
    assert (await run.start({})).status == "suspended"
    await hub.storage.close()
    before = raw_rows(db, "loose-1")

    hub = make_hub(db)
    run = await hub.get_workflow("loose").get_run("loose-1")
    try:
        outcome = await run.resume({"when": datetime(2026, 1, 2, tzinfo=timezone.utc)})
    except MastraError as error:
        assert error.kind is ErrorKind.VALIDATION
        assert "`when`" in error.message and "`loose_gate`" in error.message, error.message
        assert run.status == "suspended"
    else:
        pytest.fail(f"`resume` took data it cannot store; the run ended `{outcome.status}`: {outcome.error}")
    finally:
        await hub.storage.close()
    assert raw_rows(db, "loose-1") == before

    hub = make_hub(db)
    try:
        result = await (await hub.get_workflow("loose").get_run("loose-1")).resume({"when": "2026-01-02"})
    finally:
        await hub.storage.close()
    assert result.status == "success" and result.output == {"got": {"when": "2026-01-02"}}


# -- 3. restart after a killed process ------------------------------------------------------------------------


def _kill_while_blocked(db: Path, log: Path, durability: str) -> None:
    """Start `blocking_<durability>` as run `blocked` in a subprocess and SIGKILL it while `block` runs."""
    proc = spawn(db, log, "start", f"blocking_{durability}", '{"n": 0}', "--run-id", "blocked")
    try:
        wait_for_log(log, proc, lambda lines: "block 3" in lines)
    finally:
        kill(proc)
    Path(f"{log}.release").touch()  # from now on `block` finishes at once


async def test_restart_after_kill_with_strict_journal_skips_completed_steps(db: Path, log: Path) -> None:
    _kill_while_blocked(db, log, "strict")

    run, steps = await stored(db, "blocked")
    assert run["status"] == "running"  # what the dead process left behind
    assert {p: (s["step_id"], s["status"]) for p, s in steps.items() if s["status"] != "running"} == {
        "0": ("first", "success"), "1": ("settle", "success"), "2": ("quick", "success"),
    }  # fmt: skip

    recovered = app(db, log, "recover")  # a third process

    assert recovered["found"] == ["blocked"]
    [result] = recovered["results"]
    assert result["status"] == "success", result
    assert result["output"] == {"n": 113}
    # strict: every step that completed before the kill was committed, so none ran again; the interrupted
    # step ran again from its recorded input
    assert executions(log) == {"first": 1, "settle": 1, "quick": 1, "block": 2, "last": 1}
    assert result["steps"]["3"]["input"] == {"n": 3}
    run, _ = await stored(db, "blocked")
    assert run["status"] == "success" and run["output"] == {"n": 113}


async def test_restart_after_kill_with_batched_journal_in_this_process(db: Path, log: Path) -> None:
    _kill_while_blocked(db, log, "batched")

    run, steps = await stored(db, "blocked")
    assert run["status"] == "running"
    done = {s["step_id"] for s in steps.values() if s["status"] == "success"}
    # `settle` lasts longer than a batch, so the batch was written when it ended; `quick` finished just
    # before `block` began, within the next batch, which the kill may have lost
    assert {"first", "settle"} <= done <= {"first", "settle", "quick"}

    hub = make_hub(db)
    try:
        active = await hub.list_active_runs()
        assert [r.run_id for r in active] == ["blocked"]
        result = await active[0].restart()
        assert await hub.list_active_runs() == []
    finally:
        await hub.storage.close()

    assert result.status == "success", result.error
    assert result.output.n == 113
    # batched (the default) may lose the results of the steps completed since the journal's last write: at
    # most BATCH_SIZE steps or BATCH_SECONDS of work, which the restart runs again. Here that is `quick`,
    # unless its batch happened to be written. What was written is never run again.
    counts = executions(log)
    assert counts["quick"] == (1 if "quick" in done else 2)
    assert counts == {"first": 1, "settle": 1, "quick": counts["quick"], "block": 2, "last": 1}


async def test_restart_after_kill_during_a_resumed_step_keeps_the_resume_data(db: Path, log: Path) -> None:
    """Strict journal: the resume was accepted and the run marked running before the process died, so a
    restart continues the resumed step with the data it was given, rather than asking for it again."""
    assert app(db, log, "start", "review", '{"n": 0}', "--run-id", "rev")["status"] == "suspended"
    proc = spawn(db, log, "resume", "review", "rev", '{"delta": 5}')
    try:
        wait_for_log(log, proc, lambda lines: lines.count("review 1") == 2)
    finally:
        kill(proc)
    Path(f"{log}.release").touch()

    recovered = app(db, log, "recover")

    assert recovered["found"] == ["rev"]
    [result] = recovered["results"]
    assert (result["status"], result["suspended"]) == ("success", []), result
    assert result["output"] == {"n": 106}
    assert result["steps"]["1"]["resume_payload"] == {"delta": 5}
    assert executions(log) == {"first": 1, "review": 3, "last": 1}


# -- 4. a sleep that outlives its process ---------------------------------------------------------------------


async def test_sleep_outlives_a_killed_process_and_keeps_its_due_time(db: Path, log: Path) -> None:
    proc = spawn(db, log, "start", "sleeper", '{"n": 4}', "--run-id", "nap", "--watch-waiting")
    try:
        wait_for_log(log, proc, lambda lines: any(line.startswith("sleep-stored") for line in lines))
    finally:
        kill(proc)

    run, steps = await stored(db, "nap")
    assert run["status"] == "running"
    nap = steps["1"]
    assert (nap["step_id"], nap["status"]) == ("@sleep", "waiting")
    due = datetime.fromisoformat(nap["output"]["until"])
    assert due - steps["0"]["ended_at"] >= timedelta(seconds=durable_app.SLEEP_SECONDS)

    recovered = app(db, log, "recover")

    assert recovered["found"] == ["nap"]
    [result] = recovered["results"]
    assert result["status"] == "success" and result["output"] == {"n": 50}
    assert executions(log) == {"before": 1, "sleep-stored": 1, "after": 1}
    _, steps = await stored(db, "nap")
    nap, after = steps["1"], steps["2"]
    assert nap["status"] == "success"
    assert datetime.fromisoformat(nap["output"]["until"]) == due  # the due time was kept, not computed anew
    assert nap["ended_at"] >= due and after["started_at"] >= due  # it continued when due, not before
    # ... and not a full sleep after the restart: the wait counted from the first process's start of it
    restarted_at = at(recovered["restarted_at"])
    assert restarted_at > nap["started_at"]
    assert after["started_at"] - restarted_at < timedelta(seconds=durable_app.SLEEP_SECONDS)


# -- 5. suspend inside a parallel branch inside a loop inside a nested workflow ------------------------------


def test_suspend_deep_inside_nested_loop_parallel_resumes_in_a_fresh_process(db: Path, log: Path) -> None:
    started = app(db, log, "start", "nested_outer", '{"label": "deep"}', "--run-id", "deep")

    assert started["status"] == "suspended"
    assert started["suspended"] == ["1.0.1.0.0"]  # outer node 1 > loop > iteration 1 > parallel > gate
    assert started["steps"]["1.0.1.0.0"]["suspend_payload"] == {"iteration": 1}
    assert started["steps"]["1.0.1.0.1"]["status"] == "success"  # the sibling branch finished
    assert executions_by_path(log) == {
        "prep 0": 1, "gate 1.0.0.0.0": 1, "side 1.0.0.0.1": 1, "merge 1.0.0.1": 1,
        "gate 1.0.1.0.0": 1, "side 1.0.1.0.1": 1,
    }  # fmt: skip

    resumed = app(db, log, "resume", "nested_outer", "deep", '{"reviewer": "ann"}', "--step", "1.0.1.0.0")

    assert resumed["status"] == "success", resumed
    assert resumed["output"] == {"label": "deep", "n": 3, "approvals": ["auto0", "ann", "auto2"], "sides": [0, 10, 20]}
    # everything before the suspended gate ran once; the gate twice; the loop went on for one more iteration
    assert executions_by_path(log) == {
        "prep 0": 1, "gate 1.0.0.0.0": 1, "side 1.0.0.0.1": 1, "merge 1.0.0.1": 1,
        "gate 1.0.1.0.0": 2, "side 1.0.1.0.1": 1, "merge 1.0.1.1": 1,
        "gate 1.0.2.0.0": 1, "side 1.0.2.0.1": 1, "merge 1.0.2.1": 1, "finish 2": 1,
    }  # fmt: skip
    gate = resumed["steps"]["1.0.1.0.0"]
    assert (gate["status"], gate["suspend_payload"], gate["resume_payload"]) == (
        "success", {"iteration": 1}, {"reviewer": "ann"},
    )  # fmt: skip
    assert gate["output"] == {"n": 1, "approvals": ["auto0", "ann"], "sides": [0]}
    assert resumed["steps"]["1"]["status"] == "success"  # the nested workflow as a whole


# -- 6. bytes per step stay constant --------------------------------------------------------------------------


async def test_journal_bytes_per_step_stay_constant_in_a_long_loop(db: Path, log: Path) -> None:
    hub = make_hub(db)
    try:
        short = await hub.get_workflow("counter_10").create_run().start({"n": 0})
        long = await hub.get_workflow("counter_300").create_run().start({"n": 0})
        assert (short.status, short.output.n, long.status, long.output.n) == ("success", 10, "success", 300)
        rows = await hub.storage.select("workflow_steps", where={"run_id": long.run_id}, order_by="seq")
        runs = {r["run_id"]: r for r in await hub.storage.select("workflow_runs")}
    finally:
        await hub.storage.close()

    assert executions(log)["inc"] == 310
    assert len(rows) == 300  # one journal row per step execution, nothing else
    assert [r["position"] for r in rows[:2]] == ["0.0", "0.1"] and rows[299]["position"] == "0.299"
    size = [len(json.dumps(row, default=str)) for row in rows]
    # iteration 10 and iteration 300 differ only in a few digits (position, seq, n)
    assert abs(size[299] - size[9]) <= 16, (size[9], size[299])
    assert max(size) - min(size) <= 16 and max(size) <= 1024
    # the run row holds no history: its snapshot is the same size after 10 iterations as after 300
    snapshot = {run_id: len(json.dumps(runs[run_id]["snapshot"])) for run_id in (short.run_id, long.run_id)}
    assert snapshot[short.run_id] == snapshot[long.run_id], snapshot


# -- 7. many runs at once -------------------------------------------------------------------------------------


async def test_a_hundred_concurrent_runs_on_one_duckdb_file(db: Path, log: Path) -> None:
    hub = make_hub(db)
    workflow = hub.get_workflow("many")
    try:
        results = await asyncio.gather(*(workflow.create_run(f"many-{i}").start({"n": i}) for i in range(100)))
        stored_runs = await hub.storage.select("workflow_runs", where={"workflow_id": "many"})
        journal = await hub.storage.select("workflow_steps")
    finally:
        await hub.storage.close()

    assert [(r.run_id, r.status, r.output.n) for r in results] == [
        (f"many-{i}", "success", 2 * (i + 1) + 1) for i in range(100)
    ]
    assert sorted((r["run_id"], r["status"], r["output"]["n"]) for r in stored_runs) == sorted(
        (f"many-{i}", "success", 2 * (i + 1) + 1) for i in range(100)
    )
    assert len(journal) == 300 and {row["status"] for row in journal} == {"success"}
    assert executions_by_path(log) == {"bump 0": 100, "double 1": 100, "bump 2": 100}


# -- 8. pruning ----------------------------------------------------------------------------------------------


async def test_prune_runs_never_touches_a_suspended_run(db: Path, log: Path) -> None:
    hub = make_hub(db)
    store = hub.storage
    try:
        kept = await hub.get_workflow("approval").create_run("waiting").start({"order_id": "w", "amount": 1})
        assert kept.status == "suspended"  # the oldest run of all
        done = [await hub.get_workflow("counter_10").create_run(f"done-{i}").start({"n": 0}) for i in range(3)]
        failed = await hub.get_workflow("failing").create_run("broken").start({"n": 0})
        assert [r.status for r in done] == ["success"] * 3 and failed.status == "failed"
        waiting_before = (
            await store.select("workflow_runs", where={"run_id": "waiting"}),
            await store.select("workflow_steps", where={"run_id": "waiting"}, order_by="seq"),
        )
        assert len(waiting_before[1]) == 3

        # the newest finished run of each workflow stays
        assert await hub.runs.prune(keep_last=1) == 2
        left = {r["run_id"] for r in await store.select("workflow_runs")}
        assert left == {"waiting", "done-2", "broken"}

        # everything finished before now goes, with its journal; the suspended run, older still, stays
        assert await hub.runs.prune(older_than=datetime.now(timezone.utc)) == 2
        assert {r["run_id"] for r in await store.select("workflow_runs")} == {"waiting"}
        assert {r["run_id"] for r in await store.select("workflow_steps")} == {"waiting"}
        waiting_after = (
            await store.select("workflow_runs", where={"run_id": "waiting"}),
            await store.select("workflow_steps", where={"run_id": "waiting"}, order_by="seq"),
        )
        assert waiting_after == waiting_before
    finally:
        await store.close()

    hub = make_hub(db)  # fresh objects: the pruned-around run is still whole
    try:
        run = await hub.get_workflow("approval").get_run("waiting")
        result = await run.resume({"approved": True, "reviewer": "cy"})
        assert result.status == "success" and result.output.message == "order w (3) approved by cy"
        future = datetime.now(timezone.utc) + timedelta(days=1)
        assert await hub.runs.prune(older_than=future) == 1  # finished now, so prunable
        assert await hub.storage.count("workflow_steps") == 0
    finally:
        await hub.storage.close()


# -- 9. values that cannot be restored faithfully -------------------------------------------------------------


class Thing:
    """A plain class: its instances have no JSON form to come back from."""

    def __init__(self, size: int) -> None:
        self.size = size


class Ticket(BaseModel):
    id: int


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ((1, 2), "(root)"),
        ({"items": [{"id": 1, "when": datetime(2026, 1, 1)}]}, "items[0].when"),
        ({"payload": {"thing": Thing(3)}}, "payload.thing"),
        ({"tags": {"a", "b"}}, "tags"),
        # keys a dotted path cannot name (they once raised a bare KeyError), and a key JSON would turn into "null"
        ({"a.b": {"": datetime(2026, 1, 1)}}, '["a.b"][""]'),
        ({"meta": {None: 1}}, "meta"),
    ],
    ids=["tuple", "datetime", "plain-class", "set", "odd-keys", "non-str-key"],
)
async def test_a_value_that_cannot_be_restored_fails_the_step_naming_the_field(
    db: Path, value: Any, field: str
) -> None:
    async def leaky(data: Any) -> Any:
        return value

    workflow = Workflow("leaky_wf").then(Step("leaky", leaky)).then(Step("never", lambda data: data))
    hub = Mastra(storage=DuckDBStore(db), config=MastraConfig.load(environ={}), workflows=[workflow])
    try:
        result = await workflow.create_run("leak").start({"x": 1})
    finally:
        await hub.storage.close()

    assert result.status == "failed" and result.output is None
    error = result.error
    assert error is not None and error.kind is ErrorKind.VALIDATION
    assert error.code == "WORKFLOW_VALUE_NOT_RESTORABLE"
    assert "`leaky`" in error.message and f"`{field}`" in error.message, error.message
    assert (error.details["step_id"], error.details["path"], error.details["field"]) == ("leaky", "0", field)
    assert result.steps["0"].status == "failed" and result.steps["0"].output is None
    assert "1" not in result.steps

    run, steps = await stored(db, "leak")  # what a fresh process would see: a failure, never a None output
    assert (run["status"], run["output"], run["error"]["code"]) == ("failed", None, "WORKFLOW_VALUE_NOT_RESTORABLE")
    assert (steps["0"]["status"], steps["0"]["output"]) == ("failed", None)


class Question(BaseModel):
    question: str
    total: int


@pytest.mark.parametrize(
    ("schema", "payload", "code", "field"),
    [
        (None, {"question": "ok?", "asked_at": datetime(2026, 1, 1)}, "WORKFLOW_VALUE_NOT_RESTORABLE", "asked_at"),
        (Question, {"question": "ok?", "total": "many"}, "STEP_SUSPEND_INVALID", "total"),
    ],
    ids=["not-restorable", "against-schema"],
)
async def test_a_bad_suspend_payload_fails_the_step_naming_the_field(
    db: Path, schema: Any, payload: dict[str, Any], code: str, field: str
) -> None:
    async def ask(data: Any, ctx: Any) -> Any:
        ctx.suspend(payload)

    workflow = Workflow("asking").then(Step("ask", ask, suspend=schema))
    hub = Mastra(storage=DuckDBStore(db), config=MastraConfig.load(environ={}), workflows=[workflow])
    try:
        result = await workflow.create_run("ask-1").start({})
    finally:
        await hub.storage.close()

    assert result.status == "failed" and result.suspended == []
    error = result.error
    assert error is not None and (error.kind, error.code) == (ErrorKind.VALIDATION, code)
    assert "`ask`" in error.message and f"`{field}`" in error.message, error.message
    # like any other failure of a step: the step is failed (not left suspended or running) and named
    run, steps = await stored(db, "ask-1")
    assert (result.steps["0"].status, run["status"], steps["0"]["status"]) == ("failed", "failed", "failed")
    assert (error.details.get("step_id"), error.details.get("path")) == ("ask", "0"), error.details


async def test_a_value_that_cannot_be_restored_as_a_step_input_names_the_step_and_field(db: Path) -> None:
    workflow = (
        Workflow("mapping")
        .map(lambda data: {"batch": [{"at": datetime(2026, 1, 1)}]})
        .then(Step("consume", lambda data: data))
    )
    hub = Mastra(storage=DuckDBStore(db), config=MastraConfig.load(environ={}), workflows=[workflow])
    try:
        result = await workflow.create_run("map-1").start({})
    finally:
        await hub.storage.close()

    assert result.status == "failed" and result.output is None
    assert result.error is not None and result.error.code == "WORKFLOW_VALUE_NOT_RESTORABLE"
    assert "`consume`" in result.error.message and "`batch[0].at`" in result.error.message, result.error.message


async def test_a_declared_schema_restores_what_plain_json_cannot(db: Path) -> None:
    """The way out the error message offers: with an output schema, a datetime comes back as a datetime."""

    class Stamped(BaseModel):
        ticket: Ticket
        when: datetime

    async def stamp(data: Any) -> Stamped:
        return Stamped(ticket=Ticket(id=9), when=datetime(2026, 1, 1, tzinfo=timezone.utc))

    workflow = Workflow("stamping").then(Step("stamp", stamp, output=Stamped))
    hub = Mastra(storage=DuckDBStore(db), config=MastraConfig.load(environ={}), workflows=[workflow])
    try:
        await workflow.create_run("stamp-1").start({})
    finally:
        await hub.storage.close()

    again = Workflow("stamping").then(Step("stamp", stamp, output=Stamped))
    hub = Mastra(storage=DuckDBStore(db), config=MastraConfig.load(environ={}), workflows=[again])
    try:
        run = await again.get_run("stamp-1")
    finally:
        await hub.storage.close()
    assert run.status == "success"
    assert run.output == Stamped(ticket=Ticket(id=9), when=datetime(2026, 1, 1, tzinfo=timezone.utc))


@pytest.mark.parametrize("store", ["duckdb", "sqlite"])
async def test_a_deleted_run_goes_with_its_journal_and_two_deletes_at_once_delete_it_once(
    tmp_path: Path, log: Path, store: str
) -> None:
    from mastra_nb import SQLiteStore

    storage = DuckDBStore(tmp_path / "m.duckdb") if store == "duckdb" else SQLiteStore(tmp_path / "m.sqlite")
    hub = Mastra(storage=storage, config=MastraConfig.load(environ={}), workflows=[durable_app.approval_workflow()])
    try:
        kept = await hub.get_workflow("approval").create_run("kept").start({"order_id": "k", "amount": 1})
        doomed = await hub.get_workflow("approval").create_run("doomed").start({"order_id": "d", "amount": 1})
        assert kept.status == doomed.status == "suspended"
        outcomes = await asyncio.gather(hub.runs.delete("doomed"), hub.runs.delete("doomed"), return_exceptions=True)
        failures = [o for o in outcomes if isinstance(o, MastraError)]
        assert outcomes.count(None) == 1 and [f.code for f in failures] in (["RUN_NOT_FOUND"], ["RUN_CONFLICT"])
        assert await storage.select("workflow_steps", where={"run_id": "doomed"}) == []
        with pytest.raises(MastraError) as gone:
            await hub.runs.get("doomed")
        assert gone.value.code == "RUN_NOT_FOUND"
        assert len(await storage.select("workflow_steps", where={"run_id": "kept"})) == 3  # the other run is whole
        assert (await hub.get_workflow("approval").get_run("kept")).status == "suspended"
    finally:
        await hub.shutdown()
        await storage.close()
