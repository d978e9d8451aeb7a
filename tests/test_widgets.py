"""The widgets' Python side, with a real hub: a real `InMemoryStore` or a DuckDB file under `tmp_path`, real runs
emitting real events. What the front end would receive is the widgets' synced state (their traits); a message from
the front end goes through the widget's own comm handler (`_handle_msg`), as a click in JupyterLab would.

The browser side (the ES modules in a real JupyterLab) is tested in `test_browser.py`.
"""

from __future__ import annotations

import asyncio
import datetime
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from enum import Enum
from typing import Literal

import pytest
from pydantic import BaseModel

from mastra_nb import Agent, DuckDBStore, InMemoryStore, Mastra, MastraConfig, StepContext, Workflow, step, tool
from mastra_nb.display.reprs import runs_table
from mastra_nb.events import SPANS_WRITTEN
from mastra_nb.memory import DEFAULT_TEMPLATE, Memory
from mastra_nb.models import ScriptedModel, ScriptedReply
from mastra_nb.notebook.magics import MastraMagics
from mastra_nb.notebook.widgets import (
    ApprovalsForm,
    ChatWidget,
    GraphWidget,
    MemoryView,
    ResumeForm,
    RunPanel,
    RunsView,
    TraceWidget,
)
from mastra_nb.notebook.widgets._base import STATIC, Throttle, display_key, shown_for
from mastra_nb.notebook.widgets.forms import fields
from mastra_nb.notebook.widgets.runs import RunsTable
from mastra_nb.telemetry import Telemetry
from mastra_nb.telemetry.tracing import current_ids
from mastra_nb.workflows import Step


class Approval(BaseModel):
    approved: bool
    reviewer: str
    level: Literal["low", "high"] = "low"
    due: datetime.date | None = None
    budget: float = 0.0
    tags: list[str] = []


@step
def double(n: int) -> int:
    return n * 2


@step(resume=Approval)
def gate(n: int, ctx: StepContext) -> int:
    if ctx.resume_data is None:
        ctx.suspend({"question": f"keep {n}?"})
    return n if ctx.resume_data.approved else 0


@step
def square(n: int) -> int:
    return n * n


def gated(hub: Mastra) -> Workflow:
    workflow = Workflow("gated", input=int, output=int).then(double).then(gate).commit()
    return hub.add_workflow(workflow)  # type: ignore[no-any-return]


@pytest.fixture
def hub() -> Mastra:
    return Mastra(storage=InMemoryStore())


async def settle(hub: Mastra, widget: GraphWidget) -> None:
    await hub.events.drain()
    widget.flush()


# -- the graph --------------------------------------------------------------------------------------------------


async def test_a_node_turns_success_when_its_step_completes(hub):
    workflow = gated(hub)
    graph = GraphWidget(workflow)
    assert graph.statuses == {} and graph.run_id == "" and graph.following == "latest"
    run = workflow.create_run()
    await run.start(3)
    await settle(hub, graph)
    assert graph.run_id == run.run_id and graph.run_status == "suspended"
    assert graph.statuses == {"0": ["success", 1], "1": ["suspended", 1]}
    await run.resume({"approved": True, "reviewer": "ann"})
    await settle(hub, graph)
    assert graph.statuses["1"] == ["success", 1] and graph.run_status == "success"
    snapshot = graph._repr_mimebundle_()[0]["text/html"]
    assert 'data-path="1"' in snapshot and 'data-status="success"' in snapshot
    graph.close()


async def test_clicking_a_node_shows_its_input_output_and_timing(hub):
    workflow = gated(hub)
    run = workflow.create_run()
    await run.start(4)
    graph = GraphWidget(workflow, run)
    assert graph.following == "run" and graph.statuses["1"] == ["suspended", 1]
    graph.selected = "0"  # what a click on the node sets, through the comm
    [item] = graph.detail["items"]
    assert graph.detail["label"] == "double" and item["input"] == 4 and item["output"] == 8
    assert item["status"] == "success" and item["duration_ms"] is not None and item["started_at"]
    graph.selected = "1"
    assert graph.detail["items"][0]["suspend_payload"] == {"question": "keep 8?"}
    graph.close()


async def test_a_graph_following_one_run_ignores_the_others(hub):
    workflow = gated(hub)
    first = workflow.create_run()
    await first.start(1)
    graph = GraphWidget(workflow, first)
    await workflow.create_run().start(2)
    await workflow.create_run().start(3)
    await settle(hub, graph)
    assert graph.run_id == first.run_id
    graph.close()


async def test_a_thousand_item_foreach_is_throttled(hub):
    workflow = hub.add_workflow(Workflow("many", input=list[int], output=list[int]).foreach(square, 10).commit())
    graph = GraphWidget(workflow, interval=0.05)
    pushes: list[dict] = []
    graph.observe(lambda change: pushes.append(change["new"]), names="statuses")
    result = await workflow.create_run().start(list(range(1000)))
    await settle(hub, graph)
    assert result.status == "success" and graph.statuses == {"0": ["success", 0], "0.*": ["success", 1000]}
    assert len(pushes) < 60, f"{len(pushes)} updates for 2,000 step events"
    graph.selected = "0.*"
    assert graph.detail["count"] == 1000 and len(graph.detail["items"]) == 20  # the last 20, not all
    graph.close()


