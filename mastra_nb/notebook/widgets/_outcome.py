"""How a finished run reads in the widgets: its status as shown (a run ended by `ctx.bail(...)` reads *bailed*,
not *success*), one sentence, and its output, for the live views and their static snapshots alike.

A bailed run is stored as `success` (bail ends the run successfully, with the bail value as its output); the
engine records the bailing step's path as `run.bailed` (kept in the run row's snapshot), which is what tells the
two apart here.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ...display.html import STATUS_COLORS, badge, esc
from ...errors import MastraError

if TYPE_CHECKING:
    from ...workflows import Run

__all__ = ["outcome", "outcome_html", "shown_status"]

_VALUE_CHARS = 4000


def shown_status(status: str, bailed: str | None) -> str:
    """The status a view shows: `bailed` for a successful run that a step ended with `ctx.bail(...)`."""
    return "bailed" if status == "success" and bailed is not None else status


def outcome(run: Run) -> dict[str, Any]:
    """How `run` ended, as plain JSON for a front end: `{}` while it has not ended; else `status` (success,
    bailed, failed, canceled), `message` (one sentence), and `output` (success, bailed; long values cut to a
    string), `step_id` and `path` (bailed) or `error` (failed: `code`, `message`)."""
    status = shown_status(run.status, run.bailed)
    if status == "failed":
        error = run.error
        found = {"code": error.code, "message": error.message} if error is not None else None
        said = f"[{error.code}] {error.message}" if error is not None else "no error was stored"
        return {"status": status, "message": f"The run failed: {said}", "error": found}
    if status == "canceled":
        return {"status": status, "message": "The run was canceled."}
    if status not in ("success", "bailed"):
        return {}
    try:
        output = run.workflow.output.dump(run.output, f"The output of workflow `{run.workflow.id}`")
    except MastraError:  # stored once already, so not expected; shown as text rather than failing the view
        output = repr(run.output)
    if status == "success":
        return {"status": status, "message": "The run succeeded.", "output": _value(output)}
    path = run.bailed or ""
    record = run.result.steps.get(path)
    step_id = record.step_id if record is not None else path
    return {
        "status": status, "output": _value(output), "path": path, "step_id": step_id,
        "message": f"The run bailed at step {step_id} (ctx.bail): it ended early with the output below.",
    }  # fmt: skip


def outcome_html(found: dict[str, Any]) -> str:
    """The static HTML of an `outcome`: its pill and sentence (a failure's names its error), then the output."""
    if not found:
        return ""
    status = found["status"]
    color = STATUS_COLORS.get(status, STATUS_COLORS["pending"])[0]
    said = esc(found["message"])
    if status == "bailed":  # read at a glance as neither a success nor a failure, as the live form shows it
        said = f'<span style="color: {color}; font-weight: 600;">{said}</span>'
    parts = [f"<div>{badge(status)} {said}</div>"]
    if "output" in found:
        label = '<div style="opacity: 0.7; font-size: 12px; margin-top: 4px;">output</div>'
        parts.append(label + _pre(found["output"]))
    style = f"border-left: 3px solid {color}; padding-left: 8px;"
    return f'<div data-outcome="{esc(status)}" style="{style}">{"".join(parts)}</div>'


def _value(value: Any) -> Any:
    """`value` as JSON for the front end; long values cut to a string of `_VALUE_CHARS` characters."""
    text = json.dumps(value, default=str, ensure_ascii=False)
    if len(text) <= _VALUE_CHARS:
        return json.loads(text)
    return text[:_VALUE_CHARS] + "…"


def _pre(value: Any) -> str:
    """A value as the views show it: a string as it reads, anything else as indented JSON."""
    text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False, default=str)
    style = (
        "font-family: var(--jp-code-font-family, ui-monospace, monospace); font-size: 12px; margin: 2px 0; "
        "padding: 4px 8px; border-radius: 4px; background: rgba(127,127,127,0.10); white-space: pre-wrap; "
        "max-height: 240px; overflow: auto;"
    )
    return f'<pre data-output style="{style}">{esc(text)}</pre>'
