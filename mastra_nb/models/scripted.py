"""`ScriptedModel`: an offline model for demos, docs and tests, whose replies come from a script.

It is not a language model and never pretends to be one: its name is `mastra/scripted` (or another
`mastra/...` name), results it produces say `scripted`, and each reply is exactly what the script says. It is
reached through litellm all the same (a litellm custom provider, `_scripted_provider`), so an agent's tool loop,
streaming, retries and record/replay run the same code as with a real model.

A script is a list of replies, used in order, one per model call:
- a string: a text answer;
- `ScriptedReply(text=..., tool_calls=[("name", {...}), ...])`, or `ScriptedReply.call("name", **arguments)`;
- a mapping `{"text": ..., "tool_calls": [...]}`;
- a function of the messages so far returning any of the above (to answer with a tool's result, say).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ErrorKind, MastraError
from ..retry import RetryPolicy
from .model import Model
from .types import Message, ToolCall, Usage

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
        # One attempt: a script fails the same way every time. "prompt": the script, not a provider, decides.
        super().__init__(name, retries=RetryPolicy(attempts=1), structured_output="prompt")
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

    def _kwargs(self, request: Any, timeout: float | None) -> dict[str, Any]:
        kwargs = super()._kwargs(request, timeout)
        kwargs["mastra_script"] = self  # reaches the provider in `optional_params`; never sent anywhere
        return kwargs

    def _refine(self, error: MastraError) -> MastraError:
        message = str(error.details.get("provider_message", ""))
        if _MARK not in message:
            return error
        code, _, text = message.split(_MARK, 1)[1].partition(":")
        return MastraError(ErrorKind.DOMAIN, code, text.strip(), details={"model": self.name})

    def __repr__(self) -> str:
        return f"ScriptedModel({self.name!r}, replies={len(self.script)}, used={self._position})"


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
        f"{_MARK}SCRIPT_INVALID:Reply {index + 1} of `{name}` is {type(item).__name__} {item!r:.80}; a reply is a "
        "str, a `ScriptedReply`, a mapping with `text`/`tool_calls`, or a function of the messages returning one."
    )
