"""`ScriptedModel`: an offline model for demos, docs and tests, whose replies come from a script.

It is not a language model and never pretends to be one: its name is `mastra/scripted` (or another
`mastra/...` name), results it produces say `scripted`, and each reply is exactly what the script says. Only the
provider call itself is its own (`_send`, `_send_stream`: the reply is made in-process, without importing litellm,
which would cost a notebook's first answer ~3-4 s); an agent's tool loop, streaming, retries, fallbacks, spans and
record/replay run the same `Model` code as with a real model. litellm's own API can serve it too, through the
`mastra/...` custom provider (`_scripted_provider`).

A script is a list of replies, used in order, one per model call:
- a string: a text answer;
- `ScriptedReply(text=..., tool_calls=[("name", {...}), ...])`, or `ScriptedReply.call("name", **arguments)`;
- a mapping `{"text": ..., "tool_calls": [...]}`;
- a function of the messages so far returning any of the above (to answer with a tool's result, say).
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ErrorKind, MastraError, shown
from ..retry import RetryPolicy
from .model import Model
from .types import Message, ModelResponse, TextDelta, ToolCall, Usage

__all__ = ["ScriptItem", "ScriptedModel", "ScriptedReply"]

_MARK = "mastra-script:"  # how the provider's failures are recognized on the way back through litellm


@dataclass(frozen=True)
class ScriptedReply:
    """One scripted answer: text, tool calls, or both.

    Args:
        text: the answer's text.
        tool_calls: `(name, arguments)` pairs; arguments are a dict or raw JSON text (which may be invalid on
            purpose, to show how an agent handles that).
    """

    text: str = ""
    tool_calls: Sequence[tuple[str, Mapping[str, Any] | str]] = ()

    @classmethod
    def call(cls, name: str, /, **arguments: Any) -> ScriptedReply:
        """A reply that calls one tool: `ScriptedReply.call("add", a=2, b=3)`."""
        return cls(tool_calls=[(name, arguments)])


ScriptItem = str | ScriptedReply | Mapping[str, Any] | Callable[[list[Message]], Any]


class ScriptedModel(Model):
    """A model that answers from a script (see the module docstring).

    Args:
        script: the replies, in order.
        name: `mastra/scripted` by default; any `mastra/...` name.

    Example:
        >>> model = ScriptedModel([ScriptedReply.call("add", a=2, b=3), "2 + 3 = 5"])
    """

    def __init__(self, script: Iterable[ScriptItem], *, name: str = "mastra/scripted") -> None:
        if not isinstance(name, str) or not name.startswith("mastra/") or len(name) <= len("mastra/"):
            raise MastraError(
                ErrorKind.VALIDATION, "MODEL_NAME_INVALID",
                f"A `ScriptedModel` is named `mastra/<something>`, got {name!r}.",
            )  # fmt: skip
        # One attempt: a script fails the same way every time. "prompt": the script, not a provider, decides. No
        # circuit breaker: there is no endpoint to spare, and each script is its own.
        super().__init__(name, retries=RetryPolicy(attempts=1), structured_output="prompt", circuit_breaker=None)
        self.script: list[ScriptItem] = list(script)
        self._position = 0
        self._lock = threading.Lock()  # one script may serve calls from several threads (run_sync, workers)

    @property
    def scripted(self) -> bool:
        return True

    @property
    def position(self) -> int:
        """How many replies have been used."""
        return self._position

    def reset(self) -> None:
        """Start the script again from its first reply."""
        with self._lock:
            self._position = 0

    def next_reply(self, messages: list[Message]) -> tuple[str, tuple[ToolCall, ...], Usage]:
        """Take the next reply of the script (called by the litellm provider for each model call).

        Raises:
            ValueError: with a message the provider passes back through litellm, when the script is used up
                or a reply function fails or returns something that is not a reply.
        """
        with self._lock:
            index = self._position
            if index >= len(self.script):
                raise ValueError(
                    f"{_MARK}SCRIPT_EXHAUSTED:The script of `{self.name}` has {len(self.script)} replies and all "
                    f"were used; model call {index + 1} has none. Add replies, or call `reset()` to start over."
                )
            self._position += 1
            item = self.script[index]
        if callable(item) and not isinstance(item, (ScriptedReply, Mapping)):
            try:
                item = item([dict(m) for m in messages])
            except Exception as exc:
                raise ValueError(
                    f"{_MARK}SCRIPT_FAILED:Reply {index + 1} of `{self.name}` is a function that raised "
                    f"{type(exc).__name__}: {exc}."
                ) from exc
        reply = _as_reply(item, index, self.name)
        calls = tuple(
            ToolCall(f"call_{index + 1}_{n}", name, args if isinstance(args, str) else json.dumps(args))
            for n, (name, args) in enumerate(reply.tool_calls)
        )
        # Token counts are an estimate (4 characters a token), labelled as such by the model's name.
        prompt = max(1, len(json.dumps(messages, default=str)) // 4)
        completion = max(1, len(reply.text) // 4) + sum(len(c.arguments) // 4 + 1 for c in calls)
        return reply.text, calls, Usage(prompt, completion, prompt + completion)

    async def _send(self, kwargs: dict[str, Any]) -> ModelResponse:
        text, calls, usage = self._reply(kwargs["messages"])
        return ModelResponse(text, calls, "tool_calls" if calls else "stop", usage, self.name)

    async def _send_stream(self, kwargs: dict[str, Any]) -> AsyncIterator[TextDelta | ModelResponse]:
        text, calls, usage = self._reply(kwargs["messages"])
        for piece in pieces(text):
            yield TextDelta(piece)
        yield ModelResponse(text, calls, "tool_calls" if calls else "stop", usage, self.name)

    def _reply(self, messages: list[Message]) -> tuple[str, tuple[ToolCall, ...], Usage]:
        try:
            return self.next_reply(messages)
        except ValueError as exc:
            code, _, text = str(exc).split(_MARK, 1)[-1].partition(":")
            raise MastraError(ErrorKind.DOMAIN, code, text.strip(), details={"model": self.name}) from exc

    def __repr__(self) -> str:
        return f"ScriptedModel({self.name!r}, replies={len(self.script)}, used={self._position})"


def pieces(text: str) -> list[str]:
    """A reply's text in a few deltas, so that a scripted stream looks like one."""
    step = max(1, len(text) // 3)
    return [text[start : start + step] for start in range(0, len(text), step)]


def _as_reply(item: Any, index: int, name: str) -> ScriptedReply:
    if isinstance(item, ScriptedReply):
        return item
    if isinstance(item, str):
        return ScriptedReply(text=item)
    if isinstance(item, Mapping) and set(item) <= {"text", "tool_calls"}:
        calls = [
            (c["name"], c.get("arguments", {})) if isinstance(c, Mapping) else tuple(c)
            for c in item.get("tool_calls", ())
        ]
        return ScriptedReply(text=str(item.get("text") or ""), tool_calls=calls)  # type: ignore[arg-type]
    raise ValueError(
        f"{_MARK}SCRIPT_INVALID:Reply {index + 1} of `{name}` is {type(item).__name__} {shown(item, 80)}; a reply is a "
        "str, a `ScriptedReply`, a mapping with `text`/`tool_calls`, or a function of the messages returning one."
    )
