"""Workflows: steps, each builder construct alone and nested, the checked graph, the step context."""

import asyncio
import json
from datetime import datetime, timedelta, timezone

import pytest
from pydantic import BaseModel

from mastra_nb import InMemoryStore, Mastra, MastraConfig, MastraError, Step, StepContext, Workflow, step, tool


class Num(BaseModel):
    n: int


class Text(BaseModel):
    text: str


def hub() -> Mastra:
    return Mastra(storage=InMemoryStore(), config=MastraConfig.load(environ={}))


@step
async def inc(data: Num) -> Num:
    return Num(n=data.n + 1)


@step
def double(data: Num) -> Num:  # a sync step: runs in a worker thread
    return Num(n=data.n * 2)


def add(amount: int, id: str | None = None) -> Step:
    async def run(data: Num) -> Num:
        return Num(n=data.n + amount)

    return Step(id or f"add{amount}", run, input=Num, output=Num)


async def run_of(workflow: Workflow, data, **options):
    hub().add_workflow(workflow)
    return await workflow.create_run(**options).start(data)


# -- steps ----------------------------------------------------------------------------------------------------


def test_step_decorator_takes_schemas_from_annotations_and_docstring():
    @step
    def shout(data: Text) -> Text:
        """Upper-case the text.

        More details.
        """
        return Text(text=data.text.upper())

    assert shout.id == "shout" and shout.description == "Upper-case the text."
    assert shout.input.type is Text and shout.output.type is Text


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda: Step("bad id!", lambda d: d), "not valid"),
        (lambda: Step("ok", lambda: 1), "`(input)` or `(input, ctx)`"),
        (lambda: Step("ok", lambda d: d, retries=-1), "retries"),
        (lambda: Step("ok", lambda d: d, timeout=0), "timeout"),
    ],
)
def test_bad_step_definitions_are_clear_errors(make, problem):
    with pytest.raises(MastraError, match="STEP_DEFINITION_INVALID") as info:
        make()
    assert problem in str(info.value)


async def test_linear_then_passes_each_output_on_and_records_every_step():
    workflow = Workflow("linear", input=Num, output=Num).then(inc).then(double).then(add(1))
    result = await run_of(workflow, {"n": 1})
    assert result.status == "success" and result.output == Num(n=5)
    assert [(p, s.step_id, s.status) for p, s in result.steps.items()] == [
        ("0", "inc", "success"), ("1", "double", "success"), ("2", "add1", "success"),
    ]  # fmt: skip
    assert result.steps["1"].input == {"n": 2} and result.steps["1"].output == {"n": 4}
    assert result.steps["0"].started_at <= result.steps["0"].ended_at


def test_step_ids_are_unique_in_a_workflow():
    with pytest.raises(MastraError, match="WORKFLOW_DUPLICATE_STEP"):
        Workflow("dup").then(inc).then(inc)


async def test_invalid_workflow_input_names_the_field_and_stores_nothing():
    workflow = Workflow("typed", input=Num, output=Num).then(inc)
    mastra = hub()
    mastra.add_workflow(workflow)
    with pytest.raises(MastraError) as info:
        await workflow.create_run().start({"n": "many"})
    assert info.value.code == "WORKFLOW_INPUT_INVALID" and "`n`" in str(info.value)
    assert await mastra.storage.count("workflow_runs") == 0


async def test_a_tool_is_a_step():
    @tool
    def greet(name: str) -> str:
        """Greet someone."""
        return f"hello {name}"

    result = await run_of(Workflow("greeting").then(greet), {"name": "ada"})
    assert result.output == "hello ada"


# -- control flow ---------------------------------------------------------------------------------------------


async def test_parallel_output_is_keyed_by_step_id_and_steps_really_overlap():
    arrived = 0
    both = asyncio.Event()

    def meeting(id: str) -> Step:
        async def run(data: Num) -> Num:
            nonlocal arrived
            arrived += 1
            if arrived == 2:
                both.set()
            await asyncio.wait_for(both.wait(), 5)  # deadlocks (and times out) if run one after the other
            return Num(n=data.n)

        return Step(id, run, input=Num, output=Num)

    workflow = Workflow("fan", input=Num).parallel([meeting("left"), meeting("right")])
    result = await run_of(workflow, {"n": 7})
    assert result.output == {"left": Num(n=7), "right": Num(n=7)}
    assert set(result.steps) == {"0.0", "0.1"}


