"""Spans made two ways store the same traces, and `step_spans` chooses which workflow steps get one.

A hub whose spans only its store reads makes them itself (cheap); one whose spans something else reads (a processor,
OTLP) makes them through the OpenTelemetry SDK. The trace waterfall and `traces.list` read the stored rows, so the
same work must give the same rows either way: names, kinds, tree, statuses, attributes, inputs, outputs, events.
Every scenario here runs on both, and the stored trees are compared whole (ids and times aside).
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import BaseModel
from test_tracing import Num, gate, inc

from mastra_nb import Agent, InMemoryStore, Mastra, MastraConfig, MastraError, Step, Workflow, tool
from mastra_nb.models import ScriptedModel
from mastra_nb.telemetry import Telemetry
from mastra_nb.telemetry.traces import SpanRecord, Trace

# Attributes whose values differ from one run to the next whatever the spans are made with.
_PER_RUN = {"mastra.run.id", "mastra.run.parent_id"}
_RUN_ID = re.compile(r"\b[0-9a-f]{32}\b")


def broken(data: Num) -> Num:
    raise ValueError(f"no good at {data.n} (token=abcdef0123456789)")


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def hub_of(sdk: bool, **telemetry: Any) -> tuple[Mastra, InMemorySpanExporter | None]:
    exporter = InMemorySpanExporter() if sdk else None
    processors = [SimpleSpanProcessor(exporter)] if exporter is not None else []
    hub = Mastra(storage=InMemoryStore(), config=MastraConfig.load(environ={}),
                 telemetry=Telemetry(processors=processors, **telemetry))  # fmt: skip
    return hub, exporter


def shape(span: SpanRecord) -> dict[str, Any]:
    """What the waterfall shows of a span and everything under it, without ids and times (a run id inside a tool's
    output too)."""
    attributes = {k: _RUN_ID.sub("<run id>", v) if isinstance(v, str) else v
                  for k, v in span.attributes.items() if k not in _PER_RUN}  # fmt: skip
    children = sorted((shape(c) for c in span.children), key=lambda c: (c["name"], str(c["attributes"])))
    events = [(e["name"], e["attributes"]) for e in span.events]
    return {"name": span.name, "kind": span.kind, "status": span.status, "attributes": attributes,
            "events": events, "children": children}  # fmt: skip


async def trees(hub: Mastra, trace_ids: list[str]) -> list[dict[str, Any]]:
    found: list[Trace] = [await hub.traces.get(t) for t in trace_ids]
    for trace in found:
        assert len(trace.roots) == 1, trace.tree()
        ids = {s.span_id for s in trace.spans}
        assert all(s.parent_span_id in ids for s in trace.spans if s.parent_span_id), trace.tree()
    return [shape(t.root) for t in found]


async def workflow_scenario(hub: Mastra) -> list[str]:
    """Parallel, branch, loop, foreach, a suspension with a secret in its payload, a resume, and a failure."""
    flow = hub.add_workflow(
        Workflow("shapes", input=Num)
        .then(inc("first"))
        .parallel([inc("left"), inc("right")])
        .map(lambda data: Num(n=data["left"].n + data["right"].n))
        .branch([(lambda d: d.n > 0, inc("positive")), (lambda d: d.n < 0, inc("negative"))])
        .map(lambda data: Num(n=data["positive"].n))
        .dountil(inc("grow"), lambda d: d.n >= 8)
        .map(lambda data: [Num(n=i) for i in range(data.n)])
        .foreach(inc("each"), concurrency=3)
        .map(lambda data: Num(n=len(data)))
        .then(gate(api_key="sk-live-0123456789abcdef"))
        .then(inc("last"))
    )
    failing = hub.add_workflow(Workflow("bad", input=Num).then(inc("ok")).then(Step("broken", broken, input=Num)))
    run = flow.create_run()
    suspended = await run.start({"n": 1})
    assert suspended.status == "suspended"
    resumed = await run.resume({"approved": True})
    assert resumed.status == "success" and resumed.output == Num(n=9)
    failed = await failing.create_run().start({"n": 1})
    assert failed.status == "failed"
    return [suspended.trace_id, resumed.trace_id, failed.trace_id]


async def agent_scenario(hub: Mastra) -> list[str]:
    """An agent that calls a tool, delegates to a sub-agent, and runs a workflow as a tool."""
    summed = Step("sum", lambda data: {"n": data.a + data.b}, input=_Pair)
    arith = Workflow("arith", input=_Pair).then(summed).commit()
    helper = Agent("helper", "You greet.", ScriptedModel(["hi there"]))
    boss = Agent(
        "boss", "You add and delegate.",
        ScriptedModel([
            {"tool_calls": [("add", {"a": 2, "b": 3}), ("agent_helper", {"prompt": "say hi"})]},
            {"tool_calls": [("workflow_arith", {"a": 1, "b": 2})]},
            "5, and the helper says hi there",
        ]),
        tools=[add], agents=[helper], workflows=[arith],
    )  # fmt: skip
    hub.add_agent(boss)
    result = await boss.generate("Add 2 and 3, and ask the helper to say hi.")
    assert result.text == "5, and the helper says hi there"
    return [result.trace_id]


class _Pair(BaseModel):
    a: int
    b: int


@pytest.mark.parametrize("scenario", [workflow_scenario, agent_scenario])
async def test_own_spans_store_the_same_trees_as_the_sdks(scenario):
    stored = {}
    for sdk in (True, False):
        hub, exporter = hub_of(sdk)
        trace_ids = await scenario(hub)
        stored[sdk] = await trees(hub, trace_ids)
        assert (hub.telemetry._mode == "sdk") is sdk  # each way was taken
        if exporter is not None:  # the SDK's processors saw every stored span
            traces = [await hub.traces.get(t) for t in trace_ids]
            assert {s.span_id for t in traces for s in t.spans} == {
                f"{s.context.span_id:016x}" for s in exporter.get_finished_spans()
            }
        await hub.shutdown()
    assert stored[False] == stored[True]
    text = repr(stored[False])
    assert "sk-live-0123456789abcdef" not in text and "abcdef0123456789" not in text  # redacted both ways


@pytest.mark.parametrize("mode", ["blocks", "all"])
async def test_step_spans_blocks_spans_the_first_repeats_and_counts_the_rest_on_the_block(mode):
    hub, _ = hub_of(False, **({"step_spans": mode} if mode == "all" else {}))  # "blocks" is the default
    flow = hub.add_workflow(
        Workflow("counted", input=Num)
        .then(inc("first"))
        .dountil(inc("grow"), lambda d: d.n >= 15)
        .map(lambda data: [Num(n=i) for i in range(data.n + 10)])
        .foreach(inc("each"), concurrency=4)
    )
    result = await flow.create_run().start({"n": 1})
    assert result.status == "success" and len(result.output) == 25
    trace = await hub.traces.get(result.trace_id)
    assert [s.name for s in trace.root.children] == ["step first", "loop 1", "foreach 3"]
    first, loop, foreach = trace.root.children
    assert loop.attributes["mastra.loop.iterations"] == 13 and foreach.attributes["mastra.foreach.items"] == 25
    spanned = 10 if mode == "blocks" else None
    assert [s.attributes["mastra.step.path"] for s in loop.children] == [f"1.{i}" for i in range(13)][:spanned]
    assert (
        sorted(int(s.attributes["mastra.step.path"].split(".")[1]) for s in foreach.children)
        == list(range(25))[:spanned]
    )
    assert first.input == {"n": 1} and first.output == {"n": 2}
    assert foreach.children[0].input == {"n": 0} and foreach.children[0].output == {"n": 1}


async def test_step_spans_blocks_says_an_unspanned_items_failure_on_the_foreach_span():
    def picky(data: Num) -> Num:
        if data.n == 13:
            raise ValueError("thirteen is not allowed")
        return data

    hub, _ = hub_of(False)
    flow = hub.add_workflow(Workflow("picky", input=Num)
                            .map(lambda data: [Num(n=i) for i in range(data.n)])
                            .foreach(Step("pick", picky, input=Num, output=Num), concurrency=4))  # fmt: skip
    result = await flow.create_run().start({"n": 20})
    assert result.status == "failed"
    trace = await hub.traces.get(result.trace_id)
    [foreach] = trace.find(kind="foreach")
    assert foreach.status == "error" and len(foreach.children) == 10 and all(c.status == "ok" for c in foreach.children)
    assert "thirteen is not allowed" in foreach.error["message"] and "1.13" in foreach.error["message"]


async def test_step_spans_off_keeps_the_workflow_span_only_and_metrics_of_runs():
    hub, _ = hub_of(False, step_spans="off")
    flow = hub.add_workflow(Workflow("bare", input=Num).then(inc("a")).parallel([inc("b"), inc("c")]))
    result = await flow.create_run().start({"n": 1})
    trace = await hub.traces.get(result.trace_id)
    assert [s.name for s in trace.spans] == ["workflow bare"] and trace.root.output is not None
    assert hub.metrics.value("mastra_workflow_runs_total", workflow="bare", status="success") == 1


def test_step_spans_takes_only_its_three_values():
    with pytest.raises(MastraError) as raised:
        Telemetry(step_spans="some")  # type: ignore[arg-type]
    assert raised.value.code == "TELEMETRY_CONFIG_INVALID" and "step_spans" in raised.value.message


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.recursive(
        st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=12),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
        max_leaves=8,
    ),
    secret=st.sampled_from(["password", "api_key", "note"]),
)
async def test_a_steps_stored_input_and_output_are_the_same_both_ways_for_any_json(data, secret):
    # Generated JSON, with a key that may name a secret: deferred encoding (own spans) and encoding at the end
    # (the SDK's) redact and store the same text.
    value = {"payload": data, secret: "hunter2-hunter2"}
    shown = {}
    for sdk in (True, False):
        hub, _ = hub_of(sdk)
        flow = hub.add_workflow(Workflow(f"echo_{sdk}", input=dict).then(Step("echo", lambda d: d, input=dict,
                                                                              output=dict)))  # fmt: skip
        result = await flow.create_run().start(value)
        [span] = (await hub.traces.get(result.trace_id)).find("step echo")
        shown[sdk] = (span.attributes["mastra.input"], span.attributes["mastra.output"])
        await hub.shutdown()
    assert shown[True] == shown[False]
    assert ("hunter2-hunter2" in shown[False][0]) is (secret == "note")


def test_a_default_hubs_traced_run_never_imports_opentelemetry():
    # Our own spans need nothing of the SDK; adding a processor later switches the next spans to it.
    code = """
