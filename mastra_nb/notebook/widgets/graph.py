"""`GraphWidget`: a workflow's graph whose nodes take their colour from run events as they happen.

```
 hub.events ──step:* / workflow:*──> _on_event (any loop) ──> paths, times ──Throttle──> statuses ──> graph.js
 graph.js ──click──> selected ──> detail (input, output, error, timing of the records at that node)
```
The drawing is `svg.graph_svg`'s (the static display's layout, unchanged), and the status of each node is
`svg.node_statuses`' aggregation, so the widget and the static snapshot cannot disagree. The front end only recolours
`<g class="node" data-path=...>` elements and shows the detail of the node clicked. The widget follows one run, or
(by default) the latest run of the workflow that starts while it is shown. A run that a step ended with
`ctx.bail(...)` reads *bailed* (the `step:completed` event of that step says `bailed`; a loaded run, `run.bailed`).
"""

from __future__ import annotations

import json
import re
import threading
from datetime import datetime
from typing import TYPE_CHECKING, Any

import traitlets

from ...display.html import badge, card, code, esc
from ...display.svg import graph_svg, node_statuses
from ...errors import MastraError
from ...events import (
    STEP_COMPLETED,
    STEP_STARTED,
    STEP_SUSPENDED,
    WORKFLOW_COMPLETED,
    WORKFLOW_FAILED,
    WORKFLOW_STARTED,
    Event,
)
from ._base import MastraWidget, Throttle, css, esm
from ._outcome import shown_status

if TYPE_CHECKING:
    from ...workflows import Run, Workflow
    from ...workflows.graph import GraphNode

__all__ = ["GraphWidget"]

_DETAIL_ITEMS = 20  # records shown for one node (a foreach's items share a node)
_VALUE_CHARS = 4000


