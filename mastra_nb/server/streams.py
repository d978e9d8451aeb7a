"""Streams as Mastra frames them, which `@mastra/client-js` parses.

Agents stream Server-Sent Events: one `data: <chunk JSON>\\n\\n` frame per chunk, ending `data: [DONE]\\n\\n`.
Workflows stream JSON records, each followed by the byte 0x1E (ASCII record separator), until the end of the body.
Each frame is sent as soon as it is made (Starlette's `StreamingResponse` writes every yielded piece at once), so a
client sees tokens as the model produces them. A failure after the stream has begun cannot change the status any
more: it goes out as an `error` chunk (the `MastraError`'s message and code, which are redacted; anything else only
by its type), and the stream still ends properly.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from pydantic_core import to_jsonable_python
from starlette.responses import StreamingResponse

from ..agents import (
    AgentEvent,
    AgentResult,
    AgentStep,
    ApprovalRequiredEvent,
    ErrorEvent,
    FinishEvent,
    PendingApproval,
    StepFinishEvent,
    TextDeltaEvent,
    ToolCallEvent,
    ToolResultEvent,
)  # fmt: skip
from ..errors import ErrorKind, MastraError
from ..events import STEP_COMPLETED, STEP_STARTED, STEP_SUSPENDED, WORKFLOW_STARTED, Event
from ..redaction import guard
from .shapes import APPROVAL_SCHEMA, chunk, finish_reason, object_of, tool_call_chunk, tool_result_chunk, usage_of

__all__ = ["AgentChunks", "WorkflowChunks", "error_chunk", "listed", "records", "shutting_down", "sse"]

logger = guard(logging.getLogger("mastra_nb.server"))

_NO_BUFFERING = {"Cache-Control": "no-cache", "Connection": "keep-alive", "X-Accel-Buffering": "no"}


def _encode(value: Any) -> bytes:
    # json.dumps escapes newlines inside strings, so a frame never holds the blank line that ends an SSE event.
    jsonable = to_jsonable_python(value, fallback=str, inf_nan_mode="null")
    return json.dumps(jsonable, separators=(",", ":"), ensure_ascii=False).encode()


def sse(chunks: AsyncIterator[dict[str, Any]]) -> StreamingResponse:
    """An agent stream: each chunk as an SSE `data:` frame, then `data: [DONE]`."""

    async def frames() -> AsyncIterator[bytes]:
        async for item in chunks:
            yield b"data: " + _encode(item) + b"\n\n"
        yield b"data: [DONE]\n\n"

    return StreamingResponse(frames(), media_type="text/event-stream", headers=_NO_BUFFERING)


def records(chunks: AsyncIterator[dict[str, Any]]) -> StreamingResponse:
    """A workflow stream: each chunk as JSON followed by the record separator."""

    async def frames() -> AsyncIterator[bytes]:
        async for item in chunks:
            yield _encode(item) + b"\x1e"

    return StreamingResponse(frames(), media_type="text/plain; charset=utf-8", headers=_NO_BUFFERING)


async def listed(items: list[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    """Chunks made already, as a stream."""
    for item in items:
        yield item


def error_chunk(error: BaseException, run_id: str, source: str = "AGENT") -> dict[str, Any]:
    """The `error` chunk for a failure in the middle of a stream."""
    if isinstance(error, MastraError):
        return chunk("error", run_id, {"error": {"message": error.message, "code": error.code}}, source)
    logger.warning("a stream failed: %s", error, exc_info=error)
    message = f"Internal server error ({type(error).__name__})."
    return chunk("error", run_id, {"error": {"message": message, "code": "INTERNAL_ERROR"}}, source)


def shutting_down(run_id: str, source: str = "AGENT") -> dict[str, Any]:
    """The last chunk of a stream cut short by the server's shutdown."""
    kept = "the run is kept: observe or resume it later" if source == "WORKFLOW" else "the run stops here"
    error = MastraError(ErrorKind.SYSTEM, "SERVER_SHUTTING_DOWN", f"The server is shutting down; {kept}.")
    return error_chunk(error, run_id, source)


