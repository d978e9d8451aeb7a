"""`SpanWriter`: the span processor that writes finished spans to the hub's storage, in batches.

A span that ends waits in a buffer as it is (the SDK's spans are immutable once ended). The buffer is turned into
rows and written in one `upsert` into the `spans` table when `batch_size` spans have gathered or `flush_interval`
seconds after the first of them, on mastra_nb's private event loop, so the code that ended the span pays only for
an append, and never waits for storage. `await writer.flush()` writes at once (reading traces does it first); a
failed write's spans are dropped and counted, and a new failure is said once (a log line, `warning:raised`): tracing
must never break the traced work. After each stored batch the writer emits "spans:written" with the batch's trace
ids on the hub's bus, so a trace view follows a running trace;
`scorer_trace_ids` says which of them are scorers' judgements (traces of their own, often written after the work
they judged), which a view that follows the latest trace skips.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import concurrent.futures.thread  # its exit hook must be registered before `_flush_at_exit` (see there)
import logging
import threading
import weakref
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from pydantic_core import to_json

from .._async import background_loop  # imported first: its exit hook must run after this module's
from ..events import SPANS_WRITTEN
from ..redaction import Redactor, guard
from ..storage import tables
from ..storage.base import RowsPut
from .tracing import SpanScope

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

    from ..events import EventBus
    from ..storage.base import Storage

__all__ = ["SpanWriter", "sdk_processor", "span_row"]

logger = guard(logging.getLogger("mastra_nb.telemetry"))
_SCORER_TRACES_KEPT = 4096


def _time(ns: int | None) -> datetime | None:
    return None if ns is None else datetime.fromtimestamp(ns / 1e9, timezone.utc)


def span_row(span: ReadableSpan | SpanScope, redactor: Redactor) -> dict[str, Any]:
    """The `spans` row of a finished span. Spans mastra_nb made are redacted already; others are redacted here."""
    if isinstance(span, SpanScope):
        return _own_row(span)
    context = span.get_span_context()
    assert context is not None
    attributes = dict(span.attributes or {})
    ours = "mastra.kind" in attributes
    if not ours:
        attributes = redactor.value(attributes)
    events = [
        {"name": e.name, "time": _time(e.timestamp).isoformat() if e.timestamp else None,  # type: ignore[union-attr]
         "attributes": dict(e.attributes or {}) if ours else redactor.value(dict(e.attributes or {}))}
        for e in span.events
    ]  # fmt: skip
    links = [{"trace_id": f"{link.context.trace_id:032x}", "span_id": f"{link.context.span_id:016x}"}
             for link in span.links]  # fmt: skip
    if links:
        attributes["mastra.links"] = links
    return {
        "span_id": f"{context.span_id:016x}",
        "trace_id": f"{context.trace_id:032x}",
        "parent_span_id": f"{span.parent.span_id:016x}" if span.parent is not None else None,
        "name": span.name,
        "kind": attributes.get("mastra.kind") or span.kind.name.lower(),
        "status": "error" if span.status.status_code.name == "ERROR" else "ok",
        "start_time": _time(span.start_time),
        "end_time": _time(span.end_time),
        "attributes": attributes,
        "events": events,
        "run_id": _text(attributes.get("mastra.run.id")),
        "thread_id": _text(attributes.get("mastra.thread.id")),
    }


def _own_row(span: SpanScope) -> dict[str, Any]:
    """The row of one of mastra_nb's own spans: the same columns and attributes the SDK's span would give."""
    attributes = span.finished_attributes()  # its deferred input and output encoded here, in the writer's batch
    if span.links:
        attributes["mastra.links"] = [{"trace_id": t, "span_id": s} for t, s in span.links]
    start, end = span.times_ns
    return {
        "span_id": span.span_id,
        "trace_id": span.trace_id,
        "parent_span_id": span.parent_span_id,
        "name": span.name,
        "kind": span.kind,
        "status": "error" if span.failed else "ok",
        "start_time": _time(start),
        "end_time": _time(end),
        "attributes": attributes,
        "events": [
            {"name": name, "time": _time(at).isoformat(), "attributes": values}  # type: ignore[union-attr]
            for name, at, values in span.events
        ]
        or None,  # most spans have none: nothing to encode
        "run_id": _text(attributes.get("mastra.run.id")),
        "thread_id": _text(attributes.get("mastra.thread.id")),
    }


_SPANS = tables.get_table("spans")
_TEXT_CELLS = ("name", "kind", "run_id", "thread_id")  # the text cells not made of hex digits or fixed words


def _stored(span: ReadableSpan | SpanScope, redactor: Redactor) -> dict[str, Any]:
    """The `spans` row of a finished span in stored form. One of our own spans is made so directly (its
    attributes are str, numbers, bools and lists of them, already redacted): 3 us less a span than the checks of
    `tables.normalize_row`, which every other row goes through. A NaN or infinite number in its attributes is
    stored as null, where those checks would refuse the row and so drop its whole batch of spans."""
    row = span_row(span, redactor)
    if isinstance(span, SpanScope):
        for key in _TEXT_CELLS:
            if row[key] is not None:
                tables.check_text(row[key], f"`spans.{key}`")  # refuses a lone surrogate, as the checks would
        try:
            events = row["events"]
            return {
                **row,
                "attributes": to_json(row["attributes"], inf_nan_mode="null").decode(),
                "events": None if events is None else to_json(events, inf_nan_mode="null").decode(),
            }
        except ValueError:  # a lone surrogate in a value, which no store keeps: the checks below name it
            pass
    return tables.normalize_row(_SPANS, row)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


class SpanWriter:
    """Writes finished spans to `storage()` in batches (see the module docstring).

    Args:
        storage: returns the store to write to, or None to drop the rows (asked at each write, so a hub's
            default store is only created once there is something to write).
        redactor: masks secrets in spans that mastra_nb did not make itself.
        batch_size: write as soon as this many rows wait.
        flush_interval: otherwise write this many seconds after the first waiting row arrived.
        events: returns the bus to announce each stored batch on ("spans:written", `{"trace_ids": [...],
            "scorer_trace_ids": [...]}`), or None to announce nothing.
        dropped: called with the number of spans dropped by a failed write, the failure's code and, when the
            failure is new (not a repeat, not a closed store), the warning to raise once.
    """

    def __init__(
        self,
        storage: Callable[[], Storage | None],
        redactor: Redactor,
        batch_size: int = 1024,
        flush_interval: float = 0.5,
        events: Callable[[], EventBus | None] | None = None,
        dropped: Callable[[int, str, str | None], None] | None = None,
    ) -> None:
        self._storage = storage
        self._events = events
        self._dropped = dropped
        self._redactor = redactor
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self._lock = threading.Lock()
        self._spans: list[ReadableSpan | SpanScope] = []
        self._armed = False  # a timed write is scheduled for the waiting rows
        self._full = False  # an immediate write is scheduled: the batch is full
        self._inflight: set[concurrent.futures.Future[None]] = set()
        self.written = 0  # rows written so far (the bench reads it)
        self.dropped = 0  # spans dropped because their write failed
        self._failing: str | None = None  # the code of the failure reported last, until a write succeeds
        # Traces whose root span is a scorer's, marked when it starts: the spans of a judge model inside it may be
        # written before the root is. The newest `_SCORER_TRACES_KEPT` are kept (a dict keeps insertion order).
        self._scorer_traces: dict[str, None] = {}
        _LIVE.add(self)

    # -- spans, ours and the SDK's ----------------------------------------------------------------------------

    def scorer_trace(self, trace_id: str) -> None:
        """Mark a trace whose root span is a scorer's, when that span starts."""
        with self._lock:
            self._scorer_traces[trace_id] = None
            if len(self._scorer_traces) > _SCORER_TRACES_KEPT:
                del self._scorer_traces[next(iter(self._scorer_traces))]

    def sdk_started(self, span: Any) -> None:
        """Mark the trace of an SDK span that starts as a scorer's, when it is the root of one."""
        if span.parent is None and (span.attributes or {}).get("mastra.kind") == "scorer":
            self.scorer_trace(f"{span.get_span_context().trace_id:032x}")

    def add(self, span: ReadableSpan | SpanScope) -> None:
        """Take a finished span (the SDK's, or one of ours as it is) to write in a coming batch."""
        delay = None
        with self._lock:
            self._spans.append(span)
            if len(self._spans) >= self.batch_size and not self._full:
                self._full = True
                delay = 0.0
            elif not self._armed:
                self._armed = True
                delay = self.flush_interval
        if delay is not None:
            self._schedule(delay)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        loop = background_loop()
        if _running_loop() is loop:
            return False  # waiting here would block the loop that does the writing
        future = asyncio.run_coroutine_threadsafe(self.flush(), loop)
        try:
            future.result(timeout_millis / 1000)
        except concurrent.futures.TimeoutError:
            return False
        return True

    def shutdown(self) -> None:
        self.force_flush()

    # -- writing --------------------------------------------------------------------------------------------

    def _schedule(self, delay: float) -> None:
        loop = background_loop()
        if delay <= 0:
            self._start(loop)
        else:
            loop.call_soon_threadsafe(loop.call_later, delay, self._start, loop)

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        if _EXITING or not self._spans:  # nothing to write (a flush took it), or the loop is about to stop
            return
        future = asyncio.run_coroutine_threadsafe(self._write_waiting(), loop)
        with self._lock:
            self._inflight.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: concurrent.futures.Future[None]) -> None:
        with self._lock:
            self._inflight.discard(future)

    async def _write_waiting(self) -> None:
        with self._lock:
            spans, self._spans, self._armed, self._full = self._spans, [], False, False
        if spans:
            await self._write(spans)

    async def _write(self, spans: list[ReadableSpan | SpanScope]) -> None:
        try:
            storage = self._storage()
            if storage is None:
                return
            rows = tuple(_stored(span, self._redactor) for span in spans)
            # Inserted, not upserted: a span is written once (a failed batch writes nothing), and a plain insert
            # costs DuckDB a third of a replace. Span ids are random 64-bit numbers: unique, as a put needs.
            await storage.transaction([RowsPut(_SPANS, rows, replace=False)])
            self.written += len(spans)
            if self._failing is not None:
                self._failing = None
                logger.info("Spans are stored again.")
            bus = self._events() if self._events is not None else None
            if bus is not None:
                trace_ids = list(dict.fromkeys(row["trace_id"] for row in rows))
                with self._lock:
                    scorers = [t for t in trace_ids if t in self._scorer_traces]
                bus.emit(SPANS_WRITTEN, {"trace_ids": trace_ids, "scorer_trace_ids": scorers})
        except Exception as error:
            # A store closed before its spans were written (without `hub.shutdown()`) is an ordinary end; a store
            # that keeps failing (a file another kernel holds) is said once, not once per batch of spans.
            code = getattr(error, "code", type(error).__name__)
            closed = code in ("STORAGE_CLOSED", "HUB_CLOSED")
            repeat, self._failing = code == self._failing, code
            self.dropped += len(spans)
            message = (f"Could not store {len(spans)} spans ({error}); they are dropped, the traced work is not "
                       "affected, and the same failure is not reported again until spans are stored.")  # fmt: skip
            logger.log(logging.DEBUG if closed or repeat else logging.WARNING, "%s", message)
            if self._dropped is not None:
                self._dropped(len(spans), code, None if closed or repeat else message)

    async def flush(self) -> None:
        """Write the waiting spans now, and wait for writes already under way."""
        await self._write_waiting()
        with self._lock:
            pending = list(self._inflight)
        for future in pending:
            await asyncio.wrap_future(future)


