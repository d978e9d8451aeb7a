"""Metrics: counters and histograms of runs, steps, tool and model calls, tokens, cost and errors, per hub, in
Prometheus' text format (parsed back with prometheus-client's own parser)."""

import asyncio

from openai_server import Reply
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel

from mastra_nb import Agent, InMemoryStore, Mastra, MastraConfig, Step, Workflow, tool


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
