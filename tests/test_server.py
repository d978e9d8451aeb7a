"""The hub over HTTP in Mastra's REST dialect: uvicorn on 127.0.0.1, driven by httpx over real TCP.

Each route is checked as Mastra's client reads it (keyed lists, superjson schemas, chunk-shaped tool calls, the
workflow result), and each failure as it must come back: the status Mastra's client expects, `{"error": ...}`
naming the field, no secret, nothing stored changed. Generated bodies must never get a 5xx.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import httpx
import pytest
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from test_agents import add

from mastra_nb import Agent, DuckDBStore, InMemoryStore, Mastra, MastraError, Step, Workflow, tool
from mastra_nb.models import ScriptedModel, ScriptedReply
from mastra_nb.server import Route, create_app
from mastra_nb.workflows import StepContext

SECRET = "sk-live-abcdefghijklmnop0123456789"


@tool
def leaky(text: str) -> str:
    """Fail, quoting a secret."""
    raise RuntimeError(f"upstream refused api_key={SECRET} for {text}")


class Order(BaseModel):
    item: str


class Ask(BaseModel):
    question: str


class Answer(BaseModel):
    ok: bool


class Receipt(BaseModel):
    item: str
    ok: bool


async def confirm(order: Order, ctx: StepContext) -> Receipt:
    if ctx.resume_data is None:
        ctx.suspend(Ask(question=f"Ship {order.item}?"))
    return Receipt(item=order.item, ok=ctx.resume_data.ok)


def build_hub(script: list[Any] | None = None) -> Mastra:
    hub = Mastra(storage=InMemoryStore())
    hub.add_tool(add)
    hub.add_tool(leaky)
    model = ScriptedModel(script or [ScriptedReply.call("add", a=2, b=3), "2 + 3 = 5"])
    hub.add_agent(Agent("calc", "You add numbers.", model, tools=[add], description="Adds."))
    shipping = Workflow("ship", input=Order, output=Receipt, description="Ships after a yes.").then(
        Step("confirm", confirm, input=Order, output=Receipt, suspend=Ask, resume=Answer)
    )
    hub.add_workflow(shipping)
    return hub


def slow_workflow(release: asyncio.Event, *, first: bool = False) -> Workflow:
    """`slow`: its step `wait` waits for `release` (after a step `first` that does nothing, when asked)."""

    async def wait(order: Order) -> Order:
        await asyncio.wait_for(release.wait(), 10)
        return order

    workflow = Workflow("slow", input=Order, output=Order)
    if first:
        workflow.then(Step("first", lambda o: o, input=Order, output=Order))
    return workflow.then(Step("wait", wait, input=Order, output=Order))


class Served:
    """A hub's app served by uvicorn on a free port of 127.0.0.1, in the test's event loop."""

    def __init__(self, hub: Mastra, *, lifespan: bool = False, **options: Any) -> None:
        self.hub = hub
        self.app = create_app(hub, **options)
        # The app's lifespan runs only when asked: it starts MCP transports and, on the way out, drains.
        config = uvicorn.Config(self.app, host="127.0.0.1", port=0, log_level="warning",
                                lifespan="on" if lifespan else "off")  # fmt: skip
        self.server = uvicorn.Server(config)
        self.task: asyncio.Task[None] | None = None
        self.client: httpx.AsyncClient | None = None

    async def __aenter__(self) -> httpx.AsyncClient:
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            assert not self.task.done(), "uvicorn did not start"
            await asyncio.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30, trust_env=False)
        return self.client

    async def __aexit__(self, *exc: Any) -> None:
        assert self.client is not None and self.task is not None
        await self.client.aclose()
        self.server.should_exit = True
        await self.task
        await self.hub.shutdown()


def schema(text: str) -> dict[str, Any]:
    """A schema as client-js unwraps it: superjson text."""
    return json.loads(text)["json"]


# -- components -------------------------------------------------------------------------------------------------


async def test_agents_tools_and_workflows_list_keyed_by_id_with_superjson_schemas():
    async with Served(build_hub()) as http:
        agents = (await http.get("/api/agents")).json()
        assert list(agents) == ["calc"]
        calc = agents["calc"]
        assert calc["name"] == "calc" and calc["description"] == "Adds." and calc["instructions"] == "You add numbers."
        assert calc["provider"] == "mastra" and calc["modelId"] == "scripted"
        assert schema(calc["tools"]["add"]["inputSchema"])["required"] == ["a", "b"]
        assert (await http.get("/api/agents/calc")).json() == calc

        tools = (await http.get("/api/tools")).json()
        assert sorted(tools) == ["add", "leaky"]
        assert tools["add"]["description"] == "Add two integers."
        assert schema(tools["add"]["inputSchema"])["properties"]["a"]["description"] == "the first."
        assert schema(tools["add"]["outputSchema"]) == {"type": "integer"}

        workflows = (await http.get("/api/workflows")).json()
        ship = workflows["ship"]
        assert ship["description"] == "Ships after a yes."
        assert ship["stepGraph"] == [
            {"type": "step", "step": {"id": "confirm", "description": None, "canSuspend": True}}
        ]
        assert schema(ship["steps"]["confirm"]["resumeSchema"])["properties"] == {
            "ok": {"title": "Ok", "type": "boolean"}
        }
        assert schema(ship["inputSchema"])["required"] == ["item"]
        assert (await http.get("/api/workflows/ship")).json() == ship


async def test_the_step_graph_says_each_construct_as_mastra_serializes_it():
    hub = Mastra(storage=InMemoryStore())
    inner = Workflow("inner", input=Order, output=Order).then(Step("echo", lambda d: d, input=Order, output=Order))
    double = Step("double", lambda d: d, input=Order, output=Order)
    wf = (
        Workflow("shapes", input=Order, output=Order)
        .then(inner)
        .parallel(
            [Step("p1", lambda d: d, input=Order, output=Order), Step("p2", lambda d: d, input=Order, output=Order)]
        )
        .map(lambda d: d["p1"])
        .dountil(double, lambda d: True)
        .sleep(0.5)
    )
    hub.add_workflow(wf)
    async with Served(hub) as http:
        graph = (await http.get("/api/workflows/shapes")).json()["stepGraph"]
    assert [entry["type"] for entry in graph] == ["step", "parallel", "step", "loop", "sleep"]
    assert graph[0]["step"]["component"] == "WORKFLOW"
    assert graph[0]["step"]["serializedStepFlow"][0]["step"]["id"] == "echo"
    assert [s["step"]["id"] for s in graph[1]["steps"]] == ["p1", "p2"]
    assert "mapConfig" in graph[2]["step"]
    assert graph[3]["loopType"] == "dountil" and graph[3]["step"]["id"] == "double"
    assert graph[4]["duration"] == 500


async def test_generate_answers_with_mastras_full_output_and_chunk_shaped_tool_calls():
    async with Served(build_hub()) as http:
        answer = await http.post("/api/agents/calc/generate", json={"messages": [{"role": "user", "content": "2+3?"}]})
    assert answer.status_code == 200, answer.text
    out = answer.json()
    assert out["text"] == "2 + 3 = 5" and out["finishReason"] == "stop"
    call = out["toolCalls"][0]
    assert call["type"] == "tool-call" and call["from"] == "AGENT" and call["runId"] == out["runId"]
    assert call["payload"]["toolName"] == "add" and call["payload"]["args"] == {"a": 2, "b": 3}
    assert out["toolResults"][0]["payload"]["result"] == 5 and out["toolResults"][0]["payload"]["isError"] is False
    assert len(out["steps"]) == 2 and out["steps"][0]["finishReason"] == "tool-calls"
    assert answer.headers["x-request-id"]


async def test_a_tool_call_waiting_for_approval_is_decided_over_http():
    async with Served(build_hub()) as http:
        first = (await http.post("/api/agents/calc/generate",
                                 json={"messages": "2+3?", "requireToolApproval": True})).json()  # fmt: skip
        assert first["finishReason"] == "suspended"  # as Mastra says it, with the call to decide on
        assert first["suspendPayload"]["toolName"] == "add" and first["suspendPayload"]["args"] == {"a": 2, "b": 3}
        waiting = first["suspendPayload"]["pendingApprovals"]
        assert [w["toolName"] for w in waiting] == ["add"]
        body = {"runId": first["runId"], "toolCallId": waiting[0]["toolCallId"]}
        done = await http.post("/api/agents/calc/approve-tool-call-generate", json=body)
        assert done.status_code == 200, done.text
        assert done.json()["text"] == "2 + 3 = 5"
        again = await http.post("/api/agents/calc/approve-tool-call-generate", json=body)
        assert again.status_code == 409, again.text  # decided already: the run is not waiting any more


async def test_tools_execute_and_bad_input_names_the_field():
    async with Served(build_hub()) as http:
        ok = await http.post("/api/tools/add/execute", json={"data": {"a": 40, "b": 2}})
        assert ok.status_code == 200 and ok.json() == 42
        via_agent = await http.post("/api/agents/calc/tools/add/execute", json={"data": {"a": 1, "b": 1}})
        assert via_agent.json() == 2
        bad = await http.post("/api/tools/add/execute", json={"data": {"a": "forty", "b": 2}})
        assert bad.status_code == 400
        error = bad.json()
        assert error["code"] == "TOOL_INPUT_INVALID" and "forty" in error["error"]
        assert [issue["field"] for issue in error["issues"]] == ["a"]
        unknown = await http.post("/api/tools/nope/execute", json={"data": {}})
        assert unknown.status_code == 404 and "`add`" in unknown.json()["error"]
        assert (await http.get("/api/agents/nobody")).status_code == 404
        assert (await http.get("/api/agents/calc/tools/nope")).status_code == 404


async def test_a_failing_tool_is_a_500_that_carries_no_secret():
    async with Served(build_hub()) as http:
        failed = await http.post("/api/tools/leaky/execute", json={"data": {"text": "hi"}})
    assert failed.status_code == 500
    assert SECRET not in failed.text and "leaky" in failed.json()["error"]


def sse_chunks(text: str) -> list[dict[str, Any]]:
    """An SSE body read as client-js reads it: frames split on a blank line, `data: ` taken, `[DONE]` ends."""
    found = []
    for frame in text.split("\n\n"):
        if not frame.startswith("data: "):
            continue
        data = frame[len("data: ") :]
        if data == "[DONE]":
            return found
        found.append(json.loads(data))
    raise AssertionError(f"the stream did not end with [DONE]: {text[-200:]!r}")


def rs_records(text: str) -> list[dict[str, Any]]:
    """A workflow stream read as client-js reads it: JSON records, each followed by 0x1E."""
    assert text.endswith("\x1e"), text[-200:]
    return [json.loads(record) for record in text.split("\x1e")[:-1]]


async def test_stream_sends_mastras_sse_chunks_that_reassemble_to_the_answer():
    async with Served(build_hub()) as http:
        answer = await http.post("/api/agents/calc/stream", json={"messages": "2+3?", "runId": "run-ada-1"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/event-stream")
    assert answer.headers["cache-control"] == "no-cache"
    chunks = sse_chunks(answer.text)
    kinds = [c["type"] for c in chunks]
    assert kinds[:5] == ["start", "step-start", "tool-call", "tool-result", "step-finish"], kinds
    assert kinds[5] == "step-start" and kinds[-2:] == ["step-finish", "finish"], kinds
    assert {c["runId"] for c in chunks} == {"run-ada-1"} and {c["from"] for c in chunks} == {"AGENT"}
    assert "".join(c["payload"]["text"] for c in chunks if c["type"] == "text-delta") == "2 + 3 = 5"
    assert chunks[2]["payload"]["args"] == {"a": 2, "b": 3} and chunks[3]["payload"]["result"] == 5
    assert chunks[-1]["payload"]["stepResult"]["reason"] == "stop"
    assert chunks[-1]["payload"]["usage"]["totalTokens"] > 0


async def test_stream_chunks_leave_as_they_are_made():
    """The tool waits until the client has read the tool-call chunk: a server that buffered the stream would never
    send it, and the run would hang."""
    seen_call = asyncio.Event()

    @tool
    async def gate(x: int) -> int:
        """Wait for the client."""
        await asyncio.wait_for(seen_call.wait(), 10)
        return x

    hub = Mastra(storage=InMemoryStore())
    hub.add_agent(Agent("g", "Gate.", ScriptedModel([ScriptedReply.call("gate", x=7), "got 7"]), tools=[gate]))
    async with Served(hub) as http:
        text = ""
        async with http.stream("POST", "/api/agents/g/stream", json={"messages": "go"}) as answer:
            async for piece in answer.aiter_text():
                text += piece
                if '"type":"tool-call"' in text:
                    seen_call.set()
    chunks = sse_chunks(text)
    assert (
        chunks[-1]["type"] == "finish"
        and next(c for c in chunks if c["type"] == "tool-result")["payload"]["result"] == 7
    )


async def test_a_stream_refused_at_once_answers_with_its_status_and_one_that_fails_later_ends_with_an_error_chunk():
    hub = build_hub([ScriptedReply.call("add", a=1, b=1)])  # the second model call finds the script used up
    async with Served(hub) as http:
        assert (await http.post("/api/agents/nobody/stream", json={"messages": "hi"})).status_code == 404
        bad = await http.post("/api/agents/calc/stream", json={"messages": "hi", "maxSteps": 0})
        assert bad.status_code == 400 and bad.headers["content-type"] == "application/json", bad.text
        failed = await http.post("/api/agents/calc/stream", json={"messages": "1+1?"})
    assert failed.status_code == 200
    chunks = sse_chunks(failed.text)
    assert [c["type"] for c in chunks][-2:] == ["step-finish", "error"] or chunks[-1]["type"] == "error"
    assert chunks[-1]["payload"]["error"]["code"] == "SCRIPT_EXHAUSTED"
    assert any(c["type"] == "tool-result" for c in chunks)  # what happened before the failure was sent


async def test_a_streamed_tool_call_waits_for_approval_and_approve_tool_call_streams_the_rest():
    async with Served(build_hub()) as http:
        first = sse_chunks((await http.post(
            "/api/agents/calc/stream", json={"messages": "2+3?", "requireToolApproval": True})).text)  # fmt: skip
        waiting = [c for c in first if c["type"] == "tool-call-approval"]
        assert [w["payload"]["toolName"] for w in waiting] == ["add"]
        assert first[-1]["payload"]["stepResult"]["reason"] == "suspended"
        assert not any(c["type"] == "tool-result" for c in first)  # not run before the decision
        body = {"runId": first[0]["runId"], "toolCallId": waiting[0]["payload"]["toolCallId"]}
        reused = await http.post("/api/agents/calc/stream", json={"messages": "again", "runId": body["runId"]})
        assert reused.status_code == 409, reused.text  # the paused run's id is not taken over by a new run
        rest = await http.post("/api/agents/calc/approve-tool-call", json=body)
        assert rest.status_code == 200 and rest.headers["content-type"].startswith("text/event-stream")
        chunks = sse_chunks(rest.text)
        assert [c["payload"]["result"] for c in chunks if c["type"] == "tool-result"] == [5]
        assert "".join(c["payload"]["text"] for c in chunks if c["type"] == "text-delta") == "2 + 3 = 5"
        assert chunks[-1]["type"] == "finish" and chunks[-1]["payload"]["stepResult"]["reason"] == "stop"
        again = await http.post("/api/agents/calc/decline-tool-call", json=body)
        assert again.status_code == 409, again.text


# -- workflows ----------------------------------------------------------------------------------------------------


async def test_a_workflow_run_is_created_started_suspended_listed_resumed_and_read_back():
    hub = build_hub()
    async with Served(hub) as http:
        run_id = (await http.post("/api/workflows/ship/create-run", json={"resourceId": "ada"})).json()["runId"]
        started = await http.post(
            f"/api/workflows/ship/start-async?runId={run_id}", json={"inputData": {"item": "tea"}}
        )
        assert started.status_code == 200, started.text
        result = started.json()
        assert result["status"] == "suspended" and result["suspended"] == [["confirm"]]
        assert result["steps"]["confirm"]["suspendPayload"] == {"question": "Ship tea?"}

        runs = (await http.get("/api/workflows/ship/runs")).json()
        assert runs["total"] == 1 and runs["runs"][0]["runId"] == run_id and runs["runs"][0]["resourceId"] == "ada"

        bad = await http.post(f"/api/workflows/ship/resume-async?runId={run_id}",
                              json={"step": "confirm", "resumeData": {"ok": "maybe"}})  # fmt: skip
        assert bad.status_code == 400 and bad.json()["issues"][0]["field"] == "ok"
        assert (await http.get(f"/api/workflows/ship/runs/{run_id}")).json()["status"] == "suspended"  # unchanged

        resumed = await http.post(f"/api/workflows/ship/resume-async?runId={run_id}",
                                  json={"step": ["confirm"], "resumeData": {"ok": True}})  # fmt: skip
        assert resumed.status_code == 200, resumed.text
        assert resumed.json()["status"] == "success" and resumed.json()["result"] == {"item": "tea", "ok": True}

        again = await http.post(f"/api/workflows/ship/resume-async?runId={run_id}", json={"resumeData": {"ok": False}})
        assert again.status_code == 409, again.text  # a finished run is not resumed twice

        read = (await http.get(f"/api/workflows/ship/runs/{run_id}")).json()
        assert read["status"] == "success" and read["workflowName"] == "ship" and read["resourceId"] == "ada"
        assert read["steps"]["confirm"]["resumePayload"] == {"ok": True}
        narrow = (await http.get(f"/api/workflows/ship/runs/{run_id}?fields=result")).json()
        assert set(narrow) == {"runId", "workflowName", "status", "result"}
        assert (await http.get("/api/workflows/ship/runs/nope")).status_code == 404


async def test_runs_are_deleted_time_travelled_and_restarted_only_when_they_may_be():
    async with Served(build_hub()) as http:
        first = (await http.post("/api/workflows/ship/start-async", json={"inputData": {"item": "tea"}})).json()
        run_id = first["runId"]
        travelled = await http.post(f"/api/workflows/ship/time-travel-async?runId={run_id}",
                                    json={"step": "confirm", "inputData": {"item": "jam"}})  # fmt: skip
        assert travelled.status_code == 200, travelled.text
        fork = travelled.json()
        assert fork["runId"] != run_id and fork["steps"]["confirm"]["suspendPayload"] == {"question": "Ship jam?"}
        no_step = await http.post(f"/api/workflows/ship/time-travel-async?runId={run_id}", json={})
        assert no_step.status_code == 400 and no_step.json()["issues"][0]["field"] == "step"
        not_orphaned = await http.post(f"/api/workflows/ship/restart-async?runId={run_id}")
        assert not_orphaned.status_code == 409 and not_orphaned.json()["code"] == "RUN_NOT_RESTARTABLE"

        deleted = await http.delete(f"/api/workflows/ship/runs/{run_id}")
        assert deleted.status_code == 200, deleted.text
        assert (await http.get(f"/api/workflows/ship/runs/{run_id}")).status_code == 404
        assert (await http.delete(f"/api/workflows/ship/runs/{run_id}")).status_code == 404
        assert (await http.get("/api/workflows/ship/runs")).json()["total"] == 1  # the fork stays


async def test_a_running_run_is_not_deleted():
    release = asyncio.Event()
    hub = build_hub()
    hub.add_workflow(slow_workflow(release))
    async with Served(hub) as http:
        run_id = (await http.post("/api/workflows/slow/create-run")).json()["runId"]
        await http.post(f"/api/workflows/slow/start?runId={run_id}", json={"inputData": {"item": "x"}})
        for _ in range(100):
            if (await http.get(f"/api/workflows/slow/runs/{run_id}")).status_code == 200:
                break
            await asyncio.sleep(0.02)
        busy = await http.delete(f"/api/workflows/slow/runs/{run_id}")
        assert busy.status_code == 409 and busy.json()["code"] == "RUN_BUSY"
        other = await http.delete(f"/api/workflows/ship/runs/{run_id}")
        assert other.status_code == 404  # not a run of that workflow
        release.set()
        for _ in range(200):
            if (await http.get(f"/api/workflows/slow/runs/{run_id}")).json()["status"] == "success":
                break
            await asyncio.sleep(0.02)
        assert (await http.delete(f"/api/workflows/slow/runs/{run_id}")).status_code == 200


async def test_two_clients_starting_one_created_run_at_once_start_it_once():
    """Both requests name the run `create-run` made: one starts it, the other is told it already started (409),
    and one run is stored, with the first start's input."""
    hub = build_hub()
    async with Served(hub) as http:
        run_id = (await http.post("/api/workflows/ship/create-run")).json()["runId"]
        answers = await asyncio.gather(*(
            http.post(f"/api/workflows/ship/start-async?runId={run_id}", json={"inputData": {"item": item}})
            for item in ("tea", "jam")
        ))  # fmt: skip
        assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
        won = next(a for a in answers if a.status_code == 200).json()
        assert won["status"] == "suspended"
        runs = (await http.get("/api/workflows/ship/runs")).json()
        assert runs["total"] == 1 and runs["runs"][0]["runId"] == run_id


