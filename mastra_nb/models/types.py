"""The records a model call produces, independent of litellm: a response, its tool calls, usage and deltas.

They are frozen dataclasses, stored as JSON through `records` (`records.dump`, `records.load`): that is how
record/replay keeps a response and how a paused agent run keeps its steps. Each says, with `records.defaults`, how
records of earlier versions load.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import Field

from .. import records

__all__ = ["Message", "ModelRequest", "ModelResponse", "TextDelta", "ToolCall", "Usage"]

Message = dict[str, Any]  # an OpenAI-format chat message: {"role": ..., "content": ..., ...}


@dataclass(frozen=True)
class ToolCall:
    """A tool call a model asked for.

    Attributes:
        id: the provider's id of the call; the tool's result is sent back under it.
        name: the tool's name as the model saw it.
        arguments: the arguments as the JSON text the model wrote (it may be invalid JSON).
    """

    id: str
    name: str
    arguments: str

    __get_pydantic_core_schema__ = records.defaults(arguments="")

    def parsed_arguments(self) -> Any:
        """The arguments decoded from JSON (an empty text is `{}`); raises `ValueError` on invalid JSON."""
        return json.loads(self.arguments) if self.arguments.strip() else {}

    def to_message(self) -> dict[str, Any]:
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


@dataclass(frozen=True)
class Usage:
    """Tokens a call (or a whole run) used, and its cost in USD when litellm knows the model's prices."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost: float | None = None

    __get_pydantic_core_schema__ = records.defaults(
        prompt_tokens=0,
        completion_tokens=0,
        total_tokens=lambda d: int(d["prompt_tokens"]) + int(d["completion_tokens"]),
    )

    def __add__(self, other: Usage) -> Usage:
        costs = [c for c in (self.cost, other.cost) if c is not None]
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.total_tokens + other.total_tokens,
            sum(costs) if costs else None,
        )


@dataclass(frozen=True)
class ModelResponse:
    """One answer of a model.

    Attributes:
        text: the assistant's text ("" when it only called tools).
        tool_calls: the tools it asked to call. This, not `finish_reason`, says whether it called tools:
            some providers (and litellm's mocks) report "stop" with tool calls.
        finish_reason: the provider's reason ("stop", "tool_calls", "length", "content_filter", ...).
        usage: tokens and cost.
        model: the model that answered (a fallback's name when the primary failed).
        replayed: True when the response came from a recording, not from the model.
    """

    text: str
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str = "stop"
    usage: Usage = field(default_factory=Usage)
    model: str = ""
    replayed: Annotated[bool, Field(exclude=True)] = False  # set by replay, never stored

    __get_pydantic_core_schema__ = records.defaults(
        text="", tool_calls=(), finish_reason="stop", usage=Usage(), model=""
    )

    def message(self) -> Message:
        """The assistant message to append to the conversation."""
        message: Message = {"role": "assistant", "content": self.text or None}
        if self.tool_calls:
            message["tool_calls"] = [call.to_message() for call in self.tool_calls]
        return message


@dataclass(frozen=True)
class TextDelta:
    """A piece of the assistant's text, as a streamed call produces it."""

    text: str
    kind: Literal["text-delta"] = "text-delta"


@dataclass(frozen=True)
class ModelRequest:
    """What is asked of a model, apart from which model and where: the part record/replay keys on.

    Attributes:
        messages: the conversation, OpenAI-format.
        tools: function tools in OpenAI's format, or empty.
        tool_choice: "auto", "none", "required" or `{"type": "function", "function": {"name": ...}}`.
        response_format: e.g. `{"type": "json_schema", "json_schema": {...}}`.
        options: other per-call options for the provider (temperature, max_tokens, seed, ...).
    """

    messages: tuple[Message, ...]
    tools: tuple[dict[str, Any], ...] = ()
    tool_choice: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"messages": list(self.messages)}
        if self.tools:
            data["tools"] = list(self.tools)
        if self.tool_choice is not None:
            data["tool_choice"] = self.tool_choice
        if self.response_format is not None:
            data["response_format"] = self.response_format
        if self.options:
            data["options"] = dict(self.options)
        return data
