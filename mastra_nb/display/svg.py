"""A workflow's graph as an inline SVG, drawn from `workflow.graph()`, with step statuses from a run.

No graphviz binary, no mermaid service, no JavaScript: a small box layout that follows the graph's own shape.
A sequence of nodes stacks top to bottom; a `parallel` or `branch` node lays its children side by side in a dashed
frame; a loop, a `foreach` or a nested workflow is a frame around what it runs. Edges are the graph's own
(`WorkflowGraph.edges`, plus `GraphNode.inner_edges()` of each nested workflow), drawn from the bottom of one box to
the top of the next. Each node is a `<g class="node" data-path=... data-kind=... data-status=...>`, so readers (and
tests) can find a step by its run path. The graph is data handed in: this module imports nothing from `workflows`
at run time.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .html import STATUS_COLORS, esc

if TYPE_CHECKING:
    from ..workflows.graph import GraphEdge, GraphNode, WorkflowGraph

__all__ = ["graph_svg", "node_statuses"]

BOX_H, MIN_W, CHAR_W, PAD = 30.0, 84.0, 7.3, 12.0  # pixels; CHAR_W: one character of the 12 px monospace labels
V_GAP, H_GAP, FRAME_PAD, FRAME_TITLE, MARGIN = 24.0, 16.0, 10.0, 18.0, 8.0
_ORDER = ("failed", "suspended", "running", "waiting", "canceled", "success")  # which status an aggregate shows
_ids = itertools.count(1)
TIMES = "\u00d7"  # the multiplication sign, as in "count, times 3"


@dataclass
class _Shape:
    node: GraphNode
    x: float
    y: float
    w: float
    h: float
    frame: bool


@dataclass
class _Layout:
    w: float
    h: float
    shapes: list[_Shape] = field(default_factory=list)

    def placed(self, dx: float, dy: float) -> list[_Shape]:
        return [_Shape(s.node, s.x + dx, s.y + dy, s.w, s.h, s.frame) for s in self.shapes]


def _layout(node: GraphNode) -> _Layout:
    if node.kind in ("step", "map", "sleep"):
        lines = [node.label] + ([f"if {node.condition}"] if node.condition else [])
        width = max(MIN_W, CHAR_W * max(len(line) for line in lines) + 2 * PAD)
        height = BOX_H + (12 if node.condition else 0)
        return _Layout(width, height, [_Shape(node, 0, 0, width, height, frame=False)])
    if node.kind in ("parallel", "branch"):
        inner = _row(node.children)
    else:  # workflow, loop, foreach: a frame around what it runs
        inner = _sequence(node.children)
    extra = 16 if node.kind == "loop" else 0  # room for the loop-back arrow
    title = _frame_title(node)
    width = max(inner.w + 2 * FRAME_PAD + extra, CHAR_W * len(title) + 2 * FRAME_PAD)
    height = inner.h + FRAME_TITLE + 4 + FRAME_PAD
    offset = (width - extra - inner.w) / 2
    shapes = [_Shape(node, 0, 0, width, height, frame=True), *inner.placed(offset, FRAME_TITLE + 4)]
    return _Layout(width, height, shapes)


def _sequence(nodes: Iterable[GraphNode]) -> _Layout:
    layouts = [_layout(n) for n in nodes]
    width = max((lay.w for lay in layouts), default=MIN_W)
    result, y = _Layout(width, 0), 0.0
    for lay in layouts:
        result.shapes += lay.placed((width - lay.w) / 2, y)
        y += lay.h + V_GAP
    result.h = max(0.0, y - V_GAP)
    return result


def _row(nodes: Iterable[GraphNode]) -> _Layout:
    layouts = [_layout(n) for n in nodes]
    result, x = _Layout(0, max((lay.h for lay in layouts), default=BOX_H)), 0.0
    for lay in layouts:
        result.shapes += lay.placed(x, 0)
        x += lay.w + H_GAP
    result.w = max(MIN_W, x - H_GAP)
    return result


def _frame_title(node: GraphNode) -> str:
    if node.kind == "loop":
        return f"{node.loop} {node.condition}"
    if node.kind == "foreach":
        return f"foreach ({TIMES}{node.concurrency} at a time)" if (node.concurrency or 1) > 1 else "foreach"
    if node.kind == "workflow":
        return f"workflow {node.label}"
    return node.label


# -- statuses ---------------------------------------------------------------------------------------------------


def node_statuses(graph: WorkflowGraph, steps: Mapping[str, Any]) -> dict[str, tuple[str, int]]:
    """The status of each node of `graph` in a run, and how many records it has (iterations of a loop or
    `foreach` share one node). `steps` maps run paths to step results (anything with a `status`)."""
    found: dict[str, tuple[str, int]] = {}

    def visit(node: GraphNode) -> list[str]:
        below = [s for child in node.children for s in visit(child)]
        pattern = re.compile("^" + re.escape(node.id).replace(r"\*", r"\d+") + "$")
        own = [_status_of(r) for path, r in steps.items() if pattern.match(path)]
        if own:
            found[node.id] = (_aggregate(own), len(own))
        elif below and node.kind in ("workflow", "loop", "foreach"):
            status = _aggregate(below)
            if node.kind == "workflow" and status == "success":
                status = "running"  # a nested workflow records itself when done: this one is part way
            found[node.id] = (status, 0)
        return own + below

    for node in graph.nodes:
        visit(node)
    return found


def _status_of(record: Any) -> str:
    return str(record["status"] if isinstance(record, Mapping) else record.status)


def _aggregate(statuses: list[str]) -> str:
    return next((s for s in _ORDER if s in statuses), statuses[0])


# -- drawing ----------------------------------------------------------------------------------------------------


def graph_svg(graph: WorkflowGraph, steps: Mapping[str, Any] | None = None) -> str:
    """The SVG of `graph`; with `steps` (a run's `RunResult.steps`), nodes are coloured by status."""
    statuses = node_statuses(graph, steps) if steps is not None else {}
    body = _sequence(graph.nodes)
    shapes = body.placed(MARGIN, MARGIN)
    rects = {s.node.id: s for s in shapes}
    all_edges = list(graph.edges) + [e for s in shapes if s.node.kind == "workflow" for e in s.node.inner_edges()]
    legend = [status for status in _ORDER if any(v[0] == status for v in statuses.values())]
    legend_h = 22 if legend else 0
    legend_w = sum(24 + CHAR_W * len(status) for status in legend)
    width, height = max(body.w, legend_w) + 2 * MARGIN, body.h + 2 * MARGIN + legend_h
    arrow = f"mastra-nb-arrow-{next(_ids)}"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="Workflow {esc(graph.workflow_id)}" '
        f'data-workflow="{esc(graph.workflow_id)}" font-family="system-ui, -apple-system, Segoe UI, sans-serif" '
        'style="max-width: 100%; height: auto;">',
        f'<defs><marker id="{arrow}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#8a8a8a"/></marker></defs>',
    ]
    parts += [_frame(s) for s in shapes if s.frame]
    parts += [_edge(rects[e.source], rects[e.target], arrow) for e in all_edges if _drawable(e, rects)]
    parts += [_loop_back(s, arrow) for s in shapes if s.frame and s.node.kind == "loop" and len(s.node.children) == 1]
    parts += [_box(s, statuses.get(s.node.id)) for s in shapes if not s.frame]
    parts += [_frame_status(s, statuses[s.node.id]) for s in shapes if s.frame and s.node.id in statuses]
    x = MARGIN
    for status in legend:
        color, fill = STATUS_COLORS[status]
        y = height - legend_h + 6
        parts.append(f'<rect x="{x}" y="{y}" width="12" height="12" rx="3" fill="{fill}" stroke="{color}"/>')
        parts.append(f'<text x="{x + 16}" y="{y + 10}" font-size="11" fill="currentColor">{status}</text>')
        x += 24 + CHAR_W * len(status)
    parts.append("</svg>")
    return "".join(parts)