def test_the_throttle_flushes_at_once_then_once_per_interval():
    calls: list[float] = []
    throttle = Throttle(lambda: calls.append(1), interval=0.2)
    for _ in range(100):
        throttle.touch()
    assert len(calls) == 1  # the first at once; the rest wait for the timer
    throttle.touch(now=True)
    assert len(calls) == 2
    throttle.cancel()


async def test_closing_leaves_no_subscription_and_rerunning_replaces_the_widget(hub):
    workflow = gated(hub)
    before = len(hub.events.subscriptions)
    graph = GraphWidget(workflow)
    assert len(hub.events.subscriptions) == before + 2
    graph.close()
    assert len(hub.events.subscriptions) == before and graph.closed
    # Re-running a cell: the widget shown for the same key closes the one shown before.
    key = display_key("graph", workflow.id)
    first = shown_for(key, GraphWidget(workflow))
    second = shown_for(key, GraphWidget(workflow))
    assert first.closed and not second.closed and len(hub.events.subscriptions) == before + 2
    run = workflow.create_run()
    await run.start(2)
    await settle(hub, second)
    panel = shown_for(display_key("resume", run.run_id), RunPanel(run))
    run_subscriptions = len(run._events.subscriptions)
    assert run_subscriptions == 1  # the form watches the run
    panel.close()
    second.close()
    assert len(hub.events.subscriptions) == before and len(run._events.subscriptions) == 0
    assert panel.graph.closed and panel.form.closed


# -- the resume form -------------------------------------------------------------------------------------------


async def test_the_form_is_built_from_the_resume_schema(hub):
    workflow = gated(hub)
    run = workflow.create_run()
    await run.start(3)
    form = ResumeForm(run)
    [entry] = form.steps
    schema = gate.resume.json_schema()
    assert entry["path"] == "1" and entry["step_id"] == "gate" and entry["payload"] == {"question": "keep 6?"}
    assert entry["schema"] == schema
    assert [f["name"] for f in entry["fields"]] == list(schema["properties"])
    kinds = {f["name"]: f["kind"] for f in entry["fields"]}
    assert kinds == {"approved": "bool", "reviewer": "text", "level": "enum", "due": "date", "budget": "number",
                     "tags": "json"}  # fmt: skip
    required = {f["name"] for f in entry["fields"] if f["required"]}
    assert required == set(schema["required"]) == {"approved", "reviewer"}
    assert next(f for f in entry["fields"] if f["name"] == "level")["options"] == ["low", "high"]
    assert "keep 6?" in form.snapshot() and "resume-fields" in form.snapshot()
    form.close()


def test_fields_of_schemas_that_are_not_objects():
    assert [(f["name"], f["kind"]) for f in fields({"type": "integer"})] == [("", "integer")]
    assert [(f["name"], f["kind"]) for f in fields(None)] == [("", "json")]
    nested = fields({"type": "object", "properties": {"when": {"type": "string", "format": "date-time"},
                                                       "inner": {"type": "object"}}})  # fmt: skip
    assert [f["kind"] for f in nested] == ["datetime", "json"]


async def test_an_invalid_value_is_refused_with_its_field_error(hub):
    workflow = gated(hub)
    run = workflow.create_run()
    await run.start(3)
    form = ResumeForm(run)
    assert form.submit("1", {"approved": True, "reviewer": "ann", "level": "medium", "budget": "lots"}) is None
    assert set(form.errors["1"]) == {"level", "budget"} and "low" in form.errors["1"]["level"]
    assert form.submit("1", {"approved": True, "reviewer": "ann", "tags": "[oops"}) is None
    assert "not valid JSON" in form.errors["1"]["tags"]
    assert form.submit("1", {"reviewer": "ann"}) is None and form.errors["1"] == {"approved": "required"}
    stored = await workflow.get_run(run.run_id)
    assert stored.status == "suspended" and run.status == "suspended" and not form.busy  # nothing was sent
    form.close()


async def test_resume_continues_the_run_in_the_background(hub):
    workflow = gated(hub)
    run = workflow.create_run()
    await run.start(3)
    panel = RunPanel(run)
    form, graph = panel.form, panel.graph
    values = {"approved": True, "reviewer": "ann", "level": "high", "due": "2026-12-01", "tags": '["a"]'}
    task = form.submit("1", values)
    assert form.busy and form.status == "running" and form.errors == {}
    assert isinstance(task, asyncio.Task)  # on this (the kernel's) loop: the caller returned at once
    await task
    await settle(hub, graph)
    assert form.status == "success" and form.message == "The run succeeded." and form.steps == [] and not form.busy
    assert form.outcome == {"status": "success", "message": "The run succeeded.", "output": 6}
    snapshot = panel._repr_mimebundle_()["text/html"]
    assert 'data-outcome="success"' in snapshot and "<pre data-output" in snapshot and ">6</pre>" in snapshot
    assert run.output == 6 and graph.statuses["1"] == ["success", 1] and graph.run_status == "success"
    resumed_with = run.result.steps["1"].resume_payload
    assert resumed_with["level"] == "high" and resumed_with["due"] == "2026-12-01" and resumed_with["tags"] == ["a"]
    panel.close()


async def test_a_click_reaches_the_form_through_its_comm(hub):
    workflow = gated(hub)
    run = workflow.create_run()
    await run.start(5)
    form = ResumeForm(run)
    message = {"type": "resume", "path": "1", "values": {"approved": False, "reviewer": "bo"}}
    form._handle_msg({"content": {"data": {"method": "custom", "content": message}}, "buffers": []})
    await form.task
    assert run.status == "success" and run.output == 0 and form.status == "success"
    form.close()


