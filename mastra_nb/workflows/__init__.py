"""Workflows: typed steps, the control-flow builder, durable runs with suspend/resume, a typed graph."""

from .graph import GraphEdge, GraphNode, WorkflowGraph
from .run import Run, RunResult, RunStatus, StepResult
from .step import Step, StepContext, step
from .workflow import Workflow

__all__ = [
    "GraphEdge", "GraphNode", "Run", "RunResult", "RunStatus", "Step", "StepContext", "StepResult", "Workflow",
    "WorkflowGraph", "step",
]  # fmt: skip
