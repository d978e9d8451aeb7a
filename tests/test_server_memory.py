"""Memory and observability over HTTP, in Mastra's shapes: a real DuckDB file, a real Chroma folder and the local
embedder behind uvicorn on 127.0.0.1, driven by httpx.

Threads are created, listed a page at a time, read, renamed and deleted; an agent's turn lands in its thread and
reads back as Mastra's stored messages and Studio's UI messages; saved messages are found by meaning; working
memory is read and replaced. Every refusal names its field and leaves what is stored as it was.
"""

from __future__ import annotations

from pathlib import Path

from test_agents import add
from test_server import Served

from mastra_nb import Agent, DuckDBStore, Mastra
from mastra_nb.memory import Memory
from mastra_nb.models import ScriptedModel, ScriptedReply
from mastra_nb.vectors import ChromaVectorStore


def memory_hub(folder: Path) -> Mastra:
    storage = DuckDBStore(folder / "mastra.duckdb")
    memory = Memory(vector=ChromaVectorStore(folder / "chroma"),
                    options={"working_memory": True, "semantic_recall": {"top_k": 2, "message_range": 0}})  # fmt: skip
    hub = Mastra(storage=storage)
    model = ScriptedModel([ScriptedReply.call("add", a=2, b=3), "2 + 3 = 5"])
    hub.add_agent(Agent("mem", "You remember.", model, tools=[add], memory=memory))
    hub.add_agent(Agent("plain", "No memory.", ScriptedModel(["hi"])))
    return hub


async def test_threads_are_created_listed_a_page_at_a_time_renamed_and_deleted(tmp_path):
    async with Served(memory_hub(tmp_path)) as http:
        made = []
        for n in range(3):
            answer = await http.post("/api/memory/threads?agentId=mem",
                                     json={"resourceId": "ada", "title": f"T{n}", "threadId": f"t{n}"})  # fmt: skip
            assert answer.status_code == 200, answer.text
            made.append(answer.json())
        assert made[0]["id"] == "t0" and made[0]["resourceId"] == "ada" and made[0]["createdAt"]
        again = await http.post("/api/memory/threads?agentId=mem", json={"resourceId": "ada", "threadId": "t0"})
        assert again.status_code == 409, again.text

        page = (await http.get("/api/memory/threads?agentId=mem&resourceId=ada&perPage=2"
                               "&orderBy[field]=createdAt&orderBy[direction]=ASC")).json()  # fmt: skip
        assert [t["id"] for t in page["threads"]] == ["t0", "t1"] and page["total"] == 3 and page["hasMore"] is True
        rest = (await http.get("/api/memory/threads?agentId=mem&resourceId=ada&perPage=2&page=1"
                               "&orderBy[field]=createdAt&orderBy[direction]=ASC")).json()  # fmt: skip
        assert [t["id"] for t in rest["threads"]] == ["t2"] and rest["hasMore"] is False
        assert (await http.get("/api/memory/threads?agentId=mem&resourceId=bob")).json()["total"] == 0
        missing = await http.get("/api/memory/threads?agentId=mem")
        assert missing.status_code == 400 and missing.json()["issues"][0]["field"] == "resourceId"
        bad_order = await http.get("/api/memory/threads?agentId=mem&resourceId=ada&orderBy[field]=title")
        assert bad_order.status_code == 400

        renamed = await http.patch("/api/memory/threads/t1?agentId=mem", json={"title": "Trip", "metadata": {"k": 1}})
        assert renamed.json()["title"] == "Trip" and renamed.json()["metadata"] == {"k": 1}
        moved = await http.patch("/api/memory/threads/t1?agentId=mem", json={"resourceId": "bob"})
        assert moved.status_code == 400 and moved.json()["issues"][0]["field"] == "resourceId"
        assert (await http.get("/api/memory/threads/t1?agentId=mem")).json()["resourceId"] == "ada"  # unchanged

        assert (await http.delete("/api/memory/threads/t1?agentId=mem")).status_code == 200
        assert (await http.get("/api/memory/threads/t1?agentId=mem")).status_code == 404
        assert (await http.delete("/api/memory/threads/t1?agentId=mem")).status_code == 404
        operator = await http.get("/api/memory/threads/%7B%22%24ne%22%3A%22%22%7D?agentId=mem")  # {"$ne":""}
        assert operator.status_code == 404  # an id, never a query operator


async def test_an_agents_turn_lands_in_its_thread_and_reads_back_as_mastras_messages(tmp_path):
    async with Served(memory_hub(tmp_path)) as http:
        turn = await http.post("/api/agents/mem/generate", json={
            "messages": "What is 2 + 3?", "memory": {"thread": "trip", "resource": "ada"}})  # fmt: skip
        assert turn.status_code == 200, turn.text
        listed = (await http.get("/api/memory/threads/trip/messages?agentId=mem")).json()
        roles = [m["role"] for m in listed["messages"]]
        assert roles[0] == "user" and roles[-1] == "assistant" and listed["total"] == len(roles)
        first, last = listed["messages"][0], listed["messages"][-1]
        assert first["content"]["format"] == 2 and first["content"]["parts"] == [
            {"type": "text", "text": "What is 2 + 3?"}]  # fmt: skip
        assert first["threadId"] == "trip" and first["resourceId"] == "ada"
        assert last["content"]["content"] == "2 + 3 = 5"
        invocations = [p["toolInvocation"] for m in listed["messages"] for p in m["content"]["parts"]
                       if p["type"] == "tool-invocation"]  # fmt: skip
        assert {(i["state"], i["toolName"]) for i in invocations} == {("call", "add"), ("result", "add")}
        assert listed["uiMessages"][0]["parts"] == [{"type": "text", "text": "What is 2 + 3?"}]
        assert (await http.get("/api/memory/threads/nope/messages?agentId=mem")).status_code == 404


