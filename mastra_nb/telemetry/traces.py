"""Reading stored traces: `await hub.traces.get(trace_id)` and `await hub.traces.list(agent=..., ...)`.

A `Trace` is the tree of a trace's spans, each a `SpanRecord` with its timings, attributes, input and output (as
stored: redacted and cut to the telemetry's `max_value_chars`), events and error. Spans are read from the hub's
`spans` table after the telemetry's pending writes are flushed, so a trace is complete as soon as its work ended.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..errors import ErrorKind, MastraError
from ..storage.compare import gte, is_in, ne

if TYPE_CHECKING:
    from .tracing import Telemetry

__all__ = ["SpanRecord", "Trace", "TraceSummary", "Traces"]


@dataclass(frozen=True)
class SpanRecord:
    """One stored span.

    Attributes:
        kind: mastra_nb's kind: agent, model, tool, workflow, step, parallel, branch, loop, foreach, sleep, scorer
            (or the OpenTelemetry span kind of a span made by other code).
        status: "ok" or "error"; `attributes["mastra.status"]` says more (suspended, bailed, canceled, ...).
        children: the spans whose parent this is, by start time.
    """

    span_id: str
    trace_id: str
    parent_span_id: str | None
    name: str
    kind: str
    status: str
    start_time: datetime
    end_time: datetime
    attributes: dict[str, Any]
    events: list[dict[str, Any]]
    children: list[SpanRecord] = field(default_factory=list)

    @property
    def duration_ms(self) -> float:
        return (self.end_time - self.start_time).total_seconds() * 1000

    @property
    def input(self) -> Any:
        """What the work was given (parsed back from JSON when it was not cut)."""
        return _parse(self.attributes.get("mastra.input"))

    @property
    def output(self) -> Any:
        """What the work produced (parsed back from JSON when it was not cut)."""
        return _parse(self.attributes.get("mastra.output"))

    @property
    def error(self) -> dict[str, Any] | None:
        """`{"code", "message"}` of a failed span, else None."""
        if self.status != "error":
            return None
        return {"code": self.attributes.get("mastra.error.code") or self.attributes.get("error.type"),
                "message": self.attributes.get("mastra.error.message")}  # fmt: skip

    def walk(self) -> Iterator[SpanRecord]:
        """This span and all below it, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass(frozen=True)
