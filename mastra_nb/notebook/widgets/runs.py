"""`RunsView`: stored workflow runs with status and workflow filters; a row opens the run's live graph and, when it
is suspended, its resume form, below the table; an opened run can be forked from one of its steps (time travel).
A fork is marked in the list ("fork of 1a2b3c4d at double"), and a run a step ended with `ctx.bail(...)` reads
*bailed*: both as `hub.runs` lists them (`RunInfo.parent`, `RunInfo.bailed`).

```
 hub.runs.list ──> RunsTable.rows ──> runs.js (filters, rows, Open)
 hub events workflow:* / step:suspended ──Throttle──> rows read again (in the background)
 runs.js ──{"type": "open", run_id}──> RunsView.open_run ──> RunPanel(run) below the table
 runs.js ──{"type": "time_travel", run_id, path, input}──> run.time_travel(path, input) ──> the fork's RunPanel
```
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

import ipywidgets
import traitlets

from ..._async import run_sync
from ...display.html import badge, code, esc, table
from ...errors import ErrorKind, MastraError
from ._base import MastraWidget, Throttle, WithSnapshot, css, esm, forget, spawn
from ._outcome import shown_status
from .panel import RunPanel

if TYPE_CHECKING:
    from ...events import Event
    from ...mastra import Mastra
    from ...workflows import Run, Workflow

__all__ = ["RunsTable", "RunsView"]

_KEYS = ("run_id", "workflow_id", "status", "created_at", "updated_at")


class RunsTable(MastraWidget):
    """The table of stored runs; the front end changes `status`/`workflow` to filter and asks to open a row."""

    _esm = esm("runs.js")
    _css = css("runs.css")

    # [{run_id, workflow_id, status, created_at, updated_at (ISO), bailed (path) and fork {run_id, path, step_id}
    # when they apply}]
    rows: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)
    workflows: traitlets.List[str] = traitlets.List().tag(sync=True)
    status = traitlets.Unicode("").tag(sync=True)
    workflow = traitlets.Unicode("").tag(sync=True)
    limit = traitlets.Int(20).tag(sync=True)
    opened = traitlets.Unicode("").tag(sync=True)
    # The opened run's steps, for time travel: [{path, step_id, status, input}]
    steps: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)
    busy = traitlets.Bool(False).tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)

    def snapshot(self) -> str:
        shown = [
            [code(r["run_id"]) + _fork_html(r.get("fork")), code(r["workflow_id"]), badge(_status(r)),
             _when_html(r.get("created_at")), _when_html(r.get("updated_at"), r.get("created_at"))]
            for r in self.rows
        ]  # fmt: skip
        return table(["run", "workflow", "status", "created", "updated"], shown, kind="runs")


class RunsView(WithSnapshot, ipywidgets.VBox):  # type: ignore[misc]
    """Stored runs of `hub`, newest first, kept up to date as runs start, suspend and end.

    Args:
        hub: the hub whose storage and workflows to use.
        status, workflow: the initial filters ("" for all).
        limit: how many runs to list.
    """

    def __init__(self, hub: Mastra, *, status: str = "", workflow: str = "", limit: int = 20) -> None:
        self.hub = hub
        self.table = RunsTable(status=status, workflow=workflow, limit=limit, workflows=sorted(hub.list_workflows()))
        self.panel: RunPanel | None = None
        self.task: Any = None
        self.table.rows = run_sync(self._select())
        self.throttle = Throttle(self.reload, 0.5)
        subscriptions = [hub.events.subscribe("workflow:*", self._on_event),
                         hub.events.subscribe("step:suspended", self._on_event)]  # fmt: skip
        for subscription in subscriptions:
            self.table.on_close(subscription.unsubscribe)
        self.table.on_close(self.throttle.cancel)
        self.table.observe(lambda _: self.reload(), names=["status", "workflow", "limit"])
        self.table.on_msg(self._on_message)
        super().__init__([self.table])

    async def _select(self) -> list[dict[str, Any]]:
        table = self.table
        found = await self.hub.runs.list(kind="workflow", workflow=table.workflow or None, status=table.status or None,
                                         limit=table.limit)  # fmt: skip
        workflows = self.hub.list_workflows()
        rows = []
        for info in found:
            summary = info.summary()
            row = {k: summary[k].isoformat(timespec="seconds") if isinstance(summary[k], datetime) else summary[k]
                   for k in _KEYS}  # fmt: skip
            if info.parent is not None:  # a time-travel fork: the run it came from and the step it was forked at
                path = info.parent["path"]
                row["fork"] = {**info.parent, "step_id": _step_id(workflows.get(info.name), path)}
            if info.bailed is not None:
                row["bailed"] = info.bailed
            rows.append(row)
        return rows

    def reload(self) -> Any:
        """Read the rows again, in the background; returns the task (or future)."""
        self.task = spawn(self._reload())
        return self.task

    async def _reload(self) -> None:
        rows = await self._select()
        if not self.table.closed:
            self.table.rows = rows

    def _on_event(self, event: Event) -> None:
        self.throttle.touch()

    def _on_message(self, widget: Any, content: Any, buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        try:
            if content.get("type") == "open":
                self.open_run(str(content.get("run_id", "")))
            elif content.get("type") == "time_travel":
                self.time_travel(str(content.get("path", "")), _parse(content.get("input")))
        except MastraError as error:
            self.table.message = f"[{error.code}] {error.message}"

    def open_run(self, run_id: str) -> RunPanel:
        """Show the run's graph (and its resume form) below the table, in place of the one shown before."""
        found = [r for r in self.table.rows if r["run_id"] == run_id]
        workflow = self.hub.list_workflows().get(found[0]["workflow_id"]) if found else None
        if workflow is None:
            raise MastraError(
                ErrorKind.DOMAIN, "WORKFLOW_NOT_FOUND",
                f"Run `{run_id}` belongs to a workflow this kernel has not registered: define it and "
                "`mastra.add_workflow(...)` first (a restart forgets code, not runs).",
            )  # fmt: skip
        return self._show(run_sync(workflow.get_run(run_id)))

    def _show(self, run: Run) -> RunPanel:
        if self.panel is not None:
            self.panel.close()
        self.panel = RunPanel(run)
        self.children = [self.table, self.panel]
        steps = [{"path": s.path, "step_id": s.step_id, "status": s.status, "input": _plain(s.input)}
                 for s in run.result.steps.values()]  # fmt: skip
        with self.table.hold_sync():
            self.table.opened, self.table.message, self.table.steps = run.run_id, "", steps
        return self.panel

    def time_travel(self, path: str, input: Any = None) -> Any:
        """Fork the opened run from the step at `path` (with its stored input, or `input`) as a new run, in the
        background; the fork's graph and form then replace the opened run's. Returns the task."""
        if self.panel is None:
            raise MastraError(ErrorKind.VALIDATION, "RUN_NOT_OPENED", "Open a run first, then fork it from a step.")
        run = self.panel.run
        step_id = _step_id(run.workflow, path)
        self.table.busy, self.table.message = True, f"Forking run {run.run_id} from step {step_id}…"
        self.task = spawn(self._travel(run, path, input))
        return self.task

    async def _travel(self, run: Run, path: str, input: Any) -> None:
        try:
            result = await run.time_travel(path, input)
            fork = await run.workflow.get_run(result.run_id)
        except MastraError as error:
            self.table.busy, self.table.message = False, f"[{error.code}] {error.message}"
            return
        self.table.rows = await self._select()
        if not self.table.closed:
            self._show(fork)
            step_id = _step_id(run.workflow, path)
            self.table.message = f"Run {fork.run_id} is a fork of {run.run_id} from step {step_id}: {fork.status}."
        self.table.busy = False

    def close(self) -> None:
        if self.panel is not None:
            self.panel.close()
        self.table.close()
        forget(self)
        super().close()

    def snapshot(self) -> str:
        return self.table.snapshot() + (self.panel.snapshot() if self.panel is not None else "")

    def __repr__(self) -> str:
        return "\n".join(f"{r['run_id']}  {r['workflow_id']}  {r['status']}" for r in self.table.rows) or "no runs"


