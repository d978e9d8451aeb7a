"""Agents under concurrency: many runs at once each keep their own conversation, and two decisions on one waiting
tool call continue the run once (issue #13, item 5).

The model is the HTTP test server answering from each request's own content (`OpenAIServer.always` with a
function of the body), so a reply cannot reach the wrong run without the test seeing it. Stores are real: an
`InMemoryStore`, a `DuckDBStore` file and a `SQLiteStore` file under `tmp_path`. A second "client" in one process
is a second hub with its own `Agent` object of the same name over the same store object, as after re-running a
notebook cell.
"""

import asyncio
import re

import pytest
from openai_server import Reply

from mastra_nb import (
    Agent,
    DuckDBStore,
    InMemoryStore,
    Mastra,
    MastraError,
    RuntimeContext,
    SQLiteStore,
    ToolContext,
    tool,
)

RUNS = 50
# Codes a decision that lost the race may raise: the call was decided, the run is no longer waiting, or the
# store's compare-and-set refused the write.
LOST_RACE = {"AGENT_TOOL_CALL_NOT_PENDING", "AGENT_RUN_NOT_AWAITING", "RUN_CONFLICT"}


@pytest.fixture(params=["memory", "duckdb", "sqlite"])
async def store(request, tmp_path):
    stores = {"memory": InMemoryStore, "duckdb": lambda: DuckDBStore(tmp_path / "mastra.duckdb"),
              "sqlite": lambda: SQLiteStore(tmp_path / "mastra.db")}  # fmt: skip
    made = stores[request.param]()
    yield made
    await made.close()


# -- many runs at once ------------------------------------------------------------------------------------------

_NUMBER = re.compile(r"#(\d+)")


def number_in(text: str) -> int:
    return int(_NUMBER.search(text).group(1))


def answer_own_request(body: dict) -> Reply:
    """The model: call `echo` with the number in the user's message, then quote the number and the tool's answer.

    It checks the request is one conversation (system prompt, user message and tool answer about one number)
    and varies its delay with the number, so that replies come back in another order than requests went out.
    """
    messages = body["messages"]
    system, user = messages[0]["content"], next(m["content"] for m in messages if m["role"] == "user")
    n = number_in(user)
    delay = (n * 7 % 11) / 1000
    if number_in(system) != n:
        return Reply(text=f"MIXED: system {system!r} in the conversation of {user!r}")
    answers = [m for m in messages if m["role"] == "tool"]
    if not answers:
        return Reply(text=f"Echoing #{n}.", tool_calls=[("echo", {"n": n})], delay=delay)
    [call] = next(m for m in messages if m.get("tool_calls"))["tool_calls"]
    [told] = answers
    if told["tool_call_id"] != call["id"]:
        return Reply(text=f"MIXED: answer {told} to call {call}")
    return Reply(text=f"Request #{n}: the tool said <{told['content']}>.", delay=delay)


def echo_agent(model, executed: list[int]) -> Agent:
    @tool
    async def echo(n: int, context: ToolContext) -> str:
        """Echo a number.

        Args:
            n: the number.
        """
        executed.append(n)
        await asyncio.sleep((n * 3 % 7) / 1000)  # interleave with the other runs' tools
        return f"echo {n} for caller {context.runtime_context['caller']}"

    def instructions(context: RuntimeContext) -> str:
        return f"You serve caller #{context['caller']}; echo numbers with the echo tool."

    return Agent("echoer", instructions, model, tools=[echo])