def test_a_run_loaded_from_duckdb_after_a_restart_resumes_from_the_form(tmp_path):
    from mastra_nb import run_sync

    path = tmp_path / "runs.duckdb"
    store = DuckDBStore(path)
    first = Mastra(storage=store)
    result = run_sync(gated(first).create_run().start(7))
    run_sync(first.shutdown())
    run_sync(store.close())
    # A new hub on the same file, as a restarted kernel would make, with the workflow defined again.
    store = DuckDBStore(path)
    second = Mastra(storage=store)
    workflow = gated(second)
    run = run_sync(workflow.get_run(result.run_id))
    form = ResumeForm(run)
    assert [s["path"] for s in form.steps] == ["1"] and form.steps[0]["payload"] == {"question": "keep 14?"}
    future = form.submit("1", {"approved": True, "reviewer": "cy"})  # no running loop here: the private loop
    future.result(timeout=30)
    assert form.status == "success"
    stored = run_sync(workflow.get_run(result.run_id))
    assert stored.status == "success" and stored.output == 14
    form.close()
    run_sync(second.shutdown())
    run_sync(store.close())


# -- chat and trace --------------------------------------------------------------------------------------------


@tool
def add(a: int, b: int) -> int:
    """Add two numbers.

    Args:
        a: the first.
        b: the second.
    """
    return a + b


def calc(hub: Mastra, *script: object) -> Agent:
    model = ScriptedModel(list(script))
    return hub.add_agent(Agent("calc", "You add numbers with the add tool.", model, tools=[add]))  # type: ignore[no-any-return]


async def test_a_chat_turn_streams_the_answer_with_its_tool_card(hub):
    agent = calc(hub, ScriptedReply.call("add", a=2, b=3), lambda m: "The sum is " + m[-1]["content"] + ".",
                 lambda m: f"You said {len([x for x in m if x['role'] == 'user'])} things.")  # fmt: skip
    chat = ChatWidget(agent)
    pushes: list[list] = []
    chat.observe(lambda change: pushes.append(change["new"]), names="messages")
    task = chat.send("What is 2 + 3?")
    assert chat.busy and chat.send("again?") is None  # one turn at a time
    await task
    user, answer = chat.messages
    assert user == {"role": "user", "text": "What is 2 + 3?", "tools": [], "status": "done"}
    assert answer["text"] == "The sum is 5." and answer["status"] == "done" and answer["scripted"]
    [card] = answer["tools"]
    assert card["name"] == "add" and card["arguments"] == {"a": 2, "b": 3} and card["result"] == 5
    assert not chat.busy and len(pushes) >= 2
    await chat.send("And now?")  # the conversation so far goes with the next turn
    assert chat.messages[-1]["text"] == "You said 2 things."
    snapshot = chat.snapshot()
    assert "What is 2 + 3?" in snapshot and "The sum is 5." in snapshot and 'data-tool="add"' in snapshot
    chat.close()


async def test_stop_ends_the_turn_and_keeps_what_was_said(hub):
    started, release = asyncio.Event(), asyncio.Event()

    @tool
    async def wait(seconds: int) -> str:
        """Wait.

        Args:
            seconds: how long.
        """
        started.set()
        await release.wait()
        return "done"

    agent = hub.add_agent(Agent("slow", "", ScriptedModel([ScriptedReply.call("wait", seconds=9), "never"]),
                                tools=[wait]))  # fmt: skip
    chat = ChatWidget(agent)
    task = chat.send("wait for it")
    await started.wait()
    chat._handle_msg({"content": {"data": {"method": "custom", "content": {"type": "stop"}}}, "buffers": []})
    await asyncio.wait([task])
    answer = chat.messages[-1]
    assert answer["status"] == "stopped" and not chat.busy and answer["tools"][0]["name"] == "wait"
    chat.close()


async def test_the_trace_waterfall_has_a_row_per_span(hub):
    agent = calc(hub, ScriptedReply.call("add", a=1, b=2), "3.")
    result = await agent.generate("1 + 2?")
    trace = await hub.traces.get(result.trace_id)
    widget = TraceWidget(trace, hub.traces)
    assert [row["span_id"] for row in widget.spans] == [s.span_id for r in trace.roots for s in r.walk()]
    root, *rest = widget.spans
    assert root["depth"] == 0 and root["start_ms"] == 0 and root["kind"] == "agent" and root["duration_ms"] > 0
    tool_row = next(r for r in rest if r["kind"] == "tool")
    assert tool_row["depth"] >= 1 and tool_row["input"] == {"a": 1, "b": 2} and tool_row["output"] == 3
    assert all(0 <= r["start_ms"] <= widget.duration_ms for r in widget.spans)
    await widget.refresh()
    assert len(widget.spans) == len(trace.spans) and trace.trace_id in widget.snapshot()
    widget.close()