import asyncio, sys
from mastra_nb import InMemoryStore, Mastra, Step, Workflow
flow = Workflow("w", input=dict).then(Step("a", lambda d: {"n": d["n"] + 1}, input=dict, output=dict)).commit()
hub = Mastra(workflows=[flow], storage=InMemoryStore())
result = asyncio.run(flow.create_run().start({"n": 1}))
trace = asyncio.run(hub.traces.get(result.trace_id))
print([s.name for s in trace.spans], [m for m in sys.modules if m.startswith("opentelemetry")])
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
exporter = InMemorySpanExporter()
hub.telemetry.add_span_processor(SimpleSpanProcessor(exporter))
result = asyncio.run(flow.create_run().start({"n": 1}))
print(sorted(s.name for s in exporter.get_finished_spans()))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["['workflow w', 'step a'] []", "['step a', 'workflow w']"]


# -- the writer's stored rows ----------------------------------------------------------------------------------

_TEXT = st.text(st.characters(codec="utf-8") | st.sampled_from(["\ud800", "é", "€"]), max_size=12)  # lone surrogate
_VALUE = st.one_of(
    _TEXT,
    st.integers(),
    st.booleans(),
    st.floats(),  # NaN and the infinities included
    st.lists(st.one_of(_TEXT, st.integers(), st.booleans()), max_size=3),
)


