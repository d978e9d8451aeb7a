"""What an agent run produces: tool results, steps, the final result, and the events of a stream.

Records are frozen dataclasses. Steps and tool results are stored as JSON through `records` (`records.dump`,
`records.load`), which is how a run paused for approval is kept; events carry a `kind` literal so a consumer can
switch on it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic_core import to_jsonable_python

from .. import records
from ..errors import MastraError
from ..models.types import ToolCall, Usage

__all__ = [
    "AgentEvent",
    "AgentResult",
    "AgentStep",
    "AgentStream",
    "ApprovalRequiredEvent",
    "ErrorEvent",
    "FinishEvent",
    "PendingApproval",
    "StepFinishEvent",
    "TextDeltaEvent",
    "ToolCallEvent",
    "ToolResult",
    "ToolResultEvent",
]


def jsonable(value: Any) -> Any:
    """`value` as JSON-compatible data (pydantic models and dataclasses dumped; unknown objects as `str`)."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return to_jsonable_python(value, fallback=str)


@dataclass(frozen=True)
class ToolResult:
    """The outcome of one tool call: a result, or an error the model was told about.

    Attributes:
        call_id: the id of the `ToolCall` it answers.
        tool: the tool's name as the model saw it.
        arguments: the arguments, decoded (the raw text when the model sent invalid JSON).
        result: what the tool returned (None on error).
        error: the error as `MastraError.to_dict()` (`code` `TOOL_INPUT_INVALID`, `AGENT_TOOL_UNKNOWN`,
            `TOOL_EXECUTION_FAILED`, `TOOL_CALL_DECLINED`, ...), or None.
    """

    call_id: str
    tool: str
    arguments: Any
    result: Any = None
    error: dict[str, Any] | None = None

    __get_pydantic_core_schema__ = records.defaults(arguments=None)

    @property
    def is_error(self) -> bool:
        return self.error is not None

    def content(self) -> str:
        """The text the model reads as the tool's answer."""
        if self.error is not None:
            return f"Error [{self.error.get('code')}]: {self.error.get('message')}"
        if isinstance(self.result, str):
            return self.result
        return json.dumps(jsonable(self.result), ensure_ascii=False)


@dataclass(frozen=True)
class PendingApproval:
    """A tool call waiting for `agent.approve_tool_call(run_id, call_id)` or `decline_tool_call(...)`."""

    run_id: str
    call_id: str
    tool: str
    arguments: Any


@dataclass(frozen=True)
class AgentStep:
    """One model call of a run and the tool calls it led to.

    Attributes:
        number: 1 for the first model call of the run.
        kind: "model" for a turn of the tool loop, "repair" for the extra call that fixes invalid structured output.
    """

    number: int
    text: str
    tool_calls: tuple[ToolCall, ...]
    tool_results: tuple[ToolResult, ...]
    finish_reason: str
    usage: Usage
    model: str
    kind: Literal["model", "repair"] = "model"

    __get_pydantic_core_schema__ = records.defaults(
        text="", tool_calls=(), tool_results=(), finish_reason="", usage=Usage(), model="", kind="model"
    )