async def test_start_in_the_background_then_read_the_outcome():
    async with Served(build_hub()) as http:
        run_id = (await http.post("/api/workflows/ship/create-run")).json()["runId"]
        started = await http.post(f"/api/workflows/ship/start?runId={run_id}", json={"inputData": {"item": "jam"}})
        assert started.status_code == 200 and started.json()["runId"] == run_id
        for _ in range(200):
            read = await http.get(f"/api/workflows/ship/runs/{run_id}")
            if read.status_code == 200 and read.json()["status"] == "suspended":
                break
            await asyncio.sleep(0.02)
        assert read.json()["status"] == "suspended"
        missing = await http.post("/api/workflows/ship/start", json={})
        assert missing.status_code == 400 and missing.json()["issues"][0]["field"] == "runId"


async def test_a_workflow_streams_its_events_as_records_and_resume_stream_finishes_it():
    async with Served(build_hub()) as http:
        run_id = (await http.post("/api/workflows/ship/create-run")).json()["runId"]
        started = await http.post(f"/api/workflows/ship/stream?runId={run_id}", json={"inputData": {"item": "tea"}})
        assert started.status_code == 200 and started.headers["content-type"].startswith("text/plain")
        records = rs_records(started.text)
        assert [r["type"] for r in records] == [
            "workflow-start", "workflow-step-start", "workflow-step-suspended", "workflow-finish"]  # fmt: skip
        assert {r["runId"] for r in records} == {run_id} and {r["from"] for r in records} == {"WORKFLOW"}
        assert records[2]["payload"]["suspendPayload"] == {"question": "Ship tea?"}
        assert records[-1]["payload"]["workflowStatus"] == "suspended"

        twice = await http.post(f"/api/workflows/ship/stream?runId={run_id}", json={"inputData": {"item": "tea"}})
        assert twice.status_code == 409, twice.text
        bad = await http.post(f"/api/workflows/ship/resume-stream?runId={run_id}", json={"resumeData": {"ok": 3}})
        assert bad.status_code == 400 and bad.json()["issues"][0]["field"] == "ok"

        resumed = await http.post(f"/api/workflows/ship/resume-stream?runId={run_id}",
                                  json={"step": "confirm", "resumeData": {"ok": True}})  # fmt: skip
        records = rs_records(resumed.text)
        assert [r["type"] for r in records] == ["workflow-start", "workflow-step-start", "workflow-step-result",
                                                "workflow-finish"]  # fmt: skip
        assert records[2]["payload"]["output"] == {"item": "tea", "ok": True}
        finish = records[-1]["payload"]
        assert finish["workflowStatus"] == "success"
        assert finish["finalWorkflowResult"]["result"] == {"item": "tea", "ok": True}

        replay = rs_records((await http.post(f"/api/workflows/ship/observe?runId={run_id}")).text)
        assert [r["type"] for r in replay] == ["workflow-start", "workflow-step-start", "workflow-step-result",
                                               "workflow-finish"]  # fmt: skip
        assert replay[-1]["payload"]["workflowStatus"] == "success"
        assert (await http.post("/api/workflows/ship/observe?runId=nope")).status_code == 404


