"""Processors shape the messages memory loads before they reach the prompt: `ToolCallFilter`, `TokenLimiter`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import replace

from .messages import MemoryMessage, to_openai

__all__ = ["MemoryProcessor", "TokenLimiter", "ToolCallFilter"]


class MemoryProcessor(ABC):
    """Takes the loaded messages (oldest first) and returns those to use."""

    @abstractmethod
    def process(self, messages: list[MemoryMessage]) -> list[MemoryMessage]: ...


class ToolCallFilter(MemoryProcessor):
    """Leave tool calls and their results out of the loaded messages.

    Args:
        exclude: the tools whose calls are left out; None leaves out every call.
    """

    def __init__(self, exclude: Iterable[str] | None = None) -> None:
        self.exclude = None if exclude is None else frozenset(exclude)

    def _dropped(self, part: dict[str, object]) -> bool:
        if part.get("type") not in ("tool-call", "tool-result"):
            return False
        return self.exclude is None or part.get("name") in self.exclude

    def process(self, messages: list[MemoryMessage]) -> list[MemoryMessage]:
        out = []
        for message in messages:
            kept = [p for p in message.content if not self._dropped(p)]
            if kept:
                out.append(message if len(kept) == len(message.content) else replace(message, content=kept))
        return out

    def __repr__(self) -> str:
        return f"ToolCallFilter(exclude={sorted(self.exclude) if self.exclude is not None else None})"


class TokenLimiter(MemoryProcessor):
    """Keep the newest messages whose tokens, counted by litellm's tokenizer for `model`, fit in `limit`.

    A tool result is never kept without the call it answers: the model would refuse it.
    """

    def __init__(self, limit: int, model: str = "gpt-4o") -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"`TokenLimiter(limit)` takes a positive int, got {limit!r}")
        self.limit = limit
        self.model = model

    def count(self, message: MemoryMessage) -> int:
        from ..models import count_tokens

        return count_tokens(self.model, to_openai([message])) if to_openai([message]) else 0

    def process(self, messages: list[MemoryMessage]) -> list[MemoryMessage]:
        kept: list[MemoryMessage] = []
        total = 0
        for message in reversed(messages):
            total += self.count(message)
            if total > self.limit:
                break
            kept.append(message)
        kept.reverse()
        while kept and kept[0].role == "tool":  # its call was cut off
            kept.pop(0)
        return kept

    def __repr__(self) -> str:
        return f"TokenLimiter({self.limit}, model={self.model!r})"
