"""The widgets: a live workflow graph, the resume form, chat, a trace waterfall, the runs view, the memory view,
and the run panel that puts a run's graph and form together.

```
 GraphWidget (graph.py)   hub events ──throttled──> node colours;  click ──> input, output, error, timing
 ResumeForm  (resume.py)  resume schema ──forms.py──> fields;  values ──pydantic──> field errors | run.resume()
 RunPanel    (panel.py)   a run's GraphWidget above its ResumeForm (`%mastra resume RUN_ID`)
 ApprovalsForm (approvals.py)  a paused agent run's tool calls;  Approve / Decline ──> the run goes on
 ChatWidget  (chat.py)    agent.stream() ──throttled──> messages, tool cards;  stop
 TraceWidget (trace.py)   hub.traces.get(), again on each spans:written of its trace ──> a waterfall of spans
 RunsView    (runs.py)    stored runs, filtered ──> open one: its RunPanel below the table; time travel from a step
 MemoryView  (memory.py)  a resource's threads, messages, working memory (editable) and semantic search
 _base.py                 MastraWidget (static snapshot, cleanup on close), Throttle, spawn, static/*.js|css
 _outcome.py              how a finished run reads: success, bailed (a step's ctx.bail), failed; its output
```
Each is an anywidget whose ES module and CSS ship in `static/` (no bundler, no CDN). anywidget is imported with
the first widget; without the `notebook` extra the names raise an ImportError that says what to install.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

__all__ = [
    "ApprovalsForm", "ChatWidget", "GraphWidget", "MemoryView", "ResumeForm", "RunPanel", "RunsView", "TraceWidget",
]  # fmt: skip

_HOMES = {
    "GraphWidget": "graph", "ResumeForm": "resume", "RunPanel": "panel", "ChatWidget": "chat", "TraceWidget": "trace",
    "RunsView": "runs", "MemoryView": "memory", "ApprovalsForm": "approvals",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        import anywidget  # noqa: F401
    except ImportError as error:
        raise ImportError(
            "mastra_nb's widgets need anywidget and ipywidgets: pip install 'mastra_nb[notebook]'"
        ) from error
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)


def available() -> bool:
    """Whether the widgets can be shown (anywidget is installed)."""
    return importlib.util.find_spec("anywidget") is not None
