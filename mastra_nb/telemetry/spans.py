"""The spans of each kind of work, and the attributes they carry: the one place that names them.

Instrumented modules make one call each (`with spans.tool_call(tool, input) as span:`) and hand over what they
produced (`spans.tool_result(span, result, cached=hit)`). Names follow OpenTelemetry's GenAI conventions where
they exist (`invoke_agent <name>`, `chat <model>`, `execute_tool <name>`, `gen_ai.usage.input_tokens`, ...);
mastra_nb's own are under `mastra.` (`mastra.usage.cost_usd`, `mastra.tool.cached`, `mastra.model.replayed`).
Components are read by duck typing, so telemetry imports nothing from agents, models, tools or workflows.

| kind | span name | main attributes |
|---|---|---|
| agent | `invoke_agent <agent>` | `gen_ai.agent.name`, `mastra.run.id`, `mastra.thread.id`, tokens, cost, steps |
| model | `chat <model>` | `gen_ai.request.model`, `gen_ai.response.model`, tokens, cost, finish reasons, replayed |
| tool | `execute_tool <tool>` | `gen_ai.tool.name`, `gen_ai.tool.call.id`, cached, attempts |
| mcp_tool | `execute_tool <tool>` | as a tool's, and `mastra.mcp.server`, `mastra.mcp.tool` (a tool of an MCP server) |
| workflow | `workflow <id>` | `mastra.workflow.id`, `mastra.run.id`, resumed, status |
| step | `step <id>` | `mastra.step.id`, `mastra.step.path`, attempts, status (suspended, bailed) |
| parallel, branch, loop, foreach, sleep | `<kind> <path>` | `mastra.step.path` |
| scorer | `score <scorer>` | `mastra.scorer.id`, score; linked to the span it judged |
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from .tracing import SpanScope, active_telemetry, current_span

__all__ = [
    "agent_result", "agent_run", "current_trace_id", "event", "judge_result", "judge_run", "model_call",
    "model_response", "step_input", "step_result", "tool_call", "tool_call_id", "tool_result", "workflow_block",
    "workflow_result", "workflow_run", "workflow_step",
]  # fmt: skip

_REQUEST_OPTIONS = ("temperature", "max_tokens", "top_p", "top_k", "seed", "frequency_penalty", "presence_penalty")

# The id of the tool call an agent is about to execute, with the span that asked (its tool span is a child).
_TOOL_CALL: ContextVar[tuple[str, SpanScope | None] | None] = ContextVar("mastra_nb_tool_call", default=None)


def current_trace_id() -> str | None:
    """The trace id of the innermost open span (None when there is none, or tracing is off)."""
    span = current_span()
    return span.trace_id if span is not None else None


def event(name: str, **attributes: Any) -> None:
    """Add an event (a retry, a fallback) to the innermost open span, if any."""
    span = current_span()
    if span is not None:
        span.event(name, attributes)


# -- agents ---------------------------------------------------------------------------------------------------


def agent_run(agent: Any, run: Any, messages: Any) -> SpanScope:
    """The span of one agent run (`generate`, `stream`, or a resume after approval), with its memory thread."""
    memory = run.memory or {}
    span = active_telemetry(agent.mastra).span("agent", f"invoke_agent {agent.name}", {
        "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": agent.name,
        "gen_ai.agent.description": agent.description, "mastra.run.id": run.state.run_id,
        "gen_ai.request.model": run.model.name, "mastra.agent.max_steps": run.max_steps,
        "mastra.thread.id": memory.get("thread_id"), "mastra.resource.id": memory.get("resource_id"),
    })  # fmt: skip
    span.input(messages)
    return span


def judge_run(hub: Any, name: str, run_id: str, model: Any, prompt: Any) -> SpanScope:
    """The span of a scorer's judge: an agent span (`invoke_agent judge_<scorer>`) of one answer, no tools."""
    span = active_telemetry(hub).span("agent", f"invoke_agent {name}", {
        "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": name, "mastra.run.id": run_id,
        "gen_ai.request.model": model.name, "mastra.agent.max_steps": 1,
    })  # fmt: skip
    span.input(prompt)
    return span