async def test_observe_follows_a_run_in_the_background_and_a_client_that_leaves_does_not_stop_a_run():
    release = asyncio.Event()
    hub = Mastra(storage=InMemoryStore())
    hub.add_workflow(slow_workflow(release, first=True))
    async with Served(hub) as http:
        run_id = (await http.post("/api/workflows/slow/create-run")).json()["runId"]
        await http.post(f"/api/workflows/slow/start?runId={run_id}", json={"inputData": {"item": "jam"}})
        seen: list[dict[str, Any]] = []
        text = ""
        async with http.stream("POST", f"/api/workflows/slow/observe?runId={run_id}") as observed:
            async for piece in observed.aiter_text():
                text += piece
                if '"workflow-step-start"' in text and '"wait"' in text:
                    release.set()  # the replay (or the live events) reached the waiting step
        seen = rs_records(text)
        kinds = [(r["type"], r["payload"].get("id")) for r in seen]
        assert kinds[0] == ("workflow-start", None)
        assert ("workflow-step-result", "first") in kinds and ("workflow-step-result", "wait") in kinds
        assert seen[-1]["payload"]["workflowStatus"] == "success"

        # A stream read partly, then dropped: the run still ends and is stored.
        release.clear()
        run_id = (await http.post("/api/workflows/slow/create-run")).json()["runId"]
        async with http.stream("POST", f"/api/workflows/slow/stream?runId={run_id}",
                               json={"inputData": {"item": "tea"}}) as dropped:  # fmt: skip
            async for piece in dropped.aiter_text():
                if "workflow-step-start" in piece:
                    break
        release.set()
        for _ in range(200):
            status = (await http.get(f"/api/workflows/slow/runs/{run_id}")).json()["status"]
            if status == "success":
                break
            await asyncio.sleep(0.02)
        assert status == "success"