async def test_fifty_generates_at_once_each_get_their_own_answer(openai_server, make_model, store):
    openai_server.always(answer_own_request)
    executed: list[int] = []
    agent = echo_agent(make_model(), executed)
    Mastra(agents=[agent], storage=store)

    results = await asyncio.gather(*(agent.generate(f"Please echo #{n}.", context={"caller": n}) for n in range(RUNS)))

    assert sorted(executed) == list(range(RUNS))  # each tool call ran once
    for n, result in enumerate(results):
        said = f"echo {n} for caller {n}"
        assert result.finish_reason == "stop"
        assert result.text == f"Request #{n}: the tool said <{said}>."
        [call] = result.tool_calls
        [done] = result.tool_results
        assert (call.name, call.parsed_arguments()) == ("echo", {"n": n})
        assert (done.call_id, done.arguments, done.result, done.error) == (call.id, {"n": n}, said, None)
        assert [s.number for s in result.steps] == [1, 2]
    assert len({r.run_id for r in results}) == RUNS
    assert len({r.tool_calls[0].id for r in results}) == RUNS
    assert len(openai_server.bodies()) == 2 * RUNS


async def test_fifty_streams_at_once_each_carry_their_own_events(openai_server, make_model, store):
    openai_server.always(answer_own_request)
    executed: list[int] = []
    agent = echo_agent(make_model(), executed)
    Mastra(agents=[agent], storage=store)

    async def consume(n: int) -> list:
        return [event async for event in agent.stream(f"Please echo #{n}.", context={"caller": n})]

    streams = await asyncio.gather(*(consume(n) for n in range(RUNS)))

    assert sorted(executed) == list(range(RUNS))
    for n, events in enumerate(streams):
        said = f"echo {n} for caller {n}"
        kinds = [e.kind for e in events]
        assert [k for k in kinds if k != "text-delta"] == ["tool-call", "tool-result", "step-finish", "step-finish",
                                                           "finish"]  # fmt: skip
        text = {1: "", 2: ""}
        for event in events:
            if event.kind == "text-delta":
                text[event.step] += event.text
        assert text == {1: f"Echoing #{n}.", 2: f"Request #{n}: the tool said <{said}>."}
        call = next(e for e in events if e.kind == "tool-call").call
        done = next(e for e in events if e.kind == "tool-result").result
        assert call.parsed_arguments() == {"n": n} and (done.call_id, done.result) == (call.id, said)
        result = events[-1].result
        assert result.text == text[2] and result.finish_reason == "stop"
        assert [r.result for r in result.tool_results] == [said] and result.tool_calls == [call]
        assert [e.step for e in events if e.kind == "step-finish"] == result.steps
    assert len({s[-1].result.run_id for s in streams}) == RUNS
    assert all(body["stream"] for body in openai_server.bodies()) and len(openai_server.bodies()) == 2 * RUNS


# -- two decisions on one waiting call --------------------------------------------------------------------------

RACES = 10  # paused runs, each decided twice at once: one race may happen to serialize, ten in a row rarely do


def mailer(model, sent: list[str]) -> Agent:
    @tool(requires_approval=True)
    async def send_email(to: str) -> str:
        """Send an email.

        Args:
            to: the address.
        """
        sent.append(to)
        return f"sent to {to}"

    return Agent("mailer", "Send emails when asked.", model, tools=[send_email])


def email_then_done(body: dict) -> Reply:
    """The model: email the person the user names, then say "Done." once the tool has answered (every resume gets
    this answer, so that a second resume that should not happen finishes and shows itself)."""
    messages = body["messages"]
    if any(m["role"] == "tool" for m in messages):
        return Reply(text="Done.")
    return Reply(tool_calls=[("send_email", {"to": f"person{number_in(messages[-1]['content'])}@example.com"})])


async def paused_runs(openai_server, make_model, store, clients: str, sent: list[str]):
    """`RACES` runs paused on one `send_email` call each, and the two agents that will decide them: the same
    object twice, or two agents of one name in two hubs over the same store object."""
    openai_server.always(email_then_done)
    first = mailer(make_model(), sent)
    Mastra(agents=[first], storage=store)
    paused = [await first.generate(f"Email person #{i}.") for i in range(RACES)]
    assert all(p.finish_reason == "approval_required" for p in paused) and sent == []
    if clients == "one agent":
        return paused, first, first
    second = mailer(make_model(), sent)
    Mastra(agents=[second], storage=store)
    return paused, first, second