def agent_result(span: SpanScope, result: Any) -> None:
    """What the run produced: answer, tokens, cost, steps."""
    span.set_many({
        **_answer_attributes(result.model, result.finish_reason, result.usage),
        "mastra.agent.steps": len(result.steps), "mastra.agent.tool_calls": len(result.tool_calls),
        "mastra.model.scripted": result.scripted or None,
    })  # fmt: skip
    if result.pending_approvals:
        span.status = "approval_required"
    span.output(result.object if result.object is not None else result.text)


def judge_result(span: SpanScope, response: Any, usage: Any, steps: int, scripted: bool, answer: Any) -> None:
    """What a judge answered: its last model response, the tokens and cost of its calls, the validated object."""
    span.set_many({
        **_answer_attributes(response.model, response.finish_reason, usage), "mastra.agent.steps": steps,
        "mastra.agent.tool_calls": 0, "mastra.model.scripted": scripted or None,
    })  # fmt: skip
    span.output(answer)


# -- models ---------------------------------------------------------------------------------------------------


def _answer_attributes(model: str, finish_reason: str, usage: Any) -> dict[str, Any]:
    """The GenAI attributes an agent run and a model call share: model, finish reason, tokens, cost."""
    return {
        "gen_ai.response.model": model, "gen_ai.response.finish_reasons": [finish_reason],
        "gen_ai.usage.input_tokens": usage.prompt_tokens, "gen_ai.usage.output_tokens": usage.completion_tokens,
        "mastra.usage.total_tokens": usage.total_tokens, "mastra.usage.cost_usd": usage.cost,
    }  # fmt: skip


def model_call(model: Any, request: Any, stream: bool) -> SpanScope:
    """The span of one model call (its retries and fallbacks included)."""
    telemetry = active_telemetry(None)
    options = {**model.options, **request.options}
    span = telemetry.span("model", f"chat {model.name}", {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": model.name.split("/", 1)[0],
        "gen_ai.request.model": model.name, "mastra.model.stream": stream,
        "mastra.model.tools": len(request.tools) or None,
        **{f"gen_ai.request.{key}": options.get(key) for key in _REQUEST_OPTIONS},
    })  # fmt: skip
    span.input(list(request.messages))
    return span


def model_response(span: SpanScope, response: Any) -> None:
    """The answer: model, finish reason, tokens, cost, and whether it was replayed from a recording."""
    span.set_many(
        {
            **_answer_attributes(response.model, response.finish_reason, response.usage),
            "mastra.model.replayed": response.replayed,
        }
    )
    calls = [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in response.tool_calls]
    span.output({"text": response.text, "tool_calls": calls} if calls else response.text)


# -- tools ----------------------------------------------------------------------------------------------------


@contextmanager
def tool_call_id(call_id: str) -> Iterator[None]:
    """Inside: the tool executed next (by this span) answers the model's call `call_id`."""
    token = _TOOL_CALL.set((call_id, current_span()))
    try:
        yield
    finally:
        _TOOL_CALL.reset(token)


def tool_call(tool: Any, input: Any) -> SpanScope:
    """The span of one tool execution (validation, cache, retries and all); a tool may name its span's kind
    (`span_kind`) and add attributes (`span_attributes`), as an MCP server's tools do."""
    asked = _TOOL_CALL.get()
    call_id = asked[0] if asked is not None and asked[1] is current_span() else None
    span = active_telemetry(tool.mastra).span(getattr(tool, "span_kind", "tool"), f"execute_tool {tool.id}", {
        "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool.id, "gen_ai.tool.call.id": call_id,
        "gen_ai.tool.description": tool.description, **getattr(tool, "span_attributes", {}),
    })  # fmt: skip
    span.input(input)
    return span


def tool_result(span: SpanScope, result: Any, *, cached: bool, attempts: int) -> None:
    span.set_many({"mastra.tool.cached": cached, "mastra.tool.attempts": attempts})
    span.output(result)


