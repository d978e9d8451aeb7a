"""Fuzz at the public boundary: generated input, good and bad, thrown at `Tool.execute`, `run.start`,
`run.resume`, `Memory` and `Storage`, on real DuckDB files.

Each call must either be accepted or be refused with a `MastraError` of kind validation that names the field (a
refusal that is anything else is "unclear", and fails the test); a refusal changes nothing stored; and the two
stores accept and refuse the same values. The counts are printed at the end of the run (`conftest.py`).
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
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
    tool,
)
from mastra_nb.memory import Memory
from mastra_nb.storage import Storage

TALLY: Counter[str] = Counter()  # tried, refused cleanly, accepted (read by conftest's summary)
SETTINGS = settings(
    max_examples=150, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)  # fmt: skip

# -- generated values: plain JSON, plus what breaks naive code ---------------------------------------------------

_ANY_CHAR = st.characters(codec=None, categories=None)  # surrogates, NUL and control characters included
_TEXT = st.one_of(
    st.text(max_size=12), st.text(_ANY_CHAR, max_size=12), st.sampled_from(["", " ", "$ne", "a.b", "\x00"])
)
_LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=2**63), st.floats(), _TEXT, st.datetimes(),
    st.decimals(allow_nan=True), st.sampled_from([b"bytes", math.nan, math.inf, (1, 2), {1, 2}, object()]),
)  # fmt: skip
_KEYS = st.one_of(_TEXT, st.sampled_from([None, 1, 1.5, True, ("a",)]))
VALUES = st.recursive(
    _LEAVES,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_KEYS, inner, max_size=4)),
    max_leaves=12,
)


def _deep(levels: int, leaf: Any = 1) -> Any:
    for _ in range(levels):
        leaf = {"a": leaf}
    return leaf


NASTY = st.one_of(VALUES, st.integers(60, 3000).map(_deep), st.integers(60, 3000).map(lambda n: _deep(n, [])))
IDS = st.one_of(_TEXT, st.sampled_from([None, 7, ["a"], {"$ne": "x"}, {"$in": ["a"]}, "x" * 300]), VALUES)


async def _outcome(call: Callable[[], Awaitable[Any]], kind: str) -> tuple[MastraError | None, Any]:
    """Run one call: `(None, result)` when accepted, `(error, None)` when refused cleanly. A refusal is clean when
    it is a `MastraError` of kind validation naming the field, or of kind domain (a rule of the library, such as
    `MEMORY_THREAD_EXISTS`); anything else is counted as unclear and fails the test."""
    TALLY["tried"] += 1
    try:
        result = await call()
    except MastraError as error:
        named = error.details.get("errors") or error.details.get("field") or error.details.get("subject")
        clean = error.kind.value == "domain" or (error.kind.value == "validation" and bool(named))
        TALLY["refused cleanly" if clean else "unclear"] += 1
        assert clean, ("a refusal must be a validation error naming the field", kind, error.to_dict())
        return error, None
    except BaseException:
        TALLY["unclear"] += 1
        raise
    TALLY["accepted"] += 1
    return None, result


# -- tools ----------------------------------------------------------------------------------------------------------


class Order(BaseModel):
    sku: str
    quantity: int
    notes: dict[str, Any] = {}


@tool
def place(order: Order) -> str:
    """Place an order."""
    return f"{order.quantity} x {order.sku}"


@tool
def echo(value: Any, label: str = "x") -> Any:
    """Echo a value."""
    return value


@SETTINGS
@given(
    arguments=st.one_of(
        NASTY,
        st.fixed_dictionaries({"value": NASTY}, optional={"label": _TEXT}),
        st.fixed_dictionaries(
            {"order": st.fixed_dictionaries({"sku": IDS, "quantity": NASTY}, optional={"notes": NASTY})}
        ),
    )
)
def test_tool_execute_accepts_or_refuses_with_the_field_named(arguments: Any) -> None:
    async def play() -> None:
        for found in (place, echo):
            await _outcome(lambda t=found: t.execute(arguments), "tool")

    asyncio.run(play())


# -- workflows: start and resume --------------------------------------------------------------------------------


class Trip(BaseModel):
    city: str
    days: int


class Approval(BaseModel):
    approved: bool
    note: str = ""


def _flows(hub: Mastra) -> tuple[Workflow, Workflow]:
    def ask(data: Trip, ctx: StepContext) -> dict:
        if ctx.resume_data is None:
            ctx.suspend({"question": f"{data.days} days in {data.city}?"})
        return {"approved": ctx.resume_data.approved}

    typed = Workflow("typed", input=Trip).then(Step("ask", ask, input=Trip, resume=Approval))
    free = Workflow("free").then(Step("keep", lambda data: data))
    return hub.add_workflow(typed), hub.add_workflow(free)


async def _rows(store: Storage) -> tuple[Any, ...]:
    runs = await store.select("workflow_runs", order_by="run_id")
    steps = await store.select("workflow_steps", order_by="run_id")
    return tuple((r["run_id"], r["status"], r["version"]) for r in runs), len(steps)


@SETTINGS
@example(start=datetime(2026, 1, 1), resume=object())  # top-level values that are not containers
@example(start=Approval(approved=True), resume=Trip(city="Lisbon", days=2))  # another model with other fields
@given(
    start=st.one_of(NASTY, st.fixed_dictionaries({"city": IDS, "days": NASTY})),
    resume=st.one_of(NASTY, st.fixed_dictionaries({"approved": NASTY}, optional={"note": NASTY})),
)
def test_run_start_and_resume_refuse_bad_input_and_store_nothing_for_it(
    tmp_path: Path, start: Any, resume: Any
) -> None:
    folder = tmp_path / uuid.uuid4().hex  # one fresh file per example

    async def play() -> None:
        store = DuckDBStore(folder / "runs.duckdb")
        hub = Mastra(storage=store, config=MastraConfig.load(environ={}))
        typed, free = _flows(hub)
        try:
            for flow in (typed, free):
                before = await _rows(store)
                run = flow.create_run()
                refused, _ = await _outcome(lambda r=run: r.start(start), "start")
                if refused is not None:
                    assert await _rows(store) == before, "a refused start stored something"
            run = typed.create_run()
            assert (await run.start({"city": "Lisbon", "days": 3})).status == "suspended"
            before = await _rows(store)
            refused, _ = await _outcome(lambda: run.resume(resume), "resume")
            if refused is not None:
                assert await _rows(store) == before, "a refused resume changed the run"
                assert (await run.resume({"approved": True})).status == "success"  # and it can still go on
        finally:
            await hub.shutdown()
            await store.close()

    asyncio.run(play())


# -- memory ---------------------------------------------------------------------------------------------------------


@SETTINGS
@given(thread=IDS, resource=IDS, metadata=st.one_of(st.none(), NASTY), text=st.one_of(_TEXT, NASTY))
def test_memory_calls_refuse_bad_ids_and_values_and_change_nothing(
    thread: Any, resource: Any, metadata: Any, text: Any
) -> None:
    async def play() -> None:
        store = InMemoryStore()
        memory = Memory(store, options={"semantic_recall": False})
        await memory.create_thread("ann", thread_id="kept", metadata={"a": 1})
        await memory.save_messages("kept", "hello")

        async def stored() -> tuple[Any, ...]:
            return tuple(sorted(map(str, await store.select("threads")))), await store.count("messages")

        calls: list[Callable[[], Awaitable[Any]]] = [
            lambda: memory.create_thread(resource, thread_id=thread, metadata=metadata),
            lambda: memory.get_thread(thread),
            lambda: memory.list_threads(resource),
            lambda: memory.list_messages(thread),
            lambda: memory.update_thread("kept", metadata=metadata),
            lambda: memory.save_messages(thread, text, resource_id=resource),
            lambda: memory.delete_thread(thread),
        ]
        for call in calls:
            before = await stored()
            refused, _ = await _outcome(call, "memory")
            if refused is not None:
                assert await stored() == before, "a refused memory call changed what is stored"
        assert await memory.get_thread("kept") is not None or thread == "kept"
        await memory.close()

    asyncio.run(play())


# -- storage: both stores, the same answers ---------------------------------------------------------------------


@SETTINGS
@given(key=IDS, value=NASTY, title=st.one_of(_TEXT, NASTY))
def test_the_stores_accept_and_refuse_the_same_values_and_give_back_the_same(
    tmp_path: Path, key: Any, value: Any, title: Any
) -> None:
    folder = tmp_path / uuid.uuid4().hex  # one fresh file per example

    async def play() -> None:
        stores = [InMemoryStore(), DuckDBStore(folder / "contract.duckdb"), SQLiteStore(folder / "contract.db")]
        answers: list[list[Any]] = [[], [], []]
        row = {"id": "t", "resource_id": "r", "title": title, "metadata": {"v": value}}
        try:
            for store, answer in zip(stores, answers, strict=True):
                for call in _storage_calls(store, key, value, row):
                    refused, result = await _outcome(call, "storage")
                    answer.append(refused.code if refused else result)
        finally:
            for store in stores:
                await store.close()
        assert answers[0] == answers[1] == answers[2]

    asyncio.run(play())


def _storage_calls(store: Storage, key: Any, value: Any, row: dict[str, Any]) -> list[Callable[[], Awaitable[Any]]]:
    return [
        lambda: store.set(key, value),
        lambda: store.get(key),
        lambda: store.upsert("threads", [row]),
        lambda: store.select("threads", where={"id": key}),
        lambda: store.search("x", prefix=key),
    ]


# -- deep nesting, named: each boundary the issue found crashing with a bare RecursionError ------------------------


async def test_a_model_sending_tool_arguments_nested_2000_deep_gets_an_error_result_and_the_run_goes_on() -> None:
    # In-process (a ScriptedModel), so the arguments reach the loop as sent; through litellm, litellm itself
    # refuses such a response as a provider error before the loop sees it.
    from mastra_nb import Agent, ScriptedModel, ScriptedReply

    deep_text = '{"value": ' + '{"a": ' * 2000 + "1" + "}" * 2000 + "}"  # json's decoder recurses: RecursionError
    too_deep = {"value": _deep(100)}  # parses, and is still deeper than a tool takes
    model = ScriptedModel([
        ScriptedReply(tool_calls=[("echo", deep_text), ("echo", too_deep)]),
        lambda messages: "Both failed: " + " | ".join(m["content"][:200] for m in messages if m["role"] == "tool"),
    ])  # fmt: skip
    agent = Agent("deep", "Use echo.", model, tools=[echo])
    Mastra(agents=[agent], storage=InMemoryStore(), config=MastraConfig.load(environ={}))
    result = await agent.generate("go")
    codes = [r.error["code"] for r in result.tool_results if r.error]
    assert codes == ["TOOL_ARGUMENTS_INVALID", "TOOL_ARGUMENTS_INVALID"]
    assert result.text.startswith("Both failed") and "nested too deep" in result.text  # what the model read back


async def test_deep_input_to_a_tool_a_workflow_a_resume_and_memory_is_a_named_validation_error() -> None:
    hub = Mastra(storage=InMemoryStore(), config=MastraConfig.load(environ={}))
    typed, free = _flows(hub)
    deep = _deep(2000)
    calls = {
        "TOOL_INPUT_INVALID": lambda: echo.execute({"value": deep}),
        "WORKFLOW_INPUT_INVALID": lambda: free.create_run().start(deep),
        "MEMORY_THREAD_INVALID": lambda: Memory(InMemoryStore()).create_thread("ann", metadata={"x": deep}),
    }
    for code, call in calls.items():
        refused, _ = await _outcome(call, "deep")
        assert refused is not None and refused.code == code and "nested too deep" in refused.message
    run = typed.create_run()
    await run.start({"city": "Lisbon", "days": 2})
    refused, _ = await _outcome(lambda: run.resume({"approved": True, "note": deep}), "deep")
    assert refused is not None and refused.code == "RESUME_DATA_INVALID" and run.status == "suspended"
