"""Static rich displays of the core objects: what `_repr_html_` of a tool, agent, workflow, run or result shows.

The core classes carry thin `_repr_html_` / `_repr_mimebundle_` methods that import this module when a notebook
first displays one of them. It builds plain HTML from `html` and `svg`, imports nothing from IPython, and reads
only what the objects already hold (a run's journal, a workflow's graph), so displaying never touches storage.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from .html import badge, card, code, details, esc, json_block, short, table
from .svg import graph_svg

if TYPE_CHECKING:
    from ..agents import Agent, AgentResult
    from ..mastra import Mastra
    from ..tools import Tool
    from ..workflows import Run, RunResult, Workflow

__all__ = [
    "agent_html", "agent_result_html", "hub_html", "run_html", "run_result_html", "runs_table", "tool_html",
    "workflow_html", "workflow_mimebundle",
]  # fmt: skip

_SCRIPTED = "Scripted replies (<code>ScriptedModel</code>): answers come from a script, not a language model."


# -- tools and agents -------------------------------------------------------------------------------------------


def tool_html(tool: Tool) -> str:
    """A tool as a card: description, parameters, flags, and its JSON schema."""
    schema = tool.json_schema()
    required = set(schema.get("required", ()))
    rows = [
        [code(name), esc(_type_of(spec)), "yes" if name in required else "no", esc(spec.get("description", ""))]
        for name, spec in schema.get("properties", {}).items()
    ]
    flags = [
        f"timeout {tool.timeout} s" if tool.timeout is not None else "",
        f"cache {tool.cache_size}" if tool.cache_size else "",
    ]
    if tool.retries.attempts > 1:
        flags.append(f"{tool.retries.attempts - 1} retries")
    if tool.requires_approval:
        flags.append("requires approval")
    returns = getattr(tool.output_schema, "__name__", None) or (str(tool.output_schema) if tool.output_schema else "")
    return card(
        "Tool",
        tool.id,
        esc(tool.description or ""),
        table(["parameter", "type", "required", "description"], rows, kind="parameters"),
        f"returns {code(returns)}" if returns else "",
        esc(" · ".join(f for f in flags if f)),
        details("JSON schema", json_block(schema)),
    )


def agent_html(agent: Agent) -> str:
    """An agent as a card: model, instructions, tools, workflows and sub-agents."""
    model = agent.model
    hub = agent.mastra
    if model is not None:
        shown = code(model.name)
    else:
        default = hub.config.default_model if hub is not None else None
        shown = f"hub default {code(default)}" if default else "<em>none yet: pass <code>--model</code></em>"
    instructions = agent.instructions
    body = (
        f'<div style="white-space: pre-wrap; opacity: 0.9;">{esc(instructions[:800] or "(none)")}</div>'
        if isinstance(instructions, str)
        else "<em>a function of the runtime context</em>"
    )
    rows = [[code(name), esc(t.description or "")] for name, t in agent.tools.items()]
    subagents = ", ".join(code(a.name) for a in agent.agents)
    workflows = ", ".join(code(getattr(w, "id", w)) for w in agent.workflows)
    return card(
        "Agent",
        agent.name,
        f"model {shown}" + (f" · max {agent.max_steps} steps" if agent.max_steps else ""),
        details("instructions", body, open=True),
        table(["tool", "description"], rows, kind="tools") if rows else "<em>no tools</em>",
        f"workflows: {workflows}" if workflows else "",
        f"sub-agents: {subagents}" if subagents else "",
        note=_SCRIPTED if model is not None and model.scripted else "",
    )


def agent_result_html(result: AgentResult) -> str:
    """An answer: its text (or structured object), the tool calls and their results, usage."""
    obj = result.object
    text = f'<div style="white-space: pre-wrap;">{esc(result.text)}</div>' if result.text and obj is None else ""
    structured = (
        json_block(obj.model_dump(mode="json") if isinstance(obj, BaseModel) else obj) if obj is not None else ""
    )
    by_call = {r.call_id: r for r in result.tool_results}
    rows = []
    for number, step in enumerate(result.steps, 1):
        for call in step.tool_calls:
            outcome = by_call.get(call.id)
            if outcome is None:
                shown = badge("waiting", "waiting")
            elif outcome.error is not None:
                error = outcome.error
                shown = f"{badge('failed', error.get('code', 'error'))} {esc(short(error.get('message'), 160))}"
            else:
                shown = esc(short(outcome.result))
            rows.append([str(number), code(call.name), esc(short(call.arguments)), shown])
    calls = table(["step", "tool", "arguments", "result"], rows, kind="tool-calls") if rows else ""
    pending = "".join(
        f"<div>{badge('suspended', 'waiting for approval')} {code(p.tool)} call {code(p.call_id)}</div>"
        for p in result.pending_approvals
    )
    usage = result.usage
    footer = (
        f'<div style="opacity: 0.7; font-size: 12px;">{esc(result.finish_reason)} · {len(result.steps)} step(s) · '
        f"{usage.total_tokens} tokens{' (estimated)' if result.scripted else ''} · {esc(result.model)} · "
        f"run {code(result.run_id[:12])}</div>"
    )
    return card("Answer", "", text, structured, calls, pending, footer, note=_SCRIPTED if result.scripted else "")


# -- workflows and runs -----------------------------------------------------------------------------------------


def workflow_html(workflow: Workflow) -> str:
    """A workflow as a card with its graph and schemas."""
    graph = workflow.graph()
    schemas = [
        details("input schema", json_block(graph.input_schema)) if graph.input_schema else "",
        details("output schema", json_block(graph.output_schema)) if graph.output_schema else "",
    ]
    steps = sum(1 for _ in _steps_of(graph.nodes))
    return card(
        "Workflow", workflow.id, esc(workflow.description or ""), graph_svg(graph), *schemas,
        subtitle=f'<span style="opacity: 0.7;">{steps} step(s)</span>',
    )  # fmt: skip


def workflow_mimebundle(workflow: Workflow) -> dict[str, str]:
    """The workflow as HTML (the card) and as a standalone SVG image (the graph alone)."""
    return {
        "text/html": workflow_html(workflow),
        "image/svg+xml": graph_svg(workflow.graph()),
        "text/plain": repr(workflow),
    }


def run_html(run: Run) -> str:
    """A run: its graph coloured by step status, what each step did, and what a suspended step waits for."""
    result = run.result
    waiting = []
    for path in result.suspended:
        unit = run.workflow.unit_at(path)
        resume = getattr(unit, "resume", None)
        schema = resume.json_schema() if resume is not None else None
        payload = result.steps[path].suspend_payload if path in result.steps else None
        waiting.append(
            f"<div>{badge('suspended')} step {code(unit.id)} at {code(path)} asks: {esc(short(payload, 300))}</div>"
            + (details("resume schema", json_block(schema)) if schema else "")
        )
    if waiting:
        waiting.append(
            f'<div style="opacity: 0.75;">Resume with {code("await run.resume(data)")} or '
            f"{code(f'%mastra resume {run.run_id} --data JSON')}.</div>"
        )
    return card(
        "Run", run.run_id, graph_svg(run.workflow.graph(), result.steps), *waiting, _outcome(result),
        _steps_table(result), subtitle=f"of {code(run.workflow.id)} {badge(_status(result))}",
    )  # fmt: skip


def run_result_html(result: RunResult) -> str:
    """A run's result: status, output or error, and a row per step."""
    suspended = "".join(
        f"<div>{badge('suspended')} {code(path)} asks: {esc(short(result.steps[path].suspend_payload, 300))}</div>"
        for path in result.suspended
        if path in result.steps
    )
    return card(
        "Run result", result.run_id, suspended, _outcome(result), _steps_table(result),
        subtitle=f"of {code(result.workflow_id)} {badge(_status(result))}",
    )  # fmt: skip