async def check_one_decision_won(openai_server, store, agent, paused, outcomes, decisions, sent):
    """For each paused run, exactly one of its two decisions went ahead, and storage says what that one decided."""
    problems = []
    for i, (run, pair) in enumerate(zip(paused, outcomes, strict=True)):
        won = [(d, o) for d, o in zip(decisions, pair, strict=True) if not isinstance(o, BaseException)]
        lost = [o for o in pair if isinstance(o, BaseException)]
        ran = sent.count(f"person{i}@example.com")
        if len(won) != 1:
            problems.append(
                f"run {i}: {len(won)} of 2 decisions continued it ({', '.join(won_by(pair, decisions))}), "
                f"the tool ran {ran} times"
            )
            continue
        [(decision, result)] = won
        [error] = lost
        assert isinstance(error, MastraError), repr(error)
        # AGENT_RUN_BUSY: the same `Agent` object refuses a second decision while its first is resuming the run.
        assert error.code in LOST_RACE | {"AGENT_RUN_BUSY"}, error.code
        call_id = run.pending_approvals[0].call_id
        assert result.finish_reason == "stop" and result.text == "Done." and result.run_id == run.run_id
        [done] = result.tool_results
        if decision == "approved":
            assert ran == 1 and done.result == f"sent to person{i}@example.com"
        else:
            assert ran == 0 and done.error["code"] == "TOOL_CALL_DECLINED"
        [record] = await agent.approval_records(run.run_id)
        assert (record["call_id"], record["decision"]) == (call_id, decision)
        stored = await stored_run(store, run.run_id)
        assert stored["status"] == "completed"
        assert stored["data"]["paused"]["decisions"][call_id]["decision"] == decision
    assert not problems, f"{len(problems)} of {RACES} runs: " + "; ".join(problems)
    assert await agent.pending_approvals() == []
    assert len(openai_server.bodies()) == 2 * RACES  # each run: the pause, and one resume


async def stored_run(store, run_id: str) -> dict:
    """The run's `agent_runs` row, as stored."""
    [row] = await store.select("agent_runs", where={"run_id": run_id})
    return row


def won_by(pair, decisions) -> list[str]:
    def outcome(o) -> str:
        return getattr(o, "code", None) or getattr(o, "finish_reason", None) or repr(o)

    return [f"{d}: {outcome(o)}" for d, o in zip(decisions, pair, strict=True)]


async def race(paused, first_decision, second_decision):
    """Both decisions on every paused run, all at once; per run, the two outcomes (a result or an exception)."""
    decisions = []
    for run in paused:
        call_id = run.pending_approvals[0].call_id
        decisions += [first_decision(run.run_id, call_id), second_decision(run.run_id, call_id)]
    outcomes = await asyncio.gather(*decisions, return_exceptions=True)
    return [outcomes[i : i + 2] for i in range(0, len(outcomes), 2)]


@pytest.mark.parametrize("clients", ["one agent", "two hubs"])
@pytest.mark.parametrize("second_decision", ["approved", "declined"])
async def test_two_decisions_on_one_call_at_once_one_wins_and_the_tool_runs_at_most_once(
    openai_server, make_model, store, clients, second_decision
):
    """Approve + approve: the tool runs once. Approve + decline: exactly one decision is stored and acted on."""
    sent: list[str] = []
    paused, first, second = await paused_runs(openai_server, make_model, store, clients, sent)

    def decide_second(run_id, call_id):
        if second_decision == "approved":
            return second.approve_tool_call(run_id, call_id, by="grace")
        return second.decline_tool_call(run_id, call_id, by="grace", reason="not now")

    outcomes = await race(
        paused, lambda run_id, call_id: first.approve_tool_call(run_id, call_id, by="ada"), decide_second
    )

    await check_one_decision_won(openai_server, store, first, paused, outcomes, ["approved", second_decision], sent)