# -- the edge -------------------------------------------------------------------------------------------------------


async def test_bodies_that_are_not_json_objects_or_too_large_are_refused_cleanly():
    async with Served(build_hub(), body_limit=1000) as http:
        not_json = await http.post(
            "/api/tools/add/execute", content=b"{nope", headers={"content-type": "application/json"}
        )
        assert not_json.status_code == 400 and not_json.json()["code"] == "BODY_INVALID"
        a_list = await http.post("/api/tools/add/execute", json=[1, 2])
        assert a_list.status_code == 400 and "object" in a_list.json()["error"]
        big = await http.post("/api/tools/add/execute", json={"data": {"a": 1, "b": 2}, "pad": "x" * 2000})
        assert big.status_code == 413

        async def chunks():  # no Content-Length: the limit is counted as the body arrives
            for _ in range(20):
                yield b" " * 100

        streamed = await http.post("/api/tools/add/execute", content=chunks())
        assert streamed.status_code == 413
        wrong = await http.post("/api/agents/calc/generate", json={"messages": "hi", "maxSteps": "many"})
        assert wrong.status_code == 400 and wrong.json()["issues"] == [
            {"field": "maxSteps", "message": wrong.json()["error"]}
        ]


async def test_a_route_that_declares_no_permission_is_refused_when_the_app_is_built():
    async def hello(call):
        return {"hi": True}

    with pytest.raises(MastraError) as raised:
        create_app(Mastra(storage=InMemoryStore()), routes=[Route("GET", "/hello", hello, "", "Says hi.")])
    assert raised.value.code == "SERVER_ROUTE_INVALID"
    app = create_app(Mastra(storage=InMemoryStore()), routes=[Route("GET", "/hello", hello, "public", "Says hi.")])
    assert all(route.permission for route in app.state.routes)


