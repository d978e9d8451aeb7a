"""`ResumeForm`: for each suspended step of a run, its suspend payload and a form built from its resume schema;
**Resume** validates the values with that schema and continues the run in the background.

```
 run.suspended ──> steps [{path, step_id, payload, schema, fields}] ──> resume.js (one form per step)
 resume.js ──{"type": "resume", path, values}──> submit ──forms.parse──> errors (inline, nothing sent)
                                                         └──> spawn(run.resume(data, step=path)) ──> status, message
 run ended ──> outcome {status: success | bailed | failed | canceled, message, output | error} (`_outcome.py`)
```
The run may come from `await workflow.get_run(run_id)` in a kernel started after the run suspended: all a form
needs is in the stored run and the workflow's definition. The resume runs as a task (on the kernel's loop when the
click arrives there, else on `_async`'s private loop), so no cell waits for it and the kernel stays free. Once
the run has ended, the form shows how: its output, or (a step called `ctx.bail(...)`) that it bailed and with what.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import traitlets

from ...display.html import badge, card, code, esc, json_block, table
from ...errors import MastraError
from ...events import STEP_STARTED, STEP_SUSPENDED, WORKFLOW_COMPLETED, WORKFLOW_FAILED, WORKFLOW_STARTED, Event
from ...redaction import redact
from ._base import MastraWidget, css, esm, spawn
from ._outcome import outcome, outcome_html, shown_status
from .forms import fields, parse

if TYPE_CHECKING:
    from ...workflows import Run

__all__ = ["ResumeForm"]


class ResumeForm(MastraWidget):
    """The resume form of a run: one form per suspended step.

    Args:
        run: the run, live or loaded from storage (`await workflow.get_run(run_id)`).
    """

    _esm = esm("resume.js")
    _css = css("resume.css")

    run_id = traitlets.Unicode("").tag(sync=True)
    workflow_id = traitlets.Unicode("").tag(sync=True)
    status = traitlets.Unicode("").tag(sync=True)
    steps: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)  # [{path, step_id, payload, fields, ...}]
    errors = traitlets.Dict().tag(sync=True)  # path -> {field name -> message}
    message = traitlets.Unicode("").tag(sync=True)
    busy = traitlets.Bool(False).tag(sync=True)
    outcome = traitlets.Dict().tag(sync=True)  # how the run ended, {} until it has (`_outcome.outcome`)

    def __init__(self, run: Run) -> None:
        super().__init__(run_id=run.run_id, workflow_id=run.workflow.id)
        self.run = run
        self.task: Any = None  # the latest resume, an asyncio task or a concurrent future
        subscription = run.watch(self._on_event)
        self.on_close(subscription.unsubscribe)
        self.on_msg(self._on_message)
        self._refresh()

    def _refresh(self) -> None:
        run = self.run
        records = run.result.steps
        steps = []
        for path in run.suspended:
            unit = run.workflow.unit_at(path)
            schema = unit.resume.json_schema()  # type: ignore[union-attr]  # only steps suspend
            record = records.get(path)
            steps.append({
                "path": path, "step_id": unit.id, "payload": record.suspend_payload if record else None,
                "schema": schema, "fields": fields(schema),
            })  # fmt: skip
        ended = outcome(run)
        with self.hold_sync():
            self.status = shown_status(run.status, run.bailed)
            self.steps = steps
            self.outcome = ended
            if ended:
                self.message = ended["message"]

    # -- from the front end ------------------------------------------------------------------------------------

    def _on_message(self, widget: Any, content: Any, buffers: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "resume":
            self.submit(str(content.get("path", "")), dict(content.get("values") or {}))

    def submit(self, path: str, values: dict[str, Any]) -> Any:
        """Validate `values` (raw, as typed in the form of the step at `path`) and resume the run with them in the
        background; returns the task (or future), or None when a field is refused (`errors` says which)."""
        form = next((s for s in self.steps if s["path"] == path), None)
        if self.busy or form is None or self.run.status != "suspended":
            self.message = f"Step `{path}` is not waiting to be resumed (run `{self.run.status}`)."
            return None
        unit = self.run.workflow.unit_at(path)
        subject = f"resume data of step `{unit.id}` at `{path}`"
        data, errors = parse(unit.resume, form["fields"], values, subject)  # type: ignore[union-attr]
        if errors:
            with self.hold_sync():
                self.errors = {path: errors}
                self.message = "Not sent: fix the fields marked below."
            return None
        with self.hold_sync():
            self.errors, self.busy = {}, True
            self.message = f"Resuming step `{unit.id}`…"
            self.status = "running"
        self.task = spawn(self._continue(path, data))
        return self.task

    async def _continue(self, path: str, data: Any) -> None:
        message: str | None = None  # None: the run ended, and its outcome says how
        try:
            result = await self.run.resume(data, step=path)
        except MastraError as error:
            message = f"[{error.code}] {error.message}"
        except Exception as error:  # shown in the form: a background task has no cell to fail
            message = redact(f"The resume failed: {type(error).__name__}: {error}")
        else:
            if result.status == "suspended":
                message = f"The run is suspended again at {', '.join(result.suspended)}."
            elif not outcome(self.run):
                message = f"The run is {result.status}."
        if self.closed:
            return
        self._refresh()
        with self.hold_sync():
            self.busy = False
            if message is not None:
                self.message = message

    def _on_event(self, event: Event) -> None:
        if self.closed:
            return
        payload = event.payload
        if event.name == STEP_STARTED:
            self.message = f"Running step `{payload.get('step_id')}` at {payload.get('path')}…"
        elif event.name == STEP_SUSPENDED:
            self.status = "suspended"
        elif event.name == WORKFLOW_STARTED:
            self.status = "running"
        elif event.name in (WORKFLOW_COMPLETED, WORKFLOW_FAILED):
            self.status = shown_status(str(payload.get("status", "")), self.run.bailed)

    # -- static ---------------------------------------------------------------------------------------------

    def snapshot(self) -> str:
        sections = []
        for step in self.steps:
            rows = [
                [code(f["name"] or "(value)"), esc(f["kind"]), "yes" if f["required"] else "no",
                 esc(", ".join(map(str, f.get("options", []))) or f.get("description", ""))]
                for f in step["fields"]
            ]  # fmt: skip
            sections.append(
                f'<div data-step-path="{esc(step["path"])}"><strong>step {code(step["step_id"])}</strong> at '
                f"{code(step['path'])} waits for resume data"
                + (json_block(step["payload"]) if step["payload"] is not None else "")
                + table(["field", "type", "required", "options / meaning"], rows, kind="resume-fields")
                + f'<div style="opacity: 0.75;">Resume from a cell: {code(self._command(step))}</div></div>'
            )
        if self.outcome:
            sections.append(outcome_html(self.outcome))
        elif not sections:
            sections.append(esc(self.message or f"Nothing to resume: the run is {self.status}."))
        elif self.message:
            sections.append(esc(self.message))
        return card("Resume", f"run {self.run_id}", *sections, subtitle=badge(self.status or "pending"))

    def _command(self, step: dict[str, Any]) -> str:
        several = f" --step {step['path']}" if len(self.steps) > 1 else ""
        return f"%mastra resume {self.run_id} --data '{{...}}'{several}"

    def __repr__(self) -> str:
        return f"ResumeForm(run_id={self.run_id!r}, status={self.status!r}, steps={[s['path'] for s in self.steps]})"