async def until(condition: Callable[[], object], timeout: float = 10.0) -> None:
    """Wait for `condition()` to hold (work done on `_async`'s private loop, such as a widget's reads)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_the_waterfall_grows_while_the_run_goes_and_closing_unsubscribes():
    hub = Mastra(storage=InMemoryStore(), telemetry=Telemetry(flush_interval=0.05))
    gates = {"second": asyncio.Event(), "third": asyncio.Event()}
    entered: asyncio.Queue[str] = asyncio.Queue()
    trace_ids: list[str] = []

    def held(name: str) -> Step:
        async def hold(n: int) -> int:
            ids = current_ids()
            assert ids is not None
            trace_ids.append(ids[0])
            await entered.put(name)
            await gates[name].wait()
            return n + 1

        return step(hold, id=name)  # type: ignore[no-any-return]

    workflow = Workflow("held", input=int, output=int).then(double).then(held("second")).then(held("third")).commit()
    hub.add_workflow(workflow)
    task = asyncio.create_task(workflow.create_run().start(1))
    assert await entered.get() == "second"
    trace = await hub.traces.get(trace_ids[0])  # `double` has ended and is stored; the workflow's span is still open
    widget = TraceWidget(trace, hub=hub)
    assert [row["name"] for row in widget.spans] == ["step double"]

    gates["second"].set()
    assert await entered.get() == "third"
    await until(lambda: "step second" in [row["name"] for row in widget.spans])
    assert not task.done() and widget.spans[-1]["status"] == "ok"  # no Refresh pressed, the run still going

    gates["third"].set()
    result = await task
    await until(lambda: widget.spans[0]["name"] == "workflow held")
    assert result.status == "success" and widget.spans[0]["depth"] == 0
    assert [row["name"] for row in widget.spans[1:]] == ["step double", "step second", "step third"]
    assert widget.throttle.flushes >= 2 and "step third" in widget.snapshot()

    widget.close()
    assert [s.pattern for s in hub.events.subscriptions if s.pattern == SPANS_WRITTEN] == []
    await hub.shutdown()


async def test_the_latest_trace_view_follows_the_next_run(hub):
    agent = calc(hub, ScriptedReply.call("add", a=1, b=2), "3.", "again.")
    first = await agent.generate("1 + 2?")
    widget = TraceWidget(await hub.traces.get(first.trace_id), hub=hub, follow=True, interval=0.05)
    second = await agent.generate("and again?")
    await until(lambda: widget.trace_id == second.trace_id and widget.spans[0]["kind"] == "agent")
    assert widget.trace.trace_id == second.trace_id and second.trace_id != first.trace_id
    widget.close()


# -- runs ------------------------------------------------------------------------------------------------------


async def test_the_runs_view_filters_reloads_and_opens_a_run(hub):
    workflow = gated(hub)
    waiting = workflow.create_run()
    await waiting.start(1)
    view = RunsView(hub)
    assert [r["run_id"] for r in view.table.rows] == [waiting.run_id] and view.table.workflows == ["gated"]
    done = workflow.create_run()
    await done.start(2)
    await done.resume({"approved": True, "reviewer": "ann"})
    await hub.events.drain()
    await asyncio.sleep(0.6)  # the reload after the events is throttled (0.5 s)
    await view.task
    assert {r["run_id"]: r["status"] for r in view.table.rows} == {waiting.run_id: "suspended", done.run_id: "success"}
    view.table.status = "suspended"  # what the front end's filter sets
    await view.task
    assert [r["run_id"] for r in view.table.rows] == [waiting.run_id]
    assert view.table.snapshot().count("<tr data-row>") == 1
    message = {"type": "open", "run_id": waiting.run_id}
    view.table._handle_msg({"content": {"data": {"method": "custom", "content": message}}, "buffers": []})
    panel = view.panel
    assert panel is not None and view.children == (view.table, panel) and panel.form.steps[0]["path"] == "1"
    before = len(hub.events.subscriptions)
    view.close()
    assert panel.graph.closed and panel.form.closed and len(hub.events.subscriptions) == before - 4


# -- chat with memory and approvals ----------------------------------------------------------------------------


def click(widget, message: dict) -> None:
    """What a click in the front end sends: a custom message through the widget's comm."""
    widget._handle_msg({"content": {"data": {"method": "custom", "content": message}}, "buffers": []})


@pytest.fixture
async def memory_hub(tmp_path):
    """A hub with a `Memory` on a DuckDB file and a Chroma folder under `tmp_path`, with the local embedder."""
    from mastra_nb.vectors import ChromaVectorStore

    memory = Memory(options={"working_memory": True, "semantic_recall": {"top_k": 1, "message_range": 0}})
    storage, vectors = DuckDBStore(tmp_path / "mastra.duckdb"), ChromaVectorStore(tmp_path / "chroma")
    hub = Mastra(storage=storage, vectors=vectors, memory=memory, config=MastraConfig.load(environ={}))
    yield hub
    await hub.shutdown()
    await vectors.close()
    await storage.close()


