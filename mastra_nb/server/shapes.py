"""The hub's components and results in the shapes Mastra's server gives them, which `@mastra/client-js` and Studio
read: `SerializedTool`, `SerializedAgent`, `WorkflowInfo` with its `stepGraph`, `FullOutput` and `WorkflowResult`.

Schemas travel as Mastra serializes them: superjson text, `'{"json": <JSON Schema>}'`, which the client unwraps.
Times are ISO text (the JSON response turns datetimes into it).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..schema_models import SchemaModel
from ..workflows.graph import (
    BranchNode,
    ForeachNode,
    LoopNode,
    MapNode,
    ParallelNode,
    SleepNode,
    StepNode,
    name_of,
)  # fmt: skip
from ..workflows.step import Step

if TYPE_CHECKING:
    from ..agents import Agent, AgentResult, ToolResult
    from ..models.types import ToolCall
    from ..tools import Tool
    from ..workflows import Workflow
    from ..workflows.run import RunResult, StepResult

__all__ = [
    "APPROVAL_SCHEMA", "agent_info", "chunk", "finish_reason", "full_output", "object_of", "response_messages",
    "schema_text", "step_graph", "tool_call_chunk", "tool_info", "tool_result_chunk", "usage_of", "workflow_info",
    "workflow_result",
]  # fmt: skip


# What a client answers a tool call waiting for approval with (Mastra sends the schema as JSON text).
APPROVAL_SCHEMA = json.dumps({"type": "object", "properties": {"approved": {"type": "boolean"}}})


def schema_text(schema: dict[str, Any] | None) -> str | None:
    """A JSON Schema as Mastra sends it: superjson text."""
    return None if schema is None else json.dumps({"json": schema})


def tool_info(tool: Tool) -> dict[str, Any]:
    """`SerializedTool`."""
    return {
        "id": tool.id,
        "description": tool.description,
        "inputSchema": schema_text(tool.json_schema()),
        "outputSchema": schema_text(tool.output_json_schema()),
        "requireApproval": tool.requires_approval,
    }


def agent_info(name: str, agent: Agent) -> dict[str, Any]:
    """`SerializedAgent`, with the fields client-js and Studio read."""
    model = agent.model
    provider, _, model_id = model.name.partition("/") if model is not None else ("", "", "")
    if not model_id:  # a model name without a provider prefix
        provider, model_id = "", provider
    instructions = agent.instructions if isinstance(agent.instructions, str) else None
    return {
        "id": name,
        "name": agent.name,
        "description": agent.description,
        "instructions": instructions,
        "tools": {key: tool_info(tool) for key, tool in agent.tools.items()},
        "agents": {sub.name: {"id": sub.name, "name": sub.name} for sub in agent.agents},
        "workflows": {workflow.id: {"name": workflow.id, "steps": _steps(workflow)} for workflow in agent.workflows},
        "skills": [],
        "workspaceTools": [],
        "browserTools": [],
        "hasBrowser": False,
        "inputProcessors": [],
        "outputProcessors": [],
        "provider": provider,
        "modelId": model_id,
        "modelVersion": "v2",
        "supportsMemory": agent.active_memory is not None,
        "defaultOptions": agent.default_options,
        "source": "code",
    }


# -- workflows ----------------------------------------------------------------------------------------------


def _step_info(unit: Step | Workflow) -> dict[str, Any]:
    if isinstance(unit, Step):
        return {
            "id": unit.id,
            "description": unit.description or None,
            "inputSchema": schema_text(unit.input.json_schema()),
            "outputSchema": schema_text(unit.output.json_schema()),
            "resumeSchema": schema_text(unit.resume.json_schema()),
            "suspendSchema": schema_text(unit.suspend.json_schema()),
            "isWorkflow": False,
        }
    return {
        "id": unit.id,
        "description": unit.description,
        "inputSchema": schema_text(unit.input.json_schema()),
        "outputSchema": schema_text(unit.output.json_schema()),
        "isWorkflow": True,
        "component": "WORKFLOW",
    }


def _units(workflow: Workflow) -> list[Step | Workflow]:
    found: list[Step | Workflow] = []
    for node in workflow.nodes:
        if isinstance(node, (StepNode, LoopNode, ForeachNode)):
            found.append(node.step)
        elif isinstance(node, ParallelNode):
            found.extend(node.steps)
        elif isinstance(node, BranchNode):
            found.extend(unit for _, unit in node.branches)
    return found


def _steps(workflow: Workflow) -> dict[str, Any]:
    return {unit.id: _step_info(unit) for unit in _units(workflow)}


def _all_steps(workflow: Workflow, prefix: str = "") -> dict[str, Any]:
    """Every step, nested workflows' own included under dotted keys (`outer.inner`)."""
    found: dict[str, Any] = {}
    for unit in _units(workflow):
        key = f"{prefix}{unit.id}"
        found[key] = _step_info(unit)
        if not isinstance(unit, Step):
            found.update(_all_steps(unit, f"{key}."))
    return found