def _drawable(edge: GraphEdge, rects: Mapping[str, _Shape]) -> bool:
    return edge.source in rects and edge.target in rects


def _box(shape: _Shape, status: tuple[str, int] | None) -> str:
    node = shape.node
    state, count = status if status is not None else ("pending", 0)
    color, fill = STATUS_COLORS[state]
    neutral = node.kind in ("map", "sleep") and status is None
    dash = ' stroke-dasharray="4 3"' if neutral else ""
    times = f" {TIMES}{count}" if count > 1 else ""
    tip = f"{node.kind} {node.label} at {node.id}" + (f": {state}{times}" if status is not None else "")
    if node.description:
        tip += f" — {node.description}"
    cx = shape.x + shape.w / 2
    label_y = shape.y + (BOX_H / 2 + 4)
    parts = [
        f'<g class="node" data-path="{esc(node.id)}" data-kind="{node.kind}" data-step="{esc(node.step_id or "")}" '
        f'data-status="{state if status is not None else ""}"><title>{esc(tip)}</title>',
        f'<rect x="{shape.x:.1f}" y="{shape.y:.1f}" width="{shape.w:.1f}" height="{shape.h:.1f}" '
        f'rx="{12 if node.kind == "map" else 5}" fill="{fill}" stroke="{color}" stroke-width="1.5"{dash}/>',
        f'<text x="{cx:.1f}" y="{label_y:.1f}" text-anchor="middle" font-size="12" fill="#212121" '
        f'font-family="ui-monospace, SFMono-Regular, Menlo, monospace">{esc(node.label + times)}</text>',
    ]
    if node.condition:
        parts.append(
            f'<text x="{cx:.1f}" y="{label_y + 13:.1f}" text-anchor="middle" font-size="10" fill="#555555" '
            f'font-style="italic">if {esc(node.condition)}</text>'
        )
    parts.append("</g>")
    return "".join(parts)


