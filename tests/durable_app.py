"""Workflows for the durability tests, and a small CLI that runs them in a process of its own.

    python tests/durable_app.py DB_PATH LOG_PATH start WORKFLOW INPUT_JSON [--run-id ID] [--durability MODE]
                                                [--watch-waiting]
    python tests/durable_app.py DB_PATH LOG_PATH resume WORKFLOW RUN_ID DATA_JSON [--step STEP]
    python tests/durable_app.py DB_PATH LOG_PATH recover

Each command prints one JSON object on stdout: a run result, or `{"error": ...}` for a `MastraError`.
Every step appends `<step id> <path>` to LOG_PATH each time its function begins, so a test counts how many
times each step ran across processes; `block` waits for the file LOG_PATH + ".release" (the test's way to
hold a step mid-flight until it kills the process), and `--watch-waiting` logs `sleep-stored <due time>`
once the run's sleep has written its due time to storage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from mastra_nb import DuckDBStore, Mastra, MastraConfig, MastraError, RunResult, Step, Workflow
from mastra_nb.workflows import StepContext, StepResult
from mastra_nb.workflows._journal import BATCH_SECONDS

LOG_PATH: Path | None = None  # where steps log their executions; set by `configure`
SLEEP_SECONDS = 3.0
NESTED_SUSPEND_AT = 1  # the loop iteration whose gate asks for a reviewer
BLOCK_DEADLINE = 120.0  # a blocked step gives up after this long, so a forgotten process ends by itself


def configure(log_path: Path) -> None:
    """Send the steps' execution log to `log_path`."""
    global LOG_PATH
    LOG_PATH = log_path


def log(line: str) -> None:
    assert LOG_PATH is not None, "call `configure(log_path)` first"
    with open(LOG_PATH, "a") as out:  # append mode: lines from several processes never interleave
        out.write(line + "\n")


def executions(log_path: Path) -> dict[str, int]:
    """How many times each step id ran, from the log."""
    counts: dict[str, int] = {}
    for line in log_path.read_text().splitlines() if log_path.exists() else ():
        name = line.split()[0]
        counts[name] = counts.get(name, 0) + 1
    return counts


def executions_by_path(log_path: Path) -> dict[str, int]:
    """How many times each `<step id> <path>` ran, from the log."""
    counts: dict[str, int] = {}
    for line in log_path.read_text().splitlines() if log_path.exists() else ():
        if line.startswith("sleep-stored"):
            continue
        counts[line] = counts.get(line, 0) + 1
    return counts


# -- the approval workflow: a step that suspends for a person's decision --------------------------------------


class Order(BaseModel):
    order_id: str
    amount: int


class Quote(BaseModel):
    order_id: str
    total: int


class Ask(BaseModel):
    question: str
    total: int


class Approval(BaseModel):
    approved: bool
    reviewer: str


class Decision(BaseModel):
    order_id: str
    total: int
    approved: bool
    reviewer: str


class Receipt(BaseModel):
    message: str


def check_order(order: Order, ctx: StepContext) -> Order:
    log(f"check_order {ctx.path}")
    return order


async def quote(order: Order, ctx: StepContext) -> Quote:
    log(f"quote {ctx.path}")
    return Quote(order_id=order.order_id, total=order.amount * 3)


async def approve(data: Quote, ctx: StepContext) -> Decision:
    log(f"approve {ctx.path}")
    if ctx.resume_data is None:
        ctx.suspend(Ask(question=f"Approve order {data.order_id}?", total=data.total))
    answer: Approval = ctx.resume_data
    return Decision(order_id=data.order_id, total=data.total, approved=answer.approved, reviewer=answer.reviewer)


async def notify(decision: Decision, ctx: StepContext) -> Receipt:
    log(f"notify {ctx.path}")
    verdict = "approved" if decision.approved else "rejected"
    return Receipt(message=f"order {decision.order_id} ({decision.total}) {verdict} by {decision.reviewer}")


