"""Tool approval: a run pauses with its pending calls in storage and goes on after a decision, also from a fresh
hub on the same DuckDB file (as after a kernel restart)."""

import pytest
from openai_server import Reply

from mastra_nb import Agent, DuckDBStore, InMemoryStore, Mastra, MastraError, tool

runs: list[str] = []  # what the tools below really did


@tool(requires_approval=True)
def send_email(to: str, body: str) -> str:
    """Send an email.

    Args:
        to: the address.
        body: the text.
    """
    runs.append(f"email to {to}")
    return f"sent to {to}"


@tool
def lookup(name: str) -> str:
    """Find a person's address."""
    runs.append(f"lookup {name}")
    return f"{name.lower()}@example.com"


@pytest.fixture(autouse=True)
def _clear_runs():
    runs.clear()


def mailer(model) -> Agent:
    return Agent("mailer", "Send emails when asked.", model, tools=[send_email, lookup])


async def test_approval_then_resume_from_a_fresh_hub_on_the_same_file(openai_server, make_model, tmp_path):
    path = tmp_path / "mastra.duckdb"
    openai_server.add(
        Reply(tool_calls=[("lookup", {"name": "Ada"}), ("send_email", {"to": "ada@example.com", "body": "Hi"})]),
        "Done: Ada has been emailed.",
    )
    store = DuckDBStore(path)
    Mastra(agents=[agent := mailer(make_model())], storage=store)
    paused = await agent.generate("Email Ada hello.")
    assert paused.finish_reason == "approval_required"
    [pending] = paused.pending_approvals
    assert (pending.tool, pending.arguments, pending.run_id) == ("send_email", {"to": "ada@example.com", "body": "Hi"},
                                                                 paused.run_id)  # fmt: skip
    assert runs == ["lookup Ada"]  # the call that needed no approval ran; the email did not
    assert [r.result for r in paused.tool_results] == ["ada@example.com"]
    assert len(openai_server.requests) == 1
    await store.close()  # the "kernel" ends

    store = DuckDBStore(path)
    Mastra(agents=[agent := mailer(make_model())], storage=store)  # a new agent object, same name
    assert [(p.run_id, p.call_id) for p in await agent.pending_approvals()] == [(paused.run_id, pending.call_id)]
    result = await agent.approve_tool_call(paused.run_id, pending.call_id, by="grace", reason="looks right")
    assert result.finish_reason == "stop" and result.text == "Done: Ada has been emailed."
    assert runs == ["lookup Ada", "email to ada@example.com"]
    assert [r.result for r in result.tool_results] == ["ada@example.com", "sent to ada@example.com"]
    assert result.run_id == paused.run_id and len(result.steps) == 2
    # the model got both results, in the order of its calls
    resumed = openai_server.bodies()[1]["messages"]
    assert [m["content"] for m in resumed if m["role"] == "tool"] == ["ada@example.com", "sent to ada@example.com"]
    [record] = await agent.approval_records(paused.run_id)
    assert record["decision"] == "approved" and record["by"] == "grace" and record["reason"] == "looks right"
    assert record["tool"] == "send_email" and record["call_id"] == pending.call_id and record["at"]
    assert await agent.pending_approvals() == []
    [stored] = await store.select("agent_runs", where={"run_id": paused.run_id})
    assert stored["status"] == "completed" and stored["agent"] == agent.name
    with pytest.raises(MastraError) as info:  # deciding again: nothing waits any more
        await agent.approve_tool_call(paused.run_id, pending.call_id)
    assert info.value.code == "AGENT_RUN_NOT_AWAITING"
    await store.close()


async def test_a_declined_call_is_not_run_and_the_model_is_told_why(openai_server, make_model):
    openai_server.add(
        Reply(tool_calls=[("send_email", {"to": "x@example.com", "body": "spam"})]), "Understood, not sent."
    )
    agent = mailer(make_model())
    Mastra(agents=[agent], storage=InMemoryStore())
    paused = await agent.generate("Email x.")
    call_id = paused.pending_approvals[0].call_id
    result = await agent.decline_tool_call(paused.run_id, call_id, by="grace", reason="that is spam")
    assert runs == [] and result.text == "Understood, not sent."
    [declined] = result.tool_results
    assert declined.error["code"] == "TOOL_CALL_DECLINED"
    told = next(m["content"] for m in openai_server.bodies()[1]["messages"] if m["role"] == "tool")
    assert "declined" in told and "that is spam" in told
    [record] = await agent.approval_records(paused.run_id)
    assert (record["decision"], record["by"]) == ("declined", "grace")


