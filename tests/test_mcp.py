"""The hub as an MCP server, driven by the official `mcp` SDK's client: over stdio (`mastra_nb mcp MODULE:ATTR` as
the process a desktop client would launch) and in memory. Tools list with their schemas, a tool answers, an agent
answers through `ask_<name>`, a workflow runs, suspends and resumes through `run_<id>`/`resume_<id>`; a failing
tool is an `isError` result that carries no secret, an unknown tool a protocol error."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError
from test_serve import APP
from test_server import SECRET, build_hub

from mastra_nb import Agent, InMemoryStore, MastraError
from mastra_nb.mcp import MCPServer
from mastra_nb.memory import Memory
from mastra_nb.models import ScriptedModel


async def test_the_sdks_client_over_stdio_lists_calls_asks_and_runs_a_workflow_to_its_end(tmp_path: Path):
    (tmp_path / "app.py").write_text(APP)
    # As a desktop client's configuration says it (`mcpServers`), started in a folder of the client's choosing.
    config = {"mcpServers": {"mastra": {"command": sys.executable,
                                        "args": ["-m", "mastra_nb", "mcp", "app:hub", "--dir", str(tmp_path)],
                                        "env": {"PYTHONDONTWRITEBYTECODE": "1"}}}}  # fmt: skip
    elsewhere = tmp_path / "client"
    elsewhere.mkdir()
    launched = StdioServerParameters(**config["mcpServers"]["mastra"], cwd=str(elsewhere))
    async with Client(launched) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert {"add", "ask_calc", "run_ship", "resume_ship", "run_slow"} <= set(tools)
        assert tools["add"].input_schema["required"] == ["a", "b"]
        assert tools["run_ship"].input_schema["required"] == ["item"]
        added = await client.call_tool("add", {"a": 2, "b": 3})
        assert not added.is_error and added.structured_content == {"result": 5}
        answer = await client.call_tool("ask_calc", {"message": "What is 2 + 3?"})
        assert answer.structured_content["text"] == "2 + 3 = 5"
        started = await client.call_tool("run_ship", {"item": "tea"})
        waiting = started.structured_content
        assert waiting["status"] == "suspended" and waiting["suspended_steps"] == ["confirm"]
        assert list(waiting["suspend_payloads"].values()) == [{"question": "Ship tea?"}]
        assert [schema["required"] for schema in waiting["resume_schemas"].values()] == [["ok"]]
        refused = await client.call_tool("resume_ship", {"run_id": waiting["run_id"], "resume_data": {"ok": "maybe"}})
        assert refused.is_error and "ok" in refused.content[0].text
        done = await client.call_tool("resume_ship", {"run_id": waiting["run_id"], "resume_data": {"ok": True}})
        assert done.structured_content == {"status": "success", "run_id": waiting["run_id"],
                                           "result": {"item": "tea", "ok": True}}  # fmt: skip
    assert (tmp_path / "mastra.sqlite").exists() and not list(elsewhere.iterdir())  # the hub's files are in --dir


async def test_a_failing_tool_is_an_error_result_without_secrets_and_an_unknown_one_a_protocol_error():
    hub = build_hub()
    async with Client(MCPServer(hub, tools=["leaky", "add"], agents=[], workflows=[]).lowlevel()) as client:
        assert sorted(t.name for t in (await client.list_tools()).tools) == ["add", "leaky"]  # only those asked for
        failed = await client.call_tool("leaky", {"text": "x"})
        assert failed.is_error and "leaky" in failed.content[0].text and SECRET not in failed.content[0].text
        wrong = await client.call_tool("add", {"a": "two", "b": 3})
        assert wrong.is_error and "`a`" in wrong.content[0].text
        with pytest.raises(MCPError) as unknown:
            await client.call_tool("ask_calc", {"message": "hi"})  # agents were not served
        assert "ask_calc" in str(unknown.value)
    await hub.shutdown()


async def test_the_sdks_client_over_streamable_http_behind_the_servers_auth():
    import httpx2
    from mcp.client.streamable_http import streamable_http_client
    from test_server import Served
    from test_server_auth import SECRET as JWT_SECRET
    from test_server_auth import bearer, token

    from mastra_nb.server import Auth, JWTAuth

    hub = build_hub()
    roles = {"mcp-user": ["mcp:read", "mcp:execute:mastra", "tools:execute:add", "workflows:execute:ship"],
             "reader": ["*:read"]}  # fmt: skip
    served = Served(
        hub, lifespan=True, mcp_servers=[MCPServer(hub)], auth=Auth(JWTAuth(secret=JWT_SECRET), roles=roles)
    )
    async with served as http:
        url = f"{http.base_url}/api/mcp/mastra/mcp"
        user = bearer(token(roles=["mcp-user"]))
        async with (
            httpx2.AsyncClient(headers=user, timeout=30) as web,
            Client(streamable_http_client(url, http_client=web)) as client,
        ):
            # The caller sees what it may run: the tool and the workflow it was granted, not the agent.
            assert {t.name for t in (await client.list_tools()).tools} == {"add", "run_ship", "resume_ship"}
            assert (await client.call_tool("add", {"a": 20, "b": 22})).structured_content == {"result": 42}
            started = (await client.call_tool("run_ship", {"item": "jam"})).structured_content
            done = await client.call_tool("resume_ship", {"run_id": started["run_id"], "resume_data": {"ok": False}})
            assert done.structured_content["result"] == {"item": "jam", "ok": False}
            refused = await client.call_tool("ask_calc", {"message": "What is 2 + 3?"})
            assert refused.is_error and refused.content[0].text == "Missing required permission: agents:execute:calc"
        listed = (await http.get("/api/mcp/v0/servers", headers=user)).json()
        assert [s["id"] for s in listed["servers"]] == ["mastra"] and listed["total_count"] == 1
        shown = {t["name"] for t in (await http.get("/api/mcp/mastra/tools", headers=user)).json()["tools"]}
        assert shown == {"add", "run_ship", "resume_ship"}  # as tools/list shows them to this caller
        hello = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": hello}
        accept = {"accept": "application/json, text/event-stream"}
        anonymous = await http.post("/api/mcp/mastra/mcp", json=init, headers=accept)
        assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"
        forged = await http.post("/api/mcp/mastra/mcp", json=init, headers={**accept, **bearer(token("x" * 40))})
        assert forged.status_code == 401
        reader = await http.post(
            "/api/mcp/mastra/mcp", json=init, headers={**accept, **bearer(token(roles=["reader"]))}
        )
        assert reader.status_code == 403 and "mcp:execute:mastra" in reader.json()["error"]
        wrong_host = await http.post(
            "/api/mcp/mastra/mcp", json=init, headers={**accept, **user, "host": "evil.example"}
        )
        assert wrong_host.status_code in (400, 403, 421)  # DNS-rebinding protection: loopback hosts only
        calls = await hub.audit.list(event="mcp.call")
        assert sorted((c.details["tool"], c.decision, c.user_id) for c in calls) == [
            ("add", "allowed", "ada"), ("ask_calc", "refused", "ada"), ("resume_ship", "allowed", "ada"),
            ("run_ship", "allowed", "ada"),
        ]  # fmt: skip
        refusals = {(e.event, e.details.get("reason", "")) for e in await hub.audit.list() if e.event != "mcp.call"}
        assert ("auth.failed", "Authentication required: no credentials.") in refusals
        assert any(event == "auth.denied" and "mcp:execute:mastra" in reason for event, reason in refusals)


async def test_over_http_a_tenant_keeps_to_its_own_runs_threads_and_session():
    """Two callers confined to their own resources: bob cannot resume ada's run, continue her thread or use her
    session; a rate limit counts MCP messages as requests."""
    import httpx2
    from mcp.client.streamable_http import streamable_http_client
    from test_server import Served
    from test_server_auth import SECRET as JWT_SECRET
    from test_server_auth import bearer, token

    from mastra_nb.server import Auth, JWTAuth, RateLimits

    hub = build_hub()
    hub.add_agent(Agent("mem", "You remember.", ScriptedModel(["noted"] * 4), memory=Memory(options={
        "semantic_recall": False})))  # fmt: skip
    roles = {"user": ["mcp:execute", "tools:execute", "workflows:execute", "agents:execute"],
             "ops": ["observability:read"]}  # fmt: skip
    auth = Auth(JWTAuth(secret=JWT_SECRET), roles=roles)
    limits = RateLimits("40/minute", groups={"agents": "3/minute"})  # MCP calls count against their group too
    served = Served(hub, lifespan=True, mcp_servers=[MCPServer(hub)], auth=auth, rate_limits=limits, body_limit=50_000)
    ada = bearer(token(sub="ada", roles=["user"], resource_id="ada-space"))
    bob = bearer(token(sub="bob", roles=["user"], resource_id="bob-space"))
    async with served as http:
        url = f"{http.base_url}/api/mcp/mastra/mcp"
        async with (
            httpx2.AsyncClient(headers=ada, timeout=30) as web,
            Client(streamable_http_client(url, http_client=web)) as client,
        ):
            waiting = (await client.call_tool("run_ship", {"item": "tea"})).structured_content
            said = await client.call_tool("ask_mem", {"message": "remember tea", "thread_id": "t1"})
            assert said.structured_content["text"] == "noted"
        assert (await hub.get_agent("mem").active_memory.get_thread("t1")).resource_id == "ada-space"
        assert (await hub.runs.get(waiting["run_id"])).resource_id == "ada-space"
        async with (
            httpx2.AsyncClient(headers=bob, timeout=30) as web,
            Client(streamable_http_client(url, http_client=web)) as client,
        ):
            taken = await client.call_tool("resume_ship", {"run_id": waiting["run_id"], "resume_data": {"ok": True}})
            assert taken.is_error and taken.content[0].text == f"There is no run `{waiting['run_id']}`."
            nobodys = await client.call_tool("resume_ship", {"run_id": "r-nobody", "resume_data": {"ok": True}})
            assert nobodys.content[0].text == "There is no run `r-nobody`."  # told apart from hers by nothing
            assert nobodys.structured_content == {"error": {**taken.structured_content["error"],
                                                            "message": "There is no run `r-nobody`."}}  # fmt: skip
            named = await client.call_tool("ask_mem", {"message": "hi", "thread_id": "t2", "resource_id": "ada-space"})
            assert named.is_error and named.structured_content["error"]["code"] == "RESOURCE_NOT_FOUND"
            hers = await client.call_tool("ask_mem", {"message": "what did I say?", "thread_id": "t1"})
            assert hers.is_error and hers.content[0].text == "There is no thread `t1`."
        messages = await hub.get_agent("mem").active_memory.list_messages("t1")
        assert [m.text for m in messages] == ["remember tea", "noted"]  # bob added nothing to her thread
        assert (await hub.runs.get(waiting["run_id"])).status == "suspended"  # bob changed nothing

        # A session belongs to the caller that opened it.
        hello = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
        accept = {"accept": "application/json, text/event-stream"}
        opened = await http.post("/api/mcp/mastra/mcp", headers={**accept, **ada},
                                 json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": hello})  # fmt: skip
        session = {"mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}
        listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
        stolen = await http.post("/api/mcp/mastra/mcp", json=listing, headers={**accept, **bob, **session})
        assert stolen.status_code == 404 and stolen.json()["error"]["message"] == "Session not found"
        await http.post("/api/mcp/mastra/mcp", headers={**accept, **ada, **session},
                        json={"jsonrpc": "2.0", "method": "notifications/initialized"})  # fmt: skip
        own = await http.post("/api/mcp/mastra/mcp", json=listing, headers={**accept, **ada, **session})
        assert own.status_code == 200 and "run_ship" in own.text
        # Bob's own session id sent after hers does not pass for his: the SDK reads the first, and checks its owner.
        mine = await http.post("/api/mcp/mastra/mcp", headers={**accept, **bob},
                               json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": hello})  # fmt: skip
        both = [
            *accept.items(),
            *bob.items(),
            ("mcp-protocol-version", "2025-11-25"),
            ("mcp-session-id", session["mcp-session-id"]),
            ("mcp-session-id", mine.headers["mcp-session-id"]),
        ]
        doubled = await http.post("/api/mcp/mastra/mcp", json=listing, headers=both)
        assert doubled.status_code == 404
        assert [e.user_id for e in await hub.audit.list(event="mcp.session")] == ["bob", "bob"]
        metrics = (await http.get("/metrics", headers=bearer(token(sub="eve", roles=["ops"])))).text
        assert 'mastra_http_requests_total{method="POST",route="/mcp/{serverId}/mcp",status="404"} 2.0' in metrics
        huge = {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                "params": {"name": "add", "arguments": {"a": 1, "b": 2, "pad": "x" * 60_000}}}  # fmt: skip
        assert (
            await http.post("/api/mcp/mastra/mcp", json=huge, headers={**accept, **ada, **session})
        ).status_code == 413

        asking = {"jsonrpc": "2.0", "id": 4, "method": "tools/call",
                  "params": {"name": "ask_mem", "arguments": {"message": "hi"}}}  # fmt: skip
        asked = [
            await http.post("/api/mcp/mastra/mcp", json=asking, headers={**accept, **ada, **session}) for _ in range(3)
        ]  # ada asked mem once before: her third ask here is her fourth agent call
        assert [("RATE_LIMITED" in answer.text) for answer in asked] == [False, False, True]
        cy = bearer(token(sub="cy", roles=["user"]))  # a caller who has sent nothing yet
        hello_message = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": hello}
        statuses = [(await http.post("/api/mcp/mastra/mcp", json=hello_message, headers={**accept, **cy}))
                    .status_code for _ in range(41)]  # fmt: skip
        assert statuses == [200] * 40 + [429]  # each JSON-RPC message is a request


def _children(name: str) -> list[int]:
    """The pids of this process's children whose command line names `name`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\\0", b" ").decode()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == os.getpid() and name in command:
            found.append(int(entry.name))
    return found


