"""Tests of mastra_nb.circuit: circuit breakers around models (over real HTTP to the local test server) and tools.

Breakers are shared process-wide by model name and `api_base` (the test server's is one for the whole session), so
each test names its own models and tools. Requests are counted on the server: an open breaker sends nothing.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openai_server import Reply

import mastra_nb
from mastra_nb import Agent, InMemoryStore, Mastra, MastraError
from mastra_nb.circuit import CircuitBreaker, CircuitState, reset_shared, shared
from mastra_nb.errors import ErrorKind
from mastra_nb.events import Event
from mastra_nb.retry import RetryPolicy
from mastra_nb.tools import Tool, tool

ASK = [{"role": "user", "content": "hi"}]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def wait_for_state(breaker: CircuitBreaker, state: CircuitState) -> None:
    """Wait until the breaker reports `state` (a generous bound, not a timing assertion)."""
    for _ in range(2000):
        if breaker.state is state:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"{breaker!r} never became {state.value}")


async def fail_times(model: Any, times: int) -> list[MastraError]:
    errors = []
    for _ in range(times):
        with pytest.raises(MastraError) as info:
            await model.complete(ASK)
        errors.append(info.value)
    return errors


# -- models ---------------------------------------------------------------------------------------------------


async def test_a_failing_model_server_opens_the_breaker_after_five_failures(openai_server, make_model):
    name = unique("down")
    openai_server.add(*[Reply(status=500, error="upstream broke")] * 10, model=name)
    model = make_model(name, retries=0)
    errors = await fail_times(model, 5)
    assert [e.code for e in errors] == ["MODEL_PROVIDER_ERROR"] * 5
    assert len(openai_server.requests) == 5 and model.circuit_breaker.state is CircuitState.OPEN

    with pytest.raises(MastraError) as info:
        await model.complete(ASK)
    refused = info.value
    assert len(openai_server.requests) == 5  # the sixth call sent nothing
    assert refused.code == "CIRCUIT_OPEN" and refused.kind is ErrorKind.SYSTEM and refused.retryable
    assert f"openai/{name}" in refused.message and "UTC (in " in refused.message
    assert refused.details["component"] == f"Model `openai/{name}`" and refused.details["retry_in_s"] > 0
    assert refused.details["last_error"] == "MODEL_PROVIDER_ERROR" and refused.details["retry_at"]
    # a stream walks the same path: refused too, nothing sent
    with pytest.raises(MastraError, match="circuit breaker"):
        async for _ in model.stream(ASK):
            pass
    assert len(openai_server.requests) == 5


async def test_models_of_one_endpoint_share_a_breaker_and_retries_count_each_request(openai_server, make_model):
    name = unique("shared")
    openai_server.add(*[Reply(status=503, error="overloaded")] * 10, model=name)
    first, second = make_model(name), make_model(name)  # three attempts each
    assert first.circuit_breaker is second.circuit_breaker is shared(("model", f"openai/{name}", openai_server.url))
    await fail_times(first, 1)  # three requests
    with pytest.raises(MastraError) as info:
        await second.complete(ASK)  # two more open it; the third attempt is refused
    assert info.value.code == "CIRCUIT_OPEN" and len(openai_server.requests) == 5


async def test_a_healthy_fallback_answers_while_the_primarys_breaker_is_open(openai_server, make_model):
    primary, backup = unique("primary"), unique("backup")
    openai_server.add(*[Reply(status=500, error="primary is down")] * 10, model=primary)
    openai_server.add(*[f"backup answer {i}" for i in range(10)], model=backup)
    model = make_model(primary, retries=0, fallbacks=[make_model(backup)])
    for i in range(5):
        assert (await model.complete(ASK)).text == f"backup answer {i}"
    assert model.circuit_breaker.state is CircuitState.OPEN
    openai_server.requests.clear()
    items = [item async for item in model.stream(ASK)]
    assert items[-1].text == "backup answer 5" and items[-1].model == f"openai/{backup}"
    assert [b["model"] for b in openai_server.bodies()] == [backup]  # the primary was not asked


async def test_after_the_timeout_one_trial_call_goes_through_and_a_success_closes(openai_server, make_model):
    name = unique("flaky")
    breaker = CircuitBreaker(failure_threshold=5, reset_timeout=0.2)
    model = make_model(name, retries=0, circuit_breaker=breaker)
    openai_server.add(*[Reply(status=503)] * 5, model=name)
    await fail_times(model, 5)
    assert breaker.state is CircuitState.OPEN
    await wait_for_state(breaker, CircuitState.HALF_OPEN)
    openai_server.add(Reply(status=503), model=name)  # the trial fails: open again, for another timeout
    await fail_times(model, 1)
    assert len(openai_server.requests) == 6 and breaker.state is not CircuitState.CLOSED
    await wait_for_state(breaker, CircuitState.HALF_OPEN)
    openai_server.add("back", "again", model=name)
    assert (await model.complete(ASK)).text == "back"
    assert breaker.state is CircuitState.CLOSED and breaker.failures == 0
    assert (await model.complete(ASK)).text == "again" and len(openai_server.requests) == 8


async def test_concurrent_calls_never_send_more_than_the_threshold_and_one_trial(openai_server, make_model):
    name = unique("crowd")
    clock = Clock()  # time moves only when the test says, so no trial can come early or late
    breaker = CircuitBreaker(failure_threshold=5, reset_timeout=30.0, clock=clock)
    openai_server.always(Reply(status=503, error="overloaded", delay=0.02))
    fast = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.002)
    model = make_model(name, retries=fast, circuit_breaker=breaker)

    async def call() -> str:
        try:
            await model.complete(ASK)
        except MastraError as error:
            return error.code
        return "ok"

    codes = await asyncio.gather(*(call() for _ in range(40)))
    assert len(openai_server.requests) == 5  # the rest waited for those five and were then refused
    assert breaker.state is CircuitState.OPEN and set(codes) <= {"CIRCUIT_OPEN", "MODEL_PROVIDER_ERROR"}
    assert codes.count("CIRCUIT_OPEN") >= 35

    clock.now += 30.0
    assert breaker.state is CircuitState.HALF_OPEN
    codes = await asyncio.gather(*(call() for _ in range(40)))
    assert len(openai_server.requests) == 6  # one trial, which failed: open again
    assert set(codes) == {"CIRCUIT_OPEN"} and breaker.state is CircuitState.OPEN  # the trial's retry is refused too


async def test_errors_that_retrying_cannot_fix_do_not_open_the_breaker(openai_server, make_model):
    name = unique("refused")
    openai_server.add(*[Reply(status=401, error="bad key")] * 4, *[Reply(status=400, error="bad")] * 4, model=name)
    model = make_model(name)
    errors = await fail_times(model, 8)
    assert {e.code for e in errors} == {"MODEL_AUTH_FAILED", "MODEL_BAD_REQUEST"}
    assert len(openai_server.requests) == 8 and model.circuit_breaker.state is CircuitState.CLOSED


async def test_circuit_breaker_none_turns_it_off(openai_server, make_model):
    name = unique("unguarded")
    openai_server.add(*[Reply(status=500)] * 8, model=name)
    model = make_model(name, retries=0, circuit_breaker=None)
    errors = await fail_times(model, 8)
    assert {e.code for e in errors} == {"MODEL_PROVIDER_ERROR"} and len(openai_server.requests) == 8
    with pytest.raises(MastraError, match="circuit_breaker"):
        make_model(name, circuit_breaker="yes")


async def test_state_changes_are_events_and_metrics_on_the_hub_the_model_runs_in(openai_server, make_model):
    name = unique("observed")
    breaker = CircuitBreaker(failure_threshold=2, reset_timeout=0.2)
    agent = Agent("a", "", make_model(name, retries=0, circuit_breaker=breaker))
    hub = Mastra(agents=[agent], storage=InMemoryStore())
    seen: list[Event] = []
    hub.events.subscribe("circuit:*", seen.append)
    openai_server.add(Reply(status=500), Reply(status=500), model=name)
    for _ in range(2):
        with pytest.raises(MastraError):
            await agent.generate("hi")
    await wait_for_state(breaker, CircuitState.HALF_OPEN)
    openai_server.add("fine", model=name)
    assert (await agent.generate("hi")).text == "fine"
    await hub.events.drain()
    assert [e.name for e in seen] == ["circuit:opened", "circuit:half_open", "circuit:closed"]
    opened = seen[0].payload
    assert opened["component"] == "model" and opened["name"] == f"openai/{name}" and opened["failures"] == 2
    assert opened["api_base"] == openai_server.url and opened["retry_in_s"] > 0
    for state in ("open", "half_open", "closed"):
        labels = {"component": "model", "id": f"openai/{name}", "state": state}
        assert hub.metrics.value("mastra_circuit_state_changes_total", **labels) == 1


# -- tools ----------------------------------------------------------------------------------------------------


async def test_a_tool_breaker_opens_after_five_retryable_failures_and_runs_nothing_while_open():
    ran: list[int] = []

    async def flaky(n: int) -> int:
        ran.append(n)
        raise MastraError(ErrorKind.EXECUTION, "BACKEND_DOWN", "The backend is down.", retryable=True)

    tool_id = unique("flaky").replace("-", "_")
    flaky_tool = Tool(tool_id, "Fails.", flaky, retries=RetryPolicy(attempts=2, base_delay=0.001))
    hub = Mastra(tools=[flaky_tool], storage=InMemoryStore())
    seen: list[Event] = []
    hub.events.subscribe("circuit:*", seen.append)
    for expected in ("BACKEND_DOWN", "BACKEND_DOWN", "CIRCUIT_OPEN"):  # 2 + 2 + 1 runs, the fifth opens it
        with pytest.raises(MastraError) as info:
            await flaky_tool.execute({"n": 1})
        assert info.value.code == expected
    assert len(ran) == 5
    with pytest.raises(MastraError) as info:
        await flaky_tool.execute({"n": 2})
    assert info.value.code == "CIRCUIT_OPEN" and f"Tool `{tool_id}`" in info.value.message and len(ran) == 5
    await hub.events.drain()
    assert [e.name for e in seen] == ["circuit:opened"] and seen[0].payload["component"] == "tool"
    labels = {"component": "tool", "id": tool_id, "state": "open"}
    assert hub.metrics.value("mastra_circuit_state_changes_total", **labels) == 1


async def test_a_tools_own_failures_do_not_open_its_breaker_and_none_turns_it_off():
    def broken(n: int) -> int:
        raise ValueError("a bug, not an outage")

    guarded = Tool(unique("bug").replace("-", "_"), "Fails.", broken)
    for _ in range(7):
        with pytest.raises(MastraError) as info:
            await guarded.execute({"n": 1})
        assert info.value.code == "TOOL_EXECUTION_FAILED" and not info.value.retryable
    assert guarded.circuit_breaker is not None and guarded.circuit_breaker.state is CircuitState.CLOSED

    async def down(n: int) -> int:
        raise MastraError(ErrorKind.EXECUTION, "DOWN", "down", retryable=True)

    unguarded = Tool(unique("down").replace("-", "_"), "Fails.", down, circuit_breaker=None)
    for _ in range(7):
        with pytest.raises(MastraError) as info:
            await unguarded.execute({"n": 1})
        assert info.value.code == "DOWN"


async def test_the_tool_decorator_takes_a_breaker_and_reset_shared_closes_the_shared_ones():
    calls = []

    async def down(n: int) -> int:
        calls.append(n)
        raise MastraError(ErrorKind.EXECUTION, "DOWN", "down", retryable=True)

    own = CircuitBreaker(failure_threshold=2, reset_timeout=60)
    guarded = tool(id=unique("own").replace("-", "_"), circuit_breaker=own)(down)
    unguarded = tool(id=unique("off").replace("-", "_"), circuit_breaker=None)(down)
    default = tool(id=unique("shared").replace("-", "_"))(down)
    assert guarded.circuit_breaker is own and unguarded.circuit_breaker is None
    assert default.circuit_breaker is shared(("tool", default.id))
    for each in (guarded, default):
        for _ in range(6):
            with pytest.raises(MastraError):
                await each.execute({"n": 1})
    assert own.state is CircuitState.OPEN and default.circuit_breaker.state is CircuitState.OPEN
    assert len(calls) == 2 + 5  # open breakers sent nothing more
    for _ in range(3):
        with pytest.raises(MastraError, match="down"):
            await unguarded.execute({"n": 2})
    assert calls.count(2) == 3

    assert reset_shared() >= 1  # the shared breaker closes; a breaker of one's own is one's own to reset
    assert default.circuit_breaker.state is CircuitState.CLOSED and own.state is CircuitState.OPEN
    with pytest.raises(MastraError, match="down"):
        await default.execute({"n": 3})
    assert calls[-1] == 3
    assert mastra_nb.CircuitBreaker is CircuitBreaker


# -- the state machine, against a reference ---------------------------------------------------------------------


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("call"), st.sampled_from(["ok", "fail", "neutral"])),
        st.tuples(st.just("wait"), st.sampled_from([0.0, 0.4, 1.0, 2.5])),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(ops=OPS, threshold=st.integers(1, 4))
def test_one_call_at_a_time_the_breaker_follows_the_reference_state_machine(ops, threshold):
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=threshold, reset_timeout=1.0, clock=clock)
    state, failures, opened_at = "closed", 0, 0.0
    outcomes = {"ok": None, "fail": MastraError(ErrorKind.EXECUTION, "X", "x", retryable=True),
                "neutral": MastraError(ErrorKind.VALIDATION, "Y", "y")}  # fmt: skip
    for op, value in ops:
        if op == "wait":
            clock.now += value
        else:
            if state == "open" and clock.now >= opened_at + 1.0:
                state = "half_open"
            if state == "open":
                with pytest.raises(MastraError) as info:
                    breaker.try_acquire("c")
                assert info.value.code == "CIRCUIT_OPEN"
                continue
            permit = breaker.try_acquire("c")
            assert permit is not None and permit.trial == (state == "half_open")
            breaker.settle(permit, outcomes[value])
            if state == "half_open":
                if value == "ok":
                    state, failures = "closed", 0
                elif value == "fail":
                    state, opened_at = "open", clock.now
            elif value == "ok":
                failures = 0
            elif value == "fail":
                failures += 1
                if failures >= threshold:
                    state, opened_at = "open", clock.now
        shown = "half_open" if state == "open" and clock.now >= opened_at + 1.0 else state
        assert breaker.state.value == shown


@settings(max_examples=300, deadline=None)
@given(
    ops=st.lists(
        st.one_of(
            st.just(("acquire", 0)),
            st.tuples(st.just("settle"), st.integers(0, 50)),
            st.tuples(st.just("wait"), st.sampled_from([0.5, 1.5])),
        ),
        max_size=80,
    ),
    outcomes=st.lists(st.sampled_from([None, "fail", "neutral"]), min_size=1, max_size=20),
)
def test_with_calls_in_flight_one_trial_at_most_and_no_more_probes_than_failures_left(ops, outcomes):
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=3, reset_timeout=1.0, clock=clock)
    held: list[Any] = []
    errors = {None: None, "fail": MastraError(ErrorKind.EXECUTION, "X", "x", retryable=True),
              "neutral": MastraError(ErrorKind.VALIDATION, "Y", "y")}  # fmt: skip
    for step, (op, value) in enumerate(ops):
        if op == "wait":
            clock.now += value
        elif op == "acquire":
            trusted, probes = breaker._trusted, breaker.failures + breaker._in_flight
            try:
                permit = breaker.try_acquire("c")
            except MastraError as error:
                assert error.code == "CIRCUIT_OPEN"
                continue
            if permit is not None:
                held.append(permit)
                # not trusted, a call is let through only while it could not be one failure too many
                assert permit.trial or trusted or probes < 3
        elif held:
            permit = held.pop(value % len(held))
            outcome = outcomes[step % len(outcomes)]
            breaker.settle(permit, errors[outcome])
        assert sum(1 for p in held if p.trial) <= 1
        assert breaker._in_flight == sum(1 for p in held if not p.trial)
