"""The tool loop: one async generator of events that `generate`, `stream` and approvals all drain.

Each turn reads top to bottom: call the model (streaming or not); no tool calls? then it is the answer (validated
against `output=`, with one repair round); otherwise run the calls (concurrently, each error sent back to the
model as the call's result), or pause the run when a call needs approval; then the next turn, until an answer or
`max_steps`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import structured
from ..errors import ErrorKind, MastraError
from ..limits import check_bounds
from ..models.model import Model
from ..models.types import Message, ModelResponse, TextDelta, ToolCall, Usage
from ..redaction import guard
from ..telemetry import spans
from ._options import RunOptions
from ._toolset import Toolset
from .results import (
    AgentEvent,
    AgentResult,
    AgentStep,
    ApprovalRequiredEvent,
    FinishEvent,
    PendingApproval,
    StepFinishEvent,
    TextDeltaEvent,
    ToolCallEvent,
    ToolResult,
    ToolResultEvent,
)  # fmt: skip

if TYPE_CHECKING:
    from ..memory.turn import MemoryTurn

__all__ = ["AgentRun", "PausedStep", "RunState", "arguments_of", "build_result", "drain", "run_loop"]

logger = guard(logging.getLogger("mastra_nb.agents"))


@dataclass
class PausedStep:
    """A step whose tool calls wait for decisions: the model's answer, the results so far, the decisions.

    It is stored (`records.dump`) while the run waits, and loaded (`records.load`) when the run goes on.
    """

    response: ModelResponse
    results: dict[str, ToolResult]  # by call id: the calls that needed no approval, already run
    decisions: dict[str, dict[str, Any] | None]  # by call id: None until approved or declined


@dataclass
class RunState:
    """Everything a run has done so far: what is stored while it waits for approval."""

    run_id: str
    messages: list[Message]
    steps: list[AgentStep] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    model: str = ""
    paused: PausedStep | None = None


@dataclass
class AgentRun:
    """One agent run as the loop drives it: its options, the tools the model sees, and its state.

    Built by `_prompt.start_run` for a new run and by `_approval.resume` for a run that goes on after approval.
    """

    options: RunOptions
    toolset: Toolset  # the options' tools and memory's
    tool_choice: str | dict[str, Any] | None  # the provider's form
    state: RunState
    turn: MemoryTurn | None = None  # what memory added, and how the turn is saved
    memory: dict[str, Any] | None = None  # the memory thread and where the turn's own messages start

    @property
    def model(self) -> Model:  # read with `max_steps`, `memory` and `state` by telemetry's agent span
        return self.options.model

    @property
    def max_steps(self) -> int:
        return self.options.max_steps

    def needs_approval(self, call: ToolCall) -> bool:
        # An unknown tool needs no approval: it is not run, the model only hears that it does not exist.
        return call.name in self.toolset.tools and (
            self.options.require_approval or call.name in self.toolset.needs_approval
        )


async def run_loop(run: AgentRun) -> AsyncIterator[AgentEvent]:
    """Drive the run to an answer, `max_steps`, or a pause for approval, yielding its events."""
    state = run.state
    if state.paused is not None:  # resuming: finish the step the pause interrupted
        async for event in _finish_paused_step(run):
            yield event
    output = run.options.output
    use_schema = output is not None and run.model.supports_json_schema()
    response_format = structured.response_format(output) if use_schema and output is not None else None
    while True:
        if len(state.steps) >= run.max_steps:
            yield FinishEvent(build_result(run, "max_steps", state.steps[-1].text if state.steps else ""))
            return
        number = len(state.steps) + 1
        response: ModelResponse | None = None
        async for item in _call_model(run, state.messages, run.toolset.specs, run.tool_choice, response_format):
            if isinstance(item, TextDelta):
                yield TextDeltaEvent(item.text, number)
            else:
                response = item
        assert response is not None
        state.usage += response.usage
        state.model = response.model
        if not response.tool_calls:
            step = AgentStep(number, response.text, (), (), response.finish_reason, response.usage, response.model)
            async for event in _end_step(run, step):
                yield event
            text, obj = response.text, None
            if output is not None:
                async for event in _structured(run, response_format):
                    if isinstance(event, tuple):
                        text, obj = event
                    else:
                        yield event
            yield FinishEvent(build_result(run, response.finish_reason, text, obj))
            return
        state.messages.append(response.message())
        for call in response.tool_calls:
            yield ToolCallEvent(call, number)
        external = [call for call in response.tool_calls if call.name in run.options.client_tools]
        if external:  # the caller runs these: the run ends with this step, its other calls run (or are refused)
            async for event in _external_step(run, number, response, external):
                yield event
            yield FinishEvent(build_result(run, "tool_calls", response.text))
            return
        waiting = [call for call in response.tool_calls if run.needs_approval(call)]
        ready = [call for call in response.tool_calls if call not in waiting]
        results = await _execute_all(run, ready)
        for result in results:
            yield ToolResultEvent(result, number)
        if waiting:
            state.paused = PausedStep(response, {r.call_id: r for r in results}, {c.id: None for c in waiting})
            assert run.options.approvals is not None, "checked before the run started"
            await run.options.approvals.save(run)
            pending = [PendingApproval(state.run_id, c.id, c.name, arguments_of(c)) for c in waiting]
            for approval in pending:
                yield ApprovalRequiredEvent(approval)
            yield FinishEvent(build_result(run, "approval_required", response.text, pending=pending))
            return
        async for event in _close_step(run, number, response, {r.call_id: r for r in results}):
            yield event


async def _call_model(
    run: AgentRun,
    messages: Sequence[Message],
    tools: Sequence[dict[str, Any]],
    tool_choice: str | dict[str, Any] | None,
    response_format: dict[str, Any] | None,
) -> AsyncIterator[TextDelta | ModelResponse]:
    options = run.options
    arguments: dict[str, Any] = {
        "tools": tools, "tool_choice": tool_choice if tools else None, "response_format": response_format,
        "options": options.provider_options, "timeout": options.timeout, "recorder": options.recorder,
    }  # fmt: skip
    if options.stream:
        async for item in run.model.stream(messages, **arguments):
            yield item
    else:
        yield await run.model.complete(messages, **arguments)


async def _external_step(
    run: AgentRun, number: int, response: ModelResponse, external: Sequence[ToolCall]
) -> AsyncIterator[AgentEvent]:
    """Close a step that called the caller's tools: run its other calls, except those needing approval, which a
    run that hands calls back cannot wait for (the model is told so); the caller's calls get no result here."""
    others = [call for call in response.tool_calls if call not in external]
    refused = [call for call in others if run.needs_approval(call)]
    results = await _execute_all(run, [call for call in others if call not in refused])
    for call in refused:
        problem = (f"`{call.name}` needs approval, which a run that hands tool calls back to its caller cannot wait "
                   "for; it was not run. Call it again on its own.")  # fmt: skip
        results.append(_failed(call, arguments_of(call), "TOOL_APPROVAL_UNAVAILABLE", problem))
    for result in results:
        yield ToolResultEvent(result, number)
    async for event in _close_step(run, number, response, {r.call_id: r for r in results}):
        yield event


