"""`TraceWidget`: a trace as a waterfall: one row per span, indented as the tree, a bar for when it ran, with its
duration, tokens, cost and error; a click on a row shows its input, output and attributes.

```
 hub.traces.get(trace_id) ──> rows [{span_id, depth, name, kind, status, start_ms, duration_ms, ...}] ──> trace.js
 hub.events ──spans:written {trace_ids}──> _on_spans ──Throttle──> the trace read again
 trace.js ──{"type": "refresh"}──> the trace read again
```
Spans are stored as they end, so a running trace grows: with the hub, the widget reads its trace again (at most
once per `interval`) each time the span writer stores a batch of it; `follow=True` moves it to whichever trace was
written last, scorers' traces aside (`%mastra trace` with no id, or `last`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import traitlets

from ...display.html import card
from ...errors import MastraError
from ...events import SPANS_WRITTEN
from ._base import MastraWidget, Throttle, css, esm, spawn

if TYPE_CHECKING:
    from ...events import Event
    from ...mastra import Mastra
    from ...telemetry.traces import SpanRecord, Trace, Traces

__all__ = ["TraceWidget"]

_VALUE_CHARS = 2000


class TraceWidget(MastraWidget):
    """The waterfall of `trace`.

    Args:
        trace: the trace to show (`await hub.traces.get(trace_id)`).
        traces: where to read it again on Refresh (`hub.traces`; implied by `hub`).
        hub: the hub whose span writes the widget follows: the trace is read again as its spans are stored.
        follow: move to the trace written last (not a scorer's) instead of staying on `trace` (needs `hub`).
        interval: the least time between two reads, in seconds.
    """

    _esm = esm("trace.js")
    _css = css("trace.css")

    trace_id = traitlets.Unicode("").tag(sync=True)
    duration_ms = traitlets.Float(0.0).tag(sync=True)
    spans: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self,
        trace: Trace,
        traces: Traces | None = None,
        *,
        hub: Mastra | None = None,
        follow: bool = False,
        interval: float = 0.25,
    ) -> None:
        super().__init__(trace_id=trace.trace_id)
        self.traces = traces if traces is not None or hub is None else hub.traces
        self.follow = follow
        self.task: Any = None
        self._wanted = trace.trace_id  # the trace the next read is for (`follow` may move it)
        self._reads = 0  # reads started; a read that finishes after a later one started is dropped
        self.throttle = Throttle(self.refresh, interval)
        self._show(trace)
        self.on_msg(self._on_message)
        if hub is not None:
            self.on_close(hub.events.subscribe(SPANS_WRITTEN, self._on_spans).unsubscribe)
            self.on_close(self.throttle.cancel)

    def _on_spans(self, event: Event) -> None:
        written = event.payload.get("trace_ids") or []
        if self.closed or not written:
            return
        if self._wanted not in written:
            # `follow` moves on to the user's work, never to a scorer's judgement of it (a trace of its own)
            skipped = event.payload.get("scorer_trace_ids") or []
            followed = [t for t in written if t not in skipped]
            if not self.follow or not followed:
                return
            self._wanted = followed[-1]
        self.throttle.touch()

    def _show(self, trace: Trace) -> None:
        self.trace = trace
        start = min(s.start_time for s in trace.spans)
        rows = []
        for root in trace.roots:
            for span, depth in _walk(root, 0):
                rows.append(_row(span, depth, (span.start_time - start).total_seconds() * 1000))
        with self.hold_sync():
            self.trace_id = trace.trace_id
            self.duration_ms = round(trace.duration_ms, 3)
            self.spans = rows

    def _on_message(self, widget: Any, content: Any, buffers: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "refresh":
            self.refresh()

    def refresh(self) -> Any:
        """Read the trace again from storage in the background; returns the task (None without `traces`)."""
        if self.traces is None:
            self.message = "This trace was given without `hub.traces`; it cannot be read again."
            return None
        self.task = spawn(self._reload())
        return self.task

    async def _reload(self) -> None:
        assert self.traces is not None
        self._reads += 1
        read = self._reads
        try:
            trace = await self.traces.get(self._wanted)
        except MastraError as error:
            self.message = f"[{error.code}] {error.message}"
            return
        if read != self._reads or self.closed:
            return
        self._show(trace)
        self.message = ""

    def snapshot(self) -> str:
        return card("Trace", self.trace_id, self.trace._repr_html_(), subtitle=f"{self.duration_ms:.1f} ms")

    def __repr__(self) -> str:
        return f"TraceWidget({self.trace_id!r}, spans={len(self.spans)})"


def _walk(span: SpanRecord, depth: int) -> Any:
    yield span, depth
    for child in span.children:
        yield from _walk(child, depth + 1)


def _row(span: SpanRecord, depth: int, start_ms: float) -> dict[str, Any]:
    attributes = span.attributes
    tokens = attributes.get("mastra.usage.total_tokens")
    return {
        "span_id": span.span_id, "depth": depth, "name": span.name, "kind": span.kind,
        "status": str(attributes.get("mastra.status") or span.status), "error": span.error,
        "start_ms": round(start_ms, 3), "duration_ms": round(span.duration_ms, 3),
        "tokens": tokens, "cost_usd": attributes.get("mastra.usage.cost_usd"),
        "input": _value(span.input), "output": _value(span.output),
        "attributes": {k: _value(v) for k, v in attributes.items() if k not in ("mastra.input", "mastra.output")},
    }  # fmt: skip


def _value(value: Any) -> Any:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return json.loads(text) if len(text) <= _VALUE_CHARS else text[:_VALUE_CHARS] + "…"