async def test_branch_runs_every_true_branch():
    workflow = Workflow("choose", input=Num).branch(
        [
            (lambda d: d.n > 0, add(1, "positive")),
            (lambda d: d.n > 10, add(2, "big")),
            (lambda d: d.n < 0, add(3, "neg")),
        ]
    )
    assert (await run_of(workflow, {"n": 20})).output == {"positive": Num(n=21), "big": Num(n=22)}
    assert (await run_of(workflow, {"n": 5})).output == {"positive": Num(n=6)}


async def test_dowhile_and_dountil_loop_on_the_steps_own_output():
    until = Workflow("until", input=Num, output=Num).dountil(inc, lambda d: d.n >= 5)
    result = await run_of(until, {"n": 0})
    assert result.output == Num(n=5) and list(result.steps) == ["0.0", "0.1", "0.2", "0.3", "0.4"]

    @step
    async def grow(data: Num) -> Num:
        return Num(n=data.n + 10)

    # dowhile checks after each run: it runs once even when the condition is false from the start.
    loop = Workflow("while", input=Num, output=Num).dowhile(grow, lambda d: d.n < 25)
    assert (await run_of(loop, {"n": 0})).output == Num(n=30)
    assert (await run_of(Workflow("once", input=Num).dowhile(add(1), lambda d: False), {"n": 0})).output == Num(n=1)


async def test_foreach_maps_a_list_with_bounded_real_concurrency():
    running = 0
    peak = 0

    @step
    async def slow_square(data: Num) -> Num:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        return Num(n=data.n * data.n)

    workflow = Workflow("squares", input=list[Num], output=list[Num]).foreach(slow_square, concurrency=3)
    result = await run_of(workflow, [{"n": i} for i in range(10)])
    assert result.output == [Num(n=i * i) for i in range(10)]
    assert peak == 3  # three at a time: concurrent, and bounded
    assert len(result.steps) == 10 and result.steps["0.9"].output == {"n": 81}


async def test_foreach_over_something_not_a_list_fails_the_run_clearly():
    workflow = Workflow("bad_items").then(Step("one", lambda d: {"not": "a list"})).foreach(add(1))
    result = await run_of(workflow, {})
    assert result.status == "failed"
    assert result.error.code == "WORKFLOW_FOREACH_NOT_LIST" and "`add1`" in str(result.error)


async def test_map_by_function_and_by_mapping():
    by_fn = Workflow("by_fn", input=Num).then(inc).map(lambda d: {"text": str(d.n)})
    assert (await run_of(by_fn, {"n": 1})).output == {"text": "2"}

    mapped = (
        Workflow("by_mapping", input=Num)
        .then(inc)
        .then(double)
        .map({"first": {"step": inc, "path": "n"}, "last": {"path": "n"}, "start": {"init": "n"}, "k": {"value": 3}})
    )
    assert (await run_of(mapped, {"n": 1})).output == {"first": 2, "last": 4, "start": 1, "k": 3}


async def test_sleep_and_sleep_until_pass_data_through():
    soon = datetime.now(timezone.utc) + timedelta(milliseconds=20)
    workflow = Workflow("naps", input=Num, output=Num).then(inc).sleep(0.01).sleep_until(soon).then(double)
    result = await run_of(workflow, {"n": 1})
    assert result.output == Num(n=4)
    assert datetime.now(timezone.utc) >= soon


async def test_nested_workflow_is_a_step_with_its_own_paths():
    inner = Workflow("inner", input=Num, output=Num).then(inc).then(double)
    outer = Workflow("outer", input=Num, output=Num).then(add(10)).then(inner).then(add(100))
    result = await run_of(outer, {"n": 0})
    assert result.output == Num(n=122)
    assert [p for p in result.steps] == ["0", "1.0", "1.1", "1", "2"]
    assert result.steps["1"].step_id == "inner" and result.steps["1.1"].output == {"n": 22}


# -- the step context -----------------------------------------------------------------------------------------


class Tally(BaseModel):
    seen: list[int] = []