def approval_workflow() -> Workflow:
    return (
        Workflow("approval", input=Order, output=Receipt)
        .then(Step("check_order", check_order, input=Order, output=Order))
        .then(Step("quote", quote, input=Order, output=Quote))
        .then(Step("approve", approve, input=Quote, output=Decision, resume=Approval, suspend=Ask))
        .then(Step("notify", notify, input=Decision, output=Receipt))
    )


async def loose_gate(data: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    log(f"loose_gate {ctx.path}")
    if ctx.resume_data is None:
        ctx.suspend({"question": "anything"})
    return {"got": ctx.resume_data}


def loose_workflow() -> Workflow:
    """A step with no resume schema: whatever it is resumed with must survive a trip through storage."""
    return Workflow("loose").then(Step("loose_gate", loose_gate))


# -- linear steps on a counter: the blocking, sleeping, looping and many-runs workflows -------------------------


class Count(BaseModel):
    n: int


async def first(data: Count, ctx: StepContext) -> Count:
    log(f"first {ctx.path}")
    return Count(n=data.n + 1)


async def settle(data: Count, ctx: StepContext) -> Count:
    log(f"settle {ctx.path}")
    # Longer than a journal batch, so that a batched run writes its records when this step ends.
    await asyncio.sleep(BATCH_SECONDS * 1.5)
    return Count(n=data.n + 1)


def quick(data: Count, ctx: StepContext) -> Count:
    log(f"quick {ctx.path}")
    return Count(n=data.n + 1)


async def wait_for_release() -> None:
    """Wait until the file LOG_PATH + ".release" exists (or give up after `BLOCK_DEADLINE`)."""
    assert LOG_PATH is not None
    release = Path(f"{LOG_PATH}.release")
    deadline = time.monotonic() + BLOCK_DEADLINE
    while not release.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{release} never appeared")
        await asyncio.sleep(0.02)


async def block(data: Count, ctx: StepContext) -> Count:
    log(f"block {ctx.path}")
    await wait_for_release()
    return Count(n=data.n + 10)


async def last(data: Count, ctx: StepContext) -> Count:
    log(f"last {ctx.path}")
    return Count(n=data.n + 100)


def blocking_workflow(durability: str) -> Workflow:
    """first -> settle -> quick -> block -> last; from n=0 the output is n=113."""
    return (
        Workflow(f"blocking_{durability}", input=Count, output=Count, durability=durability)  # type: ignore[arg-type]
        .then(Step("first", first, input=Count, output=Count))
        .then(Step("settle", settle, input=Count, output=Count))
        .then(Step("quick", quick, input=Count, output=Count))
        .then(Step("block", block, input=Count, output=Count))
        .then(Step("last", last, input=Count, output=Count))
    )


async def before(data: Count, ctx: StepContext) -> Count:
    log(f"before {ctx.path}")
    return Count(n=data.n + 1)


async def after(data: Count, ctx: StepContext) -> Count:
    log(f"after {ctx.path}")
    return Count(n=data.n * 10)


class Delta(BaseModel):
    delta: int


async def review(data: Count, ctx: StepContext) -> Count:
    log(f"review {ctx.path}")
    if ctx.resume_data is None:
        ctx.suspend({"n": data.n})
    await wait_for_release()  # the resumed step is still running when the test kills its process
    return Count(n=data.n + ctx.resume_data.delta)


def review_workflow() -> Workflow:
    """first -> review (suspends; once resumed, blocks) -> last, strict; from n=0 resumed with delta d: 101+d."""
    return (
        Workflow("review", input=Count, output=Count, durability="strict")
        .then(Step("first", first, input=Count, output=Count))
        .then(Step("review", review, input=Count, output=Count, resume=Delta))
        .then(Step("last", last, input=Count, output=Count))
    )


def sleeper_workflow() -> Workflow:
    """before -> sleep(SLEEP_SECONDS) -> after, with the default durability."""
    return (
        Workflow("sleeper", input=Count, output=Count)
        .then(Step("before", before, input=Count, output=Count))
        .sleep(SLEEP_SECONDS)
        .then(Step("after", after, input=Count, output=Count))
    )


async def inc(data: Count, ctx: StepContext) -> Count:
    log(f"inc {ctx.path}")
    return Count(n=data.n + 1)


def counter_workflow(limit: int) -> Workflow:
    """A `dountil` loop of `limit` iterations of `inc`."""
    return Workflow(f"counter_{limit}", input=Count, output=Count).dountil(
        Step("inc", inc, input=Count, output=Count), lambda c: c.n >= limit
    )


async def bump(data: Count, ctx: StepContext) -> Count:
    log(f"bump {ctx.path}")
    await asyncio.sleep(0.001)  # really awaits, so that concurrent runs interleave
    return Count(n=data.n + 1)


async def double(data: Count, ctx: StepContext) -> Count:
    log(f"double {ctx.path}")
    await asyncio.sleep(0)
    return Count(n=data.n * 2)


def many_workflow() -> Workflow:
    """bump -> double -> bump: from n the output is 2(n+1)+1."""
    return (
        Workflow("many", input=Count, output=Count)
        .then(Step("bump", bump, input=Count, output=Count))
        .then(Step("double", double, input=Count, output=Count))
        .then(Step("bump_again", bump, input=Count, output=Count))
    )


async def explode(data: Count, ctx: StepContext) -> Count:
    log(f"explode {ctx.path}")
    raise ValueError("boom")


def failing_workflow() -> Workflow:
    return Workflow("failing", input=Count, output=Count).then(Step("explode", explode, input=Count, output=Count))


# -- a suspend inside a parallel branch inside a loop inside a nested workflow -------------------------------


class Label(BaseModel):
    label: str


class Tally(BaseModel):
    n: int
    approvals: list[str]
    sides: list[int]


class Side(BaseModel):
    seen: int


class Joined(BaseModel):
    gate: Tally
    side: Side


class Reviewer(BaseModel):
    reviewer: str


class Iteration(BaseModel):
    iteration: int


class Final(BaseModel):
    label: str
    n: int
    approvals: list[str]
    sides: list[int]


async def prep(data: Label, ctx: StepContext) -> Tally:
    log(f"prep {ctx.path}")
    return Tally(n=0, approvals=[], sides=[])


async def gate(data: Tally, ctx: StepContext) -> Tally:
    log(f"gate {ctx.path}")
    if data.n == NESTED_SUSPEND_AT and ctx.resume_data is None:
        ctx.suspend(Iteration(iteration=data.n))
    who = ctx.resume_data.reviewer if ctx.resume_data is not None else f"auto{data.n}"
    return Tally(n=data.n, approvals=[*data.approvals, who], sides=data.sides)


async def side(data: Tally, ctx: StepContext) -> Side:
    log(f"side {ctx.path}")
    return Side(seen=data.n * 10)


async def merge(data: Joined, ctx: StepContext) -> Tally:
    log(f"merge {ctx.path}")
    return Tally(n=data.gate.n + 1, approvals=data.gate.approvals, sides=[*data.gate.sides, data.side.seen])


async def finish(data: Tally, ctx: StepContext) -> Final:
    log(f"finish {ctx.path}")
    label: Label = ctx.get_init_data()
    return Final(label=label.label, n=data.n, approvals=data.approvals, sides=data.sides)


def nested_workflow() -> Workflow:
    """prep -> inner (dountil n >= 3 of body (parallel [gate, side] -> merge)) -> finish.

    The gate of iteration `NESTED_SUSPEND_AT` suspends, at path "1.0.1.0.0": node 1 of the outer workflow
    (inner), its node 0 (the loop), iteration 1 (body), its node 0 (the parallel), branch 0 (gate).
    """
    branches = [
        Step("gate", gate, input=Tally, output=Tally, resume=Reviewer, suspend=Iteration),
        Step("side", side, input=Tally, output=Side),
    ]
    body = (
        Workflow("loop_body", input=Tally, output=Tally)
        .parallel(branches)
        .then(Step("merge", merge, input=Joined, output=Tally))
    )
    inner = Workflow("inner", input=Tally, output=Tally).dountil(body, lambda t: t.n >= 3)
    return (
        Workflow("nested_outer", input=Label, output=Final)
        .then(Step("prep", prep, input=Label, output=Tally))
        .then(inner)
        .then(Step("finish", finish, input=Tally, output=Final))
    )


# -- the hub and the CLI -------------------------------------------------------------------------------------


def make_hub(db_path: Path | str) -> Mastra:
    """A hub on the DuckDB file with every workflow of this module registered (fresh objects each time)."""
    workflows = [
        approval_workflow(), loose_workflow(), blocking_workflow("strict"), blocking_workflow("batched"),
        review_workflow(), sleeper_workflow(), nested_workflow(), many_workflow(), failing_workflow(),
        counter_workflow(10), counter_workflow(300),
    ]  # fmt: skip
    return Mastra(storage=DuckDBStore(db_path), config=MastraConfig.load(environ={}), workflows=workflows)


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _step_json(s: StepResult) -> dict[str, Any]:
    return {
        "step_id": s.step_id, "status": s.status, "input": s.input, "output": s.output,
        "suspend_payload": s.suspend_payload, "resume_payload": s.resume_payload, "error": s.error,
        "attempts": s.attempts, "started_at": _time(s.started_at), "ended_at": _time(s.ended_at),
        "suspended_at": _time(s.suspended_at), "resumed_at": _time(s.resumed_at),
    }  # fmt: skip


def result_json(result: RunResult) -> dict[str, Any]:
    """A run result as JSON (times as ISO 8601 strings)."""
    output = result.output.model_dump(mode="json") if isinstance(result.output, BaseModel) else result.output
    steps = {path: _step_json(s) for path, s in result.steps.items()}
    return {
        "run_id": result.run_id, "workflow_id": result.workflow_id, "status": result.status, "output": output,
        "error": result.error.to_dict() if result.error is not None else None, "suspended": result.suspended,
        "steps": steps,
    }  # fmt: skip


async def _watch_waiting(hub: Mastra, run_id: str) -> None:
    """Log `sleep-stored <due>` once the run's sleep has stored its due time (read back from storage)."""
    while True:
        rows = await hub.storage.select("workflow_steps", where={"run_id": run_id, "status": "waiting"})
        if rows:
            log(f"sleep-stored {rows[0]['output']['until']}")
            return
        await asyncio.sleep(0.01)


async def _command(hub: Mastra, args: argparse.Namespace) -> dict[str, Any]:
    if args.command == "start":
        run = hub.get_workflow(args.workflow).create_run(run_id=args.run_id, durability=args.durability)
        if not args.watch_waiting:
            return result_json(await run.start(json.loads(args.input)))
        watcher = asyncio.ensure_future(_watch_waiting(hub, run.run_id))
        try:
            return result_json(await run.start(json.loads(args.input)))
        finally:
            watcher.cancel()
    if args.command == "resume":
        run = await hub.get_workflow(args.workflow).get_run(args.run_id)
        return result_json(await run.resume(json.loads(args.data), step=args.step))
    # recover: every run a dead process left running, continued here
    runs = await hub.list_active_runs()
    restarted_at = datetime.now().astimezone()
    results = [result_json(await run.restart()) for run in runs]
    return {"found": [run.run_id for run in runs], "restarted_at": restarted_at.isoformat(), "results": results}


async def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="durable_app")
    parser.add_argument("db")
    parser.add_argument("log")
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start")
    start.add_argument("workflow")
    start.add_argument("input")
    start.add_argument("--run-id")
    start.add_argument("--durability")
    start.add_argument("--watch-waiting", action="store_true")
    resume = commands.add_parser("resume")
    resume.add_argument("workflow")
    resume.add_argument("run_id")
    resume.add_argument("data")
    resume.add_argument("--step")
    commands.add_parser("recover")
    args = parser.parse_args(argv)

    configure(Path(args.log))
    hub = make_hub(args.db)
    try:
        answer = await _command(hub, args)
    except MastraError as error:
        answer = {"error": error.to_dict()}
    finally:
        await hub.storage.close()  # the hub did not open it, so shutting the hub down would not close it
        await hub.shutdown()
    print(json.dumps(answer))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
