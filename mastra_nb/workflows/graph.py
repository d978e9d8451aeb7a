"""The step graph: the builder's nodes, and their typed, JSON-serializable description.

Nodes are small frozen dataclasses the engine walks; `describe` turns them into `GraphNode`s (pydantic) that
the notebook's graph widget and the server draw. A node's `path` is its position: `"2"` at the top level,
`"2.1"` for the second branch of a parallel node at position 2, and so on down through nested workflows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from .step import Step

if TYPE_CHECKING:
    from .workflow import Workflow

__all__ = [
    "BranchNode", "ForeachNode", "GraphEdge", "GraphNode", "LoopNode", "MapNode", "Node", "ParallelNode",
    "SleepNode", "StepNode", "WorkflowGraph",
]  # fmt: skip

Condition = Callable[..., Any]  # fn(data) or fn(data, ctx) -> bool, sync or async


@dataclass(frozen=True)
class StepNode:
    step: Step | Workflow


@dataclass(frozen=True)
class ParallelNode:
    steps: tuple[Step | Workflow, ...]


@dataclass(frozen=True)
class BranchNode:
    branches: tuple[tuple[Condition, Step | Workflow], ...]


@dataclass(frozen=True)
class LoopNode:
    step: Step | Workflow
    condition: Condition
    until: bool  # dountil stops when the condition holds; dowhile goes on while it holds


@dataclass(frozen=True)
class ForeachNode:
    step: Step | Workflow
    concurrency: int


@dataclass(frozen=True)
class MapNode:
    fn: Callable[..., Any] | None
    mapping: dict[str, Any] | None


@dataclass(frozen=True)
class SleepNode:
    seconds: float | None
    until: datetime | None


Node = StepNode | ParallelNode | BranchNode | LoopNode | ForeachNode | MapNode | SleepNode

Kind = Literal["step", "workflow", "parallel", "branch", "loop", "foreach", "map", "sleep"]


class GraphNode(BaseModel):
    """One node of `Workflow.graph()`."""

    id: str = Field(description="The node's path, unique in the graph.")
    kind: Kind
    label: str
    step_id: str | None = None
    description: str | None = None
    condition: str | None = Field(default=None, description="A branch's or loop's condition, by name.")
    loop: Literal["dowhile", "dountil"] | None = None
    concurrency: int | None = None
    seconds: float | None = None
    until: datetime | None = None
    input_schema: dict[str, Any] | None = None
    output_schema: dict[str, Any] | None = None
    children: list[GraphNode] = Field(default_factory=list)

    def inner_edges(self) -> list[GraphEdge]:
        """The edges between this node's children as a sequence (a nested workflow's own edges)."""
        return edges(self.children)


class GraphEdge(BaseModel):
    source: str
    target: str


class WorkflowGraph(BaseModel):
    """A workflow as data: its nodes in order, the edges between them, and its schemas."""

    workflow_id: str
    description: str | None = None
    input_schema: dict[str, Any] | None = None
    output_schema: dict[str, Any] | None = None
    nodes: list[GraphNode]
    edges: list[GraphEdge]


def describe(node: Node, path: str) -> GraphNode:
    """The `GraphNode` of a builder node at `path`."""
    if isinstance(node, StepNode):
        return _unit(node.step, path)
    if isinstance(node, ParallelNode):
        children = [_unit(s, f"{path}.{i}") for i, s in enumerate(node.steps)]
        return GraphNode(id=path, kind="parallel", label="parallel", children=children)
    if isinstance(node, BranchNode):
        children = [
            _unit(s, f"{path}.{i}").model_copy(update={"condition": name_of(cond)})
            for i, (cond, s) in enumerate(node.branches)
        ]
        return GraphNode(id=path, kind="branch", label="branch", children=children)
    if isinstance(node, LoopNode):
        kind: Literal["dowhile", "dountil"] = "dountil" if node.until else "dowhile"
        return GraphNode(
            id=path, kind="loop", label=kind, loop=kind, condition=name_of(node.condition),
            children=[_unit(node.step, f"{path}.*")],
        )  # fmt: skip
    if isinstance(node, ForeachNode):
        return GraphNode(
            id=path, kind="foreach", label="foreach", concurrency=node.concurrency,
            children=[_unit(node.step, f"{path}.*")],
        )  # fmt: skip
    if isinstance(node, MapNode):
        label = name_of(node.fn) if node.fn is not None else f"map({', '.join(node.mapping or {})})"
        return GraphNode(id=path, kind="map", label=label)
    label = f"sleep {node.seconds} s" if node.seconds is not None else f"sleep until {node.until}"
    return GraphNode(id=path, kind="sleep", label=label, seconds=node.seconds, until=node.until)


def _unit(unit: Step | Workflow, path: str) -> GraphNode:
    if isinstance(unit, Step):
        return GraphNode(
            id=path, kind="step", label=unit.id, step_id=unit.id, description=unit.description or None,
            input_schema=unit.input.json_schema(), output_schema=unit.output.json_schema(),
        )  # fmt: skip
    inner = unit.graph()
    children = [n.model_copy(update={"id": f"{path}.{n.id}"}, deep=True) for n in inner.nodes]
    for child in children:
        _prefix(child, path)
    return GraphNode(
        id=path, kind="workflow", label=unit.id, step_id=unit.id, description=unit.description,
        input_schema=inner.input_schema, output_schema=inner.output_schema, children=children,
    )  # fmt: skip


def _prefix(node: GraphNode, path: str) -> None:
    for child in node.children:
        child.id = f"{path}.{child.id}"
        _prefix(child, path)


def name_of(fn: Any) -> str:
    """How the graph names a condition or a map function: its `__name__`, else its type's."""
    return getattr(fn, "__name__", None) or type(fn).__name__


def edges(nodes: list[GraphNode]) -> list[GraphEdge]:
    """Consecutive nodes are connected; a parallel or branch node fans out to its children and back in."""
    result: list[GraphEdge] = []
    for before, after in pairwise(nodes):
        sources = [c.id for c in before.children] if before.kind in ("parallel", "branch") else [before.id]
        targets = [c.id for c in after.children] if after.kind in ("parallel", "branch") else [after.id]
        result.extend(GraphEdge(source=s, target=t) for s in sources for t in targets)
    return result
