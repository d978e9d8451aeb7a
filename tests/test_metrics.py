"""Metrics: counters and histograms of runs, steps, tool and model calls, tokens, cost and errors, per hub, in
Prometheus' text format (parsed back with prometheus-client's own parser)."""

import asyncio
import math

from hypothesis import given, settings
from hypothesis import strategies as st
from openai_server import Reply
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel

from mastra_nb import Agent, InMemoryStore, Mastra, MastraConfig, Step, Workflow, tool
from mastra_nb.telemetry import metrics as metrics_module
from mastra_nb.telemetry.metrics import Metrics


class Num(BaseModel):
    n: int


@tool
def add(a: int, b: int) -> int:
    """Add."""
    return a + b


def samples(hub: Mastra) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(hub.metrics.render().decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_agent_tool_and_model_metrics(openai_server, make_model):
    openai_server.add(Reply(tool_calls=[("add", {"a": 1, "b": 2})], usage=(30, 5)), Reply(text="3", usage=(40, 1)))
    agent = Agent("calc", "Add.", make_model("gpt-4o-mini"), tools=[add])
    hub = Mastra(agents=[agent], storage=InMemoryStore(), config=MastraConfig.load(environ={}))
    await agent.generate("1+2?")
    found = samples(hub)
    model = "openai/gpt-4o-mini"
    assert found[("mastra_agent_runs_total", (("agent", "calc"), ("status", "ok")))] == 1
    assert found[("mastra_agent_run_seconds_count", (("agent", "calc"),))] == 1
    assert found[("mastra_model_calls_total", (("model", model), ("replayed", "false"), ("status", "ok")))] == 2
    assert found[("mastra_model_tokens_total", (("model", model), ("type", "input")))] == 70
    assert found[("mastra_model_tokens_total", (("model", model), ("type", "output")))] == 6
    assert found[("mastra_model_cost_usd_total", (("model", model),))] > 0
    assert found[("mastra_tool_calls_total", (("cached", "false"), ("status", "ok"), ("tool", "add")))] == 1
    assert found[("mastra_tool_call_seconds_count", (("tool", "add"),))] == 1
    assert hub.metrics.content_type.startswith("text/plain")


async def test_workflow_metrics_count_runs_steps_and_errors():
    def fail(data: Num) -> Num:
        raise ValueError("nope")

    hub = Mastra(storage=InMemoryStore())
    good = hub.add_workflow(
        Workflow("good", input=Num).then(Step("inc", lambda d: Num(n=d.n + 1), input=Num, output=Num))
    )
    bad = hub.add_workflow(Workflow("bad", input=Num).then(Step("fail", fail, input=Num)))
    await asyncio.gather(*(good.create_run().start({"n": i}) for i in range(3)))
    await bad.create_run().start({"n": 0})
    metrics = hub.metrics
    assert metrics.value("mastra_workflow_runs_total", workflow="good", status="success") == 3
    assert metrics.value("mastra_workflow_steps_total", workflow="good", step="inc", status="ok") == 3
    assert metrics.value("mastra_workflow_runs_total", workflow="bad", status="failed") == 1
    assert metrics.value("mastra_workflow_steps_total", workflow="bad", step="fail", status="error") == 1
    assert metrics.value("mastra_errors_total", component="step", code="STEP_FAILED") == 1
    assert metrics.value("mastra_errors_total", component="workflow", code="STEP_FAILED") == 1
    assert metrics.value("mastra_workflow_step_seconds_count", workflow="good", step="inc") == 3


async def test_each_hub_counts_apart_and_the_asgi_app_serves_the_text():
    first, second = Mastra(storage=InMemoryStore()), Mastra(storage=InMemoryStore())
    for hub in (first, second):
        hub.add_workflow(Workflow("w", input=Num).then(Step("s", lambda d: d, input=Num, output=Num)))
    await first.get_workflow("w").create_run().start({"n": 1})
    assert first.metrics.value("mastra_workflow_runs_total", workflow="w", status="success") == 1
    assert second.metrics.value("mastra_workflow_runs_total", workflow="w", status="success") == 0

    app = first.metrics.asgi_app()
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/metrics", "query_string": b"", "headers": []}
    await app(scope, receive, send)
    assert sent[0]["status"] == 200
    body = b"".join(m.get("body", b"") for m in sent[1:]).decode()
    assert 'mastra_workflow_runs_total{status="success",workflow="w"} 1.0' in body


@settings(max_examples=60, deadline=None)
@given(
    spans=st.lists(
        st.tuples(
            st.sampled_from(["step", "tool", "model", "agent", "workflow", "memory"]),
            st.sampled_from(["ok", "error", "failed", "suspended"]),
            # durations on, around and between the bucket bounds, where an off-by-one would show
            st.one_of(
                st.sampled_from([0.0, 0.001, 0.005, 0.0050001, 1.0, 300.0, 301.0]),
                st.floats(min_value=0, max_value=400, allow_nan=False),
            ),
        ),
        max_size=40,
    )
)
def test_span_fed_metrics_render_as_prometheus_clients_own_counters_and_histograms_would(spans):
    """`Metrics` counts spans in plain dicts and hands them to prometheus-client only when read: what it renders
    must be what prometheus-client's own `Counter` and `Histogram`, fed the same spans, render (buckets included)."""
    from prometheus_client import CollectorRegistry, Counter, Histogram

    metrics = Metrics(registry=CollectorRegistry(auto_describe=True))
    reference = CollectorRegistry(auto_describe=True)
    steps = Counter("mastra_workflow_steps", "", ("workflow", "step", "status"), registry=reference)
    step_seconds = Histogram("mastra_workflow_step_seconds", "", ("workflow", "step"), registry=reference,
                             buckets=metrics_module._BUCKETS)  # fmt: skip
    tools = Counter("mastra_tool_calls", "", ("tool", "status", "cached"), registry=reference)
    tool_seconds = Histogram("mastra_tool_call_seconds", "", ("tool",), registry=reference,
                             buckets=metrics_module._BUCKETS)  # fmt: skip
    for kind, status, seconds in spans:
        attributes = {"mastra.status": status, "mastra.workflow.id": "w", "mastra.step.id": "s"}
        attributes["gen_ai.tool.name"] = "t"
        metrics.observe(kind, attributes, seconds)
        if kind == "step":
            steps.labels("w", "s", status).inc()
            step_seconds.labels("w", "s").observe(seconds)
        elif kind == "tool":
            tools.labels("t", status, "false").inc()
            tool_seconds.labels("t").observe(seconds)

    def rendered(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in registry.collect()
            for s in family.samples
            if family.name in ("mastra_workflow_steps", "mastra_workflow_step_seconds", "mastra_tool_calls",
                               "mastra_tool_call_seconds") and not s.name.endswith("_created")
        }  # fmt: skip

    ours, theirs = rendered(metrics.registry), rendered(reference)
    assert ours.keys() == theirs.keys()
    for key, value in theirs.items():
        assert math.isclose(ours[key], value, rel_tol=1e-9, abs_tol=1e-9), key
    # and the text format parses back with the same values
    parsed = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(metrics.render().decode())
        for s in family.samples
    }
    assert all(math.isclose(parsed[key], value, rel_tol=1e-9, abs_tol=1e-9) for key, value in ours.items())