def _flow_step(unit: Step | Workflow) -> dict[str, Any]:
    step: dict[str, Any] = {"id": unit.id, "description": unit.description or None}
    if isinstance(unit, Step):
        step["canSuspend"] = unit.suspend.typed or unit.resume.typed
    else:
        step["component"] = "WORKFLOW"
        step["serializedStepFlow"] = step_graph(unit)
    return {"type": "step", "step": step}


def step_graph(workflow: Workflow) -> list[dict[str, Any]]:
    """The workflow's graph as Mastra's `SerializedStepFlowEntry` list (what Studio draws)."""
    entries: list[dict[str, Any]] = []
    for index, node in enumerate(workflow.nodes):
        if isinstance(node, StepNode):
            entries.append(_flow_step(node.step))
        elif isinstance(node, ParallelNode):
            entries.append({"type": "parallel", "steps": [_flow_step(unit) for unit in node.steps]})
        elif isinstance(node, BranchNode):
            entries.append({
                "type": "conditional",
                "steps": [_flow_step(unit) for _, unit in node.branches],
                "serializedConditions": [
                    {"id": f"{unit.id}-condition", "fn": name_of(condition)}
                    for condition, unit in node.branches
                ],
            })  # fmt: skip
        elif isinstance(node, LoopNode):
            entries.append({
                **_flow_step(node.step), "type": "loop", "loopType": "dountil" if node.until else "dowhile",
                "serializedCondition": {"id": f"{node.step.id}-condition", "fn": name_of(node.condition)},
            })  # fmt: skip
        elif isinstance(node, ForeachNode):
            entries.append({**_flow_step(node.step), "type": "foreach", "opts": {"concurrency": node.concurrency}})
        elif isinstance(node, MapNode):
            label = name_of(node.fn) if node.fn is not None else json.dumps(node.mapping, default=str)
            entries.append({"type": "step", "step": {"id": f"mapping_{index}", "mapConfig": label}})
        elif isinstance(node, SleepNode):
            if node.seconds is not None:
                entries.append({"type": "sleep", "id": f"sleep_{index}", "duration": int(node.seconds * 1000)})
            else:
                until = node.until.isoformat() if node.until is not None else None
                entries.append({"type": "sleepUntil", "id": f"sleep_{index}", "date": until})
    return entries


def workflow_info(workflow: Workflow) -> dict[str, Any]:
    """`WorkflowInfo`."""
    return {
        "name": workflow.id,
        "description": workflow.description,
        "steps": _steps(workflow),
        "allSteps": _all_steps(workflow),
        "stepGraph": step_graph(workflow),
        "inputSchema": schema_text(workflow.input.json_schema()),
        "outputSchema": schema_text(workflow.output.json_schema()),
        "stateSchema": schema_text(workflow.state.json_schema()),
        "origin": "code",
    }


def _step_result(step: StepResult) -> dict[str, Any]:
    found: dict[str, Any] = {"status": step.status, "payload": step.input, "startedAt": _ms(step.started_at)}
    if step.output is not None:
        found["output"] = step.output
    if step.suspend_payload is not None:
        found["suspendPayload"] = step.suspend_payload
    if step.resume_payload is not None:
        found["resumePayload"] = step.resume_payload
    if step.error is not None:
        found["error"] = step.error
    for key, at in (("endedAt", step.ended_at), ("suspendedAt", step.suspended_at), ("resumedAt", step.resumed_at)):
        if at is not None:
            found[key] = _ms(at)
    return found


def _ms(at: Any) -> int | None:
    """Mastra's step times are epoch milliseconds."""
    return None if at is None else int(at.timestamp() * 1000)


def _ids(result: RunResult, path: str) -> list[str]:
    """A step's path (our positions, "1.0") as Mastra names it: the step ids from the outside in."""
    parts = path.split(".")
    found = []
    for end in range(1, len(parts) + 1):
        step = result.steps.get(".".join(parts[:end]))
        if step is not None:
            found.append(step.step_id)
    return found or [path]


def workflow_result(result: RunResult) -> dict[str, Any]:
    """`WorkflowResult` of a run so far (with `runId` beside it, which our callers want)."""
    found: dict[str, Any] = {
        "status": result.status,  # our statuses are Mastra's words
        "runId": result.run_id,
        "steps": {".".join(_ids(result, path)): _step_result(step) for path, step in result.steps.items()},
    }
    if result.status == "success":
        found["result"] = result.output
    if result.error is not None:
        found["error"] = result.error.to_dict()
    if result.suspended:
        found["suspended"] = [_ids(result, path) for path in result.suspended]
    if result.trace_id is not None:
        found["traceId"] = result.trace_id
    return found


