"""Runs in one process: suspend and resume, failures and retries, cancel, events, watch and stream, time travel."""

import asyncio

import pytest
from pydantic import BaseModel

from mastra_nb import InMemoryStore, Mastra, MastraConfig, MastraError, RetryPolicy, Step, StepContext, Workflow, step
from mastra_nb import events as names


class Num(BaseModel):
    n: int


class Approval(BaseModel):
    approved: bool
    note: str = ""


class Question(BaseModel):
    question: str


def new_hub() -> Mastra:
    return Mastra(storage=InMemoryStore(), config=MastraConfig.load(environ={}))


def gate(id: str = "gate") -> Step:
    async def ask(data: Num, ctx: StepContext) -> Num:
        if ctx.resume_data is None:
            ctx.suspend(Question(question=f"approve {data.n}?"))
        return Num(n=data.n if ctx.resume_data.approved else -data.n)

    return Step(id, ask, input=Num, output=Num, resume=Approval, suspend=Question)


def counting(id: str, calls: list[str], amount: int = 1) -> Step:
    async def run(data: Num) -> Num:
        calls.append(id)
        return Num(n=data.n + amount)

    return Step(id, run, input=Num, output=Num)


async def test_suspend_then_resume_in_a_fresh_object_runs_earlier_steps_once():
    calls: list[str] = []
    hub = new_hub()
    workflow = hub.add_workflow(
        Workflow("approve", input=Num, output=Num)
        .then(counting("before", calls))
        .then(gate())
        .then(counting("after", calls))
    )
    run = workflow.create_run()
    suspended = await run.start({"n": 1})
    assert suspended.status == "suspended" and suspended.suspended == ["1"]
    assert suspended.steps["1"].suspend_payload == {"question": "approve 2?"}
    assert suspended.steps["1"].suspended_at is not None

    fresh = await workflow.get_run(run.run_id)
    assert fresh is not run and fresh.status == "suspended"
    done = await fresh.resume({"approved": True, "note": "ok"})
    assert done.status == "success" and done.output == Num(n=3)
    assert calls == ["before", "after"]
    resumed = done.steps["1"]
    assert resumed.resume_payload == {"approved": True, "note": "ok"} and resumed.resumed_at >= resumed.suspended_at
    assert resumed.suspend_payload == {"question": "approve 2?"}


async def test_invalid_resume_data_names_the_field_and_changes_nothing():
    hub = new_hub()
    workflow = hub.add_workflow(Workflow("strict_gate", input=Num).then(gate()))
    run = workflow.create_run()
    await run.start({"n": 1})
    before = (await hub.storage.select("workflow_runs"), await hub.storage.select("workflow_steps"))
    with pytest.raises(MastraError) as info:
        await run.resume({"approved": "perhaps"})
    assert info.value.code == "RESUME_DATA_INVALID" and "`approved`" in str(info.value)
    assert run.status == "suspended"
    assert (await hub.storage.select("workflow_runs"), await hub.storage.select("workflow_steps")) == before
    assert (await run.resume({"approved": False})).output == Num(n=-1)


async def test_resume_errors_are_clear():
    hub = new_hub()
    workflow = hub.add_workflow(Workflow("gates", input=Num).parallel([gate("a"), gate("b")]))
    run = workflow.create_run()
    result = await run.start({"n": 1})
    assert sorted(result.suspended) == ["0.0", "0.1"]
    with pytest.raises(MastraError, match="RUN_STEP_AMBIGUOUS"):
        await run.resume({"approved": True})  # two are suspended: which one?
    with pytest.raises(MastraError, match="RUN_STEP_NOT_SUSPENDED"):
        await run.resume({"approved": True}, step="nope")
    with pytest.raises(MastraError, match="RUN_NOT_FOUND"):
        await workflow.get_run("no-such-run")

    partly = await run.resume({"approved": True}, step="a")  # by step id
    assert partly.status == "suspended" and partly.suspended == ["0.1"]
    done = await run.resume({"approved": False}, step="0.1")  # by path
    assert done.status == "success" and done.output == {"a": Num(n=1), "b": Num(n=-1)}
    with pytest.raises(MastraError, match="RUN_NOT_SUSPENDED"):
        await run.resume({"approved": True})


