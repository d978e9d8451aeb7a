"""What a `Memory` does on each turn, as validated settings: `MemoryOptions` and its parts."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..errors import shown

__all__ = ["DEFAULT_TEMPLATE", "MemoryOptions", "MessageRange", "SemanticRecall", "WorkingMemory"]

Scope = Literal["thread", "resource"]

DEFAULT_TEMPLATE = """# About the user
- Name:
- Location:
- Preferences:
- Goals:
"""


class MessageRange(BaseModel):
    """How many messages around a recalled one come with it, before and after."""

    model_config = ConfigDict(extra="forbid")
    before: int = Field(default=2, ge=0)
    after: int = Field(default=2, ge=0)


class SemanticRecall(BaseModel):
    """Recall of past messages by meaning.

    Attributes:
        top_k: how many matching messages to recall.
        message_range: neighbours of each match to bring along (an int means that many before and after).
        scope: "resource" searches every thread of the resource (threads of one user share recall); "thread" only
            the current thread.
    """

    model_config = ConfigDict(extra="forbid")
    top_k: int = Field(default=3, ge=1)
    message_range: MessageRange = MessageRange()
    scope: Scope = "resource"

    @field_validator("message_range", mode="before")
    @classmethod
    def _range(cls, value: Any) -> Any:
        return {"before": value, "after": value} if isinstance(value, int) and not isinstance(value, bool) else value


class WorkingMemory(BaseModel):
    """Facts the agent keeps up to date through its `update_working_memory` tool.

    Attributes:
        enabled: give the agent the working memory and the tool.
        scope: "resource" shares it across the resource's threads (and agents); "thread" keeps one per thread.
        template: the markdown the agent fills in; the tool replaces it whole.
        schema_: a pydantic model instead of a template (pass it as `schema=`); the tool merges the fields the
            agent sends into the stored object and validates the result.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True, arbitrary_types_allowed=True)
    enabled: bool = True
    scope: Scope = "resource"
    template: str = DEFAULT_TEMPLATE
    schema_: type[BaseModel] | None = Field(default=None, alias="schema")


class MemoryOptions(BaseModel):
    """Settings of a `Memory`.

    Attributes:
        last_messages: how many of the thread's latest messages go into each prompt; 0 or False for none.
        semantic_recall: recall of related past messages (True: the defaults of `SemanticRecall`; False or None:
            off).
        working_memory: `WorkingMemory` settings; True for the default template; False or None (default): none.
        generate_title: after a thread's first turn, ask the agent's model for the thread's title.
        processors: `TokenLimiter`, `ToolCallFilter` or other `MemoryProcessor`s applied, in order, to the
            messages loaded from memory before they go into the prompt.
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    last_messages: int = Field(default=10, ge=0)
    semantic_recall: SemanticRecall | None = SemanticRecall()
    working_memory: WorkingMemory | None = None
    generate_title: bool = False
    processors: list[Any] = Field(default_factory=list)

    @field_validator("last_messages", mode="before")
    @classmethod
    def _last(cls, value: Any) -> Any:
        return 0 if value is False else value

    @field_validator("semantic_recall", "working_memory", mode="before")
    @classmethod
    def _switch(cls, value: Any) -> Any:
        return {} if value is True else None if value is False else value

    @field_validator("processors")
    @classmethod
    def _processors(cls, value: list[Any]) -> list[Any]:
        from .processors import MemoryProcessor

        for item in value:
            if not isinstance(item, MemoryProcessor):
                raise ValueError(f"must hold `MemoryProcessor`s such as `TokenLimiter(4000)`, got {shown(item)}")
        return value