def _step_id(workflow: Workflow | None, path: str) -> str:
    """The id of the step at `path`, or the path when this kernel does not know it (the workflow is not registered,
    or has changed since)."""
    if workflow is None:
        return path
    try:
        return workflow.unit_at(path).id
    except MastraError:
        return path


def _status(row: dict[str, Any]) -> str:
    return shown_status(str(row["status"]), row.get("bailed"))


def _fork_html(fork: dict[str, Any] | None) -> str:
    if not fork:
        return ""
    text = f"fork of {fork['run_id'][:8]} at {fork['step_id']}"
    title = f"time-travel fork of run {fork['run_id']} from step {fork['step_id']} (path {fork['path']})"
    return f'<div data-fork style="opacity: 0.7; font-size: 12px;" title="{esc(title)}">{esc(text)}</div>'


def _when_html(stamp: str | None, since: str | None = None) -> str:
    """A stored time as the runs table shows it (as runs.js does): local, to the second, on one line, only the time
    of day when it falls on the day of `since`; the ISO time as its title."""
    if not stamp:
        return ""
    try:
        time = datetime.fromisoformat(stamp).astimezone()
        before = datetime.fromisoformat(since).astimezone() if since else None
    except ValueError:
        shown = stamp
    else:
        same_day = before is not None and before.date() == time.date()
        shown = time.strftime("%H:%M:%S" if same_day else "%Y-%m-%d %H:%M:%S")
    return f'<span style="white-space: nowrap;" title="{esc(stamp)}">{esc(shown)}</span>'


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


def _parse(text: Any) -> Any:
    """The fork's input from the front end's box: JSON, or None (the step's stored input) when empty."""
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError as error:
        raise MastraError(
            ErrorKind.VALIDATION, "RUN_INPUT_INVALID", f"The fork's input is not valid JSON: {error}."
        ) from None