async def test_user_middleware_runs_in_order_and_the_request_id_is_kept():
    seen: list[str] = []

    def tagging(tag: str):
        async def middleware(request, call_next):
            seen.append(tag)
            response = await call_next(request)
            response.headers[f"x-{tag}"] = "1"
            return response

        return middleware

    middleware = [tagging("first"), tagging("second"), ("/api/agents", tagging("agents"))]
    async with Served(build_hub(), middleware=middleware) as http:
        answer = await http.get("/api/tools", headers={"x-request-id": "abc-123"})
        assert (await http.get("/health")).json() == {"success": True}
        assert (await http.get("/api/auth/capabilities")).json() == {"enabled": False, "login": None}
        agents = await http.get("/api/agents/calc")
    assert answer.headers["x-request-id"] == "abc-123" and answer.headers["x-first"] == "1"
    assert re.fullmatch(r"app;dur=\d+\.\d", answer.headers["server-timing"])
    assert "x-agents" not in answer.headers and agents.headers["x-agents"] == "1"  # scoped to its path
    assert seen[:2] == ["first", "second"] and seen.count("agents") == 1


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)
_BODIES = st.one_of(
    _JSON,
    st.fixed_dictionaries({}, optional={
        "messages": _JSON, "maxSteps": _JSON, "memory": _JSON, "modelSettings": _JSON, "requestContext": _JSON,
        "data": _JSON, "inputData": _JSON, "resumeData": _JSON, "step": _JSON, "runId": _JSON, "toolCallId": _JSON,
        "requireToolApproval": _JSON, "toolChoice": _JSON,
    }),
)  # fmt: skip
_ROUTES = ["/api/agents/calc/generate", "/api/agents/calc/stream", "/api/tools/add/execute",
           "/api/agents/calc/approve-tool-call-generate", "/api/agents/calc/approve-tool-call",
           "/api/workflows/ship/start-async", "/api/workflows/ship/stream", "/api/workflows/ship/resume-async?runId=x",
           "/api/workflows/ship/resume-stream?runId=x", "/api/workflows/ship/create-run"]  # fmt: skip