async def test_require_approval_for_every_call_of_a_run(openai_server, make_model):
    openai_server.add(Reply(tool_calls=[("lookup", {"name": "Ada"}), ("lookup", {"name": "Bob"})]), "Found Ada only.")
    agent = mailer(make_model())
    Mastra(agents=[agent], storage=InMemoryStore())
    paused = await agent.generate("Find Ada and Bob.", require_approval=True)
    first, second = paused.pending_approvals
    assert runs == [] and {first.tool, second.tool} == {"lookup"}
    still = await agent.approve_tool_call(paused.run_id, first.call_id)
    assert still.finish_reason == "approval_required" and [p.call_id for p in still.pending_approvals] == [
        second.call_id
    ]
    assert runs == [] and len(openai_server.requests) == 1  # nothing runs until every call is decided
    result = await agent.decline_tool_call(paused.run_id, second.call_id)
    assert runs == ["lookup Ada"] and result.text == "Found Ada only."
    assert [r.is_error for r in result.tool_results] == [False, True]


async def test_streaming_announces_the_pending_approval(openai_server, make_model):
    openai_server.add(Reply(tool_calls=[("send_email", {"to": "a@b.c", "body": "x"})]))
    agent = mailer(make_model())
    Mastra(agents=[agent], storage=InMemoryStore())
    events = [event async for event in agent.stream("Email a@b.c")]
    assert [e.kind for e in events] == ["tool-call", "approval-required", "finish"]
    assert events[1].approval.tool == "send_email" and events[-1].result.finish_reason == "approval_required"


async def test_wrong_decisions_are_refused(openai_server, make_model):
    openai_server.add(Reply(tool_calls=[("send_email", {"to": "a@b.c", "body": "x"})]))
    store = InMemoryStore()
    agent, other = mailer(make_model()), Agent("other", "", make_model())
    Mastra(agents=[agent, other], storage=store)
    paused = await agent.generate("Email a@b.c")
    with pytest.raises(MastraError) as info:
        await agent.approve_tool_call("no-such-run", "x")
    assert info.value.code == "AGENT_RUN_NOT_FOUND"
    with pytest.raises(MastraError) as info:
        await agent.approve_tool_call(paused.run_id, "call_that_does_not_exist")
    assert info.value.code == "AGENT_TOOL_CALL_NOT_PENDING"
    with pytest.raises(MastraError) as info:
        await other.approve_tool_call(paused.run_id, paused.pending_approvals[0].call_id)
    assert info.value.code == "AGENT_RUN_OTHER_AGENT" and "mailer" in info.value.message
    assert runs == []


async def test_an_agent_outside_a_hub_cannot_pause_and_says_so(openai_server, make_model):
    with pytest.raises(MastraError) as info:
        await mailer(make_model()).generate("Email someone.")
    assert info.value.code == "AGENT_NOT_REGISTERED" and "Mastra(agents=[agent]" in info.value.message
    assert openai_server.requests == [] and runs == []  # refused before anything ran


async def test_a_run_with_structured_output_needs_the_output_again_to_go_on(openai_server, make_model):
    from pydantic import BaseModel

    class Receipt(BaseModel):
        sent_to: str

    openai_server.add(Reply(tool_calls=[("send_email", {"to": "a@b.c", "body": "x"})]), '{"sent_to": "a@b.c"}')
    agent = mailer(make_model())
    store = InMemoryStore()
    Mastra(agents=[agent], storage=store)
    paused = await agent.generate("Email a@b.c", output=Receipt)
    call_id = paused.pending_approvals[0].call_id
    with pytest.raises(MastraError) as info:
        await agent.approve_tool_call(paused.run_id, call_id)
    assert info.value.code == "AGENT_OUTPUT_REQUIRED" and "Receipt" in info.value.message
    assert await agent.approval_records(paused.run_id) == []  # refused before the decision was recorded
    result = await agent.approve_tool_call(paused.run_id, call_id, output=Receipt)
    assert result.object == Receipt(sent_to="a@b.c") and runs == ["email to a@b.c"]


async def test_a_resume_that_fails_marks_the_run_failed(openai_server, make_model):
    openai_server.add(Reply(tool_calls=[("send_email", {"to": "a@b.c", "body": "x"})]), Reply(status=400, error="nope"))
    agent = mailer(make_model())
    store = InMemoryStore()
    Mastra(agents=[agent], storage=store)
    paused = await agent.generate("Email a@b.c")
    with pytest.raises(MastraError, match="nope"):
        await agent.approve_tool_call(paused.run_id, paused.pending_approvals[0].call_id)
    [stored] = await store.select("agent_runs", where={"run_id": paused.run_id})
    assert stored["status"] == "failed" and stored["error"]["code"] == "MODEL_BAD_REQUEST"