TIME_SERVER = {
    "command": str(Path(sys.executable).parent / "mcp-server-time"),
    "args": ["--local-timezone", "Europe/Paris"],
}


async def test_an_agent_answers_through_a_third_partys_mcp_server_and_a_killed_one_comes_back():
    from mastra_nb import Agent, Mastra
    from mastra_nb.mcp import MCPClient
    from mastra_nb.models import ScriptedModel, ScriptedReply

    def answer(messages: list[dict[str, Any]]) -> str:
        said = json.loads(messages[-1]["content"])
        return f"In Paris it is {said['datetime'][11:16]} on {said['day_of_week']}."

    client = MCPClient({"time": TIME_SERVER})
    hub = Mastra(storage=InMemoryStore())
    try:
        tools = await client.tools()
        assert {t.id for t in tools} == {"time_get_current_time", "time_convert_time"}
        current = next(t for t in tools if t.id == "time_get_current_time")
        assert current.json_schema()["required"] == ["timezone"]  # the server's own schema, as the model sees it
        model = ScriptedModel([ScriptedReply.call("time_get_current_time", timezone="Europe/Paris"), answer])
        agent = Agent("clock", "You tell the time.", model, toolsets={"time": client})  # listed when a run needs it
        hub.add_agent(agent)
        result = await agent.generate("What time is it in Paris?")
        [call] = result.tool_results
        assert call.error is None and call.result["timezone"] == "Europe/Paris"
        assert re.fullmatch(r"In Paris it is \d\d:\d\d on \w+day\.", result.text), result.text
        print(f"\nmcp-server-time transcript: {call.tool}({call.arguments}) -> {call.result}; answer: {result.text!r}")
        [summary] = await hub.traces.list(agent="clock")
        [span] = (await hub.traces.get(summary.trace_id)).find(kind="mcp_tool")
        assert span.name == "execute_tool time_get_current_time" and span.status == "ok"
        assert (
            span.attributes["mastra.mcp.server"] == "time" and span.attributes["mastra.mcp.tool"] == "get_current_time"
        )

        with pytest.raises(MastraError) as refused:
            await current.execute({"timezone": "Mars/Olympus"})  # the server's own error, as a tool error
        assert refused.value.code == "MCP_TOOL_ERROR" and "Mars/Olympus" in refused.value.message

        [pid] = _children("mcp-server-time")
        os.kill(pid, signal.SIGKILL)  # the server crashes (the SDK reaps it)
        # Three calls at once after the crash: connected again once, each sent again, one new process.
        again = await asyncio.gather(*(current.execute({"timezone": zone}) for zone in ["Asia/Tokyo", "UTC", "UTC"]))
        assert [answer["timezone"] for answer in again] == ["Asia/Tokyo", "UTC", "UTC"]
        assert len(_children("mcp-server-time")) == 1
        await hub.shutdown()  # the hub the agent (and so its MCP tools) is registered in
        assert _children("mcp-server-time") == []  # no orphan
    finally:
        await client.close()
        await hub.shutdown()