async def test_generated_bodies_never_get_a_server_error():
    """Any JSON at all, or objects with Mastra's field names holding any JSON: a 2xx or a 4xx, never a 5xx."""
    script = [ScriptedReply.call("add", a=1, b=2), "done"] * 400
    async with Served(build_hub(script)) as http:
        found: list[tuple[str, str]] = []

        @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
        @given(route=st.sampled_from(_ROUTES), body=_BODIES)
        def check(route: str, body: Any) -> None:
            found.append((route, json.dumps(body)))

        check()
        for route, body in found:
            answer = await http.post(route, content=body.encode(), headers={"content-type": "application/json"})
            assert answer.status_code < 500, (route, body, answer.text)
            if answer.status_code >= 400:
                assert answer.json()["error"] and answer.json()["code"]


# -- operations -----------------------------------------------------------------------------------------------------


async def test_ready_names_a_failing_part_and_says_no_while_shutting_down(tmp_path):
    hub = Mastra(storage=DuckDBStore(tmp_path / "mastra.duckdb"))
    served = Served(hub)
    async with served as http:
        ready = await http.get("/ready")
        assert ready.status_code == 200 and ready.json()["checked"] == ["storage"]
        await hub.storage.close()  # storage that cannot answer any more
        broken = await http.get("/ready")
        assert broken.status_code == 503 and "storage" in broken.json()["failing"]
        assert (await http.get("/health")).status_code == 200  # alive all the same
        served.app.state.operations.draining.set()
        draining = await http.get("/ready")
        assert draining.status_code == 503 and draining.json()["failing"] == {"server": "shutting down"}