async def test_the_chat_picks_a_thread_and_its_turns_go_to_that_thread(memory_hub):
    hub, memory = memory_hub, memory_hub.memory
    # The scripted model answers with the user messages it was shown: what the thread's history brought.
    seen = lambda m: " | ".join(x["content"] for x in m if x["role"] == "user")  # noqa: E731
    agent = hub.add_agent(Agent("keeper", "You remember.", ScriptedModel([seen] * 4)))
    await memory.save_messages("trip", ["I fly to Lisbon on Friday.", {"role": "assistant", "content": "Noted."}],
                               resource_id="ada")  # fmt: skip
    chat = ChatWidget(agent, resource_id="ada")
    assert chat.has_memory and chat.thread_id == "" and chat.threads == [{"id": "trip", "title": ""}]
    click(chat, {"type": "thread", "thread_id": "trip"})
    await chat.task
    assert chat.thread_id == "trip" and [(m["role"], m["text"]) for m in chat.messages] == [
        ("user", "I fly to Lisbon on Friday."), ("assistant", "Noted.")]  # fmt: skip
    await chat.send("When do I fly?")
    assert chat.messages[-1]["text"] == "I fly to Lisbon on Friday. | When do I fly?"
    stored = await memory.list_messages("trip")
    assert [m.text for m in stored][-2:] == ["When do I fly?", "I fly to Lisbon on Friday. | When do I fly?"]
    # A new thread: an empty transcript; the first turn makes the thread, which the picker then lists.
    await chat.pick_thread("")
    assert chat.messages == [] and chat.thread_id == ""
    await chat.send("Hello")
    assert chat.thread_id not in ("", "trip") and chat.messages[-1]["text"] == "Hello"
    assert {t["id"] for t in chat.threads} == {"trip", chat.thread_id}
    assert (await memory.get_thread(chat.thread_id)).resource_id == "ada"
    assert "thread" in chat.snapshot() and chat.thread_id in chat.snapshot()
    chat.close()


async def test_a_pending_tool_call_is_approved_or_declined_from_the_chat(hub):
    runs: list[str] = []
    agent = bank(hub, runs, ScriptedReply.call("wire", amount=5), lambda m: "Done: " + m[-1]["content"],
                 ScriptedReply.call("wire", amount=9), lambda m: "Not sent: " + m[-1]["content"])  # fmt: skip
    chat = ChatWidget(agent)
    assert not chat.has_memory
    await chat.send("Send 5.")
    answer = chat.messages[-1]
    [pending] = answer["pending"]
    assert pending["tool"] == "wire" and pending["arguments"] == {"amount": 5} and runs == []
    assert answer["tools"][0]["waiting"] and "waiting for approval" in chat.snapshot()
    assert [p.call_id for p in await agent.pending_approvals()] == [pending["call_id"]]
    assert chat.decide(pending["run_id"], "no-such-call", True) is None  # only a waiting call can be decided
    click(chat, {"type": "approve", "run_id": pending["run_id"], "call_id": pending["call_id"]})
    await chat.task
    answer = chat.messages[-1]
    assert runs == ["sent 5"] and answer["pending"] == [] and answer["text"] == "Done: sent 5"
    assert answer["tools"][0]["result"] == "sent 5" and answer["tools"][0]["decision"] == "approved"
    assert await agent.pending_approvals() == []

    await chat.send("Send 9.")  # the approved exchange went into the conversation the next turn is sent with
    [pending] = chat.messages[-1]["pending"]
    await chat.decide(pending["run_id"], pending["call_id"], False)
    answer = chat.messages[-1]
    assert runs == ["sent 5"] and answer["text"].startswith("Not sent: ")
    assert "TOOL_CALL_DECLINED" in answer["tools"][0]["error"]
    chat.close()


def bank(hub: Mastra, sent: list[str], *script: object) -> Agent:
    @tool(requires_approval=True)
    def wire(amount: int) -> str:
        """Send money.

        Args:
            amount: how much.
        """
        sent.append(f"sent {amount}")
        return f"sent {amount}"

    return hub.add_agent(Agent("bank", "You send money.", ScriptedModel(list(script)), tools=[wire]))  # type: ignore[no-any-return]


async def test_the_approvals_form_approves_or_declines_the_calls_of_a_paused_agent_run(hub):
    sent: list[str] = []
    agent = bank(hub, sent, ScriptedReply.call("wire", amount=5), lambda m: "Done: " + m[-1]["content"],
                 ScriptedReply.call("wire", amount=9), lambda m: "Not sent: " + m[-1]["content"])  # fmt: skip
    paused = await agent.generate("Send 5.")
    form = ApprovalsForm(agent, paused.run_id, await agent.pending_approvals())
    [call] = form.calls
    assert call["tool"] == "wire" and call["arguments"] == {"amount": 5} and call["decision"] is None
    assert form.status == "awaiting_approval" and "waiting" in form.snapshot() and sent == []
    assert form.decide("no-such-call", True) is None  # only a waiting call can be decided
    click(form, {"type": "approve", "call_id": call["call_id"]})
    assert form.busy and form.calls[0]["decision"] == "approved"
    await form.task
    assert sent == ["sent 5"] and form.status == "done" and form.answer == "Done: sent 5" and not form.busy
    assert form.calls[0]["result"] == "sent 5" and await agent.pending_approvals() == []
    assert "Done: sent 5" in form.snapshot()
    form.close()

    paused = await agent.generate("Send 9.")
    form = ApprovalsForm(agent, paused.run_id, paused.pending_approvals)
    await form.decide(form.calls[0]["call_id"], False)
    assert sent == ["sent 5"] and form.answer.startswith("Not sent: ") and form.calls[0]["decision"] == "declined"
    assert form.calls[0]["error"]["code"] == "TOOL_CALL_DECLINED"
    form.close()