def sdk_processor(writer: SpanWriter) -> SpanProcessor:
    """`writer` as a span processor of the OpenTelemetry SDK. Made only when spans go through the SDK, so that our
    own spans never import it (its base class is the SDK's)."""
    from opentelemetry.sdk.trace import SpanProcessor

    class WriterProcessor(SpanProcessor):
        def on_start(self, span: Any, parent_context: Any = None) -> None:
            writer.sdk_started(span)

        def on_end(self, span: ReadableSpan) -> None:
            writer.add(span)

        def shutdown(self) -> None:
            writer.shutdown()

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return writer.force_flush(timeout_millis)

    return WriterProcessor()


# Writers with rows that may still wait when the interpreter exits: they are written then, while mastra_nb's loop
# still runs and worker threads are still accepted. The hook runs with threading's exit hooks (those that
# `concurrent.futures` uses to refuse new work, run last registered first), so before the stores' writes in worker
# threads are refused and before `_async`'s plain `atexit` hook stops the loop.
_LIVE: weakref.WeakSet[SpanWriter] = weakref.WeakSet()
_EXITING = False


def _flush_at_exit() -> None:
    global _EXITING
    _EXITING = True  # timers that fire from now on write nothing: the loop stops right after this hook
    for writer in list(_LIVE):
        if writer._spans or writer._inflight:
            writer.force_flush(2000)


try:
    getattr(threading, "_register_atexit", atexit.register)(_flush_at_exit)
except RuntimeError:  # first imported while the interpreter is already exiting: too late to flush anything
    pass


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
