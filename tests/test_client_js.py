"""Our server driven by Mastra's own TypeScript client, `@mastra/client-js` 1.47.0, on Node 22.

Each test serves `build_hub()` (an agent `calc` with the tool `add`, the workflow `ship` whose step asks before
shipping) with uvicorn in the test's event loop and runs one scenario from `tests/clientjs/*.mjs` with the client as a
user writes it; `clientjs.py` installs Node and the client once into a cache folder. The assertions are what the
user's code reads off the client's return values and errors. Where our server answers something the client or its
documented usage cannot read, the test is an expected failure naming the mismatch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from clientjs import ensure_installed, run_node
from test_server import Served, build_hub


@pytest.fixture(scope="session", autouse=True)
def node() -> Path:
    """Node 22 with client-js, installed before any server starts (the first install takes ~20 s and blocks)."""
    return ensure_installed()


async def scenario(name: str, **args: Any) -> Any:
    """Run `tests/clientjs/<name>.mjs` against a freshly served `build_hub()`."""
    async with Served(build_hub()) as http:
        return await run_node(name, str(http.base_url), **args)


def schema(text: str) -> dict[str, Any]:
    """A schema string as client-js unwraps it (`parseSuperJsonString`: the `json` of superjson)."""
    return json.loads(text)["json"]


async def test_list_agents_and_read_one_agents_details():
    out = await scenario("agents")
    assert list(out["agents"]) == ["calc"]
    details = out["details"]
    assert details["name"] == "calc" and details["instructions"] == "You add numbers."
    assert details["description"] == "Adds." and details["modelId"] == "scripted"
    assert list(details["tools"]) == ["add"]
    assert schema(details["tools"]["add"]["inputSchema"])["required"] == ["a", "b"]
    assert out["agents"]["calc"] == details


async def test_generate_calls_the_tool_and_answers():
    out = await scenario("generate")
    assert out["text"] == "2 + 3 = 5" and out["finishReason"] == "stop"
    call = out["toolCalls"][0]["payload"]
    assert call["toolName"] == "add" and call["args"] == {"a": 2, "b": 3}
    result = out["toolResults"][0]["payload"]
    assert result["toolCallId"] == call["toolCallId"] and result["result"] == 5


async def test_a_tool_call_approved_with_approve_tool_call_generate_reaches_the_answer():
    out = await scenario("approve_generate")
    assert out["approved"] == {"ok": True, "text": "2 + 3 = 5", "finishReason": "stop"}
    assert out["again"]["ok"] is False and out["again"]["status"] == 409  # decided already


async def test_generate_waiting_for_approval_reads_as_mastras_docs_say():
    out = await scenario("approve_generate")
    waiting = out["waiting"]
    assert waiting["finishReason"] == "suspended"
    assert waiting["suspendPayload"]["toolName"] == "add" and waiting["suspendPayload"]["args"] == {"a": 2, "b": 3}
    assert out["usedDocumentedToolCallId"] is True
    assert out["approved"]["text"] == "2 + 3 = 5"


async def test_a_tool_reads_its_details_and_executes_with_data():
    out = await scenario("tool")
    assert out["result"] == 5
    assert out["details"]["description"] == "Add two integers."
    assert schema(out["details"]["outputSchema"]) == {"type": "integer"}


async def test_a_workflow_run_suspends_is_listed_resumes_and_reads_back():
    out = await scenario("workflow")
    run_id = out["runId"]
    started = out["started"]
    assert started["status"] == "suspended" and started["suspended"] == [["confirm"]]
    assert started["steps"]["confirm"]["suspendPayload"] == {"question": "Ship book?"}
    listed = out["listed"]
    assert listed["total"] == 1 and [run["runId"] for run in listed["runs"]] == [run_id]
    assert listed["runs"][0]["snapshot"]["status"] == "suspended"
    resumed = out["resumed"]
    assert resumed["status"] == "success" and resumed["result"] == {"item": "book", "ok": True}
    read = out["read"]
    assert read["runId"] == run_id and read["workflowName"] == "ship"
    assert read["status"] == "success" and read["result"] == {"item": "book", "ok": True}
    assert read["steps"]["confirm"]["resumePayload"] == {"ok": True}


async def test_a_suspended_run_resumes_from_a_fresh_create_run_handle():
    out = await scenario("resume_elsewhere")
    assert out["started"] == "suspended" and out["handle"]["ok"] is True
    resumed = out["resumed"]
    assert resumed["ok"] is True, resumed
    assert resumed["value"]["status"] == "success" and resumed["value"]["result"] == {"item": "lamp", "ok": True}


async def test_errors_reach_the_user_with_their_status_and_the_field_named():
    out = await scenario("errors")
    missing = out["missingAgent"]
    assert missing["ok"] is False and missing["name"] == "MastraClientError" and missing["status"] == 404
    assert "`nope`" in missing["body"]["error"]
    bad = out["badInput"]
    assert bad["ok"] is False and bad["status"] == 400
    assert [issue["field"] for issue in bad["body"]["issues"]] == ["a"]
    assert "`a`" in bad["message"] and "two" in bad["message"]  # error.message is what a `catch` usually prints


async def test_a_stream_reassembles_to_the_answer_and_an_approval_streams_the_rest():
    from mastra_nb.models import ScriptedReply

    async with Served(build_hub([ScriptedReply.call("add", a=2, b=3), "2 + 3 = 5"] * 2)) as http:
        out = await run_node("stream", str(http.base_url))
    assert out["text"] == "2 + 3 = 5" and out["finish"] == "stop"
    assert out["toolCall"]["toolName"] == "add" and out["toolCall"]["args"] == {"a": 2, "b": 3}
    assert out["kinds"][0] == "start" and out["kinds"][-1] == "finish"
    assert "tool-call-approval" in out["paused"]["kinds"] and "tool-result" not in out["paused"]["kinds"]
    assert out["rest"] == {"text": "2 + 3 = 5", "results": [5]}


async def test_memory_threads_messages_working_memory_and_traces(tmp_path):
    from test_server_memory import memory_hub

    async with Served(memory_hub(tmp_path)) as http:
        out = await run_node("memory", str(http.base_url))
    assert out["made"]["id"] == "trip" and out["answer"] == "2 + 3 = 5"
    assert out["threads"] == [{"id": "trip", "title": "Trip", "resourceId": "ada"}]
    roles = [m["role"] for m in out["messages"]]
    assert roles[0] == "user" and roles[-1] == "assistant" and ["text"] in [m["parts"] for m in out["messages"]]
    assert out["working"]["workingMemory"] == "# About the user\n- Name: Ada"
    assert {"spanType": "agent_run", "entityId": "mem"} in [
        {k: t[k] for k in ("spanType", "entityId")} for t in out["traces"]]  # fmt: skip
    assert "agent_run" in out["traceSpans"] and "tool_call" in out["traceSpans"]


async def test_a_tool_the_client_runs_itself_answers_through_the_client():
    from mastra_nb.models import ScriptedReply

    seen: list[Any] = []

    def answer(messages: list[dict[str, Any]]) -> str:
        seen.append(messages[-1])
        return f"In Paris it is {json.loads(messages[-1]['content'])['time']}."

    hub = build_hub([ScriptedReply.call("local_time", city="Paris"), answer])
    async with Served(hub) as http:
        out = await run_node("client_tools", str(http.base_url))
    assert out["ran"] == [{"city": "Paris"}]  # executed by client-js, in Node
    assert out["text"] == "In Paris it is 10:00." and out["finishReason"] == "stop"
    assert seen[0]["role"] == "tool"  # the model read the client's result as the tool's


async def test_a_token_in_the_clients_headers_is_let_in_and_none_gets_401():
    from test_server_auth import SECRET, token

    from mastra_nb.server import Auth, JWTAuth

    async with Served(build_hub(), auth=Auth(JWTAuth(secret=SECRET), roles={"admin": ["*"]})) as http:
        out = await run_node("auth", str(http.base_url), token=token(roles=["admin"]))
    assert out == {"agents": ["calc"], "answer": "2 + 3 = 5", "refused": {"status": 401, "code": "UNAUTHENTICATED"}}