def test_mastra_resume_of_an_agent_run_paused_before_a_restart_opens_its_approvals(tmp_path):
    from mastra_nb import run_sync

    path = tmp_path / "agents.duckdb"
    store = DuckDBStore(path)
    first = Mastra(storage=store)
    paused = run_sync(bank(first, [], ScriptedReply.call("wire", amount=3)).generate("Send 3."))
    run_sync(first.shutdown())
    run_sync(store.close())
    # A restarted kernel: a new hub on the same file, the agent defined again (its script goes on from the pause).
    store = DuckDBStore(path)
    second = Mastra(storage=store)
    sent: list[str] = []
    agent = bank(second, sent, lambda m: "Done: " + m[-1]["content"])
    magics = MastraMagics()
    magics.bind(second)
    with pytest.raises(Exception, match="waiting for tool approval"):
        magics.mastra_magic(f"resume {paused.run_id} --data '{{}}'")
    form = magics.mastra_magic(f"resume {paused.run_id}")
    assert isinstance(form, ApprovalsForm) and [c["arguments"] for c in form.calls] == [{"amount": 3}]
    click(form, {"type": "approve", "call_id": form.calls[0]["call_id"]})  # no running loop: the private loop
    form.task.result(timeout=30)
    assert form.status == "done" and form.answer == "Done: sent 3" and sent == ["sent 3"]
    assert run_sync(agent.pending_approvals()) == []
    with pytest.raises(Exception, match="RUN_NOT_FOUND"):
        magics.mastra_magic(f"resume {paused.run_id}")  # decided: no longer waiting, and not a workflow run
    form.close()
    run_sync(second.shutdown())
    run_sync(store.close())


# -- memory -----------------------------------------------------------------------------------------------------


async def test_the_memory_view_shows_threads_messages_working_memory_and_search(memory_hub):
    hub, memory = memory_hub, memory_hub.memory
    await memory.save_messages(
        "trip",
        ["My flight to Lisbon leaves on Friday.", {"role": "assistant", "content": "Have a good trip."}],
        resource_id="ada",
    )
    await memory.save_messages("food", "I am allergic to peanuts.", resource_id="ada")
    await memory.save_messages("else", "Someone else's thread.", resource_id="bo")
    before = len(hub.events.subscriptions)
    view = MemoryView(memory, "ada", hub=hub)
    assert len(hub.events.subscriptions) == before + 1
    await view.task
    assert [t["id"] for t in view.threads] == ["food", "trip"]  # most recently active first
    assert view.working == {"enabled": True, "scope": "resource", "schema": None, "value": DEFAULT_TEMPLATE}
    click(view, {"type": "thread", "thread_id": "trip"})
    await view.task
    assert [(m["role"], m["text"]) for m in view.messages] == [
        ("user", "My flight to Lisbon leaves on Friday."), ("assistant", "Have a good trip.")]  # fmt: skip

    click(view, {"type": "save", "value": "- Name: Ada\n- Allergy: peanuts"})
    await view.task
    assert view.working_saved == "Saved." and view.working_error == ""
    assert await memory.get_working_memory(resource_id="ada") == "- Name: Ada\n- Allergy: peanuts"

    click(view, {"type": "search", "query": "When do I travel to Portugal?"})
    await view.task
    [hit] = view.results
    assert hit["matched"] and hit["thread_id"] == "trip" and hit["text"] == "My flight to Lisbon leaves on Friday."
    assert hit["score"] is not None

    # A turn saved elsewhere (an agent, another cell) refreshes the view, throttled.
    flushes = view.throttle.flushes
    await memory.save_messages("trip", "And back on Sunday.", resource_id="ada")
    await hub.events.drain()
    await asyncio.sleep(0.35)
    await view.task
    assert view.throttle.flushes > flushes and view.messages[-1]["text"] == "And back on Sunday."
    assert [t["id"] for t in view.threads] == ["trip", "food"]

    snapshot = view._repr_mimebundle_()[0]["text/html"]
    assert 'data-table="threads"' in snapshot and "And back on Sunday." in snapshot and "- Allergy: peanuts" in snapshot
    assert 'data-table="recall"' in snapshot and "Portugal" in snapshot

    click(view, {"type": "resource", "resource_id": "bo"})
    await view.task
    assert [t["id"] for t in view.threads] == ["else"] and view.thread_id == "" and view.messages == []
    view.close()
    assert len(hub.events.subscriptions) == before


class Profile(BaseModel):
    name: str
    age: int | None = None


async def test_an_invalid_working_memory_is_refused_inline_and_nothing_is_stored(tmp_path):
    memory = Memory(InMemoryStore(), options={"working_memory": {"schema": Profile}, "semantic_recall": False})
    await memory.update_working_memory({"name": "Ada"}, resource_id="ada")
    view = MemoryView(memory, "ada")
    await view.task
    assert view.working["schema"] == Profile.model_json_schema() and view.working["value"] == '{"name":"Ada"}'
    await view.save_working_memory('{"name": "Ada", "age": "old"}')
    assert "age" in view.working_error and "MEMORY_WORKING_INVALID" in view.working_error and not view.working_saved
    await view.save_working_memory("{oops")
    assert view.working_error.startswith("not valid JSON")
    assert await memory.get_working_memory(resource_id="ada") == '{"name":"Ada"}'
    await view.save_working_memory('{"name": "Ada", "age": 36}')
    assert view.working_error == "" and view.working["value"] == '{"name":"Ada","age":36}'
    view.close()
    await memory.close()