def _status(result: RunResult | Mapping[str, Any]) -> str:
    """The status shown: "bailed" for a successful run a step ended early with `ctx.bail(...)`."""
    status, bailed = (result.status, result.bailed) if not isinstance(result, Mapping) else (
        result["status"], result.get("bailed"))  # fmt: skip
    return "bailed" if status == "success" and bailed is not None else str(status)


def _outcome(result: RunResult) -> str:
    if result.error is not None:
        return f"{badge('failed', result.error.code)} {esc(result.error.message)}"
    if result.status == "success":
        output = result.output.model_dump(mode="json") if isinstance(result.output, BaseModel) else result.output
        said = f"step {code(result.bailed)} ended the run early with ctx.bail(...); " if result.bailed else ""
        return said + "output" + json_block(output)
    return ""


def _steps_table(result: RunResult) -> str:
    rows = []
    for path, step in result.steps.items():
        if step.error:
            detail = f"{esc(step.error.get('code', ''))}: {esc(short(step.error.get('message'), 200))}"
        elif step.status == "suspended":
            detail = f"asks {esc(short(step.suspend_payload))}"
        else:
            detail = esc(short(step.output))
        if step.resume_payload is not None:
            detail += f'<div style="opacity: 0.7;">resumed with {esc(short(step.resume_payload))}</div>'
        rows.append([code(path), code(step.step_id), badge(step.status), str(step.attempts), detail,
                     _duration(step.started_at, step.ended_at)])  # fmt: skip
    return table(["path", "step", "status", "attempts", "output", "time"], rows, kind="steps")