async def test_context_gives_init_data_other_results_state_and_custom_events():
    @step
    async def first(data: Num, ctx: StepContext) -> Num:
        ctx.set_state(Tally(seen=[*ctx.state.seen, data.n]))
        ctx.emit("progress", {"percent": 50})
        return Num(n=data.n + 1)

    @step
    async def second(data: Num, ctx: StepContext) -> dict:
        ctx.set_state(Tally(seen=[*ctx.state.seen, data.n]))
        return {
            "init": ctx.get_init_data().n,
            "first": ctx.get_step_result(first).n,
            "state": ctx.state.seen,
            "user": ctx.runtime_context.get("user"),
            "run_id": ctx.run_id,
        }

    workflow = Workflow("ctx", input=Num, state=Tally).then(first).then(second)
    mastra = hub()
    mastra.add_workflow(workflow)
    progress = []
    mastra.events.subscribe("progress", lambda e: progress.append(e.payload))
    from mastra_nb import RuntimeContext

    run = workflow.create_run()
    result = await run.start({"n": 3}, context=RuntimeContext({"user": "ada"}))
    await mastra.events.drain()
    assert result.output == {"init": 3, "first": 4, "state": [3, 4], "user": "ada", "run_id": run.run_id}
    assert progress == [
        {"run_id": run.run_id, "workflow_id": "ctx", "path": "0", "step_id": "first", "payload": {"percent": 50}}
    ]


async def test_get_step_result_of_a_step_that_has_not_run_is_a_clear_error():
    @step
    async def early(data: Num, ctx: StepContext) -> Num:
        ctx.get_step_result("late")
        return data

    result = await run_of(Workflow("order", input=Num).then(early).then(Step("late", lambda d: d)), {"n": 1})
    assert result.status == "failed" and result.error.code == "STEP_RESULT_MISSING"


async def test_bail_ends_the_run_successfully_with_its_result():
    @step
    async def stop(data: Num, ctx: StepContext) -> Num:
        ctx.bail(Num(n=-1))

    result = await run_of(Workflow("early_exit", input=Num, output=Num).then(stop).then(inc), {"n": 1})
    assert result.status == "success" and result.output == Num(n=-1) and "1" not in result.steps


# -- commit and the graph -------------------------------------------------------------------------------------


def test_commit_names_both_steps_and_the_field_that_do_not_fit():
    @step
    def to_text(data: Num) -> Text:
        return Text(text=str(data.n))

    with pytest.raises(MastraError) as info:
        Workflow("mismatch", input=Num).then(to_text).then(inc).commit()
    error = info.value
    assert error.code == "WORKFLOW_SCHEMA_MISMATCH" and error.kind.value == "validation"
    assert "`to_text`" in str(error) and "`inc`" in str(error) and "`n`" in str(error)

    class Wide(BaseModel):
        n: str

    @step
    def wide(data: Num) -> Wide:
        return Wide(n=str(data.n))

    with pytest.raises(MastraError, match="gives `str` for field `n`"):
        Workflow("types", input=Num).then(wide).then(inc).commit()


def test_commit_checks_the_workflow_input_and_output_too():
    with pytest.raises(MastraError, match="The input of workflow `w` has no field `n`, which step `inc` needs"):
        Workflow("w", input=Text).then(inc).commit()
    with pytest.raises(MastraError, match="the output of workflow `w2`"):
        Workflow("w2", input=Num, output=Text).then(inc).commit()


def test_a_committed_workflow_cannot_change():
    workflow = Workflow("frozen", input=Num).then(inc).commit()
    with pytest.raises(MastraError, match="WORKFLOW_COMMITTED"):
        workflow.then(double)