# -- agents -------------------------------------------------------------------------------------------------


def usage_of(usage: Any) -> dict[str, Any]:
    """Token counts in Mastra's names."""
    return {
        "inputTokens": usage.prompt_tokens,
        "outputTokens": usage.completion_tokens,
        "totalTokens": usage.total_tokens,
    }


def chunk(kind: str, run_id: str, payload: dict[str, Any], source: str = "AGENT") -> dict[str, Any]:
    """A stream chunk in Mastra's envelope."""
    return {"type": kind, "runId": run_id, "from": source, "payload": payload}


def tool_call_chunk(run_id: str, call: ToolCall) -> dict[str, Any]:
    return chunk("tool-call", run_id, {"toolCallId": call.id, "toolName": call.name, "args": _args(call.arguments)})


def tool_result_chunk(run_id: str, result: ToolResult) -> dict[str, Any]:
    return chunk("tool-result", run_id, {
        "toolCallId": result.call_id, "toolName": result.tool, "args": result.arguments,
        "result": result.result if result.error is None else result.error, "isError": result.error is not None,
    })  # fmt: skip


_FINISH = {"stop": "stop", "length": "length", "content_filter": "content-filter", "tool_calls": "tool-calls",
           "max_steps": "length", "approval_required": "suspended", "error": "error"}  # fmt: skip


def _args(text: str) -> Any:
    """A tool call's arguments as JSON (the model's text as it is when it is not JSON)."""
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


def finish_reason(reason: str) -> str:
    """Our finish reason in Mastra's words."""
    return _FINISH.get(reason, "other")


def object_of(result: AgentResult) -> Any:
    """The run's structured output as JSON, in the schema's own names (aliases)."""
    found = result.object
    if isinstance(found, SchemaModel):  # asked for as a JSON Schema: optional properties not given are left out
        return found.dump()
    return found.model_dump(mode="json", by_alias=True) if hasattr(found, "model_dump") else found


def response_messages(result: AgentResult) -> list[dict[str, Any]]:
    """The messages the run added after the caller's, as Mastra's client sends them back (with the results of its
    own tools) to go on: per step the assistant's text and tool calls, then the tool results."""
    found: list[dict[str, Any]] = []
    for step in result.steps:
        content: list[dict[str, Any]] = [{"type": "text", "text": step.text}] if step.text else []
        content += [{"type": "tool-call", "toolCallId": c.id, "toolName": c.name, "args": _args(c.arguments)}
                    for c in step.tool_calls]  # fmt: skip
        if content:
            found.append({"role": "assistant", "content": content})
        if step.tool_results:
            found.append({"role": "tool", "content": [
                {"type": "tool-result", "toolCallId": r.call_id, "toolName": r.tool,
                 "result": r.result if r.error is None else r.error}
                for r in step.tool_results
            ]})  # fmt: skip
    return found


def full_output(result: AgentResult) -> dict[str, Any]:
    """`FullOutput`, the answer of `generate`: tool calls and results are chunk-shaped, as client-js reads them."""
    run_id = result.run_id
    steps = [
        {
            "text": step.text,
            "finishReason": finish_reason(step.finish_reason),
            "usage": usage_of(step.usage),
            "toolCalls": [tool_call_chunk(run_id, call) for call in step.tool_calls],
            "toolResults": [tool_result_chunk(run_id, item) for item in step.tool_results],
            "response": {"modelId": step.model},
        }
        for step in result.steps
    ]
    found: dict[str, Any] = {
        "text": result.text,
        "object": object_of(result),
        "usage": usage_of(result.usage),
        "totalUsage": usage_of(result.usage),
        "finishReason": finish_reason(result.finish_reason),
        "toolCalls": [tool_call_chunk(run_id, call) for call in result.tool_calls],
        "toolResults": [tool_result_chunk(run_id, item) for item in result.tool_results],
        "steps": steps,
        "runId": run_id,
        "traceId": result.trace_id,
        "response": {"modelId": result.model, "messages": response_messages(result)},
        "warnings": [],
        "sources": [],
        "files": [],
        "reasoningText": None,
    }
    if result.pending_approvals:
        # Mastra's suspended run names one call to decide on (client-js reads `suspendPayload.toolCallId`); the
        # list says every call that waits, when a step made several.
        waiting = [{"toolCallId": p.call_id, "toolName": p.tool, "args": p.arguments} for p in result.pending_approvals]
        found["suspendPayload"] = {**waiting[0], "resumeSchema": APPROVAL_SCHEMA, "pendingApprovals": waiting}
    return found