def _duration(started: datetime | None, ended: datetime | None) -> str:
    if started is None or ended is None:
        return ""
    seconds = (ended - started).total_seconds()
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def _steps_of(nodes: Iterable[Any]) -> Iterable[Any]:
    for node in nodes:
        if node.kind == "step":
            yield node
        yield from _steps_of(node.children)


# -- the hub ----------------------------------------------------------------------------------------------------


def runs_table(rows: Iterable[Mapping[str, Any]]) -> str:
    """Stored runs (`RunInfo.summary()`: a workflow's, or an agent's paused for approval), newest first."""
    shown = [
        [code(r["run_id"]), code(r.get("workflow_id") or r.get("agent") or ""), badge(_status(r)),
         esc(_when(r.get("created_at"))), esc(_when(r.get("updated_at")))]
        for r in rows
    ]  # fmt: skip
    return table(["run", "workflow", "status", "created", "updated"], shown, kind="runs")


def hub_html(hub: Mastra, runs: Iterable[Mapping[str, Any]] | None = None, storage: str = "") -> str:
    """The hub's components as tables; its recent runs and where it stores them, when given."""
    agents = [  # read by duck typing: an agent-like component (a remote one, say) may lack a model or tools
        [code(name), code(m.name) if (m := getattr(a, "model", None)) is not None else "<em>hub default</em>",
         ", ".join(code(t) for t in getattr(a, "tools", {})) or "—"]
        for name, a in hub.list_agents().items()
    ]  # fmt: skip
    tools = [[code(name), esc(short(getattr(t, "description", "") or "", 100))] for name, t in hub.list_tools().items()]
    workflows = [
        [code(name), str(sum(1 for _ in _steps_of(w.graph().nodes))), esc(getattr(w, "description", None) or "")]
        for name, w in hub.list_workflows().items()
    ]
    sections = [
        "<strong>Agents</strong>" + table(["agent", "model", "tools"], agents, kind="agents"),
        "<strong>Tools</strong>" + table(["tool", "description"], tools, kind="tools"),
        "<strong>Workflows</strong>" + table(["workflow", "steps", "description"], workflows, kind="workflows"),
    ]
    if runs is not None:
        sections.append("<strong>Recent runs</strong>" + runs_table(runs))
    where = f'<span style="opacity: 0.7;">storage {code(storage)}</span>' if storage else ""
    return card("Mastra hub", "", *sections, subtitle=where)


def _when(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return "" if value is None else str(value)


def _type_of(spec: Mapping[str, Any]) -> str:
    if "type" in spec:
        kind = spec["type"]
        if kind == "array" and isinstance(spec.get("items"), Mapping):
            return f"list[{_type_of(spec['items'])}]"
        return str(kind)
    if "anyOf" in spec:
        return " | ".join(_type_of(s) for s in spec["anyOf"])
    if "$ref" in spec:
        return str(spec["$ref"]).rsplit("/", 1)[-1]
    if "enum" in spec:
        return " | ".join(repr(v) for v in spec["enum"])
    return "any"