async def test_our_client_against_our_server_over_http_survives_a_server_restart():
    from test_serve import _free_port
    from test_server import Served

    from mastra_nb.mcp import MCPClient

    port = _free_port()

    def serve() -> Served:
        hub = build_hub()
        served = Served(hub, lifespan=True, mcp_servers=[MCPServer(hub)])
        served.server.config.port = port
        return served

    from mastra_nb import CircuitBreaker, Mastra
    from mastra_nb.models import ScriptedReply

    # Long enough that the breaker is still open when the agent calls, however slow the machine.
    breaker = CircuitBreaker(failure_threshold=2, reset_timeout=3.0)  # each server's breaker takes these settings
    client = MCPClient({"ours": {"url": f"http://127.0.0.1:{port}/api/mcp/mastra/mcp"}}, circuit_breaker=breaker)
    first = serve()
    async with first:
        tools = {t.id: t for t in await client.tools()}
        assert await tools["ours_add"].execute({"a": 2, "b": 3}) == {"result": 5}
    hub = Mastra(storage=InMemoryStore())
    script = [ScriptedReply.call("ours_add", a=1, b=2), lambda messages: f"The tool said: {messages[-1]['content']}"]
    agent = Agent("adder", "You add.", ScriptedModel(script), tools=list(tools.values()))
    hub.add_agent(agent)
    second = serve()  # the server restarts on the same address; the client's session is gone with it
    async with second:
        assert await tools["ours_add"].execute({"a": 4, "b": 5}) == {"result": 9}

    # No server at all: each call is a clear error after a few attempts, not a hang; two in a row open the
    # server's breaker, shared by its tools, and then calls fail at once without trying to connect.
    for _ in range(2):
        with pytest.raises(MastraError) as down:
            await tools["ours_add"].execute({"a": 1, "b": 1})
        assert down.value.code == "MCP_UNAVAILABLE" and "`ours`" in down.value.message
    with pytest.raises(MastraError) as opened:
        await tools["ours_run_ship"].execute({"item": "tea"})
    assert opened.value.code == "CIRCUIT_OPEN"
    assert opened.value.message.startswith("MCP server `ours` failed 2 times in a row (MCP_UNAVAILABLE)")
    result = await agent.generate("1 + 2?")  # the model reads the refusal and answers
    assert result.tool_results[0].error["code"] == "CIRCUIT_OPEN" and "CIRCUIT_OPEN" in result.text

    third = serve()  # the server is back: once the breaker lets a trial call through, calls work again
    async with third:
        await asyncio.sleep(breaker.reset_timeout)
        assert await tools["ours_add"].execute({"a": 6, "b": 7}) == {"result": 13}
    await client.close()
    await hub.shutdown()


