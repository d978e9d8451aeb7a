"""Record/replay of model calls: record against the test server, stop it, replay the same run offline."""

import pytest
from openai_server import OpenAIServer, Reply

from mastra_nb import Agent, DuckDBStore, InMemoryStore, Mastra, MastraConfig, MastraError, Model, tool
from mastra_nb.models import aclose_clients
from mastra_nb.models.recording import normalized, request_key
from mastra_nb.models.types import ModelRequest


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def script(server: OpenAIServer) -> None:
    server.add(Reply(tool_calls=[("add", {"a": 2, "b": 3})]), Reply(text="2 + 3 = 5"))


async def test_record_then_replay_with_the_server_stopped(tmp_path):
    server = OpenAIServer().start()
    script(server)
    model = Model("openai/gpt-test", api_base=server.url, api_key="k")
    store = DuckDBStore(tmp_path / "mastra.duckdb")
    recorder = Agent("math", "Add.", model, tools=[add], record="record")
    Mastra(agents=[recorder], storage=store)
    recorded = await recorder.generate("2 + 3?")
    server.add(Reply(text="Streamed five."))
    stream_recorded = [e async for e in recorder.stream("And streamed?")]
    assert len(server.requests) == 3
    rows = await store.select("model_calls")
    assert len(rows) == 3 and {r["model"] for r in rows} == {"openai/gpt-test"}
    assert rows[0]["request"]["messages"][0] == {"role": "system", "content": "Add."}
    server.stop()
    await aclose_clients()
    await store.close()

    store = DuckDBStore(tmp_path / "mastra.duckdb")  # a fresh hub, as in a re-run notebook
    replayer = Agent("math", "Add.", model, tools=[add], record="replay")
    Mastra(agents=[replayer], storage=store)
    replayed = await replayer.generate("2 + 3?")
    assert replayed.text == recorded.text == "2 + 3 = 5"
    assert [r.result for r in replayed.tool_results] == [r.result for r in recorded.tool_results] == [5]
    assert replayed.usage == recorded.usage
    events = [e async for e in replayer.stream("And streamed?")]
    deltas = [e.text for e in events if e.kind == "text-delta"]
    assert deltas == [e.text for e in stream_recorded if e.kind == "text-delta"] and len(deltas) > 1
    assert events[-1].result.text == "Streamed five."
    await store.close()


async def test_replay_without_a_recording_names_the_agent_and_the_request(make_model):
    agent = Agent("support", "Help.", make_model(), record="replay")
    Mastra(agents=[agent], storage=InMemoryStore())
    with pytest.raises(MastraError) as info:
        await agent.generate("Where is my parcel number 12345?")
    error = info.value
    assert error.code == "MODEL_RECORDING_MISSING"
    assert "agent `support`" in error.message and "Where is my parcel number 12345?" in error.message
    assert error.message.count('{"model": "openai/gpt-test"') == 1  # the start of the request is shown
    assert len(error.details["key"]) == 64


async def test_auto_records_once_then_replays(openai_server, make_model):
    openai_server.add("Only answer.")
    agent = Agent("a", "", make_model())
    Mastra(agents=[agent], storage=InMemoryStore(), config=MastraConfig.load(environ={}, record_mode="auto"))
    first = await agent.generate("Hello?")
    second = await agent.generate("Hello?")  # the server has no reply left: this must come from the recording
    assert first.text == second.text == "Only answer." and len(openai_server.requests) == 1
    third_agent = Agent("b", "", make_model(), record="off")  # an agent's own mode wins over the hub's
    Mastra(agents=[third_agent], storage=InMemoryStore(), config=MastraConfig.load(environ={}, record_mode="auto"))
    with pytest.raises(MastraError):
        await third_agent.generate("Hello?")
    assert len(openai_server.requests) == 2


def test_the_key_depends_on_what_is_asked_not_on_where_or_how():
    messages = ({"role": "user", "content": "hi", "name": "ada"},)
    base = normalized("openai/x", {"temperature": 0}, ModelRequest(messages))
    reordered = normalized(
        "openai/x", {"temperature": 0}, ModelRequest(({"name": "ada", "content": "hi", "role": "user"},))
    )
    assert request_key(base) == request_key(reordered)
    for other in (
        normalized("openai/y", {"temperature": 0}, ModelRequest(messages)),
        normalized("openai/x", {"temperature": 1}, ModelRequest(messages)),
        normalized("openai/x", {"temperature": 0}, ModelRequest(({"role": "user", "content": "hi!"},))),
        normalized("openai/x", {"temperature": 0}, ModelRequest(messages, tool_choice="required")),
    ):
        assert request_key(other) != request_key(base)


def test_record_mode_is_checked():
    with pytest.raises(MastraError, match="MASTRA_RECORD_MODE"):
        MastraConfig.load(environ={"MASTRA_RECORD_MODE": "always"})