def test_mastra_memory_opens_the_memory_view_of_an_agent(tmp_path):
    from mastra_nb import run_sync

    memory = Memory(InMemoryStore(), options={"semantic_recall": False})
    hub = Mastra(storage=InMemoryStore(), config=MastraConfig.load(environ={}))
    hub.add_agent(Agent("keeper", "You remember.", ScriptedModel(["ok"]), memory=memory))
    hub.add_agent(Agent("plain", "No memory.", ScriptedModel(["ok"])))
    run_sync(memory.save_messages("t1", "hello", resource_id="ada"))
    magics = MastraMagics()
    magics.bind(hub)
    view = magics.mastra_magic("memory keeper --resource ada")
    view.task.result(timeout=30)
    assert isinstance(view, MemoryView) and view.resource_id == "ada" and [t["id"] for t in view.threads] == ["t1"]
    again = magics.mastra_magic("memory")  # the one memory of the hub's agents; the default resource
    again.task.result(timeout=30)
    assert again.memory is memory and again.resource_id == "notebook-user" and again.threads == []
    with pytest.raises(Exception, match="has no memory"):
        magics.mastra_magic("memory plain")
    view.close()
    again.close()
    run_sync(hub.shutdown())


async def test_time_travel_forks_the_opened_run_from_a_step_and_opens_the_fork(hub):
    workflow = gated(hub)
    run = workflow.create_run()
    await run.start(3)
    await run.resume({"approved": True, "reviewer": "ann"})
    view = RunsView(hub)
    view.open_run(run.run_id)
    assert [(s["path"], s["step_id"], s["input"]) for s in view.table.steps] == [("0", "double", 3), ("1", "gate", 6)]
    click(view.table, {"type": "time_travel", "run_id": run.run_id, "path": "0", "input": "5"})
    assert view.table.busy
    await view.task
    fork = view.panel.run
    assert fork.run_id != run.run_id and fork.parent == {"run_id": run.run_id, "path": "0"}
    assert fork.status == "suspended" and view.panel.form.steps[0]["payload"] == {"question": "keep 10?"}
    assert view.table.opened == fork.run_id and fork.run_id in [r["run_id"] for r in view.table.rows]
    marked = {r["run_id"]: r.get("fork") for r in view.table.rows}
    assert marked == {run.run_id: None, fork.run_id: {"run_id": run.run_id, "path": "0", "step_id": "double"}}
    assert f"fork of {run.run_id[:8]} at double" in view.table.snapshot()  # the saved notebook marks it too
    assert "fork of" in view.table.message and not view.table.busy
    click(view.table, {"type": "time_travel", "path": "0", "input": "{oops"})
    assert "RUN_INPUT_INVALID" in view.table.message
    await view.time_travel("7")  # a path the opened run never reached
    assert "RUN_STEP_NOT_FOUND" in view.table.message and not view.table.busy
    stored = await workflow.get_run(run.run_id)
    assert stored.status == "success" and stored.output == 6  # the forked run's history is untouched
    view.close()


# -- how a run ends, and what the views call things (#15) --------------------------------------------------------


class Decision(str, Enum):
    publish = "publish"
    reject = "reject"


class Review(BaseModel):
    decision: Decision  # a `$ref` in the JSON schema, with no title of its own
    note: str = ""
    due_date: datetime.date | None = None


@step(resume=Review)
def review(draft: str, ctx: StepContext) -> str:
    if ctx.resume_data is None:
        ctx.suspend({"question": f"Publish {draft!r}?"})
    if ctx.resume_data.decision is Decision.reject:
        ctx.bail(f"Rejected: {ctx.resume_data.note}")
    return draft


@step
def publish(draft: str) -> str:
    return f"Published {draft!r}."


def publishing(hub: Mastra) -> Workflow:
    return hub.add_workflow(Workflow("publishing", input=str, output=str).then(review).then(publish).commit())  # type: ignore[no-any-return]


async def test_a_run_a_step_bailed_reads_bailed_with_its_value_live_in_snapshots_and_when_loaded_again(tmp_path):
    store = DuckDBStore(tmp_path / "runs.duckdb")
    hub = Mastra(storage=store)
    workflow = publishing(hub)
    run = workflow.create_run()
    await run.start("tea")
    panel = RunPanel(run)
    form, graph = panel.form, panel.graph
    await form.submit("0", {"decision": "reject", "note": "too short"})
    await settle(hub, graph)
    assert run.status == "success" and run.output == "Rejected: too short"  # bail ends a run successfully ...
    assert run.bailed == "0"  # ... and the engine says which step bailed
    assert form.status == "bailed" and graph.run_status == "bailed" and not form.busy
    assert form.outcome["status"] == "bailed" and form.outcome["output"] == "Rejected: too short"
    assert form.outcome["step_id"] == "review" and form.message == form.outcome["message"]
    assert "bailed at step review" in form.message and "succeeded" not in form.message
    snapshot = panel._repr_mimebundle_()["text/html"]
    assert 'data-outcome="bailed"' in snapshot and ">Rejected: too short</pre>" in snapshot
    assert "succeeded" not in snapshot and "#6d4c41" in snapshot  # its own words and colour, not success's green
    graph.selected = "0"
    [item] = graph.detail["items"]
    assert item["bailed"] and item["status"] == "success" and item["output"] == "Rejected: too short"
    panel.close()

    # Another kernel on the same file, later: the panel and the runs list still read bailed.
    second = Mastra(storage=store)
    again = publishing(second)
    loaded = await again.get_run(run.run_id)
    later = RunPanel(loaded)
    assert loaded.bailed == "0" and later.form.status == "bailed" and later.graph.run_status == "bailed"
    assert later.form.outcome == form.outcome and "Rejected: too short" in later.snapshot()
    later.close()
    done = again.create_run()
    await done.start("mug")
    await done.resume({"decision": "publish"})
    view = RunsView(second)
    rows = {r["run_id"]: r for r in view.table.rows}
    assert rows[run.run_id]["bailed"] == "0" and "bailed" not in rows[done.run_id]
    table = view.table.snapshot()
    assert table.count('data-status="bailed"') == 1 and table.count("<tr data-row>") == 2
    # hub.runs says so too, and so do the plain displays of the run, its result and `%mastra runs` without widgets
    info = await second.runs.get(run.run_id)
    assert (info.status, info.bailed) == ("success", "0") and info.summary()["bailed"] == "0"
    assert (await second.runs.get(done.run_id)).bailed is None
    assert 'data-status="bailed"' in loaded._repr_html_() and "ended the run early" in loaded._repr_html_()
    assert loaded.result.bailed == "0" and 'data-status="bailed"' in loaded.result._repr_html_()
    assert runs_table([info.summary()]).count('data-status="bailed"') == 1
    # The times read on one line, to the second: no ISO "T" and offset to wrap on; "updated" on the day a run was
    # created is its time of day.
    assert re.search(r'white-space: nowrap;" title="[^"]+">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d<', table)
    assert re.search(r'white-space: nowrap;" title="[^"]+">\d\d:\d\d:\d\d<', table)
    view.close()
    await hub.shutdown()
    await second.shutdown()
    await store.close()