@dataclass(frozen=True)
class AgentResult:
    """The result of `agent.generate(...)` (and the last event of `agent.stream(...)`).

    Attributes:
        text: the final answer's text.
        object: the validated `output=` model instance, or None.
        tool_calls, tool_results: every tool call of the run and its outcome, in order.
        steps: each model call and its tool calls.
        usage: tokens (and cost, where litellm knows the prices) summed over the steps.
        finish_reason: "stop", "length", "content_filter" (the model's), "max_steps" (the loop's cap was
            reached while the model still called tools), or "approval_required" (the run waits for
            `approve_tool_call`/`decline_tool_call`; see `pending_approvals`).
        run_id: the run's id, which approvals name.
        model: the model that gave the last answer.
        pending_approvals: the tool calls waiting for a decision.
        scripted: True when a `ScriptedModel` produced the answers: they come from a script, not a language model.
        trace_id: the run's trace (`await hub.traces.get(result.trace_id)`), or None when tracing is off.
    """

    text: str
    object: Any
    tool_calls: list[ToolCall]
    tool_results: list[ToolResult]
    steps: list[AgentStep]
    usage: Usage
    finish_reason: str
    run_id: str
    model: str
    pending_approvals: list[PendingApproval] = field(default_factory=list)
    scripted: bool = False
    trace_id: str | None = None

    def __str__(self) -> str:
        return f"[scripted] {self.text}" if self.scripted else self.text

    def __repr__(self) -> str:
        label = " scripted=True," if self.scripted else ""
        text = self.text if len(self.text) <= 60 else self.text[:57] + "..."
        return (
            f"AgentResult({text!r},{label} finish_reason={self.finish_reason!r}, steps={len(self.steps)}, "
            f"tool_calls={len(self.tool_calls)}, tokens={self.usage.total_tokens}, model={self.model!r})"
        )

    def _repr_markdown_(self) -> str:
        label = "*Scripted reply (`ScriptedModel`), not a language model.*\n\n" if self.scripted else ""
        pending = "".join(f"\n- waiting for approval: `{p.tool}` (call `{p.call_id}`)" for p in self.pending_approvals)
        return f"{label}{self.text}{pending}"

    def _repr_html_(self) -> str:
        from ..display.reprs import agent_result_html  # imported on first display: import mastra_nb stays light

        return agent_result_html(self)


# -- stream events ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TextDeltaEvent:
    """A piece of the answer's text."""

    text: str
    step: int
    kind: Literal["text-delta"] = "text-delta"


@dataclass(frozen=True)
class ToolCallEvent:
    """The model called a tool (the call is complete: its arguments are all there)."""

    call: ToolCall
    step: int
    kind: Literal["tool-call"] = "tool-call"


@dataclass(frozen=True)
class ToolResultEvent:
    """A tool call finished, with a result or an error the model will read."""

    result: ToolResult
    step: int
    kind: Literal["tool-result"] = "tool-result"


@dataclass(frozen=True)
class ApprovalRequiredEvent:
    """A tool call waits for approval; the run pauses after this step."""

    approval: PendingApproval
    kind: Literal["approval-required"] = "approval-required"


@dataclass(frozen=True)
class StepFinishEvent:
    """A step (a model call and its tool calls) is done."""

    step: AgentStep
    kind: Literal["step-finish"] = "step-finish"


@dataclass(frozen=True)
class ErrorEvent:
    """The run failed; the stream raises the same error right after this event."""

    error: MastraError
    kind: Literal["error"] = "error"


@dataclass(frozen=True)
class FinishEvent:
    """The run is over (or paused for approval); the last event of a stream."""

    result: AgentResult
    kind: Literal["finish"] = "finish"


AgentEvent = (
    TextDeltaEvent
    | ToolCallEvent
    | ToolResultEvent
    | ApprovalRequiredEvent
    | StepFinishEvent
    | ErrorEvent
    | FinishEvent
)


class AgentStream:
    """What `agent.stream(...)` returns: an async iterator of `AgentEvent`s ending with a `FinishEvent`.

    A failed run yields an `ErrorEvent` and then raises its `MastraError`. `await stream.result()` reads the
    rest of the events and returns the `AgentResult`.
    """

    def __init__(self, events: AsyncIterator[AgentEvent]) -> None:
        self._events = events
        self._result: AgentResult | None = None

    def __aiter__(self) -> AgentStream:
        return self

    async def __anext__(self) -> AgentEvent:
        event = await self._events.__anext__()
        if isinstance(event, FinishEvent):
            self._result = event.result
        return event

    async def result(self) -> AgentResult:
        """Consume the remaining events and return the final result."""
        async for _ in self:
            pass
        if self._result is None:  # pragma: no cover - the loop always ends with a FinishEvent or raises
            raise RuntimeError("the agent's stream ended without a result")
        return self._result