async def _close_step(
    run: AgentRun, number: int, response: ModelResponse, results: Mapping[str, ToolResult]
) -> AsyncIterator[AgentEvent]:
    # Every call has a result, except the caller's own tools' calls, whose results the caller sends.
    ordered = tuple(results[call.id] for call in response.tool_calls if call.id in results)
    for result in ordered:  # one tool message per call, in the model's order
        run.state.messages.append({"role": "tool", "tool_call_id": result.call_id, "content": result.content()})
    step = AgentStep(number, response.text, response.tool_calls, ordered, response.finish_reason, response.usage,
                      response.model)  # fmt: skip
    async for event in _end_step(run, step):
        yield event


async def _end_step(run: AgentRun, step: AgentStep) -> AsyncIterator[AgentEvent]:
    run.state.steps.append(step)
    hook = run.options.on_step_finish
    if hook is not None:
        outcome = hook(step)
        if inspect.isawaitable(outcome):
            await outcome
    yield StepFinishEvent(step)


async def _finish_paused_step(run: AgentRun) -> AsyncIterator[AgentEvent]:
    paused = run.state.paused
    assert paused is not None
    number = len(run.state.steps) + 1
    calls = {call.id: call for call in paused.response.tool_calls}
    approved = [calls[cid] for cid, d in paused.decisions.items() if d is not None and d["decision"] == "approved"]
    results = dict(paused.results)
    for result in await _execute_all(run, approved):
        results[result.call_id] = result
        yield ToolResultEvent(result, number)
    for cid, decision in paused.decisions.items():
        if decision is not None and decision["decision"] == "declined":
            reason = f" Reason: {decision['reason']}" if decision.get("reason") else ""
            error = MastraError(
                ErrorKind.DOMAIN, "TOOL_CALL_DECLINED",
                f"A person declined this call of `{calls[cid].name}`; it was not run.{reason}",
                details={"by": decision.get("by")},
            )  # fmt: skip
            results[cid] = ToolResult(cid, calls[cid].name, arguments_of(calls[cid]), None, error.to_dict())
            yield ToolResultEvent(results[cid], number)
    run.state.paused = None
    async for event in _close_step(run, number, paused.response, results):
        yield event