async def test_metrics_count_requests_by_route_and_status_and_carry_the_hubs_own(caplog):
    events: list[str] = []
    hub = build_hub()
    hub.events.subscribe("request:*", lambda event: events.append(f"{event.name} {event.payload['route']}"))
    async with Served(hub) as http:
        with caplog.at_level("INFO", logger="mastra_nb.server.access"):
            await http.post("/api/tools/add/execute", json={"data": {"a": 1, "b": 2}})
            await http.post("/api/tools/add/execute", json={"data": {"a": "x"}})
            await http.get("/api/agents/nobody", headers={"x-request-id": "req-7"})
        text = (await http.get("/metrics")).text
    assert 'mastra_http_requests_total{method="POST",route="/tools/{toolId}/execute",status="200"} 1.0' in text
    assert 'mastra_http_requests_total{method="POST",route="/tools/{toolId}/execute",status="400"} 1.0' in text
    assert 'mastra_http_requests_total{method="GET",route="/agents/{agentId}",status="404"} 1.0' in text
    assert 'mastra_http_request_seconds_count{method="POST",route="/tools/{toolId}/execute"} 2.0' in text
    assert 'mastra_tool_calls_total{cached="false",status="ok",tool="add"} 1.0' in text  # the hub's own metrics
    logged = [r for r in caplog.records if r.name == "mastra_nb.server.access"]
    assert [(r.method, r.route, r.status) for r in logged] == [
        ("POST", "/tools/{toolId}/execute", 200), ("POST", "/tools/{toolId}/execute", 400),
        ("GET", "/agents/{agentId}", 404)]  # fmt: skip
    assert logged[-1].request_id == "req-7" and logged[-1].ms >= 0
    await hub.events.drain()
    assert events[:2] == ["request:started /tools/{toolId}/execute", "request:completed /tools/{toolId}/execute"]


