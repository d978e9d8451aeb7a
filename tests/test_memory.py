"""Memory on a real DuckDB file and a real Chroma folder, with the real local embedder and agents over HTTP."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from openai_server import Reply
from pydantic import BaseModel

from mastra_nb import Agent, DuckDBStore, InMemoryStore, Mastra, MastraConfig, MastraError
from mastra_nb.events import MEMORY_UPDATED
from mastra_nb.memory import Memory, TokenLimiter, ToolCallFilter
from mastra_nb.memory.messages import from_openai
from mastra_nb.vectors import ChromaVectorStore


@pytest.fixture
async def stores(tmp_path: Path):
    storage = DuckDBStore(tmp_path / "mastra.duckdb")
    vector = ChromaVectorStore(tmp_path / "chroma")
    yield storage, vector
    await vector.close()
    await storage.close()


@pytest.fixture
async def memory(stores):
    storage, vector = stores
    mem = Memory(storage, vector, options={"semantic_recall": {"top_k": 2, "message_range": 1}})
    yield mem
    await mem.close()


# -- threads and messages ---------------------------------------------------------------------------------------


async def test_threads_are_created_listed_by_resource_paged_updated_and_deleted(memory):
    a = await memory.create_thread("user-1", thread_id="a", title="First", metadata={"topic": "x"})
    await memory.create_thread("user-1", thread_id="b")
    await memory.create_thread("user-2", thread_id="c")
    await memory.save_messages("a", "touch a last")  # a is now the most recently active
    assert [t.id for t in await memory.list_threads("user-1")] == ["a", "b"]
    assert [t.id for t in await memory.list_threads("user-1", limit=1, offset=1)] == ["b"]
    assert (a.title, a.metadata) == ("First", {"topic": "x"})
    renamed = await memory.update_thread("a", title="Renamed")
    assert (renamed.title, renamed.metadata) == ("Renamed", {"topic": "x"})
    with pytest.raises(MastraError) as info:
        await memory.create_thread("user-1", thread_id="a")
    assert info.value.code == "MEMORY_THREAD_EXISTS"
    assert await memory.delete_thread("a") is True
    assert await memory.get_thread("a") is None and await memory.list_messages("a") == []
    assert await memory.delete_thread("a") is False


BAD_IDS = [{"$ne": "x"}, {"$in": ["a", "c"]}, {"$gt": ""}, ["a"], "", "   ", None, 7]


@pytest.mark.parametrize("bad", BAD_IDS, ids=repr)
async def test_ids_are_never_read_as_filters_and_a_bad_id_changes_nothing(memory, bad):
    """`list_messages({"$ne": "x"})` returned every user's messages, `delete_thread({"$ne": "x"})` deleted every
    thread of every resource: an id went into the query as it came. (`recall`'s ids are keywords whose None means
    "not given", so it gets a falsy non-str in its place.)"""
    await memory.save_messages("a", "for user one", resource_id="user-1")
    await memory.save_messages("c", "for user two", resource_id="user-2")
    before = (await memory.storage.select("threads"), await memory.storage.select("messages"))
    calls = {
        "thread_id": [lambda: memory.get_thread(bad), lambda: memory.list_messages(bad),
                      lambda: memory.delete_thread(bad), lambda: memory.update_thread(bad, title="x"),
                      lambda: memory.clone_thread(bad), lambda: memory.recall("x", thread_id=bad or 0)],
        "resource_id": [lambda: memory.list_threads(bad), lambda: memory.recall("x", resource_id=bad or 0)],
        "ids[]": [lambda: memory.delete_messages([bad])],
    }  # fmt: skip
    for field, attempts in calls.items():
        for attempt in attempts:
            with pytest.raises(MastraError) as info:
                await attempt()
            assert info.value.code == "MEMORY_ID_INVALID", info.value
            assert info.value.details["errors"][0]["field"] == field and f"`{field}`" in info.value.message
    assert (await memory.storage.select("threads"), await memory.storage.select("messages")) == before


async def test_messages_keep_tool_calls_and_results_in_order(memory):
    conversation = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": '{"temp": 21}'},
        {"role": "assistant", "content": "21 degrees."},
    ]  # fmt: skip
    await memory.save_messages("t", conversation, resource_id="user-1")
    stored = await memory.list_messages("t")
    assert [m.role for m in stored] == ["user", "assistant", "tool", "assistant"]
    assert stored[1].content == [{"type": "tool-call", "id": "c1", "name": "weather", "arguments": '{"city": "Paris"}'}]
    assert stored[2].content == [{"type": "tool-result", "id": "c1", "name": "weather", "result": '{"temp": 21}'}]
    assert [m.text for m in await memory.list_messages("t", last=2)] == ["", "21 degrees."]
    assert await memory.delete_messages([stored[0].id]) == 1
    assert len(await memory.list_messages("t")) == 3


async def test_a_thread_of_another_resource_is_refused(memory):
    await memory.create_thread("user-1", thread_id="t")
    with pytest.raises(MastraError) as info:
        await memory.save_messages("t", "hi", resource_id="user-2")
    assert info.value.code == "MEMORY_THREAD_OTHER_RESOURCE"
    with pytest.raises(MastraError) as info:
        await memory.save_messages("new", "hi")
    assert info.value.code == "MEMORY_RESOURCE_MISSING" and "resource_id=" in str(info.value)


async def test_a_cloned_thread_has_the_messages_under_new_ids(memory):
    await memory.save_messages("t", ["one", "two"], resource_id="user-1")
    clone = await memory.clone_thread("t", new_thread_id="t-copy", title="Copy")
    assert (clone.resource_id, clone.title, clone.metadata["cloned_from"]) == ("user-1", "Copy", "t")
    original, copied = await memory.list_messages("t"), await memory.list_messages("t-copy")
    assert [m.text for m in copied] == ["one", "two"]
    assert not {m.id for m in original} & {m.id for m in copied}


def test_unknown_options_name_the_field():
    with pytest.raises(MastraError) as info:
        Memory(options={"last_mesages": 5})
    assert info.value.code == "MEMORY_OPTIONS_INVALID" and "last_mesages" in str(info.value)
    with pytest.raises(MastraError) as info:
        Memory(options={"semantic_recall": {"top_k": 0}})
    assert "semantic_recall.top_k" in str(info.value)


# -- recall ---------------------------------------------------------------------------------------------------


async def test_recall_finds_a_paraphrase_in_another_thread_of_the_resource_only(memory):
    await memory.save_messages("trip", ["My flight to Lisbon leaves on Friday morning.", "Pack the charger."],
                               resource_id="alice")  # fmt: skip
    await memory.save_messages("cooking", ["The soup needs more salt and pepper.", "Bake the bread at 220."],
                               resource_id="alice")  # fmt: skip
    await memory.save_messages("bob-trip", ["I fly to Lisbon on Friday too."], resource_id="bob")
    query = "When am I travelling to Portugal?"  # no word in common with the flight message
    found = await memory.recall(query, resource_id="alice", top_k=1, message_range=0)
    assert [(r.message.thread_id, r.message.text, r.matched) for r in found] == [
        ("trip", "My flight to Lisbon leaves on Friday morning.", True)
    ]
    assert found[0].score is not None and found[0].score > 0.3
    with_neighbours = await memory.recall(query, resource_id="alice", top_k=1, message_range=1)
    assert [r.message.text for r in with_neighbours] == ["My flight to Lisbon leaves on Friday morning.",
                                                         "Pack the charger."]  # fmt: skip
    assert [r.matched for r in with_neighbours] == [True, False]
    bobs = await memory.recall(query, resource_id="bob", top_k=5)
    assert {r.message.thread_id for r in bobs} == {"bob-trip"}


async def test_recall_scoped_to_a_thread_searches_only_that_thread(memory):
    await memory.save_messages("trip", "My flight to Lisbon leaves on Friday.", resource_id="alice")
    await memory.save_messages("other", "We sail to Porto next week.", resource_id="alice")
    found = await memory.recall("travel to Portugal", thread_id="other", top_k=3)
    assert {r.message.thread_id for r in found} == {"other"}


# -- working memory -------------------------------------------------------------------------------------------


async def test_working_memory_is_shared_by_the_resources_threads_and_survives_a_new_process(stores, tmp_path):
    storage, vector = stores
    memory = Memory(storage, vector, options={"working_memory": True})
    await memory.update_working_memory("# About the user\n- Name: Ada", resource_id="ada")
    assert await memory.get_working_memory(resource_id="ada") == "# About the user\n- Name: Ada"
    assert await memory.get_working_memory(resource_id="someone-else") is None
    await storage.close()  # the file is now free for another process
    code = textwrap.dedent(f"""
        import asyncio
        from mastra_nb import DuckDBStore
        from mastra_nb.memory import Memory
        async def main():
            async with DuckDBStore({str(tmp_path / "mastra.duckdb")!r}) as storage:
                memory = Memory(storage, options={{"working_memory": True, "semantic_recall": False}})
                print(await memory.get_working_memory(resource_id="ada"))
        asyncio.run(main())
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "# About the user\n- Name: Ada"


