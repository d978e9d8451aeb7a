"""The records memory keeps: `Thread` and `MemoryMessage`, and their one translation to and from OpenAI messages.

A message's content is a list of parts, as stored: `{"type": "text", "text"}`, `{"type": "tool-call", "id",
"name", "arguments"}` and `{"type": "tool-result", "id", "name", "result"}`. A model sees them as OpenAI messages:
an assistant message with `tool_calls`, then one `tool` message per result.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from ..errors import ErrorKind, MastraError
from ..models.types import Message

__all__ = ["MemoryMessage", "Part", "RecalledMessage", "Role", "Thread", "from_openai", "to_openai"]

Role = Literal["system", "user", "assistant", "tool"]
Part = dict[str, Any]


@dataclass(frozen=True)
class Thread:
    """A conversation: its id, the resource (user, account, ...) it belongs to, a title and metadata."""

    id: str
    resource_id: str
    title: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Thread:
        return cls(
            row["id"],
            row["resource_id"],
            row["title"],
            dict(row["metadata"] or {}),
            row["created_at"],
            row["updated_at"],
        )

    def to_row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "resource_id": self.resource_id,
            "title": self.title,
            "metadata": self.metadata,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True)
class MemoryMessage:
    """A stored message of a thread."""

    id: str
    thread_id: str
    resource_id: str
    role: Role
    content: list[Part]
    created_at: datetime

    @property
    def text(self) -> str:
        """The message's text parts, joined."""
        return "\n".join(p["text"] for p in self.content if p.get("type") == "text" and p.get("text"))

    def describe(self) -> str:
        """One line of what the message says, tool calls and results included, for a prompt or a listing."""
        parts = []
        for part in self.content:
            if part.get("type") == "text":
                parts.append(part["text"])
            elif part.get("type") == "tool-call":
                parts.append(f"(called {part['name']} with {part['arguments']})")
            elif part.get("type") == "tool-result":
                parts.append(f"(result of {part['name'] or 'a tool'}: {part['result']})")
        return " ".join(parts)

    @property
    def tool_names(self) -> list[str]:
        return [p["name"] for p in self.content if p.get("type") in ("tool-call", "tool-result")]

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> MemoryMessage:
        return cls(
            row["id"], row["thread_id"], row["resource_id"], row["role"], list(row["content"] or []), row["created_at"]
        )

    def to_row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "thread_id": self.thread_id,
            "resource_id": self.resource_id,
            "role": self.role,
            "content": self.content,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class RecalledMessage:
    """A message found by semantic recall: the match itself (`matched`) or one of its neighbours."""

    message: MemoryMessage
    score: float | None
    matched: bool


def from_openai(messages: Sequence[Message]) -> list[tuple[Role, list[Part]]]:
    """OpenAI-format messages as (role, parts); a tool result takes its tool's name from the call before it."""
    names: dict[str, str] = {}
    out: list[tuple[Role, list[Part]]] = []
    for position, message in enumerate(messages):
        role = message.get("role")
        parts: list[Part] = []
        content = message.get("content")
        if role == "tool":
            call_id = str(message.get("tool_call_id") or "")
            parts.append(
                {
                    "type": "tool-result",
                    "id": call_id,
                    "name": names.get(call_id, message.get("name", "")),
                    "result": content if isinstance(content, str) else json.dumps(content),
                }
            )
        elif role in ("system", "user", "assistant"):
            if isinstance(content, str) and content:
                parts.append({"type": "text", "text": content})
            elif isinstance(content, list):  # OpenAI content parts: keep the text ones
                parts.extend(
                    {"type": "text", "text": p["text"]}
                    for p in content
                    if isinstance(p, Mapping) and p.get("type") == "text"
                )
            for call in message.get("tool_calls") or ():
                function = call.get("function") or {}
                names[call["id"]] = function.get("name", "")
                parts.append(
                    {
                        "type": "tool-call",
                        "id": call["id"],
                        "name": function.get("name", ""),
                        "arguments": function.get("arguments") or "",
                    }
                )
        else:
            raise MastraError(
                ErrorKind.VALIDATION,
                "MEMORY_MESSAGE_INVALID",
                f"Message {position} has role {role!r}; memory keeps system, user, assistant and tool messages.",
                details={"errors": [{"field": f"[{position}].role", "expected": "system, user, assistant or tool"}]},
            )
        out.append((role, parts))  # type: ignore[arg-type]
    return out


def to_openai(messages: Sequence[MemoryMessage]) -> list[Message]:
    """Stored messages as a model reads them."""
    out: list[Message] = []
    for message in messages:
        text = message.text
        if message.role == "tool":
            out.extend(
                {"role": "tool", "tool_call_id": p["id"], "content": p["result"]}
                for p in message.content
                if p.get("type") == "tool-result"
            )
            continue
        item: Message = {"role": message.role, "content": text or None}
        calls = [p for p in message.content if p.get("type") == "tool-call"]
        if calls:
            item["tool_calls"] = [
                {"id": p["id"], "type": "function", "function": {"name": p["name"], "arguments": p["arguments"]}}
                for p in calls
            ]
        elif item["content"] is None:
            continue  # nothing left to say (its tool calls were filtered out)
        out.append(item)
    return out