def test_graph_is_typed_json_describing_every_construct():
    inner = Workflow("inner", input=Num, output=Num).then(add(1, "inner_add"))

    def positive(d) -> bool:
        return d.n > 0

    workflow = (
        Workflow("everything", input=Num, description="all constructs")
        .then(inc)
        .parallel([add(1, "p1"), add(2, "p2")])
        .map(lambda d: d["p1"])
        .branch([(positive, add(3, "b1"))])
        .map({"n": {"step": "b1", "path": "n"}})
        .dountil(add(4, "looped"), lambda d: d.n > 100)
        .map(lambda d: [d])
        .foreach(add(5, "each"), concurrency=2)
        .map(lambda d: d[0])
        .sleep(1)
        .then(inner)
        .commit()
    )
    graph = workflow.graph()
    kinds = [node.kind for node in graph.nodes]
    assert kinds == ["step", "parallel", "map", "branch", "map", "loop", "map", "foreach", "map", "sleep", "workflow"]
    assert [c.id for c in graph.nodes[1].children] == ["1.0", "1.1"]
    assert graph.nodes[3].children[0].condition == "positive"
    assert graph.nodes[5].loop == "dountil" and graph.nodes[5].children[0].id == "5.*"
    assert graph.nodes[7].concurrency == 2 and graph.nodes[9].seconds == 1
    assert graph.nodes[10].children[0].id == "10.0" and graph.nodes[10].children[0].step_id == "inner_add"
    assert graph.nodes[0].input_schema["properties"] == {"n": {"title": "N", "type": "integer"}}
    assert {"source": "0", "target": "1.0"} in [e.model_dump() for e in graph.edges]
    assert json.loads(graph.model_dump_json())["workflow_id"] == "everything"


def test_the_step_after_a_parallel_is_checked_field_by_field():
    class Both(BaseModel):
        left: Num
        right: Num

    @step
    def join(data: Both) -> Num:
        return Num(n=data.left.n + data.right.n)

    Workflow("joined", input=Num).parallel([add(1, "left"), add(2, "right")]).then(join).commit()
    with pytest.raises(MastraError, match="has no field `right`, which step `join` needs"):
        Workflow("half", input=Num).parallel([add(1, "left"), add(2, "other")]).then(join).commit()


async def test_a_parallel_output_is_stored_and_restored_as_typed_values():
    workflow = Workflow("pair", input=Num).parallel([add(1, "left"), add(2, "right")])
    mastra = hub()
    mastra.add_workflow(workflow)
    run = workflow.create_run()
    await run.start({"n": 1})
    restored = await workflow.get_run(run.run_id)
    assert restored.result.output == {"left": Num(n=2), "right": Num(n=3)}


async def test_a_failing_map_function_or_condition_fails_the_run_naming_it():
    def broken(data):
        return data["missing"]

    result = await run_of(Workflow("bad_map", input=Num).then(inc).map(broken), {"n": 1})
    assert result.status == "failed" and result.error.code == "WORKFLOW_FUNCTION_FAILED"
    assert "`broken` at `1`" in str(result.error) and "TypeError" in str(result.error)

    def unsure(data) -> bool:
        raise ValueError("cannot decide")

    result = await run_of(Workflow("bad_condition", input=Num).dountil(inc, unsure), {"n": 1})
    assert result.error.code == "WORKFLOW_FUNCTION_FAILED" and "condition `unsure`" in str(result.error)


async def test_a_user_step_may_be_called_sleep_or_branch():
    workflow = Workflow("names", input=Num).then(Step("sleep", lambda d: d, input=Num, output=Num)).sleep(0)
    result = await run_of(workflow, {"n": 1})
    assert list(result.steps) == ["0"] and result.steps["0"].step_id == "sleep"


class _Full(BaseModel):
    city: str
    days: int


class _Short(BaseModel):
    city: str


async def test_a_step_hands_its_model_to_a_step_that_takes_another_model_with_its_fields():
    # One step's pydantic output is the next step's input when the fields fit, though the models differ.
    flow = (
        Workflow("handover")
        .then(Step("plan", lambda d: _Full(city="Lisbon", days=3), output=_Full))
        .then(Step("greet", lambda d: {"hello": d.city}, input=_Short))
    )
    result = await flow.create_run(durability="none").start({})
    assert result.status == "success" and result.output == {"hello": "Lisbon"}


async def test_a_run_suspended_in_a_private_store_warns_once_how_to_keep_it(caplog):
    import logging

    def ask(data: dict, ctx: StepContext) -> dict:
        ctx.suspend({"question": "ok?"})
        return {}

    loose = Workflow("loose").then(Step("ask", ask))  # no hub: a private in-memory one
    with caplog.at_level(logging.WARNING, logger="mastra_nb.workflows"):
        for _ in range(2):
            assert (await loose.create_run().start({})).status == "suspended"
    warnings = [r.getMessage() for r in caplog.records if r.name == "mastra_nb.workflows"]
    assert len(warnings) == 1 and "lost when this process ends" in warnings[0] and "add_workflow" in warnings[0]