async def _structured(run: AgentRun, response_format: dict[str, Any] | None) -> AsyncIterator[Any]:
    """Validate the answer against `output=`; one repair round; yields events, then `(text, object)`."""
    output, agent = run.options.output, run.options.agent
    assert output is not None
    text = run.state.steps[-1].text
    obj, problems = structured.parse(output, text)
    if obj is None:
        assert problems is not None
        logger.info("Agent `%s`: the answer is not a valid `%s` (%s); asking once for a repair.",
                    agent, output.__name__, problems)  # fmt: skip
        messages = [*run.state.messages, {"role": "assistant", "content": text},
                    {"role": "user", "content": structured.repair_prompt(output, problems)}]  # fmt: skip
        number = len(run.state.steps) + 1
        response: ModelResponse | None = None
        async for item in _call_model(run, messages, (), None, response_format):
            if isinstance(item, TextDelta):
                yield TextDeltaEvent(item.text, number)
            else:
                response = item
        assert response is not None
        run.state.usage += response.usage
        run.state.model = response.model
        step = AgentStep(number, response.text, (), (), response.finish_reason, response.usage, response.model,
                          "repair")  # fmt: skip
        async for event in _end_step(run, step):
            yield event
        text = response.text
        obj, problems = structured.parse(output, text)
        if obj is None:
            raise structured.invalid_output(output, text, problems or "", agent)
    yield (text, obj)


async def _execute_all(run: AgentRun, calls: Sequence[ToolCall]) -> list[ToolResult]:
    if not calls:
        return []
    if len(calls) == 1:  # the common case skips gather's task per call
        return [await _execute(run, calls[0])]
    return list(await asyncio.gather(*(_execute(run, call) for call in calls)))


async def _execute(run: AgentRun, call: ToolCall) -> ToolResult:
    """Run one call; every failure becomes an error result the model reads, and the loop goes on."""
    found = run.toolset.tools.get(call.name)
    if found is None:
        known = ", ".join(f"`{name}`" for name in run.toolset.tools) or "none"
        return _failed(call, call.arguments, "AGENT_TOOL_UNKNOWN", f"There is no tool named `{call.name}`; the "
                       f"tools are: {known}.")  # fmt: skip
    try:
        arguments = call.parsed_arguments()
        check_bounds(arguments, code="TOOL_ARGUMENTS_INVALID", subject=f"arguments of `{call.name}`")
    except MastraError as error:  # too deep or too large: the model reads why, the run goes on
        return ToolResult(call.id, call.name, call.arguments, None, error.to_dict())
    except ValueError as exc:
        problem = f"The arguments of `{call.name}` are not valid JSON ({exc}); send a JSON object."
        return _failed(call, call.arguments, "TOOL_ARGUMENTS_INVALID", problem)
    except RecursionError:  # json's decoder recurses: ~1,000 levels of nesting exhaust the stack
        problem = f"The arguments of `{call.name}` are nested too deep to read; send a flatter JSON object."
        return _failed(call, call.arguments, "TOOL_ARGUMENTS_INVALID", problem)
    if not isinstance(arguments, dict):
        problem = f"The arguments of `{call.name}` must be a JSON object, got {type(arguments).__name__}."
        return _failed(call, arguments, "TOOL_ARGUMENTS_INVALID", problem)
    try:
        with spans.tool_call_id(call.id):
            value = await found.execute(arguments, run.options.context)
    except MastraError as error:
        logger.debug("Agent `%s`: tool `%s` failed: %s", run.options.agent, call.name, error)
        return ToolResult(call.id, call.name, arguments, None, error.to_dict())
    return ToolResult(call.id, call.name, arguments, value)


def _failed(call: ToolCall, arguments: Any, code: str, message: str) -> ToolResult:
    error = MastraError(ErrorKind.VALIDATION, code, message, details={"tool": call.name})
    return ToolResult(call.id, call.name, arguments, None, error.to_dict())


def arguments_of(call: ToolCall) -> Any:
    """The call's arguments decoded, or their raw text when they are not JSON or too deep to keep decoded."""
    try:
        arguments = call.parsed_arguments()
        check_bounds(arguments, code="TOOL_ARGUMENTS_INVALID", subject=f"arguments of `{call.name}`")
    except (ValueError, RecursionError, MastraError):
        return call.arguments
    return arguments


def build_result(
    run: AgentRun, finish_reason: str, text: str, obj: Any = None, pending: list[PendingApproval] | None = None
) -> AgentResult:
    steps = list(run.state.steps)
    calls = [call for step in steps for call in step.tool_calls]
    results = [result for step in steps for result in step.tool_results]
    paused = run.state.paused
    if paused is not None:  # the paused step's calls, and the results of those that needed no approval
        calls += paused.response.tool_calls
        results += [paused.results[c.id] for c in paused.response.tool_calls if c.id in paused.results]
    return AgentResult(
        text=text,
        object=obj,
        tool_calls=calls,
        tool_results=results,
        steps=steps,
        usage=run.state.usage,
        finish_reason=finish_reason,
        run_id=run.state.run_id,
        model=run.state.model,
        pending_approvals=list(pending or ()),
        scripted=run.model.scripted,
        trace_id=spans.current_trace_id(),
    )


async def drain(run: AgentRun) -> AgentResult:
    """Drive the run to its end without a consumer of its events (`generate`, a resume after approval)."""
    async for event in run_loop(run):
        if isinstance(event, FinishEvent):
            return event.result
    raise AssertionError("unreachable: the loop ends with a FinishEvent or raises")  # pragma: no cover