@settings(max_examples=150, deadline=None)
@given(name=_TEXT, attributes=st.dictionaries(st.text(max_size=8), _VALUE, max_size=5), run_id=_TEXT)
def test_the_writers_own_rows_are_what_the_storage_checks_would_store(name, attributes, run_id):
    """The span writer makes its own spans' rows in stored form, without `tables.normalize_row`'s checks: each
    row must be the one those checks make, a value no store keeps (a lone surrogate) must still be refused with
    their error, and the one difference is kept on purpose: a NaN or infinite number is stored as null (the
    checks refuse it, which would drop the whole batch of spans)."""
    from mastra_nb.storage import tables
    from mastra_nb.telemetry import writer

    telemetry = Telemetry()
    span = telemetry.span("step", name or "s", plain={**attributes, "mastra.run.id": run_id})
    with span:
        pass
    redactor = telemetry.redactor
    user_row = writer.span_row(span, redactor)
    finite = {
        key: value
        for key, value in user_row["attributes"].items()
        if not (isinstance(value, float) and not math.isfinite(value))
    }
    try:
        expected = tables.normalize_row(tables.get_table("spans"), {**user_row, "attributes": finite})
    except MastraError as error:
        with pytest.raises(MastraError) as raised:
            writer._stored(span, redactor)
        assert raised.value.code == error.code == "STORAGE_VALUE_INVALID"
        return
    stored = writer._stored(span, redactor)
    assert stored.keys() == expected.keys()
    assert {k: v for k, v in stored.items() if k != "attributes"} == {
        k: v for k, v in expected.items() if k != "attributes"
    }
    nulls = {key: None for key in user_row["attributes"].keys() - finite.keys()}
    assert json.loads(stored["attributes"]) == {**json.loads(expected["attributes"]), **nulls}