async def test_a_servers_tools_can_require_approval_and_run_once_approved():
    from mastra_nb import Mastra
    from mastra_nb.mcp import MCPClient
    from mastra_nb.models import ScriptedReply

    misspelt = MCPClient({"time": {**TIME_SERVER, "require_approval": ["get_time"]}})
    with pytest.raises(MastraError) as refused:  # the tool meant to wait would have run freely
        await misspelt.tools()
    assert refused.value.code == "MCP_SERVER_INVALID" and "no tool `get_time`" in refused.value.message
    assert refused.value.details["errors"][0]["field"] == "servers.time.require_approval"
    await misspelt.close()
    client = MCPClient({"time": {**TIME_SERVER, "require_approval": ["get_current_time"]}})
    hub = Mastra(storage=InMemoryStore())
    script = [ScriptedReply.call("time_get_current_time", timezone="Asia/Tokyo"), "It is late in Tokyo."]
    agent = Agent("clock", "You tell the time.", ScriptedModel(script), toolsets={"time": client})
    hub.add_agent(agent)
    try:
        tools = await agent.list_tools()
        assert tools["time_get_current_time"].requires_approval and not tools["time_convert_time"].requires_approval
        paused = await agent.generate("Time in Tokyo?")
        assert paused.finish_reason == "approval_required"
        [pending] = paused.pending_approvals
        assert pending.tool == "time_get_current_time" and pending.arguments == {"timezone": "Asia/Tokyo"}
        done = await agent.approve_tool_call(paused.run_id, pending.call_id, by="ada")
        assert done.text == "It is late in Tokyo." and done.tool_results[0].result["timezone"] == "Asia/Tokyo"
    finally:
        await hub.shutdown()
    assert _children("mcp-server-time") == []