async def test_a_suspend_inside_a_foreach_resumes_each_item_by_path():
    hub = new_hub()
    workflow = hub.add_workflow(Workflow("items", input=list[Num]).foreach(gate(), concurrency=2))
    run = workflow.create_run()
    result = await run.start([{"n": 1}, {"n": 2}])
    assert sorted(result.suspended) == ["0.0", "0.1"]
    await run.resume({"approved": True}, step="0.1")
    done = await run.resume({"approved": True})
    assert done.output == [Num(n=1), Num(n=2)]


async def test_a_failing_step_is_retried_then_fails_the_run_with_its_path():
    attempts = 0

    async def flaky(data: Num) -> Num:
        nonlocal attempts
        attempts += 1
        raise ConnectionError("upstream down")

    policy = RetryPolicy(attempts=3, base_delay=0.001, jitter=0)
    workflow = (
        Workflow("fails", input=Num)
        .then(Step("ok", lambda d: d, input=Num, output=Num))
        .then(Step("flaky", flaky, input=Num, output=Num, retries=policy))
    )
    hub = new_hub()
    hub.add_workflow(workflow)
    result = await workflow.create_run().start({"n": 1})
    assert attempts == 3
    assert result.status == "failed"
    assert result.error.code == "STEP_FAILED" and result.error.details["path"] == "1"
    assert "`flaky`" in str(result.error) and "ConnectionError" in str(result.error)
    assert result.steps["1"].status == "failed" and result.steps["1"].attempts == 3
    assert result.steps["0"].status == "success"
    stored = await hub.storage.select("workflow_runs")
    assert stored[0]["status"] == "failed" and stored[0]["error"]["code"] == "STEP_FAILED"


async def test_a_step_timeout_fails_the_step():
    async def slow(data: Num) -> Num:
        await asyncio.sleep(5)
        return data

    workflow = Workflow("slow", input=Num).then(Step("slow", slow, input=Num, output=Num, timeout=0.05))
    new_hub().add_workflow(workflow)
    result = await workflow.create_run().start({"n": 1})
    assert result.status == "failed" and result.error.code == "STEP_TIMEOUT"


async def test_invalid_step_output_fails_the_run_naming_the_field():
    workflow = Workflow("liar", input=Num).then(Step("liar", lambda d: {"n": "lots"}, input=Num, output=Num))
    new_hub().add_workflow(workflow)
    result = await workflow.create_run().start({"n": 1})
    assert result.error.code == "STEP_OUTPUT_INVALID" and "`n`" in str(result.error)


async def test_cancel_stops_a_running_run_and_a_suspended_one():
    started = asyncio.Event()
    after: list[str] = []

    async def wait(data: Num) -> Num:
        started.set()
        await asyncio.sleep(10)
        return data

    hub = new_hub()
    workflow = hub.add_workflow(
        Workflow("long", input=Num).then(Step("wait", wait, input=Num, output=Num)).then(counting("after", after))
    )
    run = workflow.create_run()
    task = asyncio.ensure_future(run.start({"n": 1}))
    await started.wait()
    canceled = await run.cancel()
    assert canceled.status == "canceled" and (await task).status == "canceled" and after == []
    assert (await hub.storage.select("workflow_runs"))[0]["status"] == "canceled"

    paused = hub.add_workflow(Workflow("paused", input=Num).then(gate()))
    suspended = paused.create_run()
    await suspended.start({"n": 1})
    assert (await suspended.cancel()).status == "canceled"
    with pytest.raises(MastraError, match="RUN_NOT_SUSPENDED"):
        await suspended.resume({"approved": True})
    with pytest.raises(MastraError, match="RUN_NOT_ACTIVE"):
        await suspended.cancel()