async def test_saved_messages_are_found_by_meaning_and_deleted_by_id(tmp_path):
    async with Served(memory_hub(tmp_path)) as http:
        saved = await http.post("/api/memory/save-messages?agentId=mem", json={"messages": [
            {"role": "user", "content": "My cat is called Miso.", "threadId": "pets", "resourceId": "ada"},
            {"role": "assistant", "content": {"format": 2, "parts": [{"type": "text", "text": "A lovely name."}]},
             "threadId": "pets", "resourceId": "ada"},
            {"role": "user", "content": [{"type": "text", "text": "The train leaves at nine."}], "threadId": "pets"},
        ]})  # fmt: skip
        assert saved.status_code == 200, saved.text
        ids = [m["id"] for m in saved.json()["messages"]]
        assert len(ids) == 3

        bad = await http.post(
            "/api/memory/save-messages?agentId=mem",
            json={
                "messages": [
                    {"role": "user", "content": "kept?", "threadId": "pets"},
                    {"role": "user", "content": "no thread"},
                ]
            },
        )
        assert bad.status_code == 400 and bad.json()["issues"][0]["field"] == "messages.1.threadId"
        assert (await http.get("/api/memory/threads/pets/messages?agentId=mem")).json()["total"] == 3  # none saved

        found = (await http.get("/api/memory/search?agentId=mem&resourceId=ada&searchQuery=pet%20names")).json()
        assert found["count"] >= 1 and found["results"][0]["content"] == "My cat is called Miso."
        assert found["results"][0]["threadId"] == "pets" and found["searchScope"] == "resource"

        gone = await http.post("/api/memory/messages/delete?agentId=mem", json={"messageIds": [{"id": ids[0]}]})
        assert gone.status_code == 200 and gone.json()["success"] is True
        left = (await http.get("/api/memory/threads/pets/messages?agentId=mem")).json()
        assert [m["id"] for m in left["messages"]] == ids[1:]
        refused = await http.post("/api/memory/messages/delete?agentId=mem", json={"messageIds": [{"$ne": ""}]})
        assert refused.status_code == 400
        assert (await http.get("/api/memory/threads/pets/messages?agentId=mem")).json()["total"] == 2


async def test_working_memory_status_and_config(tmp_path):
    async with Served(memory_hub(tmp_path)) as http:
        await http.post("/api/memory/threads?agentId=mem", json={"resourceId": "ada", "threadId": "w"})
        before = (await http.get("/api/memory/threads/w/working-memory?agentId=mem")).json()
        assert before["workingMemory"] is None and before["threadExists"] is True and before["source"] == "resource"
        assert before["workingMemoryTemplate"]["format"] == "markdown"
        put = await http.post("/api/memory/threads/w/working-memory?agentId=mem",
                              json={"workingMemory": "# About the user\n- Name: Ada"})  # fmt: skip
        assert put.status_code == 200, put.text
        after = (await http.get("/api/memory/threads/w/working-memory?agentId=mem")).json()
        assert after["workingMemory"] == "# About the user\n- Name: Ada"
        wrong = await http.post("/api/memory/threads/w/working-memory?agentId=mem", json={"workingMemory": 7})
        assert wrong.status_code == 400 and wrong.json()["issues"][0]["field"] == "workingMemory"

        assert (await http.get("/api/memory/status?agentId=mem")).json()["result"] is True
        assert (await http.get("/api/memory/status?agentId=plain")).json()["result"] is False
        assert (await http.get("/api/memory/status?agentId=nobody")).status_code == 404
        config = (await http.get("/api/memory/config?agentId=mem")).json()["config"]
        assert config["workingMemory"]["enabled"] is True and config["semanticRecall"]["topK"] == 2
        # An agent without memory has nothing stored, as Mastra answers; writing to it names what is missing.
        assert (await http.get("/api/memory/config?agentId=plain")).json() == {"config": None}
        assert (await http.get("/api/memory/threads?agentId=plain&resourceId=ada")).json()["total"] == 0
        assert (await http.get("/api/memory/threads/w?agentId=plain")).status_code == 404
        assert (await http.get("/api/memory/threads/w/working-memory?agentId=plain")).json()["threadExists"] is False
        refused = await http.post("/api/memory/threads?agentId=plain", json={"resourceId": "ada"})
        assert refused.status_code == 400 and "`plain` has no memory" in refused.json()["error"]


async def test_traces_list_root_spans_and_a_trace_reads_whole(tmp_path):
    hub = memory_hub(tmp_path)
    async with Served(hub) as http:
        out = (await http.post("/api/agents/plain/generate", json={"messages": "hello"})).json()
        listed = (await http.get("/api/observability/traces?perPage=5")).json()
        assert listed["pagination"]["total"] == 1 and listed["pagination"]["hasMore"] is False
        root = listed["spans"][0]
        assert root["traceId"] == out["traceId"] and root["spanType"] == "agent_run"
        assert root["entityType"] == "agent" and root["entityId"] == "plain" and root["parentSpanId"] is None
        by_agent = (await http.get("/api/observability/traces?entityType=agent&entityId=mem")).json()
        assert by_agent["spans"] == []
        trace = (await http.get(f"/api/observability/traces/{out['traceId']}")).json()
        types = {span["spanType"] for span in trace["spans"]}
        assert {"agent_run", "model_generation"} <= types
        assert (await http.get("/api/observability/traces/nope")).status_code == 404
        assert (await http.get("/api/observability/traces?entityType=tool")).status_code == 400
        assert (await http.get("/api/logs/transports")).json() == {"transports": []}
        assert (await http.get("/api/scores/scorers")).json() == {}
