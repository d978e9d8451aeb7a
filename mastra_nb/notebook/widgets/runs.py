"""`RunsView`: stored workflow runs with status and workflow filters; a row opens the run's live graph and, when it
is suspended, its resume form, below the table.

```
 storage.workflow_runs ──> RunsTable.rows ──> runs.js (filters, rows, Open)
 hub events workflow:* / step:suspended ──Throttle──> rows read again (in the background)
 runs.js ──{"type": "open", run_id}──> RunsView.open_run ──> RunPanel(run) below the table
```
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import ipywidgets
import traitlets

from ..._async import run_sync
from ...errors import ErrorKind, MastraError
from ..reprs import runs_table
from ._base import STATIC, MastraWidget, Throttle, css, forget, spawn
from .panel import RunPanel

if TYPE_CHECKING:
    from ...events import Event
    from ...mastra import Mastra

__all__ = ["RunsTable", "RunsView"]

_KEYS = ("run_id", "workflow_id", "status", "created_at", "updated_at")


class RunsTable(MastraWidget):
    """The table of stored runs; the front end changes `status`/`workflow` to filter and asks to open a row."""

    _esm = STATIC / "runs.js"
    _css = css("runs.css")

    rows: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)
    workflows: traitlets.List[str] = traitlets.List().tag(sync=True)
    status = traitlets.Unicode("").tag(sync=True)
    workflow = traitlets.Unicode("").tag(sync=True)
    limit = traitlets.Int(20).tag(sync=True)
    opened = traitlets.Unicode("").tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)

    def snapshot(self) -> str:
        return runs_table(self.rows)


class RunsView(ipywidgets.VBox):  # type: ignore[misc]
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
        where = {k: v for k, v in (("status", table.status), ("workflow_id", table.workflow)) if v}
        rows = await self.hub.storage.select("workflow_runs", where=where, order_by="-created_at", limit=table.limit)
        return [{k: r[k].isoformat(timespec="seconds") if isinstance(r[k], datetime) else r[k] for k in _KEYS}
                for r in rows]  # fmt: skip

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
        if isinstance(content, dict) and content.get("type") == "open":
            try:
                self.open_run(str(content.get("run_id", "")))
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
        run = run_sync(workflow.get_run(run_id))
        if self.panel is not None:
            self.panel.close()
        self.panel = RunPanel(run)
        self.children = [self.table, self.panel]
        self.table.opened, self.table.message = run_id, ""
        return self.panel

    def close(self) -> None:
        if self.panel is not None:
            self.panel.close()
        self.table.close()
        forget(self)
        super().close()

    def snapshot(self) -> str:
        return self.table.snapshot() + (self.panel.snapshot() if self.panel is not None else "")

    def _repr_html_(self) -> str:
        return self.snapshot()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        data = super()._repr_mimebundle_(**kwargs)
        return None if data is None else {**data, "text/html": self.snapshot()}

    def __repr__(self) -> str:
        return "\n".join(f"{r['run_id']}  {r['workflow_id']}  {r['status']}" for r in self.table.rows) or "no runs"