class Trace:
    """A trace: its spans as a tree (`roots`, usually one) and as a flat list by start time (`spans`)."""

    trace_id: str
    spans: list[SpanRecord]
    roots: list[SpanRecord]

    @property
    def root(self) -> SpanRecord:
        return self.roots[0]

    @property
    def duration_ms(self) -> float:
        return (max(s.end_time for s in self.spans) - min(s.start_time for s in self.spans)).total_seconds() * 1000

    def find(self, name: str | None = None, kind: str | None = None) -> list[SpanRecord]:
        """The spans with this name and/or kind, by start time."""
        return [s for s in self.spans if (name is None or s.name == name) and (kind is None or s.kind == kind)]

    def tree(self) -> str:
        """The span tree as indented text, one span a line: name, duration, status."""
        lines: list[str] = []

        def draw(span: SpanRecord, depth: int) -> None:
            status = span.attributes.get("mastra.status") or span.status
            lines.append(f"{'  ' * depth}{span.name}  {span.duration_ms:.1f} ms  {status}")
            for child in span.children:
                draw(child, depth + 1)

        for root in self.roots:
            draw(root, 0)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.tree()

    def __repr__(self) -> str:
        return f"Trace({self.trace_id!r}, spans={len(self.spans)}, duration_ms={self.duration_ms:.1f})"

    def _repr_html_(self) -> str:
        """A static waterfall: a row per span, indented as the tree, with a bar for when it ran (inline-styled, so
        it reads the same in JupyterLab, nbconvert's HTML and on GitHub)."""
        start = min(s.start_time for s in self.spans)
        total = max(self.duration_ms, 1e-6)
        cell = "padding: 2px 8px; border-bottom: 1px solid rgba(127, 127, 127, 0.2);"
        rows = []
        for root in self.roots:
            for span, depth in _with_depth(root, 0):
                status = span.attributes.get("mastra.status") or span.status
                colour = _COLOURS.get(span.kind, "#78909c") if span.status != "error" else "#c62828"
                left = (span.start_time - start).total_seconds() * 1000 / total * 100
                width = max(span.duration_ms / total * 100, 0.4)
                bar = _bar(left, width, colour)
                tokens = span.attributes.get("mastra.usage.total_tokens")
                status_style = "color: #c62828; font-weight: 600;" if span.status == "error" else ""
                rows.append(
                    f"<tr data-span='{html.escape(span.kind)}'>"
                    f"<td style='{cell} padding-left: {depth * 1.2 + 0.4:.1f}em; white-space: nowrap;'>"
                    f"{html.escape(span.name)}</td><td style='{cell} opacity: 0.7;'>{html.escape(span.kind)}</td>"
                    f"<td style='{cell}'>{bar}</td>"
                    f"<td style='{cell} text-align: right; white-space: nowrap;'>{span.duration_ms:.1f} ms</td>"
                    f"<td style='{cell} text-align: right;'>{tokens if tokens is not None else ''}</td>"
                    f"<td style='{cell} {status_style}'>{html.escape(str(status))}</td></tr>"
                )
        head = "".join(f"<th style='{cell} text-align: left;'>{h}</th>" for h in
                       ("span", "kind", "when", "duration", "tokens", "status"))  # fmt: skip
        return (f"<div style='font-size: 13px;'><div><b>Trace</b> <code>{html.escape(self.trace_id)}</code> "
                f"<span style='opacity: 0.7;'>{len(self.spans)} spans, {self.duration_ms:.1f} ms</span></div>"
                f"<table style='border-collapse: collapse;'><tr>{head}</tr>{''.join(rows)}</table></div>")  # fmt: skip


def _bar(left: float, width: float, colour: str) -> str:
    """When a span ran, as a bar in a track that stands for the whole trace (`left` and `width` in %)."""
    left = min(left, 99.6)
    track = "position: relative; width: 240px; height: 10px; background: rgba(127, 127, 127, 0.1);"
    shape = (f"position: absolute; left: {left:.2f}%; width: {min(width, 100 - left):.2f}%; min-width: 2px; "
             f"height: 10px; background: {colour}; border-radius: 2px;")  # fmt: skip
    return f'<div style="{track}"><div style="{shape}"></div></div>'


_COLOURS = {"agent": "#5e35b1", "model": "#1e88e5", "tool": "#43a047", "mcp_tool": "#00897b", "workflow": "#6d4c41",
            "step": "#8d6e63", "scorer": "#f9a825"}  # fmt: skip


@dataclass(frozen=True)
class TraceSummary:
    """A line of `traces.list()`: the trace's root span, in brief."""

    trace_id: str
    name: str
    kind: str
    status: str
    start_time: datetime
    duration_ms: float
    attributes: dict[str, Any]