class GraphWidget(MastraWidget):
    """A live workflow graph.

    Args:
        workflow: the workflow to draw.
        run: the run to follow; None follows the latest run of `workflow` started while the widget is shown.
        interval: the shortest time between two updates sent to the front end, in seconds.
    """

    _esm = esm("graph.js")
    _css = css("graph.css")

    workflow_id = traitlets.Unicode("").tag(sync=True)
    svg = traitlets.Unicode("").tag(sync=True)
    run_id = traitlets.Unicode("").tag(sync=True)
    run_status = traitlets.Unicode("").tag(sync=True)
    following = traitlets.Unicode("latest").tag(sync=True)  # "latest" or "run"
    statuses = traitlets.Dict().tag(sync=True)  # node id -> [status, count]
    selected = traitlets.Unicode("").tag(sync=True)  # the node clicked in the front end
    detail = traitlets.Dict().tag(sync=True)  # what happened at the selected node

    def __init__(self, workflow: Workflow, run: Run | None = None, *, interval: float = 0.1) -> None:
        graph = workflow.graph()
        super().__init__(
            workflow_id=workflow.id, svg=graph_svg(graph), following="latest" if run is None else "run",
            run_id=run.run_id if run is not None else "",
        )  # fmt: skip
        self.workflow = workflow
        self.graph = graph
        self._run = run
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._paths: dict[str, dict[str, Any]] = {}  # run path -> {status, step_id, started, ended, error}
        self._bailed: str | None = None  # the path of the step that bailed the run, if one did
        self._status = run.status if run is not None else ""
        self._error = run.error.to_dict() if run is not None and run.error is not None else None
        if run is not None:
            self._seed(run)
        self.throttle = Throttle(self._flush, interval)
        bus = workflow.mastra.events
        subscriptions = [bus.subscribe("step:*", self._on_event), bus.subscribe("workflow:*", self._on_event)]
        for subscription in subscriptions:
            self.on_close(subscription.unsubscribe)
        self.on_close(self.throttle.cancel)
        self.observe(self._on_select, names="selected")
        self._flush()

    # -- events -----------------------------------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        payload = event.payload
        if payload.get("workflow_id") != self.workflow.id or self.closed:
            return
        name, run_id, path = event.name, payload.get("run_id", ""), payload.get("path")
        with self._lock:
            if run_id != self.run_id:
                if self.following != "latest" or name != WORKFLOW_STARTED:
                    return
                self._switch(run_id)
            if name == WORKFLOW_STARTED:
                self._status, self._error, self._bailed = "running", None, None
            elif name in (WORKFLOW_COMPLETED, WORKFLOW_FAILED):
                self._status = payload.get("status") or ("failed" if name == WORKFLOW_FAILED else "success")
                self._error = payload.get("error")
            elif name in (STEP_STARTED, STEP_COMPLETED, STEP_SUSPENDED) and path is not None:
                entry = self._paths.setdefault(path, {"step_id": payload.get("step_id")})
                if name == STEP_STARTED:
                    entry.update(status="running", started=event.timestamp, ended=None, error=None)
                elif name == STEP_COMPLETED:
                    entry.update(status=payload.get("status", "success"), ended=event.timestamp,
                                 error=payload.get("error"))  # fmt: skip
                    if payload.get("bailed"):
                        self._bailed = path
                else:
                    entry.update(status="suspended", ended=event.timestamp, payload=payload.get("payload"))
                    self._status = "suspended"
            else:
                return
        # Step starts and ends are the flood (a foreach's items): throttled. A run's own turns show at once.
        self.throttle.touch(now=name not in (STEP_STARTED, STEP_COMPLETED))

    def _switch(self, run_id: str) -> None:
        from ...workflows.run import LIVE

        self.run_id, self._paths, self._run, self._error = run_id, {}, LIVE.get(run_id), None
        if self._run is not None:
            self._seed(self._run)  # a resumed run: the steps it ran before this widget saw it

    def _seed(self, run: Run) -> None:
        self._bailed = run.bailed
        for path, step in run.result.steps.items():
            self._paths[path] = {
                "step_id": step.step_id, "status": step.status, "error": step.error,
                "started": _time(step.started_at),
                "ended": _time(step.ended_at or step.suspended_at),
            }  # fmt: skip

    # -- what the front end sees ------------------------------------------------------------------------------

    def flush(self) -> None:
        """Send the current state to the front end now (updates are otherwise throttled)."""
        self.throttle.touch(now=True)

    def _flush(self) -> None:
        if self.closed:
            return
        with self._flush_lock:
            with self._lock:
                found = node_statuses(self.graph, {p: e for p, e in self._paths.items() if e.get("status")})
                status = shown_status(self._status, self._bailed)
            with self.hold_sync():
                self.run_status = status
                self.statuses = {node: [state, count] for node, (state, count) in found.items()}
                if self.selected:
                    self.detail = self._detail(self.selected, load=False)

    def _on_select(self, change: dict[str, Any]) -> None:
        self.detail = self._detail(change["new"], load=True) if change["new"] else {}

    def _detail(self, node_id: str, load: bool) -> dict[str, Any]:
        node = _find(self.graph.nodes, node_id)
        if node is None:
            return {}
        pattern = re.compile("^" + re.escape(node_id).replace(r"\*", r"\d+") + "$")
        records = self._records(load)
        with self._lock:
            seen = {p: dict(e) for p, e in self._paths.items() if pattern.match(p)}
            bailed = self._bailed
        items = []
        for path in sorted(set(seen) | {p for p in records if pattern.match(p)}, key=_path_key):
            record, event = records.get(path), seen.get(path, {})
            started = _time(record.started_at) if record is not None else event.get("started")
            ended = _time(record.ended_at or record.suspended_at) if record is not None else event.get("ended")
            items.append({
                "path": path, "where": self._where(node_id, path), "bailed": path == bailed,
                "step_id": record.step_id if record is not None else event.get("step_id"),
                "status": event.get("status") or (record.status if record is not None else ""),
                "attempts": record.attempts if record is not None else None,
                "input": _value(record.input) if record is not None else None,
                "output": _value(record.output) if record is not None else None,
                "suspend_payload": _value(record.suspend_payload if record is not None else event.get("payload")),
                "resume_payload": _value(record.resume_payload) if record is not None else None,
                "error": _value(event.get("error") or (record.error if record is not None else None)),
                "started_at": _iso(started), "ended_at": _iso(ended),
                "duration_ms": round((ended - started) * 1000, 1) if started and ended else None,
            })  # fmt: skip
        return {
            "node": node_id, "kind": node.kind, "label": node.label, "description": node.description or "",
            "count": len(items), "items": items[-_DETAIL_ITEMS:],
        }  # fmt: skip

    def _where(self, node_id: str, path: str) -> str:
        """Which record of a node `path` is, in words: "" for a node's one record; "item 3" of a foreach or
        "iteration 2" of a loop (counted from 1) where the node stands for many (its id has a `*`)."""
        words = []
        parts, given = node_id.split("."), path.split(".")
        for depth, part in enumerate(parts):
            if part == "*" and depth < len(given) and given[depth].isdigit():
                owner = _find(self.graph.nodes, ".".join(parts[:depth]))
                kind = "iteration" if owner is not None and owner.kind == "loop" else "item"
                words.append(f"{kind} {int(given[depth]) + 1}")
        return ", ".join(words)

    def _records(self, load: bool) -> dict[str, Any]:
        """The run's step results: from the run object while this process has it, else (`load`) from storage."""
        from ..._async import run_sync
        from ...workflows.run import LIVE

        if not self.run_id:
            return {}
        run = self._run if self._run is not None and self._run.run_id == self.run_id else LIVE.get(self.run_id)
        if run is None and load:
            try:
                run = run_sync(self.workflow.get_run(self.run_id))
            except MastraError:
                run = None
        self._run = run
        if run is None:
            return {}
        for _ in range(3):  # the run may be recording a step on another thread right now
            try:
                return dict(run.result.steps)
            except RuntimeError:
                continue
        return {}

    def snapshot(self) -> str:
        with self._lock:
            steps = {p: e for p, e in self._paths.items() if e.get("status")}
            status = shown_status(self._status, self._bailed)
            error = self._error
        run = f"run {code(self.run_id)}" if self.run_id else "no run yet: the next run started is shown"
        failure = (
            f'<div style="color: #c62828;">{code(error.get("code"))} {esc(error.get("message"))}</div>' if error else ""
        )
        return card(
            "Workflow", self.workflow.id, graph_svg(self.graph, steps if steps else None), failure,
            subtitle=badge(status) if status else "", note=run,
        )  # fmt: skip

    def __repr__(self) -> str:
        return f"GraphWidget({self.workflow.id!r}, run_id={self.run_id!r}, status={self.run_status!r})"


def _find(nodes: list[GraphNode], node_id: str) -> GraphNode | None:
    for node in nodes:
        if node.id == node_id:
            return node
        found = _find(node.children, node_id)
        if found is not None:
            return found
    return None


def _path_key(path: str) -> list[int]:
    return [int(part) if part.isdigit() else -1 for part in path.split(".")]


def _time(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def _iso(stamp: float | None) -> str | None:
    return datetime.fromtimestamp(stamp).isoformat(timespec="milliseconds") if stamp else None


def _value(value: Any) -> Any:
    """`value` as JSON for the front end; long values cut to a string of `_VALUE_CHARS` characters."""
    text = json.dumps(value, default=str, ensure_ascii=False)
    if len(text) <= _VALUE_CHARS:
        return json.loads(text)
    return text[:_VALUE_CHARS] + "…"
