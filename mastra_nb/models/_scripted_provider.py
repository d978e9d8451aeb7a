"""The litellm custom provider `mastra/...`: a `ScriptedModel` served through litellm's own API (imported by
`_litellm.use_scripted_provider` only: the first call of a `mastra/...` model, or the bench).

A `ScriptedModel` answers mastra_nb's calls itself, without litellm; this provider lets code that calls litellm
directly use one too (the agents bench's hand-written floor does): `litellm.acompletion(model="mastra/scripted",
messages=..., mastra_script=model)`. litellm hands unknown keyword arguments to the provider in `optional_params`,
and the provider asks the model for its next reply.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import litellm
from litellm import CustomLLM
from litellm.llms.custom_llm import CustomLLMError

from .scripted import pieces
from .types import ToolCall, Usage

PROVIDER = "mastra"


def _reply(optional_params: dict[str, Any], messages: list[Any]) -> tuple[str, tuple[ToolCall, ...], Usage]:
    script = optional_params.get("mastra_script")
    if script is None:
        raise CustomLLMError(400, "`mastra/...` models are `ScriptedModel`s: build one with `ScriptedModel([...])`.")
    try:
        result: tuple[str, tuple[ToolCall, ...], Usage] = script.next_reply(messages)
    except ValueError as exc:  # a 400: litellm must not call it a connection error, which would be retried
        raise CustomLLMError(400, str(exc)) from exc
    return result


class ScriptedHandler(CustomLLM):
    """Answers `mastra/...` calls from the `ScriptedModel` passed along with them."""

    async def acompletion(self, *args: Any, **kwargs: Any) -> Any:  # litellm passes everything by keyword
        text, calls, usage = _reply(kwargs["optional_params"], kwargs["messages"])
        message: dict[str, Any] = {"role": "assistant", "content": text or None}
        if calls:
            message["tool_calls"] = [call.to_message() for call in calls]
        return litellm.ModelResponse(
            model=f"{PROVIDER}/{kwargs['model']}",
            choices=[{"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}],
            usage={"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
                   "total_tokens": usage.total_tokens},
        )  # fmt: skip

    # An async generator where litellm's stub declares a coroutine returning an iterator; litellm iterates either.
    async def astreaming(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:  # type: ignore[override]
        text, calls, usage = _reply(kwargs["optional_params"], kwargs["messages"])
        for piece in pieces(text):
            yield _chunk(piece)
        for index, call in enumerate(calls):
            function = {"name": call.name, "arguments": call.arguments}
            yield _chunk("", tool_use={"id": call.id, "type": "function", "function": function, "index": index})
        totals = {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
                  "total_tokens": usage.total_tokens}  # fmt: skip
        yield _chunk("", finished="tool_calls" if calls else "stop", usage=totals)


def _chunk(text: str, *, tool_use: Any = None, finished: str = "", usage: Any = None) -> Any:
    return {"text": text, "tool_use": tool_use, "is_finished": bool(finished), "finish_reason": finished,
            "usage": usage, "index": 0}  # fmt: skip
