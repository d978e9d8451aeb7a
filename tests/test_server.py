"""The hub over HTTP in Mastra's REST dialect: uvicorn on 127.0.0.1, driven by httpx over real TCP.

Each route is checked as Mastra's client reads it (keyed lists, superjson schemas, chunk-shaped tool calls, the
workflow result), and each failure as it must come back: the status Mastra's client expects, `{"error": ...}`
naming the field, no secret, nothing stored changed. Generated bodies must never get a 5xx.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from test_agents import add

from mastra_nb import Agent, InMemoryStore, Mastra, MastraError, Step, Workflow, tool
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


class Served:
    """A hub's app served by uvicorn on a free port of 127.0.0.1, in the test's event loop."""

    def __init__(self, hub: Mastra, **options: Any) -> None:
        self.hub = hub
        self.app = create_app(hub, **options)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
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
        assert first["finishReason"] == "tool-calls"
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

    async with Served(build_hub(), middleware=[tagging("first"), tagging("second")]) as http:
        answer = await http.get("/api/tools", headers={"x-request-id": "abc-123"})
        assert (await http.get("/health")).json() == {"success": True}
        assert (await http.get("/api/auth/capabilities")).json() == {"enabled": False, "login": None}
    assert answer.headers["x-request-id"] == "abc-123" and answer.headers["x-first"] == "1"
    assert seen[:2] == ["first", "second"]


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
_ROUTES = ["/api/agents/calc/generate", "/api/tools/add/execute", "/api/agents/calc/approve-tool-call-generate",
           "/api/workflows/ship/start-async", "/api/workflows/ship/resume-async?runId=x",
           "/api/workflows/ship/create-run"]  # fmt: skip


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