class Traces:
    """The stored traces of a telemetry (`hub.traces`)."""

    def __init__(self, telemetry: Telemetry) -> None:
        self._telemetry = telemetry

    def _storage(self) -> Any:
        storage = self._telemetry._storage() if self._telemetry.store else None
        if storage is None:
            raise MastraError(
                ErrorKind.DOMAIN,
                "TRACES_NOT_STORED",
                "These traces are not stored: reading them needs a hub (`Mastra(...)`) whose telemetry keeps "
                "`store=True`.",
            )
        return storage

    async def get(self, trace_id: str) -> Trace:
        """The trace with this id, as a tree of spans.

        Raises:
            MastraError: `TRACE_NOT_FOUND` when no span of it is stored.
        """
        storage = self._storage()
        await self._telemetry.flush()
        rows = await storage.select("spans", where={"trace_id": trace_id}, order_by="start_time")
        if not rows:
            raise MastraError(
                ErrorKind.DOMAIN, "TRACE_NOT_FOUND",
                f"No trace `{trace_id}` is stored; take the id from a result's `trace_id` or from `traces.list()`.",
                details={"trace_id": trace_id},
            )  # fmt: skip
        spans = [_record(row) for row in rows]
        by_id = {span.span_id: span for span in spans}
        roots = []
        for span in spans:
            parent = by_id.get(span.parent_span_id or "")
            if parent is None:
                roots.append(span)  # a root, or a child of a span stored elsewhere (a remote parent)
            else:
                parent.children.append(span)
        return Trace(trace_id, spans, roots)

    async def list(
        self,
        *,
        agent: str | None = None,
        workflow: str | None = None,
        run_id: str | None = None,
        thread_id: str | None = None,
        since: datetime | None = None,
        limit: int = 50,
        scorers: bool = True,
    ) -> list[TraceSummary]:
        """Stored traces, newest first, that contain a run of `agent`, of `workflow`, of run `run_id` or of
        memory thread `thread_id` (all given filters must hold for one span), started at or after `since`.

        `scorers=False` leaves out scorers' traces: a scorer's judgement is a trace of its own (linked to the span
        it judged), written after the work it judged, often in the background; `%mastra trace last` skips them.
        """
        storage = self._storage()
        await self._telemetry.flush()
        where: dict[str, Any] = {}
        if since is not None:
            where["start_time"] = gte(since)
        names = [f"invoke_agent {agent}"] if agent is not None else []
        names += [f"workflow {workflow}"] if workflow is not None else []
        if len(names) > 1:
            return []  # one span cannot be both an agent's and a workflow's
        if names:
            where["name"] = names[0]
        elif run_id is not None or thread_id is not None:
            where["kind"] = is_in(["agent", "workflow"])
        else:
            where["parent_span_id"] = None
            if not scorers:
                where["kind"] = ne("scorer")
        if run_id is not None:
            where["run_id"] = run_id
        if thread_id is not None:
            where["thread_id"] = thread_id
        matches = await storage.select("spans", where=where, order_by="-start_time")
        trace_ids = list(dict.fromkeys(row["trace_id"] for row in matches))
        if not scorers and "parent_span_id" not in where and trace_ids:  # a judge's agent runs inside its scorer
            judged = {"trace_id": is_in(trace_ids), "parent_span_id": None, "kind": "scorer"}
            scored = {row["trace_id"] for row in await storage.select("spans", where=judged)}
            trace_ids = [t for t in trace_ids if t not in scored]
        trace_ids = trace_ids[:limit]
        if not trace_ids:
            return []
        roots = await storage.select("spans", where={"trace_id": is_in(trace_ids), "parent_span_id": None})
        first = {row["trace_id"]: row for row in roots}
        for row in matches:  # a trace whose root is stored elsewhere (or still running) is shown by its match
            first.setdefault(row["trace_id"], row)
        return [_summary(first[t]) for t in trace_ids]


def _record(row: dict[str, Any]) -> SpanRecord:
    return SpanRecord(
        span_id=row["span_id"], trace_id=row["trace_id"], parent_span_id=row["parent_span_id"], name=row["name"],
        kind=row["kind"], status=row["status"], start_time=row["start_time"], end_time=row["end_time"],
        attributes=row["attributes"] or {}, events=row["events"] or [],
    )  # fmt: skip


def _summary(row: dict[str, Any]) -> TraceSummary:
    record = _record(row)
    return TraceSummary(record.trace_id, record.name, record.kind, record.status, record.start_time,
                        record.duration_ms, record.attributes)  # fmt: skip


def _parse(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text  # cut, or not JSON


def _with_depth(span: SpanRecord, depth: int) -> Iterator[tuple[SpanRecord, int]]:
    yield span, depth
    for child in span.children:
        yield from _with_depth(child, depth + 1)