async def test_resources_and_prompts_are_listed_page_after_page_and_read():
    from mastra_nb.mcp import MCPClient

    docs = {"command": sys.executable, "args": [str(Path(__file__).parent / "mcp_docs_server.py")]}
    client = MCPClient({"docs": docs, "time": TIME_SERVER})
    try:
        resources = await client.resources()
        assert [r.uri for r in resources["docs"]] == ["note://tea", "note://jam", "note://bread"]  # two pages
        assert resources["time"] == []  # a server without resources
        [contents] = await client.read_resource("docs", "note://jam")
        assert contents.text == "Jam wants equal sugar and fruit." and contents.mime_type == "text/plain"
        prompts = await client.prompts()
        assert [(p.name, [a.name for a in p.arguments]) for p in prompts["docs"]] == [("review", ["topic"])]
        filled = await client.get_prompt("docs", "review", {"topic": "jam"})
        assert [(m.role, m.content.text) for m in filled.messages] == [("user", "Review jam briefly.")]
        with pytest.raises(MastraError) as refused:
            await client.get_prompt("docs", "review")  # the server's JSON-RPC error: the session stays
        assert refused.value.code == "MCP_REQUEST_FAILED" and "topic" in refused.value.message
        assert (await client.read_resource("docs", "note://tea"))[0].text == "Brew green tea at 80 °C."
        with pytest.raises(MastraError) as unknown:
            await client.read_resource("notes", "note://tea")
        assert unknown.value.code == "MCP_SERVER_NOT_FOUND" and "docs, time" in unknown.value.message
        [count] = (await client.toolsets())["docs"]
        assert count.id == "docs_notes_count" and await count.execute({}) == 3  # `notes.count`, named as models allow
    finally:
        await client.close()