async def test_the_openapi_document_has_every_route_and_the_docs_page_works_offline():
    hub = build_hub()
    async with Served(hub) as http:
        document = (await http.get("/api/openapi.json")).json()
        page = (await http.get("/api/docs")).text
    routes = {(route.method.lower(), "/api" + route.path) for route in create_app(hub).state.routes}
    listed = {(method, path) for path, operations in document["paths"].items() for method in operations}
    assert routes <= listed and document["openapi"] == "3.1.0"
    for path, operations in document["paths"].items():
        for operation in operations.values():
            assert operation["x-mastra-permission"] and operation["summary"], path
    execute = document["paths"]["/api/tools/{toolId}/execute"]["post"]
    assert [p["name"] for p in execute["parameters"]] == ["toolId"]
    assert list(document["paths"]["/api/agents/{agentId}/stream"]["post"]["responses"]["200"]["content"]) == [
        "text/event-stream"]  # fmt: skip
    assert document["paths"]["/api/tools/{toolId}"]["get"]["parameters"][0]["schema"]["examples"] == ["add", "leaky"]
    assert "<script" not in page and "http://" not in page and "https://" not in page  # nothing from a CDN
    assert all(path in page for _, path in routes)


async def test_a_shutdown_ends_open_streams_with_a_last_chunk_and_keeps_the_run():
    release = asyncio.Event()
    hub = Mastra(storage=InMemoryStore())
    hub.add_workflow(slow_workflow(release))
    served = Served(hub)
    async with served as http:
        run_id = (await http.post("/api/workflows/slow/create-run")).json()["runId"]
        text = ""
        async with http.stream("POST", f"/api/workflows/slow/stream?runId={run_id}",
                               json={"inputData": {"item": "tea"}}) as answer:  # fmt: skip
            async for piece in answer.aiter_text():
                text += piece
                if "workflow-step-start" in text:
                    served.app.state.operations.draining.set()  # what SIGTERM does first
        records = rs_records(text)
        assert records[-1]["type"] == "error"
        assert records[-1]["payload"]["error"]["code"] == "SERVER_SHUTTING_DOWN"
        assert (await http.get(f"/api/workflows/slow/runs/{run_id}")).json()["status"] == "running"
        release.set()
        for _ in range(200):  # the run itself was not stopped by the stream's end
            if (await http.get(f"/api/workflows/slow/runs/{run_id}")).json()["status"] == "success":
                break
            await asyncio.sleep(0.02)
        assert (await http.get(f"/api/workflows/slow/runs/{run_id}")).json()["status"] == "success"


async def test_structured_output_from_a_json_schema_comes_back_as_the_object():
    properties = {"sum": {"type": "integer", "minimum": 0}, "first-name": {"type": "string"}}
    schema = {"type": "object", "properties": properties, "required": ["sum"], "additionalProperties": False}
    hub = build_hub(['{"sum": 5, "first-name": "Ada"}', '{"sum": 5}', '{"sum": -1}', '{"sum": -2}'])
    async with Served(hub) as http:
        out = await http.post(
            "/api/agents/calc/generate", json={"messages": "2+3?", "structuredOutput": {"schema": schema}}
        )
        assert out.status_code == 200, out.text
        assert out.json()["object"] == {"sum": 5, "first-name": "Ada"}  # the schema's own names
        asked = {"messages": "2+3?", "structuredOutput": {"schema": schema}}
        streamed = sse_chunks((await http.post("/api/agents/calc/stream", json=asked)).text)
        assert [c["object"] for c in streamed if c["type"] == "object-result"] == [{"sum": 5}]
        wrong = await http.post(
            "/api/agents/calc/generate", json={"messages": "2+3?", "structuredOutput": {"schema": schema}}
        )
        assert wrong.status_code == 400 and wrong.json()["code"] == "AGENT_OUTPUT_INVALID"  # after one repair round
        odd = {"type": "object", "properties": {"a": {"type": "string", "if": {}}}}
        refused = await http.post(
            "/api/agents/calc/generate", json={"messages": "x", "structuredOutput": {"schema": odd}}
        )
        assert (
            refused.status_code == 400
            and refused.json()["issues"][0]["field"] == "structuredOutput.schema.properties.a"
        )
        both = {"schema": schema, "errorStrategy": "warn"}
        extra = await http.post("/api/agents/calc/generate", json={"messages": "x", "structuredOutput": both})
        assert extra.status_code == 400 and extra.json()["issues"][0]["field"] == "structuredOutput.errorStrategy"


async def test_messages_in_openais_format_reach_the_model_whole():
    # A client that keeps its own history sends the assistant's tool_calls and the tool's answer as OpenAI has them.
    def echo(messages: list[dict[str, Any]]) -> str:
        return json.dumps([(m["role"], m.get("tool_call_id"), [c["id"] for c in m.get("tool_calls") or []])
                           for m in messages if m["role"] != "system"])  # fmt: skip

    made = Mastra(storage=InMemoryStore())
    made.add_agent(Agent("echo", "You echo.", ScriptedModel([echo])))
    call = {"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'}}
    sent = [{"role": "user", "content": "2 + 3?"}, {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "c1", "content": "5"}, {"role": "user", "content": "And so?"}]  # fmt: skip
    async with Served(made) as http:
        answer = await http.post("/api/agents/echo/generate", json={"messages": sent})
    assert json.loads(answer.json()["text"]) == [["user", None, []], ["assistant", None, ["c1"]], ["tool", "c1", []],
                                                 ["user", None, []]]  # fmt: skip