async def test_events_arrive_in_order_on_the_hub_and_to_watchers():
    hub = new_hub()
    workflow = hub.add_workflow(Workflow("watched", input=Num).then(counting("a", [])).then(gate()))
    seen: list[tuple[str, str | None]] = []
    hub.events.subscribe("workflow:*", lambda e: seen.append((e.name, None)))
    hub.events.subscribe("step:*", lambda e: seen.append((e.name, e.payload["path"])))
    run = workflow.create_run()
    watched: list[str] = []
    run.watch(lambda e: watched.append(e.name))
    await run.start({"n": 1})
    await run.resume({"approved": True})
    await hub.events.drain()
    await run._events.drain()
    assert seen == [
        (names.WORKFLOW_STARTED, None), (names.STEP_STARTED, "0"), (names.STEP_COMPLETED, "0"),
        (names.STEP_STARTED, "1"), (names.STEP_SUSPENDED, "1"),
        (names.WORKFLOW_STARTED, None), (names.STEP_STARTED, "1"), (names.STEP_COMPLETED, "1"),
        (names.WORKFLOW_COMPLETED, None),
    ]  # fmt: skip
    assert watched == [name for name, _ in seen]


async def test_stream_yields_the_runs_events_until_it_ends():
    workflow = Workflow("streamed", input=Num).then(counting("a", [])).then(counting("b", []))
    new_hub().add_workflow(workflow)
    run = workflow.create_run()
    events = [event async for event in run.stream({"n": 1})]
    assert [e.name for e in events] == [
        "workflow:started", "step:started", "step:completed", "step:started", "step:completed", "workflow:completed"
    ]  # fmt: skip
    assert events[-1].payload["status"] == "success" and run.result.output == Num(n=3)


async def test_runs_are_listed_from_storage_newest_first():
    hub = new_hub()
    workflow = hub.add_workflow(Workflow("listed", input=Num).then(gate()))
    first = (await workflow.create_run(resource_id="u1").start({"n": 1})).run_id
    second = (await workflow.create_run(resource_id="u2").start({"n": 2})).run_id
    await (await workflow.get_run(first)).resume({"approved": True})
    assert [r["run_id"] for r in await workflow.list_runs()] == [second, first]
    assert [r["run_id"] for r in await workflow.list_runs(status="suspended")] == [second]
    assert [r["run_id"] for r in await workflow.list_runs(resource_id="u1")] == [first]


async def test_time_travel_forks_from_a_step_and_leaves_history_alone():
    calls: list[str] = []
    hub = new_hub()
    workflow = hub.add_workflow(
        Workflow("travel", input=Num, output=Num)
        .then(counting("one", calls, 1))
        .then(counting("two", calls, 10))
        .then(counting("three", calls, 100))
    )
    original = workflow.create_run()
    assert (await original.start({"n": 0})).output == Num(n=111)
    history = await hub.storage.select("workflow_steps", where={"run_id": original.run_id})

    calls.clear()
    fork = await original.time_travel("two")  # its stored input: {"n": 1}
    assert fork.output == Num(n=111) and fork.parent_run_id == original.run_id and fork.run_id != original.run_id
    assert calls == ["two", "three"]  # step one was not run again

    calls.clear()
    changed = await original.time_travel("two", input={"n": 1000})
    assert changed.output == Num(n=1110) and calls == ["two", "three"]
    assert await hub.storage.select("workflow_steps", where={"run_id": original.run_id}) == history
    reloaded = await workflow.get_run(changed.run_id)
    assert reloaded.result.parent_run_id == original.run_id and reloaded.result.output == Num(n=1110)


async def test_one_hundred_concurrent_runs_all_finish_correctly():
    hub = new_hub()
    workflow = hub.add_workflow(
        Workflow("many", input=Num, output=Num).then(counting("a", [], 1)).then(counting("b", [], 2))
    )
    results = await asyncio.gather(*(workflow.create_run().start({"n": i}) for i in range(100)))
    assert [r.output.n for r in results] == [i + 3 for i in range(100)]
    assert await hub.storage.count("workflow_runs", where={"status": "success"}) == 100


async def test_workflow_as_a_tool_reports_a_suspension():
    workflow = Workflow("review", input=Num, description="Review a number.").then(gate())
    new_hub().add_workflow(workflow)
    as_tool = workflow.as_tool()
    assert as_tool.id == "workflow_review" and as_tool.description == "Review a number."
    reply = await as_tool.execute({"n": 4})
    assert reply["status"] == "suspended" and reply["suspended"] == {"0": {"question": "approve 4?"}}