# -- workflows ------------------------------------------------------------------------------------------------


def workflow_run(run: Any) -> SpanScope:
    """The span of one pass of a workflow run: a start, a resume or a restart (a run that is not pending)."""
    workflow = run.workflow
    span = active_telemetry(workflow.mastra).span("workflow", f"workflow {workflow.id}", {
        "mastra.workflow.id": workflow.id, "mastra.run.id": run.run_id,
        "mastra.workflow.resumed": run.status != "pending",
        "mastra.resource.id": run.resource_id, "mastra.run.parent_id": (run.parent or {}).get("run_id"),
    })  # fmt: skip
    span.input(run.input)
    return span


def workflow_result(span: SpanScope, run: Any) -> None:
    """The pass's outcome: status, output or error, suspended paths."""
    if run.error is not None:
        span.error(run.error)
    elif run.status == "success":
        span.output(run.output)
    span.status = run.status
    if run.suspended:
        span.set("mastra.workflow.suspended", list(run.suspended))


def workflow_step(execution: Any, unit: Any, path: str) -> SpanScope:
    """The span of a step (or nested workflow) at `path`. A step the journal says is done is replayed without
    running, and one still suspended is passed over: neither gets a span."""
    telemetry = active_telemetry(execution.run.workflow.mastra)
    if not telemetry.enabled:  # the common case in tight loops: build nothing
        return telemetry.silent()
    record = execution.journal.records.get(path)
    resuming = execution.resume is not None and execution.resume[0] == path
    if record is not None and (record.status == "success" or (record.status == "suspended" and not resuming)):
        return telemetry.silent()
    plain = {**_run_attributes(execution, telemetry), "mastra.step.id": unit.id, "mastra.step.path": path}
    if resuming:
        plain["mastra.step.resumed"] = True
    if not hasattr(unit, "call"):  # a Step has `call`, a nested Workflow not
        plain["mastra.step.nested_workflow"] = True
    return telemetry.span("step", f"step {unit.id}", plain=plain)


def _run_attributes(execution: Any, telemetry: Any) -> dict[str, Any]:
    """The attributes every step and block span of a run pass carries, redacted once for the pass."""
    found: dict[str, Any] | None = execution.span_attributes
    if found is None:
        run = execution.run
        found = execution.span_attributes = {
            "mastra.workflow.id": run.workflow.id, "mastra.run.id": telemetry.redactor.text(run.run_id),
        }  # fmt: skip
    return found


def step_input(span: SpanScope, execution: Any, unit: Any, path: str, data: Any) -> None:
    """What the step was given: its input as the journal keeps it, once validated, else `data` as it came. The
    journal's form of a value with a schema is JSON made for it alone, so it is encoded when the span is written."""
    record = execution.journal.records.get(path)
    if record is not None and record.input is not None:
        span.input(record.input, fresh=unit.input.typed)
    else:
        span.input(data)


def step_result(span: SpanScope, execution: Any, unit: Any, path: str, output: Any) -> None:
    """What the step produced (as the journal keeps it, like its input), and how many attempts it took."""
    record = execution.journal.records.get(path)
    if record is None:
        span.output(output)
        return
    if record.attempt:
        span.set("mastra.step.attempts", record.attempt)
    span.output(record.output, fresh=unit.output.typed)


def workflow_block(execution: Any, kind: str, path: str, attributes: Mapping[str, Any] | None = None) -> SpanScope:
    """The span of a parallel block, a branch, a loop, a foreach or a sleep at `path`; a block the journal shows
    done (every record inside it a success) is replayed, and gets no span."""
    telemetry = active_telemetry(execution.run.workflow.mastra)
    if not telemetry.enabled or telemetry.step_spans == "off" or execution.replayed(path):
        return telemetry.silent()
    plain = {**_run_attributes(execution, telemetry), "mastra.step.path": path, **(attributes or {})}
    return telemetry.span(kind, f"{kind} {path}", plain=plain)
