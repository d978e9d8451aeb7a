"""The event bus: components announce what happened; widgets, logs and tests listen.

`emit` returns at once. Delivery happens on the caller's running event loop (on its next turn) or, in
plain sync code, on mastra_nb's private loop, so a slow handler never slows the emitter. Subscriptions
match an exact name or a glob pattern (`workflow:*`, `*`). Handlers may be sync or async; one that raises
is logged and isolated: the emitter and the other handlers never see its error.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from .errors import ErrorKind, MastraError
from .redaction import guard

__all__ = [
    "AGENT_CREATED",
    "AGENT_DESTROYED",
    "CIRCUIT_CLOSED",
    "CIRCUIT_HALF_OPEN",
    "CIRCUIT_OPENED",
    "ERROR_OCCURRED",
    "EVENT_NAMES",
    "MEMORY_UPDATED",
    "REQUEST_COMPLETED",
    "REQUEST_STARTED",
    "SPANS_WRITTEN",
    "STEP_COMPLETED",
    "STEP_STARTED",
    "STEP_SUSPENDED",
    "STORAGE_ACCESSED",
    "TOOL_EXECUTED",
    "TOOL_FAILED",
    "WARNING_RAISED",
    "WORKFLOW_COMPLETED",
    "WORKFLOW_FAILED",
    "WORKFLOW_STARTED",
    "Event",
    "EventBus",
    "Handler",
    "Subscription",
]

AGENT_CREATED = "agent:created"
AGENT_DESTROYED = "agent:destroyed"
WORKFLOW_STARTED = "workflow:started"
WORKFLOW_COMPLETED = "workflow:completed"
WORKFLOW_FAILED = "workflow:failed"
TOOL_EXECUTED = "tool:executed"
TOOL_FAILED = "tool:failed"
REQUEST_STARTED = "request:started"
REQUEST_COMPLETED = "request:completed"
STEP_STARTED = "step:started"
STEP_COMPLETED = "step:completed"
STEP_SUSPENDED = "step:suspended"
MEMORY_UPDATED = "memory:updated"
STORAGE_ACCESSED = "storage:accessed"
ERROR_OCCURRED = "error:occurred"
WARNING_RAISED = "warning:raised"
# Beyond the seed's names: the span writer stored a batch of finished spans (payload: their `trace_ids`), so a
# trace view can follow a run while it goes.
SPANS_WRITTEN = "spans:written"
# A circuit breaker of a model or tool changed state (payload: `component`, `name`, `state`, `failures`, ...).
CIRCUIT_OPENED = "circuit:opened"
CIRCUIT_HALF_OPEN = "circuit:half_open"
CIRCUIT_CLOSED = "circuit:closed"

EVENT_NAMES: tuple[str, ...] = (
    AGENT_CREATED, AGENT_DESTROYED, WORKFLOW_STARTED, WORKFLOW_COMPLETED, WORKFLOW_FAILED, TOOL_EXECUTED,
    TOOL_FAILED, REQUEST_STARTED, REQUEST_COMPLETED, STEP_STARTED, STEP_COMPLETED, STEP_SUSPENDED,
    MEMORY_UPDATED, STORAGE_ACCESSED, ERROR_OCCURRED, WARNING_RAISED,
)  # fmt: skip

logger = guard(logging.getLogger("mastra_nb.events"))

_ids = itertools.count(1)


@dataclass(frozen=True)
class Event:
    """Something that happened: its name, a JSON-friendly payload, when, and a per-process sequence id."""

    name: str
    payload: dict[str, Any] = field(default_factory=dict)
    timestamp: float = field(default_factory=time.time)
    id: int = field(default_factory=lambda: next(_ids))


Handler = Callable[[Event], "Awaitable[None] | None"]


@dataclass(frozen=True, eq=False)
class Subscription:
    """A handler bound to a pattern; `unsubscribe()` (or leaving its `with` block) removes it."""

    pattern: str
    handler: Handler
    bus: EventBus

    def matches(self, name: str) -> bool:
        return self.pattern == name or fnmatchcase(name, self.pattern)

    def unsubscribe(self) -> None:
        self.bus.unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.unsubscribe()


class EventBus:
    """Publish/subscribe with asynchronous, isolated delivery."""

    def __init__(self) -> None:
        self._subscriptions: list[Subscription] = []
        self._lock = threading.Lock()
        self._in_flight = 0  # deliveries scheduled or running; `drain` waits for zero

    def subscribe(self, pattern: str, handler: Handler) -> Subscription:
        """Call `handler(event)` for each event whose name equals or glob-matches `pattern`."""
        if not isinstance(pattern, str) or not pattern:
            raise MastraError(
                ErrorKind.VALIDATION, "EVENT_PATTERN_INVALID",
                f"`EventBus.subscribe` needs a non-empty event name or pattern such as 'workflow:*', got {pattern!r}.",
            )  # fmt: skip
        if not callable(handler):
            raise MastraError(
                ErrorKind.VALIDATION, "EVENT_HANDLER_INVALID",
                f"`EventBus.subscribe` needs a callable handler taking one `Event`, got {type(handler).__name__}.",
            )  # fmt: skip
        subscription = Subscription(pattern, handler, self)
        with self._lock:
            self._subscriptions = [*self._subscriptions, subscription]
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Remove a subscription; removing one twice does nothing."""
        with self._lock:
            self._subscriptions = [s for s in self._subscriptions if s is not subscription]

    @property
    def subscriptions(self) -> tuple[Subscription, ...]:
        return tuple(self._subscriptions)

    def emit(self, name: str, payload: dict[str, Any] | None = None) -> Event:
        """Announce an event and return at once; handlers run later, on an event loop."""
        if not isinstance(name, str) or not name:
            raise MastraError(
                ErrorKind.VALIDATION,
                "EVENT_NAME_INVALID",
                f"`EventBus.emit` needs a non-empty event name, got {name!r}.",
            )
        event = Event(name, dict(payload or {}))
        handlers = [s.handler for s in self._subscriptions if s.matches(name)]
        if not handlers:
            return event
        with self._lock:
            self._in_flight += 1
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            from ._async import background_loop

            background_loop().call_soon_threadsafe(self._deliver, event, handlers)
        else:
            loop.call_soon(self._deliver, event, handlers)
        return event

    def _deliver(self, event: Event, handlers: list[Handler]) -> None:
        pending: list[Awaitable[Any]] = []
        for handler in handlers:
            try:
                result = handler(event)
                if inspect.isawaitable(result):
                    pending.append(result)
            except Exception:
                logger.exception("Event handler %r failed on %r; other handlers still ran.", handler, event.name)
        if not pending:
            self._done()
            return
        task = asyncio.ensure_future(self._await_all(event, pending))
        task.add_done_callback(lambda _: self._done())

    async def _await_all(self, event: Event, pending: list[Awaitable[Any]]) -> None:
        results = await asyncio.gather(*pending, return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):
                logger.error("Async event handler failed on %r: %r", event.name, result, exc_info=result)

    def _done(self) -> None:
        with self._lock:
            self._in_flight -= 1

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until every event emitted so far has been delivered (for tests and shutdown)."""
        deadline = time.monotonic() + timeout
        await asyncio.sleep(0)  # lets deliveries already scheduled on this loop run
        while self._in_flight:
            if time.monotonic() > deadline:
                raise MastraError(
                    ErrorKind.SYSTEM, "EVENT_DRAIN_TIMEOUT",
                    f"{self._in_flight} event deliveries were still running after {timeout} s; a handler may hang.",
                )  # fmt: skip
            await asyncio.sleep(0.001)