@step
async def add_one(data: Num) -> Num:
    return Num(n=data.n + 1)


async def test_an_unregistered_workflow_runs_on_a_private_in_memory_hub():
    workflow = Workflow("standalone", input=Num, output=Num).then(add_one)
    assert (await workflow.create_run().start({"n": 1})).output == Num(n=2)


class Seen(BaseModel):
    items: list[str] = []


async def test_time_travel_restores_the_state_as_it_was_at_that_step():
    def remember(id: str) -> Step:
        async def run(data: Num, ctx: StepContext) -> Num:
            ctx.set_state(Seen(items=[*ctx.state.items, id]))
            return Num(n=data.n + 1)

        return Step(id, run, input=Num, output=Num)

    @step
    async def report(data: Num, ctx: StepContext) -> list[str]:
        return ctx.state.items

    hub = new_hub()
    workflow = hub.add_workflow(
        Workflow("stateful", input=Num, state=Seen).then(remember("a")).then(remember("b")).then(report)
    )
    original = workflow.create_run()
    assert (await original.start({"n": 0})).output == ["a", "b"]
    assert (await original.time_travel("b")).output == ["a", "b"]  # not ["a", "b", "b"]
    assert (await original.time_travel("a")).output == ["a", "b"]  # from the initial state


async def test_starting_a_run_whose_id_is_stored_is_refused_and_the_stored_run_is_kept():
    hub = new_hub()
    workflow = hub.add_workflow(Workflow("reuse", input=Num).then(gate()))
    assert (await workflow.create_run("order-1").start({"n": 1})).status == "suspended"
    before = (await hub.storage.select("workflow_runs"), await hub.storage.select("workflow_steps"))
    again = workflow.create_run("order-1")
    with pytest.raises(MastraError) as info:
        await again.start({"n": 2})
    assert info.value.code == "RUN_ALREADY_EXISTS" and "`await workflow.get_run(run_id)`" in info.value.message
    assert again.status == "pending"
    assert (await hub.storage.select("workflow_runs"), await hub.storage.select("workflow_steps")) == before
    assert (await (await workflow.get_run("order-1")).resume({"approved": True})).output == Num(n=1)


async def test_a_second_object_resuming_a_run_already_resumed_fails_without_changing_it():
    """Two objects loaded while the run was suspended: the first resume wins; the second one's claim finds the
    run finished and fails before running anything or writing over it."""
    hub = new_hub()
    calls: list[str] = []
    workflow = hub.add_workflow(Workflow("twice", input=Num).then(gate()).then(counting("after", calls)))
    run_id = (await workflow.create_run().start({"n": 2})).run_id
    first, second = await workflow.get_run(run_id), await workflow.get_run(run_id)
    assert (await first.resume({"approved": True})).output == Num(n=3)
    stored = (await hub.storage.select("workflow_runs"), await hub.storage.select("workflow_steps"))
    with pytest.raises(MastraError) as info:
        await second.resume({"approved": False})
    assert info.value.code == "RUN_NOT_SUSPENDED" and info.value.details["status"] == "success"
    assert f"`{run_id}`" in info.value.message and "`success`" in info.value.message
    assert (await hub.storage.select("workflow_runs"), await hub.storage.select("workflow_steps")) == stored
    assert (await workflow.get_run(run_id)).result.output == Num(n=3) and calls == ["after"]


async def test_a_failing_step_says_once_what_it_raised_and_where_in_the_users_code():
    def crash(data: dict) -> dict:
        return {"ratio": 1 / data["n"]}

    result = await Workflow("crashy").then(Step("crash", crash)).create_run(durability="none").start({"n": 0})
    message = result.error.message
    assert message.startswith(
        "Step `crash` at `0` raised ZeroDivisionError: division by zero (at test_workflow_runs.py:"
    )
    assert message.count("crash") == 2 and message.endswith('in `crash`: `return {"ratio": 1 / data["n"]}`)')
    assert result.error.details["where"].startswith("test_workflow_runs.py:")