async def test_a_stored_run_that_no_longer_loads_fails_with_its_field_named_and_is_not_left_resuming(
    openai_server, make_model
):
    openai_server.add(Reply(tool_calls=[("send_email", {"to": "a@b.c", "body": "x"})]))
    agent = mailer(make_model())
    store = InMemoryStore()
    Mastra(agents=[agent], storage=store)
    paused = await agent.generate("Email a@b.c")
    [row] = await store.select("agent_runs", where={"run_id": paused.run_id})
    row["data"]["paused"]["response"]["usage"] = {"prompt_tokens": "many"}  # changed by hand since it was stored
    await store.upsert("agent_runs", [row])
    with pytest.raises(MastraError) as raised:
        await agent.approve_tool_call(paused.run_id, paused.pending_approvals[0].call_id)
    assert raised.value.code == "RECORD_INVALID" and "prompt_tokens" in raised.value.message
    [stored] = await store.select("agent_runs", where={"run_id": paused.run_id})
    assert stored["status"] == "failed" and stored["error"]["code"] == "RECORD_INVALID"
    assert len(openai_server.requests) == 1  # nothing was sent for the run that could not load


async def test_a_caller_chosen_run_id_names_the_run_and_cannot_take_over_a_paused_one():
    from mastra_nb.models import ScriptedModel, ScriptedReply

    call = ScriptedReply.call("send_email", to="ada@example.com", body="Hi")
    hub = Mastra(agents=[agent := mailer(ScriptedModel([call, "again"]))], storage=InMemoryStore())
    paused = await agent.generate("Email Ada.", run_id="ticket-42")
    assert paused.run_id == "ticket-42" and paused.pending_approvals[0].run_id == "ticket-42"
    with pytest.raises(MastraError) as taken:
        await agent.generate("Something else.", run_id="ticket-42")
    assert taken.value.code == "AGENT_RUN_EXISTS"
    with pytest.raises(MastraError) as bad:
        await agent.generate("Hi.", run_id={"$ne": ""})  # type: ignore[arg-type]
    assert bad.value.code == "RUN_ID_INVALID"
    assert [p.run_id for p in await agent.pending_approvals()] == ["ticket-42"]  # the paused run is untouched
    assert runs == []
    await hub.shutdown()


async def test_a_step_that_calls_a_client_tool_ends_the_run_with_its_call_and_runs_the_others():
    from mastra_nb.models import ScriptedModel, ScriptedReply

    @tool
    def ask_user(question: str) -> str:
        """Ask the person at the keyboard (the caller runs this)."""
        raise AssertionError("a client tool is never run by the agent")

    both = ScriptedReply(tool_calls=[("ask_user", {"question": "Who?"}), ("lookup", {"name": "Ada"}),
                                     ("send_email", {"to": "x@example.com", "body": "Hi"})])  # fmt: skip
    hub = Mastra(agents=[agent := mailer(ScriptedModel([both, "Done."]))], storage=InMemoryStore())
    paused = await agent.generate("Email someone.", client_tools=[ask_user])
    assert paused.finish_reason == "tool_calls" and [c.name for c in paused.tool_calls] == [
        "ask_user", "lookup", "send_email"]  # fmt: skip
    results = {r.tool: r for r in paused.tool_results}
    assert set(results) == {"lookup", "send_email"}  # the client tool's result is the caller's to send
    assert results["lookup"].result == "ada@example.com" and runs == ["lookup Ada"]
    assert results["send_email"].error["code"] == "TOOL_APPROVAL_UNAVAILABLE"  # not run, and the model is told
    assert paused.pending_approvals == [] and await agent.pending_approvals() == []

    call = paused.tool_calls[0]
    history = [
        {"role": "user", "content": "Email someone."},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in paused.tool_calls]},
        {"role": "tool", "tool_call_id": call.id, "content": "Ada"},
        *({"role": "tool", "tool_call_id": r.call_id, "content": r.content()} for r in paused.tool_results),
    ]  # fmt: skip
    done = await agent.generate(history, client_tools=[ask_user])
    assert done.text == "Done." and done.finish_reason == "stop"
    await hub.shutdown()