class Profile(BaseModel):
    name: str
    city: str | None = None
    languages: list[str] = []


async def test_schema_working_memory_merges_updates_and_refuses_invalid_ones_keeping_the_old(memory):
    memory = Memory(memory.storage, memory.vector, options={"working_memory": {"schema": Profile, "scope": "thread"}})
    await memory.create_thread("ada", thread_id="t")
    await memory.update_working_memory({"name": "Ada", "languages": ["en"]}, thread_id="t")
    await memory.update_working_memory({"city": "London"}, thread_id="t", merge=True)
    assert json.loads(await memory.get_working_memory(thread_id="t")) == {
        "name": "Ada", "city": "London", "languages": ["en"]}  # fmt: skip
    with pytest.raises(MastraError) as info:
        await memory.update_working_memory({"languages": "english"}, thread_id="t", merge=True)
    assert info.value.code == "MEMORY_WORKING_INVALID" and info.value.details["errors"][0]["field"] == "languages"
    assert json.loads(await memory.get_working_memory(thread_id="t"))["languages"] == ["en"]


# -- processors -----------------------------------------------------------------------------------------------


def stored(messages):
    from datetime import datetime, timezone

    from mastra_nb.memory import MemoryMessage

    now = datetime.now(timezone.utc)
    return [MemoryMessage(str(i), "t", "r", role, parts, now) for i, (role, parts) in enumerate(from_openai(messages))]


