"""Agents: a model, instructions and tools, run through the tool loop.

`Agent.generate` returns an `AgentResult`; `Agent.stream` yields typed events ending with one. Tool calls
may wait for a person's approval (`approve_tool_call` / `decline_tool_call`), also after a restart.
"""

from .agent import Agent
from .results import (
    AgentEvent,
    AgentResult,
    AgentStep,
    AgentStream,
    ApprovalRequiredEvent,
    ErrorEvent,
    FinishEvent,
    PendingApproval,
    StepFinishEvent,
    TextDeltaEvent,
    ToolCallEvent,
    ToolResult,
    ToolResultEvent,
)

__all__ = [
    "Agent",
    "AgentResult",
    "AgentStream",
    "AgentEvent",
    "AgentStep",
    "ToolResult",
    "PendingApproval",
    "TextDeltaEvent",
    "ToolCallEvent",
    "ToolResultEvent",
    "ApprovalRequiredEvent",
    "StepFinishEvent",
    "ErrorEvent",
    "FinishEvent",
]
