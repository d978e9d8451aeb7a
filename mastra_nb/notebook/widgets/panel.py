"""`RunPanel`: a run's live graph above its resume form, as `%mastra resume RUN_ID` shows it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import ipywidgets

from ._base import WithSnapshot, forget
from .graph import GraphWidget
from .resume import ResumeForm

if TYPE_CHECKING:
    from ...workflows import Run

__all__ = ["RunPanel"]


class RunPanel(WithSnapshot, ipywidgets.VBox):  # type: ignore[misc]
    """A run's `GraphWidget` and `ResumeForm`, one above the other; closing the panel closes both."""

    def __init__(self, run: Run, *, interval: float = 0.1) -> None:
        self.run = run
        self.graph = GraphWidget(run.workflow, run, interval=interval)
        self.form = ResumeForm(run)
        super().__init__([self.graph, self.form])

    def close(self) -> None:
        self.graph.close()
        self.form.close()
        forget(self)
        super().close()

    def snapshot(self) -> str:
        """The static HTML of the graph and the form."""
        return self.graph.snapshot() + self.form.snapshot()

    def __repr__(self) -> str:
        return f"RunPanel(run_id={self.run.run_id!r}, status={self.run.status!r})"
