import asyncio
import logging
import threading
import time

import pytest

from mastra_nb import Event, EventBus, MastraError
from mastra_nb import events as names


async def test_exact_and_pattern_subscriptions_receive_matching_events_only():
    bus = EventBus()
    exact: list[str] = []
    pattern: list[str] = []
    everything: list[str] = []
    bus.subscribe(names.WORKFLOW_STARTED, lambda e: exact.append(e.name))
    bus.subscribe("workflow:*", lambda e: pattern.append(e.name))
    bus.subscribe("*", lambda e: everything.append(e.name))
    for name in (names.WORKFLOW_STARTED, names.WORKFLOW_COMPLETED, names.TOOL_EXECUTED):
        bus.emit(name, {"id": 1})
    await bus.drain()
    assert exact == ["workflow:started"]
    assert pattern == ["workflow:started", "workflow:completed"]
    assert everything == ["workflow:started", "workflow:completed", "tool:executed"]


async def test_async_handlers_receive_the_payload():
    bus = EventBus()
    seen: list[Event] = []

    async def handler(event: Event) -> None:
        await asyncio.sleep(0.01)
        seen.append(event)

    bus.subscribe("step:*", handler)
    sent = bus.emit(names.STEP_COMPLETED, {"step": "fetch", "status": "success"})
    await bus.drain()
    assert seen == [sent] and seen[0].payload == {"step": "fetch", "status": "success"}


async def test_a_failing_handler_is_logged_and_isolated(caplog):
    bus = EventBus()
    delivered: list[str] = []

    def broken(event: Event) -> None:
        raise RuntimeError("handler bug")

    async def broken_async(event: Event) -> None:
        raise ValueError("async handler bug")

    bus.subscribe("tool:*", broken)
    bus.subscribe("tool:*", broken_async)
    bus.subscribe("tool:*", lambda e: delivered.append(e.name))
    with caplog.at_level(logging.ERROR, logger="mastra_nb.events"):
        bus.emit(names.TOOL_FAILED)  # does not raise
        await bus.drain()
    assert delivered == ["tool:failed"]
    messages = caplog.text
    assert "handler bug" in messages and "async handler bug" in messages


async def test_emit_does_not_wait_for_slow_handlers():
    bus = EventBus()

    async def slow(event: Event) -> None:
        await asyncio.sleep(0.3)

    bus.subscribe("*", slow)
    bus.subscribe("*", lambda e: time.sleep(0.05))  # a slow sync handler runs later, not inside emit
    started = time.perf_counter()
    for _ in range(10):
        bus.emit(names.MEMORY_UPDATED)
    elapsed = time.perf_counter() - started
    assert elapsed < 0.05, f"emit blocked for {elapsed:.3f} s"
    await bus.drain()


async def test_unsubscribe_stops_delivery():
    bus = EventBus()
    seen: list[str] = []
    subscription = bus.subscribe("agent:*", lambda e: seen.append(e.name))
    bus.emit(names.AGENT_CREATED)
    await bus.drain()
    subscription.unsubscribe()
    subscription.unsubscribe()  # twice is harmless
    bus.emit(names.AGENT_DESTROYED)
    await bus.drain()
    assert seen == ["agent:created"] and bus.subscriptions == ()


def test_emit_from_plain_sync_code_delivers_on_the_private_loop():
    bus = EventBus()
    got = threading.Event()
    bus.subscribe(names.WARNING_RAISED, lambda e: got.set())
    bus.emit(names.WARNING_RAISED, {"message": "careful"})
    assert got.wait(2)


def test_every_seed_event_name_is_declared():
    assert set(names.EVENT_NAMES) == {
        "agent:created", "agent:destroyed", "workflow:started", "workflow:completed", "workflow:failed",
        "tool:executed", "tool:failed", "request:started", "request:completed", "step:started",
        "step:completed", "step:suspended", "memory:updated", "storage:accessed", "error:occurred",
        "warning:raised",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (lambda bus: bus.subscribe("", print), "EVENT_PATTERN_INVALID"),
        (lambda bus: bus.subscribe("x:*", "not callable"), "EVENT_HANDLER_INVALID"),
        (lambda bus: bus.emit(None), "EVENT_NAME_INVALID"),
    ],
)
def test_bad_arguments_are_clear_errors(call, code):
    with pytest.raises(MastraError) as info:
        call(EventBus())
    assert info.value.code == code