@pytest.mark.parametrize(
    ("servers", "field"),
    [
        ({"time": {"command": "x", "url": "http://h"}}, "servers.time"),
        ({"time": {}}, "servers.time"),
        ({"a b": {"command": "x"}}, "servers.a b"),
        ({"time": {"command": "x", "headerz": {}}}, "servers.time.headerz"),
        ({"time": {"url": "http://h", "require_approval": "yes"}}, "servers.time.require_approval"),
    ],
)
def test_a_server_given_wrongly_is_refused_naming_the_field(servers: dict[str, Any], field: str):
    from mastra_nb.mcp import MCPClient

    with pytest.raises(MastraError) as refused:
        MCPClient(servers)
    assert refused.value.code == "MCP_SERVER_INVALID"
    assert refused.value.details["errors"][0]["field"] == field and f"`{field}`" in refused.value.message


def test_a_notebook_adds_an_mcp_server_and_an_agent_answers_through_it(tmp_path: Path):
    from kernels import execute, notebook_kernels

    command = " ".join([TIME_SERVER["command"], *TIME_SERVER["args"]])
    with notebook_kernels(tmp_path, "clock.ipynb") as [kernel]:
        execute(kernel, "%load_ext mastra_nb")
        added = execute(kernel, f"%mastra mcp add time -- {command}")
        assert "time_get_current_time" in added and "--mcp time" in added
        execute(
            kernel,
            textwrap.dedent("""
            import json
            from mastra_nb.models import ScriptedModel, ScriptedReply

            def answer(messages):
                return "In Paris it is " + json.loads(messages[-1]["content"])["datetime"][11:16] + "."

            clock_model = ScriptedModel([ScriptedReply.call("time_get_current_time", timezone="Europe/Paris"), answer])
        """),
        )
        execute(kernel, "%%agent clock --model clock_model --mcp time\nYou tell the time.")
        execute(kernel, "%%ask clock --as answer\nWhat time is it in Paris?")
        said = execute(kernel, "print(answer.text); print(answer.tool_results[0].result['timezone'])")
        assert re.fullmatch(r"In Paris it is \d\d:\d\d\.\nEurope/Paris\n", said), said
        listed = execute(kernel, "print(repr(get_ipython().run_line_magic('mastra', 'mcp')))")
        assert "time" in listed and "time_convert_time" in listed
        wrong = execute(kernel, "%mastra mcp add broken -- /nonexistent/server", status="error")
        assert "broken" in wrong and "Traceback" not in wrong  # a short error that says why, no traceback
        assert "broken" not in execute(kernel, "print(repr(get_ipython().run_line_magic('mastra', 'mcp')))")
        assert "Removed" in execute(kernel, "%mastra mcp remove time")


def test_a_client_used_from_one_asyncio_run_and_then_another_connects_again():
    # A script's second `asyncio.run`: the first loop closed, and its sessions went with it.
    from mastra_nb.mcp import MCPClient

    client = MCPClient({"time": TIME_SERVER})
    [current] = [t for t in asyncio.run(client.tools()) if t.id == "time_get_current_time"]
    assert _children("mcp-server-time") == []  # the first loop's end closed its session and process
    for zone in ["UTC", "Asia/Tokyo"]:
        assert asyncio.run(current.execute({"timezone": zone}))["timezone"] == zone
    asyncio.run(client.close())
    assert _children("mcp-server-time") == []