class AgentChunks:
    """An agent run's events as Mastra's chunks: `start`, then per step `step-start`, `text-delta`s, `tool-call`s,
    `tool-result`s, `tool-call-approval`s and `step-finish`, and last `finish` (or `error`)."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self._step = 0

    def start(self) -> dict[str, Any]:
        return chunk("start", self.run_id, {})

    def of(self, event: AgentEvent) -> list[dict[str, Any]]:
        run_id = self.run_id
        found = (
            self._step_start(event.step) if isinstance(event, (TextDeltaEvent, ToolCallEvent, ToolResultEvent)) else []
        )
        if isinstance(event, TextDeltaEvent):
            found.append(chunk("text-delta", run_id, {"id": self._text_id, "text": event.text}))
        elif isinstance(event, ToolCallEvent):
            found.append(tool_call_chunk(run_id, event.call))
        elif isinstance(event, ToolResultEvent):
            found.append(tool_result_chunk(run_id, event.result))
        elif isinstance(event, ApprovalRequiredEvent):
            found.append(self.approval(event.approval))
        elif isinstance(event, StepFinishEvent):
            found.append(self.step_finish(event.step))
        elif isinstance(event, FinishEvent):
            if event.result.object is not None:  # Mastra's chunk for structured output: `object` beside, no payload
                found.append(
                    {"type": "object-result", "runId": run_id, "from": "AGENT", "object": object_of(event.result)}
                )
            found.append(self.finish(event.result))
        elif isinstance(event, ErrorEvent):
            found.append(error_chunk(event.error, run_id))
        return found

    def approval(self, approval: PendingApproval) -> dict[str, Any]:
        return chunk("tool-call-approval", self.run_id, {
            "toolCallId": approval.call_id, "toolName": approval.tool, "args": approval.arguments,
            "resumeSchema": APPROVAL_SCHEMA,
        })  # fmt: skip

    def step_finish(self, step: AgentStep) -> dict[str, Any]:
        reason = finish_reason(step.finish_reason)
        return chunk("step-finish", self.run_id, {
            "stepResult": {"reason": reason, "isContinued": bool(step.tool_calls)},
            "output": {"usage": usage_of(step.usage)}, "metadata": {"modelId": step.model},
            "messageId": self._text_id,
        })  # fmt: skip

    def finish(self, result: AgentResult) -> dict[str, Any]:
        usage = usage_of(result.usage)
        return chunk("finish", self.run_id, {
            "stepResult": {"reason": finish_reason(result.finish_reason)},
            "output": {"usage": usage}, "usage": usage,  # client-js reads `payload.usage`; Mastra's core `output`
            "metadata": {"modelId": result.model, "traceId": result.trace_id},
            "messages": {"all": [], "user": [], "nonUser": []},
        })  # fmt: skip

    def after_decision(self, result: AgentResult, call_id: str) -> list[dict[str, Any]]:
        """The chunks of a run that went on after a decision on `call_id` (approve/decline-tool-call): the decided
        call's result, the rest of its step, and every step after it, then `finish`.

        A decision resumes the run in the core without a stream, so these are made from its result: the text of a
        step arrives as one `text-delta`.
        """
        run_id = self.run_id
        found = [self.start()]
        paused = next((i for i, s in enumerate(result.steps) if any(c.id == call_id for c in s.tool_calls)), None)
        if paused is not None:
            step = result.steps[paused]
            self._step = step.number
            found += [tool_result_chunk(run_id, item) for item in step.tool_results if item.call_id == call_id]
            found.append(self.step_finish(step))
            for step in result.steps[paused + 1 :]:
                found += self._step_start(step.number)
                if step.text:
                    found.append(chunk("text-delta", run_id, {"id": self._text_id, "text": step.text}))
                found += [tool_call_chunk(run_id, call) for call in step.tool_calls]
                found += [tool_result_chunk(run_id, item) for item in step.tool_results]
                found.append(self.step_finish(step))
        found += [self.approval(approval) for approval in result.pending_approvals]
        found.append(self.finish(result))
        return found

    @property
    def _text_id(self) -> str:
        return f"{self.run_id}-{self._step}"

    def _step_start(self, step: int) -> list[dict[str, Any]]:
        if step <= self._step:
            return []
        self._step = step
        return [chunk("step-start", self.run_id, {"messageId": self._text_id})]


class WorkflowChunks:
    """A workflow run's events as Mastra's workflow stream records."""

    def __init__(self, run_id: str, workflow_id: str) -> None:
        self.run_id, self.workflow_id = run_id, workflow_id

    def _record(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        return chunk(kind, self.run_id, payload, "WORKFLOW")

    def start(self) -> dict[str, Any]:
        return self._record("workflow-start", {"workflowId": self.workflow_id, "runId": self.run_id})

    def of(self, event: Event) -> dict[str, Any] | None:
        """The record of a bus event of the run (None for events with none: the run's own start, custom events)."""
        data = event.payload
        if event.name == WORKFLOW_STARTED:
            return None  # `start()` already said it: a resumed run announces a start again
        step = {"id": data.get("step_id"), "stepCallId": data.get("path")}
        if event.name == STEP_STARTED:
            return {**self._record("workflow-step-start", {**step, "status": "running"}), "id": step["id"]}
        if event.name == STEP_SUSPENDED:
            return self._record("workflow-step-suspended", {
                **step, "status": "suspended", "suspendPayload": data.get("payload"),
            })  # fmt: skip
        if event.name == STEP_COMPLETED:
            result = {**step, "status": data.get("status")}
            if data.get("status") == "success":
                result["output"] = data.get("output")
            if data.get("error") is not None:
                result["error"] = data["error"]
            return self._record("workflow-step-result", result)
        return None

    def step(self, step_id: str, path: str, status: str, output: Any, suspend: Any, error: Any) -> list[dict[str, Any]]:
        """The records of a step already run (for a stream that starts late, as `observe` does)."""
        ids = {"id": step_id, "stepCallId": path}
        found = [{**self._record("workflow-step-start", {**ids, "status": "running"}), "id": step_id}]
        if status == "suspended":
            found.append(self._record("workflow-step-suspended", {**ids, "status": status, "suspendPayload": suspend}))
        elif status in ("success", "failed"):
            result = {**ids, "status": status}
            if status == "success":
                result["output"] = output
            if error is not None:
                result["error"] = error
            found.append(self._record("workflow-step-result", result))
        return found

    def finish(self, status: str, result: dict[str, Any]) -> dict[str, Any]:
        """The last record: the run's status (`success`, `failed`, `suspended`, `canceled`) and its result."""
        return self._record("workflow-finish", {
            "workflowStatus": status, "finalWorkflowResult": result,
            "output": {"usage": {"inputTokens": 0, "outputTokens": 0, "totalTokens": 0}}, "metadata": {},
        })  # fmt: skip