def test_every_field_of_the_resume_form_is_labelled_like_the_others():
    labels = {f["name"]: f["label"] for f in fields(Review.model_json_schema())}
    assert labels == {"decision": "Decision", "note": "Note", "due_date": "Due Date"}
    assert next(f for f in fields(Review.model_json_schema()) if f["name"] == "decision")["options"] == [
        "publish", "reject",
    ]  # fmt: skip
    assert {f["label"] for f in fields(Approval.model_json_schema())} == {
        "Approved", "Reviewer", "Level", "Due", "Budget", "Tags",
    }  # fmt: skip
    assert [f["label"] for f in fields({"type": "integer"})] == ["Value"]
    assert [f["label"] for f in fields(None)] == ["Value (JSON)"]


@step
def total(ns: list[int]) -> int:
    return sum(ns)


@step
def bump(n: int) -> int:
    return n + 1


async def test_the_step_detail_says_which_item_or_iteration_a_record_is_not_a_bare_path(hub):
    workflow = Workflow("counted", input=list[int], output=int).foreach(square).then(total)
    workflow = hub.add_workflow(workflow.dountil(bump, lambda n: n >= 17).commit())
    run = workflow.create_run()
    assert (await run.start([1, 2, 3])).output == 17  # 1 + 4 + 9, then 15, 16, 17
    graph = GraphWidget(workflow, run)
    graph.selected = "0.*"
    assert [(i["path"], i["where"]) for i in graph.detail["items"]] == [
        ("0.0", "item 1"), ("0.1", "item 2"), ("0.2", "item 3"),
    ]  # fmt: skip
    graph.selected = "2.*"
    assert [i["where"] for i in graph.detail["items"]] == ["iteration 1", "iteration 2", "iteration 3"]
    graph.selected = "1"  # a node's one record: the detail's title names the node already
    assert [(i["where"], i["bailed"]) for i in graph.detail["items"]] == [("", False)]
    graph.close()


WIDGETS = [ApprovalsForm, ChatWidget, GraphWidget, MemoryView, ResumeForm, RunsTable, TraceWidget]


def test_the_widget_scripts_share_the_helpers_of_common_js_and_none_declares_its_own():
    """One copy of `el` and the other helpers: `common.js` comes first in every widget's module (anywidget's `_esm`,
    also what a notebook's saved widget state holds), and a script that declared one again would not load."""
    common = (STATIC / "common.js").read_text(encoding="utf-8")
    shared = set(re.findall(r"^function (\w+)\(", common, re.MULTILINE))
    assert {"el", "statusPill", "shown", "listen"} <= shared
    scripts = sorted(p for p in STATIC.glob("*.js") if p.name != "common.js")
    assert {p.name for p in scripts} == {f"{w.__module__.rsplit('.', 1)[1]}.js" for w in WIDGETS}
    for path in scripts:
        declared = set(re.findall(r"^(?:function|const|let|var|class) (\w+)\b", path.read_text("utf-8"), re.MULTILINE))
        assert not declared & shared, f"{path.name} declares {sorted(declared & shared)}: use common.js's"
    for widget in WIDGETS:
        script = STATIC / f"{widget.__module__.rsplit('.', 1)[1]}.js"
        assert widget._esm.startswith(common) and widget._esm.endswith(script.read_text("utf-8"))


@pytest.mark.skipif(shutil.which("node") is None, reason="node checks the modules' syntax (Debian's nodejs)")
def test_each_widget_module_parses_as_an_es_module(tmp_path):
    """A helper declared twice, or a script's syntax error, fails here rather than only in a browser."""
    for widget in WIDGETS:
        module = tmp_path / f"{widget.__name__}.mjs"
        module.write_text(widget._esm, encoding="utf-8")
        checked = subprocess.run(["node", "--check", str(module)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