def test_token_limiter_keeps_the_newest_messages_within_the_limit():
    from mastra_nb.models import _litellm

    messages = stored([{"role": "user", "content": f"message number {i} " + "word " * 20} for i in range(10)])
    one = _litellm.count_tokens("gpt-4o", [{"role": "user", "content": messages[0].text}])
    kept = TokenLimiter(limit=one * 3 + 2).process(messages)
    assert [m.id for m in kept] == ["7", "8", "9"]
    total = sum(_litellm.count_tokens("gpt-4o", [{"role": "user", "content": m.text}]) for m in kept)
    assert total <= one * 3 + 2


def test_token_limiter_never_keeps_a_tool_result_without_its_call():
    messages = stored([
        {"role": "user", "content": "long question " * 50},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{}" + " " * 400}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "result"},
        {"role": "assistant", "content": "done"},
    ])  # fmt: skip
    kept = TokenLimiter(limit=40).process(messages)
    assert kept and kept[0].role != "tool"


def test_tool_call_filter_drops_all_or_only_the_named_tools():
    messages = stored([
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "checking", "tool_calls": [
            {"id": "a", "type": "function", "function": {"name": "search", "arguments": "{}"}},
            {"id": "b", "type": "function", "function": {"name": "clock", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "a", "content": "found"},
        {"role": "tool", "tool_call_id": "b", "content": "noon"},
    ])  # fmt: skip
    everything = ToolCallFilter().process(messages)
    assert [(m.role, m.text) for m in everything] == [("user", "hi"), ("assistant", "checking")]
    only_search = ToolCallFilter(exclude=["search"]).process(messages)
    assert [m.tool_names for m in only_search] == [[], ["clock"], ["clock"]]


# -- agents ---------------------------------------------------------------------------------------------------


def system_texts(body) -> str:
    return "\n".join(m["content"] for m in body["messages"] if m["role"] == "system")


async def test_an_agent_turn_gets_history_working_memory_and_the_recalled_message(stores, openai_server, make_model):
    storage, vector = stores
    memory = Memory(options={"last_messages": 2, "working_memory": True,
                             "semantic_recall": {"top_k": 1, "message_range": 0}})  # fmt: skip
    hub = Mastra(storage=storage, vectors=vector, config=MastraConfig.load(environ={}))
    agent = hub.add_agent(Agent("helper", "You help.", make_model(), memory=memory))
    events = []
    hub.events.subscribe(MEMORY_UPDATED, events.append)

    openai_server.add(Reply(tool_calls=(("update_working_memory", {"memory": "- Name: Ada\n- Home: Oslo"}),)),
                      "Noted, Ada.", "Have a good trip.", "Sure.", "Friday morning.")  # fmt: skip
    await agent.generate("Hi, I am Ada and I live in Oslo.", thread_id="old", resource_id="ada")
    await agent.generate("My flight to Lisbon leaves on Friday morning.", thread_id="old", resource_id="ada")
    await agent.generate("Remind me to buy milk.", thread_id="new", resource_id="ada")
    await memory.flush()
    result = await agent.generate("When am I travelling to Portugal?", thread_id="new", resource_id="ada")
    assert result.text == "Friday morning."

    last = openai_server.bodies()[-1]
    roles = [m["role"] for m in last["messages"]]
    assert roles == ["system", "system", "system", "user", "assistant", "user"]
    assert last["messages"][0]["content"] == "You help."
    assert "- Name: Ada\n- Home: Oslo" in system_texts(last)  # working memory, updated by the tool in thread "old"
    recalled = last["messages"][2]["content"]
    assert "<recalled_messages>" in recalled and "My flight to Lisbon leaves on Friday morning." in recalled
    assert "[related; conversation old," in recalled  # marked as the match, with where it came from
    assert [m["content"] for m in last["messages"][3:]] == ["Remind me to buy milk.", "Sure.",
                                                             "When am I travelling to Portugal?"]  # fmt: skip
    assert "update_working_memory" in {t["function"]["name"] for t in last["tools"]}
    saved = await memory.list_messages("new")
    assert [m.text for m in saved] == ["Remind me to buy milk.", "Sure.", "When am I travelling to Portugal?",
                                       "Friday morning."]  # fmt: skip
    await hub.events.drain()
    assert {e.payload["action"] for e in events} >= {"messages_saved", "working_memory"}
    traced = await hub.traces.list(thread_id="new")  # the agent's spans carry the memory thread
    assert len(traced) == 2 and result.trace_id in {t.trace_id for t in traced}  # its two turns
    await hub.shutdown()


async def test_flush_waits_for_vectors_a_turn_on_another_loop_writes(openai_server, make_model):
    # A notebook's `%%ask` runs the turn on mastra_nb's private loop; the cell after it awaits on the kernel's.
    from mastra_nb._async import submit

    memory = Memory(InMemoryStore(), options={"last_messages": 1, "semantic_recall": {"top_k": 1}})
    agent = Agent("helper", "You help.", make_model(), memory=memory)
    openai_server.add("Noted.")
    turn = submit(agent.generate("My flight to Lisbon leaves on Friday.", thread_id="t", resource_id="ada"))
    await asyncio.wrap_future(turn)
    await memory.flush()  # waited for the write on the other loop, and did not fail for being on this one
    found = await memory.recall("When do I travel to Portugal?", resource_id="ada", top_k=1)
    assert [m.message.text for m in found if m.matched] == ["My flight to Lisbon leaves on Friday."]
    await memory.close()


async def test_recalled_messages_already_in_the_history_are_not_repeated(openai_server, make_model):
    memory = Memory(InMemoryStore(), options={"last_messages": 10, "semantic_recall": {"top_k": 3}})
    agent = Agent("helper", "You help.", make_model(), memory=memory)
    openai_server.add("ok", "ok")
    await agent.generate("My flight to Lisbon leaves on Friday.", thread_id="t", resource_id="ada")
    await memory.flush()
    await agent.generate("When do I travel to Portugal?", thread_id="t", resource_id="ada")
    assert "<recalled_messages>" not in system_texts(openai_server.bodies()[-1])
    await memory.close()


async def test_two_agents_with_the_same_resource_share_working_memory_and_recall(stores, openai_server, make_model):
    storage, vector = stores
    memory = Memory(options={"working_memory": True, "semantic_recall": {"top_k": 1, "message_range": 0}})
    hub = Mastra(storage=storage, vectors=vector, memory=memory, config=MastraConfig.load(environ={}))
    planner = hub.add_agent(Agent("planner", "Plan trips.", make_model()))
    writer = hub.add_agent(Agent("writer", "Write notes.", make_model()))
    openai_server.add(Reply(tool_calls=(("update_working_memory", {"memory": "- Allergy: peanuts"}),)),
                      "Noted.", "Here is a note.")  # fmt: skip
    await planner.generate("Book dinner; I am allergic to peanuts.", thread_id="plan", resource_id="ada")
    await memory.flush()
    await writer.generate("Which foods should the restaurant avoid for me?", thread_id="note", resource_id="ada")
    body = openai_server.bodies()[-1]
    assert "- Allergy: peanuts" in system_texts(body)
    assert "Book dinner; I am allergic to peanuts." in system_texts(body)
    await hub.shutdown()


async def test_a_turn_paused_for_approval_is_saved_to_its_thread_once_approved(openai_server, make_model):
    from mastra_nb import tool

    @tool(requires_approval=True)
    def book(city: str) -> str:
        """Book a hotel.

        Args:
            city: where.
        """
        return f"booked in {city}"

    hub = Mastra(storage=InMemoryStore(), memory=Memory(options={"semantic_recall": False}),
                 config=MastraConfig.load(environ={}))  # fmt: skip
    agent = hub.add_agent(Agent("booker", "Book hotels.", make_model(), tools=[book]))
    openai_server.add(Reply(tool_calls=(("book", {"city": "Lisbon"}),)), "Done: booked in Lisbon.")
    paused = await agent.generate("Book me a hotel in Lisbon.", thread_id="t", resource_id="ada")
    assert paused.finish_reason == "approval_required"
    assert await hub.memory.list_messages("t") == []  # nothing half-done in the thread
    [waiting] = paused.pending_approvals
    done = await agent.approve_tool_call(paused.run_id, waiting.call_id)
    assert done.text == "Done: booked in Lisbon."
    stored = await hub.memory.list_messages("t")
    assert [m.role for m in stored] == ["user", "assistant", "tool", "assistant"]
    assert stored[2].content[0]["result"] == "booked in Lisbon" and stored[-1].text == "Done: booked in Lisbon."
    await hub.shutdown()


async def test_the_run_that_continues_after_an_approval_can_still_update_working_memory(openai_server, make_model):
    from mastra_nb import tool

    @tool(requires_approval=True)
    def move(city: str) -> str:
        """Change the user's address.

        Args:
            city: the new city.
        """
        return f"moved to {city}"

    hub = Mastra(storage=InMemoryStore(), memory=Memory(options={"semantic_recall": False, "working_memory": True}),
                 config=MastraConfig.load(environ={}))  # fmt: skip
    agent = hub.add_agent(Agent("clerk", "Keep the address.", make_model(), tools=[move]))
    openai_server.add(
        Reply(tool_calls=(("move", {"city": "Lisbon"}),)),
        Reply(tool_calls=(("update_working_memory", {"memory": "- Home: Lisbon"}),)),
        "Your address is now Lisbon.",
    )
    paused = await agent.generate("I moved to Lisbon.", thread_id="t", resource_id="ada")
    done = await agent.approve_tool_call(paused.run_id, paused.pending_approvals[0].call_id)
    assert done.text == "Your address is now Lisbon."
    offered = {t["function"]["name"] for t in openai_server.bodies()[1]["tools"]}
    assert offered == {"move", "update_working_memory"}
    assert await hub.memory.get_working_memory(resource_id="ada") == "- Home: Lisbon"
    assert [m.role for m in await hub.memory.list_messages("t")][-3:] == ["assistant", "tool", "assistant"]
    await hub.shutdown()


async def test_thread_without_memory_is_a_clear_error(make_model):
    agent = Agent("plain", "x", make_model())
    with pytest.raises(MastraError) as info:
        await agent.generate("hi", thread_id="t", resource_id="r")
    assert info.value.code == "AGENT_MEMORY_MISSING" and "Memory()" in str(info.value)


async def test_streamed_turns_are_saved_and_a_title_is_generated(openai_server, make_model):
    memory = Memory(InMemoryStore(), options={"generate_title": True, "semantic_recall": False})
    agent = Agent("helper", "You help.", make_model(), memory=memory)
    openai_server.add("Streamed answer.", "Trip to Lisbon")
    async for _ in agent.stream("Plan my trip to Lisbon", thread_id="t", resource_id="ada"):
        pass
    await memory.flush()
    assert [m.text for m in await memory.list_messages("t")] == ["Plan my trip to Lisbon", "Streamed answer."]
    assert (await memory.get_thread("t")).title == "Trip to Lisbon"
    await memory.close()


async def test_recall_finds_what_the_history_lacks_rather_than_what_it_already_shows(openai_server, make_model):
    # The closest match to the question is in the history window; top_k=1 must go to the older message instead.
    memory = Memory(InMemoryStore(), options={"last_messages": 2, "semantic_recall": {"top_k": 1, "message_range": 0}})
    agent = Agent("helper", "You help.", make_model(), memory=memory)
    openai_server.add("ok", "ok", "ok", "Friday.")
    for said in ["My flight to Lisbon leaves on Friday.", "Remind me to buy milk.", "When do I travel to Portugal?"]:
        await agent.generate(said, thread_id="t", resource_id="ada")
    await memory.flush()
    await agent.generate("When do I travel to Portugal, again?", thread_id="t", resource_id="ada")
    last = openai_server.bodies()[-1]
    recalled = system_texts(last)
    assert "<recalled_messages>" in recalled and "My flight to Lisbon leaves on Friday." in recalled
    assert [m["content"] for m in last["messages"] if m["role"] != "system"] == [
        "When do I travel to Portugal?",
        "ok",
        "When do I travel to Portugal, again?",
    ]  # the history, not recalled
    await memory.close()
