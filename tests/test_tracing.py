"""Tracing: one trace per agent run or workflow run, with the right tree, tokens, cost, errors and markers.

Spans go through the OpenTelemetry SDK to two places at once: the hub's storage (a DuckDB file, read back with
`hub.traces`) and the SDK's in-memory exporter; both must tell the same story. Models answer over real HTTP from
the local OpenAI-compatible test server.
"""

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from openai_server import Reply
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import BaseModel

from mastra_nb import (
    Agent,
    DuckDBStore,
    InMemoryStore,
    Mastra,
    MastraConfig,
    MastraError,
    Step,
    StepContext,
    Workflow,
    tool,
)
from mastra_nb.telemetry import Telemetry


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@tool
def explode(reason: str) -> str:
    """Always fails."""
    raise RuntimeError(f"boom: {reason}")


def traced_hub(tmp_path=None, **components) -> tuple[Mastra, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    storage = DuckDBStore(tmp_path / "traces.duckdb") if tmp_path is not None else InMemoryStore()
    hub = Mastra(storage=storage, config=MastraConfig.load(environ={}),
                 telemetry=Telemetry(processors=[SimpleSpanProcessor(exporter)]), **components)  # fmt: skip
    return hub, exporter


def exported_tree(exporter: InMemorySpanExporter) -> dict[str, list[str]]:
    """Span name -> names of its children, from the SDK's in-memory exporter."""
    spans = exporter.get_finished_spans()
    names = {s.context.span_id: s.name for s in spans}
    tree: dict[str, list[str]] = {s.name: [] for s in spans}
    for span in spans:
        if span.parent is not None:
            tree[names[span.parent.span_id]].append(span.name)
    return {name: sorted(children) for name, children in tree.items()}


# -- agents ---------------------------------------------------------------------------------------------------


async def test_agent_turn_with_a_tool_and_a_sub_agent_is_one_trace_with_the_right_tree(tmp_path, openai_server,
                                                                                         make_model):  # fmt: skip
    openai_server.add(
        Reply(tool_calls=[("add", {"a": 2, "b": 3}), ("agent_helper", {"prompt": "say hi"})], usage=(40, 12)),
        Reply(text="hi there", usage=(9, 3)),
        Reply(text="5, and the helper says hi there", usage=(60, 10)),
    )
    helper = Agent("helper", "You greet.", make_model())
    boss = Agent("boss", "You add and delegate.", make_model(), tools=[add], agents=[helper])
    hub, exporter = traced_hub(tmp_path, agents=[boss])

    result = await boss.generate("Add 2 and 3, and ask the helper to say hi.")
    assert result.text == "5, and the helper says hi there" and len(result.trace_id) == 32

    trace = await hub.traces.get(result.trace_id)
    assert trace.tree().splitlines()[0].startswith("invoke_agent boss")
    root = trace.root
    assert len(trace.roots) == 1 and root.name == "invoke_agent boss" and root.kind == "agent"
    assert sorted(c.name for c in root.children) == [
        "chat openai/gpt-test", "chat openai/gpt-test", "execute_tool add", "execute_tool agent_helper"
    ]  # fmt: skip
    [delegate] = trace.find("execute_tool agent_helper")
    [sub] = delegate.children
    assert sub.name == "invoke_agent helper" and [c.name for c in sub.children] == ["chat openai/gpt-test"]
    assert {s.trace_id for s in trace.spans} == {result.trace_id} and len(trace.spans) == 7

    # token counts: the boss's model spans add up to its usage, and the root says so too
    own_calls = [c for c in root.children if c.kind == "model"]
    assert sum(c.attributes["gen_ai.usage.input_tokens"] for c in own_calls) == result.usage.prompt_tokens == 100
    assert sum(c.attributes["gen_ai.usage.output_tokens"] for c in own_calls) == result.usage.completion_tokens == 22
    assert root.attributes["gen_ai.usage.input_tokens"] == 100 and root.attributes["mastra.usage.total_tokens"] == 122
    assert sub.children[0].attributes["gen_ai.usage.input_tokens"] == 9
    first = own_calls[0]
    assert first.attributes["gen_ai.request.model"] == "openai/gpt-test"
    assert first.attributes["gen_ai.response.finish_reasons"] == ["tool_calls"]
    assert first.attributes["gen_ai.operation.name"] == "chat" and first.attributes["gen_ai.provider.name"] == "openai"
    assert [m["role"] for m in first.input] == ["system", "user"]
    assert {c["name"] for c in first.output["tool_calls"]} == {"add", "agent_helper"}

    [add_span] = trace.find("execute_tool add")
    assert add_span.input == {"a": 2, "b": 3} and add_span.output == 5
    assert add_span.attributes["gen_ai.tool.call.id"] == result.tool_calls[0].id
    assert add_span.attributes["mastra.tool.cached"] is False
    assert root.input == "Add 2 and 3, and ask the helper to say hi." and root.output == result.text
    assert root.attributes["mastra.run.id"] == result.run_id

    # the SDK's own exporter saw the same spans, with the same parents
    assert exported_tree(exporter)["invoke_agent boss"] == sorted(c.name for c in root.children)
    assert exported_tree(exporter)["execute_tool agent_helper"] == ["invoke_agent helper"]
    assert {f"{s.context.trace_id:032x}" for s in exporter.get_finished_spans()} == {result.trace_id}
    await hub.shutdown()


async def test_a_failing_tool_span_carries_the_error_and_the_run_goes_on(openai_server, make_model):
    openai_server.add(Reply(tool_calls=[("explode", {"reason": "test"})]), "It failed, sorry.")
    agent = Agent("fragile", "Use the tool.", make_model(), tools=[explode])
    hub, exporter = traced_hub(agents=[agent])
    result = await agent.generate("go")
    trace = await hub.traces.get(result.trace_id)
    [span] = trace.find("execute_tool explode")
    assert span.status == "error" and trace.root.status == "ok"
    assert span.error == {"code": "TOOL_EXECUTION_FAILED", "message": span.attributes["mastra.error.message"]}
    assert "boom: test" in span.error["message"]
    assert [e["name"] for e in span.events] == ["exception"]
    assert span.events[0]["attributes"]["exception.type"] == "MastraError"
    [exported] = [s for s in exporter.get_finished_spans() if s.name == "execute_tool explode"]
    assert exported.status.status_code.name == "ERROR" and "TOOL_EXECUTION_FAILED" in exported.status.description
    assert hub.metrics.value("mastra_errors_total", component="tool", code="TOOL_EXECUTION_FAILED") == 1
    assert hub.metrics.value("mastra_tool_calls_total", tool="explode", status="error", cached="false") == 1


async def test_a_failing_model_call_fails_the_agent_span(openai_server, make_model):
    openai_server.add(Reply(status=400, error="bad request"))
    agent = Agent("broken", "x", make_model())
    hub, exporter = traced_hub(agents=[agent])
    with pytest.raises(MastraError):
        await agent.generate("go")
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert spans["chat openai/gpt-test"].status.status_code.name == "ERROR"
    assert spans["invoke_agent broken"].status.status_code.name == "ERROR"
    [summary] = await hub.traces.list(agent="broken")
    assert summary.status == "error" and summary.name == "invoke_agent broken"


async def test_cached_tool_results_and_replayed_model_calls_are_marked(openai_server, make_model):
    calls = []

    @tool(cache=True)
    def lookup(key: str) -> str:
        """Look a key up."""
        calls.append(key)
        return key.upper()

    openai_server.add(
        Reply(tool_calls=[("lookup", {"key": "a"})]), Reply(tool_calls=[("lookup", {"key": "a"})]), "A twice."
    )
    agent = Agent("cache", "Look up.", make_model("gpt-4o-mini"), tools=[lookup], record="auto")
    hub, _ = traced_hub(agents=[agent])
    first = await agent.generate("look a up twice")
    assert calls == ["a"]
    trace = await hub.traces.get(first.trace_id)
    assert [s.attributes["mastra.tool.cached"] for s in trace.find(kind="tool")] == [False, True]
    models = trace.find(kind="model")
    assert [s.attributes["mastra.model.replayed"] for s in models] == [False, False, False]
    # litellm knows gpt-4o-mini's prices: the cost is on each model span and summed on the run
    costs = [s.attributes["mastra.usage.cost_usd"] for s in models]
    assert all(c > 0 for c in costs) and trace.root.attributes["mastra.usage.cost_usd"] == pytest.approx(sum(costs))
    assert hub.metrics.value("mastra_model_cost_usd_total", model="openai/gpt-4o-mini") == pytest.approx(sum(costs))

    again = await agent.generate("look a up twice")  # every call is replayed from the recordings now
    assert again.text == "A twice." and again.trace_id != first.trace_id
    replayed = await hub.traces.get(again.trace_id)
    assert [s.attributes["mastra.model.replayed"] for s in replayed.find(kind="model")] == [True, True, True]
    assert hub.metrics.value("mastra_model_calls_total", model="openai/gpt-4o-mini", status="ok", replayed="true") == 3
    assert hub.metrics.value("mastra_tool_calls_total", tool="lookup", status="ok", cached="true") == 3


async def test_streaming_runs_are_traced_and_carry_their_trace_id(openai_server, make_model):
    openai_server.add(Reply(tool_calls=[("add", {"a": 1, "b": 1})]), Reply(text="two", usage=(5, 1)))
    agent = Agent("streamer", "Add.", make_model(), tools=[add])
    hub, _ = traced_hub(agents=[agent])
    result = await agent.stream("1+1?").result()
    trace = await hub.traces.get(result.trace_id)
    assert [s.name for s in trace.root.children] == ["chat openai/gpt-test", "execute_tool add", "chat openai/gpt-test"]
    assert all(s.attributes["mastra.model.stream"] for s in trace.find(kind="model"))
    assert trace.root.output == "two"


async def test_a_workflow_used_as_a_tool_joins_the_agents_trace(openai_server, make_model):
    class Numbers(BaseModel):
        a: int
        b: int

    @tool
    def double(n: int) -> int:
        """Double."""
        return 2 * n

    summed = Step("sum", lambda data: {"n": data.a + data.b}, input=Numbers)
    flow = Workflow("arith", input=Numbers).then(summed).then(Step.from_tool(double)).commit()
    openai_server.add(Reply(tool_calls=[("workflow_arith", {"a": 1, "b": 2})]), "It is 6.")
    agent = Agent("planner", "Run the workflow.", make_model(), workflows=[flow])
    hub, _ = traced_hub(agents=[agent])  # the workflow has no hub of its own here: its spans follow the trace
    result = await agent.generate("go")
    trace = await hub.traces.get(result.trace_id)
    [workflow_span] = trace.find(kind="workflow")
    assert workflow_span.name == "workflow arith"
    assert [s.name for s in workflow_span.children] == ["step sum", "step double"]
    [inner_tool] = trace.find("execute_tool double")
    assert inner_tool.parent_span_id == workflow_span.children[1].span_id
    assert trace.find("execute_tool workflow_arith")[0].output["output"] == 6


# -- workflows ------------------------------------------------------------------------------------------------


class Num(BaseModel):
    n: int


class Approval(BaseModel):
    approved: bool


def inc(id: str) -> Step:
    return Step(id, lambda data: Num(n=data.n + 1), input=Num, output=Num)


def gate(**payload: Any) -> Step:
    """A step that suspends with a question (and `payload`) until resumed with an `Approval`."""

    async def ask(data: Num, ctx: StepContext) -> Num:
        if ctx.resume_data is None:
            ctx.suspend({"question": f"approve {data.n}?", **payload})
        return data

    return Step("gate", ask, input=Num, output=Num, resume=Approval)


async def test_workflow_with_a_parallel_block_and_a_suspended_step(tmp_path):
    hub, exporter = traced_hub(tmp_path)
    workflow = hub.add_workflow(
        Workflow("flow", input=Num)
        .then(inc("first"))
        .parallel([inc("left"), inc("right")])
        .map(lambda data: Num(n=data["left"].n + data["right"].n))
        .then(gate())
        .then(inc("last"))
    )
    run = workflow.create_run()
    suspended = await run.start({"n": 0})
    assert suspended.status == "suspended" and suspended.trace_id is not None
    trace = await hub.traces.get(suspended.trace_id)
    root = trace.root
    assert root.name == "workflow flow" and root.attributes["mastra.status"] == "suspended" and root.status == "ok"
    assert [s.name for s in root.children] == ["step first", "parallel 1", "step gate"]
    block = root.children[1]
    assert sorted(s.name for s in block.children) == ["step left", "step right"]
    assert {s.attributes["mastra.step.path"] for s in block.children} == {"1.0", "1.1"}
    gate_span = root.children[2]
    assert gate_span.attributes["mastra.status"] == "suspended" and gate_span.status == "ok"
    assert gate_span.input == {"n": 4} and root.attributes["mastra.workflow.suspended"] == ["3"]

    resumed = await run.resume({"approved": True})
    assert resumed.status == "success" and resumed.output == Num(n=5)
    assert resumed.trace_id not in (None, suspended.trace_id)  # each pass of a run is a trace of its own
    second = await hub.traces.get(resumed.trace_id)
    # steps already done are replayed from the journal without running, and get no span
    assert [s.name for s in second.root.children] == ["step gate", "step last"]
    assert second.root.attributes["mastra.workflow.resumed"] is True
    assert second.root.children[0].attributes["mastra.step.resumed"] is True
    assert second.root.output == {"n": 5}

    listed = await hub.traces.list(run_id=run.run_id)
    assert {t.trace_id for t in listed} == {suspended.trace_id, resumed.trace_id}
    assert [t.trace_id for t in await hub.traces.list(workflow="flow")] == [resumed.trace_id, suspended.trace_id]
    exported = {s.name for s in exporter.get_finished_spans()}
    assert {"workflow flow", "parallel 1", "step left", "step right", "step gate", "step last"} <= exported
    assert hub.metrics.value("mastra_workflow_steps_total", workflow="flow", step="gate", status="suspended") == 1
    assert hub.metrics.value("mastra_workflow_runs_total", workflow="flow", status="success") == 1
    await hub.shutdown()


async def test_a_failing_step_fails_its_span_and_the_runs():
    def broken(data: Num) -> Num:
        raise ValueError("no good")

    hub, _ = traced_hub()
    workflow = hub.add_workflow(Workflow("bad", input=Num).then(inc("ok")).then(Step("broken", broken, input=Num)))
    result = await workflow.create_run().start({"n": 1})
    assert result.status == "failed"
    trace = await hub.traces.get(result.trace_id)
    assert trace.root.status == "error" and trace.root.error["code"] == "STEP_FAILED"
    [step_span] = trace.find("step broken")
    assert step_span.status == "error" and "no good" in step_span.error["message"]
    assert trace.find("step ok")[0].status == "ok"


async def test_branches_loops_and_foreach_get_block_spans():
    hub, _ = traced_hub()
    workflow = hub.add_workflow(
        Workflow("shapes", input=Num)
        .branch([(lambda d: d.n > 0, inc("positive")), (lambda d: d.n < 0, inc("negative"))])
        .map(lambda data: Num(n=data["positive"].n))
        .dountil(inc("grow"), lambda d: d.n >= 4)
        .map(lambda data: [Num(n=i) for i in range(data.n)])
        .foreach(inc("each"), concurrency=2)
    )
    result = await workflow.create_run().start({"n": 1})
    assert result.status == "success"
    trace = await hub.traces.get(result.trace_id)
    names = [s.name for s in trace.root.children]
    assert names == ["branch 0", "loop 2", "foreach 4"]
    branch, loop, foreach = trace.root.children
    assert [s.name for s in branch.children] == ["step positive"]
    assert branch.attributes["mastra.branch.taken"] == ["positive"]
    assert [s.attributes["mastra.step.path"] for s in loop.children] == ["2.0", "2.1"]
    assert len(foreach.children) == 4 and foreach.attributes["mastra.foreach.concurrency"] == 2


# -- reading, switching off, exporting ------------------------------------------------------------------------


async def test_traces_list_filters_and_unknown_trace(openai_server, make_model):
    openai_server.always(Reply(text="ok", usage=(2, 1)))
    one, two = Agent("one", "x", make_model()), Agent("two", "x", make_model())
    hub, _ = traced_hub(agents=[one, two])
    first = await one.generate("a")
    second = await two.generate("b")
    third = await one.generate("c")
    assert [t.trace_id for t in await hub.traces.list(agent="one")] == [third.trace_id, first.trace_id]
    assert [t.trace_id for t in await hub.traces.list()] == [third.trace_id, second.trace_id, first.trace_id]
    assert [t.trace_id for t in await hub.traces.list(limit=1)] == [third.trace_id]
    assert [t.trace_id for t in await hub.traces.list(run_id=second.run_id)] == [second.trace_id]
    since = (await hub.traces.list(agent="two"))[0].start_time
    assert [t.trace_id for t in await hub.traces.list(since=since)] == [third.trace_id, second.trace_id]
    assert await hub.traces.list(agent="one", workflow="w") == []
    with pytest.raises(MastraError) as error:
        await hub.traces.get("0" * 32)
    assert error.value.code == "TRACE_NOT_FOUND"
    trace = await hub.traces.get(first.trace_id)
    assert "invoke_agent one" in trace._repr_html_() and "invoke_agent one" in str(trace)


async def test_tracing_off_records_nothing_and_results_carry_no_trace_id(openai_server, make_model):
    openai_server.add("hello")
    agent = Agent("quiet", "x", make_model())
    hub = Mastra(agents=[agent], storage=InMemoryStore(), telemetry=False)
    result = await agent.generate("hi")
    assert result.text == "hello" and result.trace_id is None
    workflow = hub.add_workflow(Workflow("w", input=Num).then(inc("a")))
    assert (await workflow.create_run().start({"n": 1})).trace_id is None
    assert await hub.storage.count("spans") == 0


async def test_spans_are_written_in_batches_and_long_values_are_cut():
    hub = Mastra(storage=InMemoryStore(), telemetry=Telemetry(batch_size=10, flush_interval=60, max_value_chars=50,
                                                               step_spans="all"))  # fmt: skip
    workflow = hub.add_workflow(Workflow("many", input=Num).dountil(inc("step"), lambda d: d.n >= 25))
    result = await workflow.create_run().start({"n": 0})
    assert result.status == "success"
    stored = await hub.storage.count("spans")
    assert 20 <= stored < 27  # full batches went out on their own; the rest waits for the interval (60 s)
    trace = await hub.traces.get(result.trace_id)  # reading flushes what waits
    assert len(trace.spans) == 27
    big = hub.telemetry.encode({"text": "x" * 500})
    full = len(json.dumps({"text": "x" * 500}, separators=(",", ":")))  # spans carry compact JSON
    assert big.endswith(f"[{full} chars, cut]") and len(big) < 80


def test_import_mastra_nb_does_not_import_opentelemetry_or_prometheus():
    code = (
        "import sys, mastra_nb\nfrom mastra_nb import Mastra, InMemoryStore\nMastra(storage=InMemoryStore())\n"
        "print([m for m in ('opentelemetry', 'prometheus_client') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


class _Collector(BaseHTTPRequestHandler):
    received: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


async def test_otlp_export_is_switched_on_by_the_standard_variables(monkeypatch):
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
        monkeypatch.setenv("OTEL_SERVICE_NAME", "otlp-test")
        hub = Mastra(storage=InMemoryStore())
        workflow = hub.add_workflow(Workflow("exported", input=Num).then(inc("a")))
        result = await workflow.create_run().start({"n": 1})
        await hub.shutdown()  # flushes the exporter's batch
    finally:
        server.shutdown()
        server.server_close()
    request = ExportTraceServiceRequest()
    for body in _Collector.received:
        request.MergeFromString(body)
    [resource_spans] = request.resource_spans
    service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}["service.name"]
    names = {s.name for scope in resource_spans.scope_spans for s in scope.spans}
    trace_ids = {s.trace_id.hex() for scope in resource_spans.scope_spans for s in scope.spans}
    assert service == "otlp-test" and names == {"workflow exported", "step a"} and trace_ids == {result.trace_id}


def test_otlp_is_off_unless_asked():
    from mastra_nb.telemetry._export import otlp_requested

    assert not otlp_requested({})
    assert otlp_requested({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    assert otlp_requested({"OTEL_TRACES_EXPORTER": "otlp"})
    assert not otlp_requested({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_TRACES_EXPORTER": "none"})
    assert json.loads(json.dumps(Telemetry(enabled=False).enabled)) is False


async def test_a_resumed_block_gets_a_span_and_a_finished_one_does_not(tmp_path):
    hub, _ = traced_hub(tmp_path)
    workflow = hub.add_workflow(
        Workflow("blocks", input=Num, output=Num)
        .parallel([inc("a"), inc("b")])
        .map(lambda data: Num(n=data["a"].n + data["b"].n))
        .parallel([gate(), inc("c")])
        .map(lambda data: data["gate"])
    )
    run = workflow.create_run()
    assert (await run.start({"n": 1})).status == "suspended"
    resumed = await run.resume({"approved": True})
    assert resumed.status == "success" and resumed.output == Num(n=4)
    root = (await hub.traces.get(resumed.trace_id)).root
    assert [s.name for s in root.children] == ["parallel 2"]  # block 0 is done and replayed; block 2 is not
    assert [s.name for s in root.children[0].children] == ["step gate"]  # `c` succeeded before: replayed
    await hub.shutdown()


async def test_spans_that_cannot_be_stored_are_reported_once_not_per_batch(tmp_path, caplog):
    import logging

    path = tmp_path / "held.duckdb"
    holder = subprocess.Popen(  # another kernel holding the file, as when two notebooks share one
        [sys.executable, "-c", f"import duckdb, time; held = duckdb.connect({str(path)!r}); "
         "print('ready', flush=True); time.sleep(120)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        hub = Mastra(storage=DuckDBStore(path), config=MastraConfig.load(environ={}), telemetry=Telemetry(batch_size=1))
        flow = hub.add_workflow(Workflow("held").then(Step("one", lambda d: d)))
        with caplog.at_level(logging.DEBUG, logger="mastra_nb.telemetry"):
            for _ in range(3):
                assert (await flow.create_run(durability="none").start({"x": 1})).status == "success"
                await hub.telemetry.flush()
        failures = [r for r in caplog.records if "Could not store" in r.getMessage()]
        assert len(failures) >= 3 and [r.levelname for r in failures].count("WARNING") == 1
        assert "STORAGE_LOCKED" in failures[0].getMessage()
    finally:
        holder.kill()
        holder.communicate()  # reaps it and closes its pipe
    await hub.shutdown()


async def test_scorers_traces_are_marked_as_written_and_listed_only_when_asked(openai_server, make_model):
    # A scorer attached to an agent judges each run in the background, with a judge model: its trace (the scorer's
    # span, the judge agent's and its model call's under it) is written after the run's, so it is the newest.
    from mastra_nb.evals import JudgePrompt, Scorer
    from mastra_nb.events import SPANS_WRITTEN

    class Grade(BaseModel):
        score: float
        reason: str

    openai_server.add("4", Reply(text=json.dumps({"score": 1.0, "reason": "right"})))
    judged = Scorer("judged", judge=make_model("judge"), score=JudgePrompt("Grade {output}", output=Grade))
    agent = Agent("adder", "x", make_model(), scorers=[judged])
    hub, _ = traced_hub(agents=[agent])
    written: list[dict] = []
    hub.events.subscribe(SPANS_WRITTEN, lambda event: written.append(event.payload))
    answer = await agent.generate("2 + 2?")
    await hub.scores.drain()
    await hub.telemetry.flush()
    await hub.events.drain()

    [scorer_span] = await hub.storage.select("spans", where={"kind": "scorer"})
    scored = scorer_span["trace_id"]
    assert scored != answer.trace_id and len((await hub.traces.get(scored)).spans) == 3  # scorer, judge, its model
    assert [t.trace_id for t in await hub.traces.list()] == [scored, answer.trace_id]
    assert [t.trace_id for t in await hub.traces.list(scorers=False)] == [answer.trace_id]
    assert [t.trace_id for t in await hub.traces.list(limit=1, scorers=False)] == [answer.trace_id]
    assert [t.trace_id for t in await hub.traces.list(agent="judge_judged")] == [scored]
    assert await hub.traces.list(agent="judge_judged", scorers=False) == []
    # every batch that held spans of the scorer's trace said so, whichever of its spans it held
    assert {t for p in written for t in p["trace_ids"]} == {scored, answer.trace_id}
    assert all(p["scorer_trace_ids"] == [t for t in p["trace_ids"] if t == scored] for p in written)
    await hub.shutdown()
