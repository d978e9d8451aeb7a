"""`Model`: a litellm model name plus how to reach it, retry it and replace it when it fails.

`complete` and `stream` read top to bottom: is there a recording to replay? use it; otherwise try the model,
retrying what can be retried, then each fallback in order; record the answer if asked. The calls themselves
go through `_send` and `_send_stream`, which hand them to `_litellm`, the one module that imports litellm (a
`ScriptedModel` answers them itself, so the offline path never pays litellm's import).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any, Literal

from ..errors import ErrorKind, MastraError
from ..redaction import add_secret, guard
from ..retry import RetryPolicy, retry_async
from ..telemetry import spans
from . import _litellm
from .recording import Recorder, normalized, request_key
from .types import Message, ModelRequest, ModelResponse, TextDelta

__all__ = ["DEFAULT_RETRIES", "Model", "StructuredOutput"]

StructuredOutput = Literal["auto", "json_schema", "prompt"]
DEFAULT_RETRIES = RetryPolicy(attempts=3, base_delay=0.5, max_delay=8.0)
DEFAULT_TIMEOUT = 120.0  # seconds, when neither the model nor the caller (the hub's config) says otherwise
logger = guard(logging.getLogger("mastra_nb.models"))


class Model:
    """A model reached through litellm.

    Args:
        name: a litellm model string with its provider prefix: `openai/gpt-4o-mini`, `anthropic/claude-...`,
            `ollama/llama3.2`, or `openai/<name>` with `api_base` for any OpenAI-compatible server. API keys come
            from the environment (`OPENAI_API_KEY`, ...) unless `api_key` is given.
        api_base: the server's base URL, for self-hosted or OpenAI-compatible servers.
        api_key: the key, when it is not in the environment.
        timeout: seconds one attempt may take; None takes the caller's (an agent passes its hub's
            `config.model_timeout`).
        retries: a `RetryPolicy`, or n retries after the first attempt. Rate limits, timeouts, lost connections
            and 5xx answers are retried with backoff; other errors are not.
        fallbacks: models (or names) to try in order when this one fails for good, whatever the error: a
            different model may accept what this one refused.
        structured_output: how `output=` schemas are requested: "json_schema" (the provider's response format),
            "prompt" (the schema in the system prompt), or "auto" (json_schema where litellm says the model
            supports it).
        **options: provider options sent with every call (temperature, max_tokens, seed, ...).
    """

    def __init__(
        self,
        name: str,
        *,
        api_base: str | None = None,
        api_key: str | None = None,
        timeout: float | None = None,
        retries: RetryPolicy | int | None = None,
        fallbacks: Iterable[Model | str] = (),
        structured_output: StructuredOutput = "auto",
        **options: Any,
    ) -> None:
        if not isinstance(name, str) or "/" not in name.strip("/"):
            raise MastraError(
                ErrorKind.VALIDATION,
                "MODEL_NAME_INVALID",
                f"Model name {name!r} needs a provider prefix, e.g. `openai/gpt-4o-mini`, `ollama/llama3.2`, or "
                "`openai/<name>` with `api_base=` for an OpenAI-compatible server.",
            )
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
            raise _invalid(f"`timeout` must be a positive number of seconds or None, got {timeout!r}.")
        if structured_output not in ("auto", "json_schema", "prompt"):
            raise _invalid(f"`structured_output` must be 'auto', 'json_schema' or 'prompt', got {structured_output!r}.")
        self.name = name
        self.api_base = api_base
        self.api_key = api_key
        add_secret(api_key)  # a provider's error may echo it: masked wherever it would be stored or shown
        self.timeout = timeout
        self.retries = _policy(retries)
        self.fallbacks: tuple[Model, ...] = tuple(f if isinstance(f, Model) else Model(f) for f in fallbacks)
        self.structured_output: StructuredOutput = structured_output
        self.options: dict[str, Any] = options
        self._json_schema: bool | None = None

    @property
    def scripted(self) -> bool:
        """True for a `ScriptedModel`, whose replies come from a script rather than a language model."""
        return False

    def supports_json_schema(self) -> bool:
        """Whether `output=` schemas go to the provider as a JSON-schema response format."""
        if self.structured_output != "auto":
            return self.structured_output == "json_schema"
        if self._json_schema is None:
            self._json_schema = _litellm.supports_json_schema(self.name)
        return self._json_schema

    # -- calls ---------------------------------------------------------------------------------------------

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[dict[str, Any]] = (),
        tool_choice: str | dict[str, Any] | None = None,
        response_format: dict[str, Any] | None = None,
        options: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        recorder: Recorder | None = None,
    ) -> ModelResponse:
        """Ask the model (or a recording of it) for one answer.

        Raises:
            MastraError: the last model's error once retries and fallbacks are spent (codes `MODEL_*`), or
                `MODEL_RECORDING_MISSING` in replay mode.
        """
        request = ModelRequest(tuple(messages), tuple(tools), tool_choice, response_format, dict(options or {}))
        key, request_json = self._key(request, recorder)
        with spans.model_call(self, request, stream=False) as span:
            if recorder is not None and key is not None and recorder.replays:
                recording = await recorder.lookup(key)
                if recording is not None:
                    spans.model_response(span, recording.response)
                    return recording.response
                if recorder.mode == "replay":
                    raise recorder.missing(key, request_json)
            response = await self._complete_once_or_fall_back(request, timeout)
            if recorder is not None and key is not None and recorder.records:
                await recorder.save(key, request_json, response, None)
            spans.model_response(span, response)
        return response

    async def stream(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[dict[str, Any]] = (),
        tool_choice: str | dict[str, Any] | None = None,
        response_format: dict[str, Any] | None = None,
        options: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        recorder: Recorder | None = None,
    ) -> AsyncIterator[TextDelta | ModelResponse]:
        """Stream one answer: `TextDelta`s as they arrive, then the assembled `ModelResponse` (tool calls
        complete). A failure before the first delta is retried or falls back like `complete`; after it, it
        is raised, since the deltas already given cannot be taken back."""
        request = ModelRequest(tuple(messages), tuple(tools), tool_choice, response_format, dict(options or {}))
        key, request_json = self._key(request, recorder)
        with spans.model_call(self, request, stream=True) as span:
            if recorder is not None and key is not None and recorder.replays:
                recording = await recorder.lookup(key)
                if recording is not None:
                    deltas = recording.deltas if recording.deltas is not None else (recording.response.text,)
                    for text in deltas:
                        if text:
                            yield TextDelta(text)
                    spans.model_response(span, recording.response)
                    yield recording.response
                    return
                if recorder.mode == "replay":
                    raise recorder.missing(key, request_json)
            seen: list[str] = []
            response: ModelResponse | None = None
            errors: list[MastraError] = []
            chain = (self, *self.fallbacks)
            for position, model in enumerate(chain):
                for attempt in range(1, model.retries.attempts + 1):
                    try:
                        async for item in model._send_stream(model._kwargs(request, timeout)):
                            if isinstance(item, TextDelta):
                                seen.append(item.text)
                                yield item
                            else:
                                response = item
                        break
                    except MastraError as raw:
                        error = model._refine(raw)
                        if seen:
                            raise error from raw
                        if not error.retryable or attempt == model.retries.attempts:
                            errors.append(error)
                            break
                        delay = model.retries.delay(attempt)
                        _log_retry(model, attempt, error, delay)
                        await asyncio.sleep(delay)
                if response is not None:
                    break
                if position < len(chain) - 1:
                    logger.warning(
                        "Model `%s` failed (%s); falling back to `%s`.",
                        model.name,
                        errors[-1],
                        chain[position + 1].name,
                    )
                    spans.event("fallback", model=model.name, to=chain[position + 1].name, error=str(errors[-1]))
            if response is None:
                raise errors[-1]
            if recorder is not None and key is not None and recorder.records:
                await recorder.save(key, request_json, response, seen)
            spans.model_response(span, response)
            yield response

    # -- internals -----------------------------------------------------------------------------------------

    def _key(self, request: ModelRequest, recorder: Recorder | None) -> tuple[str | None, dict[str, Any]]:
        if recorder is None or recorder.mode == "off":
            return None, {}
        request_json = normalized(self.name, self.options, request)
        return request_key(request_json), request_json

    async def _complete_once_or_fall_back(self, request: ModelRequest, timeout: float | None) -> ModelResponse:
        chain = (self, *self.fallbacks)
        for position, model in enumerate(chain):

            async def attempt(_: int, model: Model = model) -> ModelResponse:
                try:
                    return await model._send(model._kwargs(request, timeout))
                except MastraError as error:
                    raise model._refine(error) from error

            def on_retry(number: int, error: MastraError, delay: float, model: Model = model) -> None:
                _log_retry(model, number, error, delay)

            try:
                return await retry_async(attempt, model.retries, on_retry)
            except MastraError as error:
                if position == len(chain) - 1:
                    raise
                logger.warning(
                    "Model `%s` failed (%s); falling back to `%s`.", model.name, error, chain[position + 1].name
                )
                spans.event("fallback", model=model.name, to=chain[position + 1].name, error=str(error))
        raise AssertionError("unreachable: the last model returns or raises")

    def _kwargs(self, request: ModelRequest, timeout: float | None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self.name,
            "messages": list(request.messages),
            # Retries are ours (with backoff, counted, logged); the provider SDK must not retry underneath.
            "max_retries": 0,
            "timeout": self.timeout or timeout or DEFAULT_TIMEOUT,
        }
        if self.api_base is not None:
            kwargs["api_base"] = self.api_base
        if self.api_key is not None:
            kwargs["api_key"] = self.api_key
        if request.tools:
            kwargs["tools"] = list(request.tools)
            if request.tool_choice is not None:
                kwargs["tool_choice"] = request.tool_choice
        if request.response_format is not None:
            kwargs["response_format"] = request.response_format
        kwargs.update(self.options)
        kwargs.update(request.options)
        add_secret(kwargs.get("api_key"))  # a key given per call (`options={"api_key": ...}`) too
        return kwargs

    async def _send(self, kwargs: dict[str, Any]) -> ModelResponse:
        """One attempt at one answer (through litellm).

        Raises:
            MastraError: the provider's error, translated.
        """
        return await _litellm.complete(kwargs, self.name)

    def _send_stream(self, kwargs: dict[str, Any]) -> AsyncIterator[TextDelta | ModelResponse]:
        """One streamed attempt (through litellm): text deltas, then the assembled `ModelResponse`."""
        return _litellm.stream(kwargs, self.name)

    def _refine(self, error: MastraError) -> MastraError:
        """A subclass's chance to replace a translated provider error with a more precise one."""
        return error

    def __repr__(self) -> str:
        extra = f", api_base={self.api_base!r}" if self.api_base else ""
        extra += f", fallbacks={[m.name for m in self.fallbacks]}" if self.fallbacks else ""
        return f"Model({self.name!r}{extra})"


def _invalid(message: str) -> MastraError:
    return MastraError(ErrorKind.VALIDATION, "MODEL_DEFINITION_INVALID", f"`Model`: {message}")


def _policy(retries: RetryPolicy | int | None) -> RetryPolicy:
    if retries is None:
        return DEFAULT_RETRIES
    if isinstance(retries, RetryPolicy):
        return retries
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise _invalid(f"`retries` must be a `RetryPolicy` or a number of retries >= 0, got {retries!r}.")
    return RetryPolicy(attempts=retries + 1, base_delay=DEFAULT_RETRIES.base_delay, max_delay=DEFAULT_RETRIES.max_delay)


def _log_retry(model: Model, number: int, error: MastraError, delay: float) -> None:
    logger.warning("Model `%s` attempt %d failed (%s); retrying in %.2f s.", model.name, number, error, delay)
    spans.event("retry", model=model.name, attempt=number, error=str(error), delay_s=delay)
