"""One agent turn with memory: what goes into the prompt before the model is called, what is saved after.

Before: the thread's last messages (through the processors), the working memory and the messages recalled by
meaning are loaded concurrently, and become context messages placed after the agent's instructions: a system
message with the working memory, a system message with the recalled messages (marked as recalled, without those
already in the history), then the history. After: the turn's messages are stored at once; their vectors (the
user's was computed for recall already) and a generated title are written in the background.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..models.types import Message
from ..tools import Tool
from . import working
from .messages import MemoryMessage, RecalledMessage, Thread, to_openai

if TYPE_CHECKING:
    from ..models.model import Model
    from .memory import Memory

__all__ = ["MemoryTurn", "begin_turn", "turn_tools"]

_TITLE_PROMPT = (
    "Write a title of at most six words for a conversation that starts with the message below. "
    "Answer with the title only.\n\n{text}"
)


@dataclass
class MemoryTurn:
    """What memory adds to one turn (`context`, `tools`), and how the turn is saved (`finish`)."""

    memory: Memory
    thread: Thread
    inputs: list[Message]
    context: list[Message] = field(default_factory=list)
    tools: list[Tool] = field(default_factory=list)
    history: list[MemoryMessage] = field(default_factory=list)
    recalled: list[RecalledMessage] = field(default_factory=list)
    query: str = ""
    query_vector: list[float] | None = None

    async def finish(self, messages: Sequence[Message], answer: str | None, model: Model | None = None) -> None:
        """Store the turn: its input and the messages the run added (system messages left out), then the answer."""
        messages = [m for m in messages if m.get("role") != "system"]
        if answer:
            messages.append({"role": "assistant", "content": answer})
        saved = await self.memory.append(self.thread, messages)
        known = {
            m.id: self.query_vector
            for m in saved
            if self.query_vector is not None and m.role == "user" and m.text == self.query
        }
        self.memory.write_vectors_later(saved, known)
        if self.memory.options.generate_title and not self.thread.title and model is not None and self.query:
            self.memory.later(_name_thread(self.memory, self.thread, self.query, model))


async def begin_turn(memory: Memory, thread_id: str, resource_id: str | None, inputs: list[Message]) -> MemoryTurn:
    """Load what the turn needs from memory (creating the thread for `resource_id` when it is new)."""
    thread = await memory.thread_for(thread_id, resource_id)
    options = memory.options
    turn = MemoryTurn(memory, thread, inputs, query=_last_user_text(inputs))

    async def history() -> None:
        if options.last_messages:
            loaded = await memory.list_messages(thread.id, last=options.last_messages)
            for processor in options.processors:
                loaded = processor.process(loaded)
            turn.history = loaded

    async def embed() -> None:
        if options.semantic_recall is not None and turn.query:
            turn.query_vector = await memory.embedder.embed_one(turn.query)

    async def working_memory() -> str | None:
        if options.working_memory is None:
            return None
        return await memory.get_working_memory(resource_id=thread.resource_id, thread_id=thread.id)

    _, _, current = await asyncio.gather(history(), embed(), working_memory())
    shown = {m.id for m in turn.history}
    settings = options.semantic_recall
    if settings is not None and turn.query_vector is not None:
        # After the history: its messages are not searched for, so the matches are all messages it lacks.
        everywhere = settings.scope == "resource"  # the resource's threads, or this thread alone
        turn.recalled = await memory.recall(turn.query_vector, resource_id=thread.resource_id if everywhere else None,
                                            thread_id=None if everywhere else thread.id, exclude=shown)  # fmt: skip
    turn.recalled = [r for r in turn.recalled if r.message.id not in shown]
    if options.working_memory is not None:
        turn.context.append({"role": "system", "content": working.instructions(options.working_memory, current)})
    turn.tools = turn_tools(memory, thread)
    if turn.recalled:
        turn.context.append({"role": "system", "content": recalled_block(turn.recalled, thread.id)})
    turn.context.extend(to_openai(turn.history))
    return turn


def turn_tools(memory: Memory, thread: Thread) -> list[Tool]:
    """The tools memory gives a turn in `thread`: `update_working_memory` when working memory is on. A turn
    that continues after a tool approval gets them again from here."""
    settings = memory.options.working_memory
    if settings is None:
        return []

    async def update(value: Any) -> str:
        await memory.update_working_memory(
            value, resource_id=thread.resource_id, thread_id=thread.id, merge=settings.schema_ is not None
        )
        return "Working memory updated."

    return [working.working_memory_tool(settings, update)]


def recalled_block(recalled: Sequence[RecalledMessage], thread_id: str) -> str:
    """The recalled messages as one system message: each with its conversation and time, the ones the search
    matched marked "related", their neighbours "context"."""
    lines = []
    for item in recalled:
        m = item.message
        where = "this conversation" if m.thread_id == thread_id else f"conversation {m.thread_id}"
        kind = "related" if item.matched else "context"
        lines.append(f"- [{kind}; {where}, {m.created_at:%Y-%m-%d %H:%M}] {m.role}: {m.describe()}")
    return (
        "<recalled_messages>\n" + "\n".join(lines) + "\n</recalled_messages>\n"
        "These messages were recalled from earlier conversations because they may be relevant to the new message "
        "(the related ones most of all). They are not part of the current conversation."
    )


def _last_user_text(messages: Sequence[Message]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


async def _name_thread(memory: Memory, thread: Thread, text: str, model: Model) -> None:
    response = await model.complete([{"role": "user", "content": _TITLE_PROMPT.format(text=text[:2000])}])
    title = response.text.strip().strip('"').splitlines()[0][:100] if response.text.strip() else None
    if title:
        await memory.update_thread(thread.id, title=title)