def _frame(shape: _Shape) -> str:
    node = shape.node
    dash = ' stroke-dasharray="5 4"' if node.kind in ("parallel", "branch") else ""
    return (
        f'<g class="frame" data-path="{esc(node.id)}" data-kind="{node.kind}">'
        f'<rect x="{shape.x:.1f}" y="{shape.y:.1f}" width="{shape.w:.1f}" height="{shape.h:.1f}" rx="7" '
        f'fill="none" stroke="#9e9e9e"{dash}/>'
        f'<text x="{shape.x + 8:.1f}" y="{shape.y + 13:.1f}" font-size="11" fill="currentColor" opacity="0.75">'
        f"{esc(_frame_title(node))}</text></g>"
    )


def _frame_status(shape: _Shape, status: tuple[str, int]) -> str:
    color, _ = STATUS_COLORS[status[0]]
    return (
        f'<circle class="frame-status" data-path="{esc(shape.node.id)}" data-status="{status[0]}" '
        f'cx="{shape.x + shape.w - 9:.1f}" cy="{shape.y + 9:.1f}" r="4" fill="{color}"/>'
    )


def _edge(source: _Shape, target: _Shape, arrow: str) -> str:
    sx, sy = source.x + source.w / 2, source.y + source.h
    tx, ty = target.x + target.w / 2, target.y
    mid = (sy + ty) / 2
    return (
        f'<path class="edge" d="M {sx:.1f} {sy:.1f} C {sx:.1f} {mid:.1f}, {tx:.1f} {mid:.1f}, {tx:.1f} {ty - 1:.1f}" '
        f'fill="none" stroke="#8a8a8a" stroke-width="1.3" marker-end="url(#{arrow})"/>'
    )


def _loop_back(frame: _Shape, arrow: str) -> str:
    right = frame.x + frame.w - 8
    top, bottom = frame.y + FRAME_TITLE + 10, frame.y + frame.h - FRAME_PAD - 4
    return (
        f'<path class="loop" d="M {right - 10:.1f} {bottom:.1f} C {right + 2:.1f} {bottom:.1f}, {right + 2:.1f} '
        f'{top:.1f}, {right - 10:.1f} {top:.1f}" fill="none" stroke="#8a8a8a" stroke-width="1.3" '
        f'marker-end="url(#{arrow})"/>'
    )
