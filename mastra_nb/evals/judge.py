"""`Judge`: the model behind a scorer's `JudgePrompt` steps.

A judge asks its model once for a pydantic model's JSON and, when the answer does not match, asks once more with
what was wrong (the repair round) — what an `Agent` with `output=` and `max_steps=1` does, without the agent: agents
and workflow steps carry scorers, so evals sit below them and call `models/` directly. The prompts and the parsing
are structured output's (`mastra_nb.structured`), shared with the agent's tool loop. A judge's run is an agent span
(`invoke_agent judge_<scorer>`) with its model calls under it, recorded and replayed through the hub's storage like
an agent's.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING

from pydantic import BaseModel

from .. import structured
from ..errors import ErrorKind, MastraError
from ..models.model import Model
from ..models.recording import Recorder
from ..models.types import Message, ModelResponse
from ..redaction import guard
from ..telemetry import spans

if TYPE_CHECKING:
    from ..mastra import Mastra

__all__ = ["Judge"]

logger = guard(logging.getLogger("mastra_nb.evals"))


class Judge:
    """A judge model with its instructions, named `name` in traces, recordings and errors.

    Args:
        name: the judge's name (`judge_<scorer id>`, sanitized for providers).
        instructions: its system prompt.
        model: a litellm model string or a `Model`.
    """

    def __init__(self, name: str, instructions: str, model: str | Model) -> None:
        if not isinstance(model, (str, Model)):
            raise MastraError(
                ErrorKind.VALIDATION, "SCORER_DEFINITION_INVALID",
                f"`judge=` of `{name}` must be a litellm model string or a `Model`, got {type(model).__name__}.",
            )  # fmt: skip
        self.name = name
        self.instructions = instructions
        self.model = Model(model) if isinstance(model, str) else model

    async def ask(self, prompt: str, output: type[BaseModel], hub: Mastra | None = None) -> BaseModel:
        """The judge's answer to `prompt` as a validated `output`, with the hub's timeout and record mode.

        Raises:
            MastraError: `AGENT_OUTPUT_INVALID` when the answer does not match after the repair round; model errors.
        """
        use_schema = self.model.supports_json_schema()
        response_format = structured.response_format(output) if use_schema else None
        system = self.instructions
        if not use_schema:
            system = f"{system}\n\n{structured.schema_prompt(output)}".strip()
        messages: list[Message] = [{"role": "system", "content": system}] if system else []
        messages.append({"role": "user", "content": prompt})
        timeout = hub.config.model_timeout if hub is not None else None
        recorder = self._recorder(hub)

        async def call(conversation: list[Message]) -> ModelResponse:
            return await self.model.complete(
                conversation, response_format=response_format, timeout=timeout, recorder=recorder
            )

        with spans.judge_run(hub, self.name, uuid.uuid4().hex, self.model, prompt) as span:
            response = await call(messages)
            usage, steps = response.usage, 1
            obj, problems = structured.parse(output, response.text)
            if obj is None:
                logger.info("Agent `%s`: the answer is not a valid `%s` (%s); asking once for a repair.",
                            self.name, output.__name__, problems)  # fmt: skip
                repair = structured.repair_prompt(output, problems or "")
                response = await call([*messages, {"role": "assistant", "content": response.text},
                                       {"role": "user", "content": repair}])  # fmt: skip
                usage, steps = usage + response.usage, 2
                obj, problems = structured.parse(output, response.text)
                if obj is None:
                    raise structured.invalid_output(output, response.text, problems or "", self.name)
            spans.judge_result(span, response, usage, steps, self.model.scripted, obj)
        return obj

    def _recorder(self, hub: Mastra | None) -> Recorder | None:
        if hub is None or hub.config.record_mode == "off":
            return None
        return Recorder(hub.storage, hub.config.record_mode, f"agent `{self.name}`")

    def __repr__(self) -> str:
        return f"Judge({self.name!r}, model={self.model.name!r})"
