"""`Model`: a litellm model name plus how to reach it, retry it and replace it when it fails.

`complete` and `stream` read top to bottom: is there a recording to replay? use it; otherwise walk the attempts
(`_attempts.py`: the model and each fallback, retries with backoff, each guarded by its circuit breaker); record
the answer if asked. The two share that path, so they cannot drift apart. The calls themselves go through `_send`
and `_send_stream`, which hand them to `_litellm`, the one module that imports litellm (a `ScriptedModel` answers
them itself, so the offline path never pays litellm's import).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any, Literal

from ..circuit import CircuitBreaker, shared
from ..errors import ErrorKind, MastraError
from ..redaction import add_secret
from ..retry import RetryPolicy
from ..telemetry import spans
from . import _litellm
from ._attempts import Call
from .recording import Recorder
from .types import Message, ModelRequest, ModelResponse, TextDelta

__all__ = ["DEFAULT_RETRIES", "Model", "StructuredOutput"]

StructuredOutput = Literal["auto", "json_schema", "prompt"]
DEFAULT_RETRIES = RetryPolicy(attempts=3, base_delay=0.5, max_delay=8.0)
DEFAULT_TIMEOUT = 120.0  # seconds, when neither the model nor the caller (the hub's config) says otherwise


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
        circuit_breaker: "shared" (default): the process's breaker of this name and `api_base`, shared by every
            `Model` of that endpoint (5 retryable failures in a row open it for 30 s; calls then fail at once with
            `CIRCUIT_OPEN` and fallbacks are tried); a `CircuitBreaker(...)` of your own; None for none.
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
        circuit_breaker: CircuitBreaker | Literal["shared"] | None = "shared",
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
        if circuit_breaker == "shared":
            circuit_breaker = shared(("model", name, api_base))
        elif circuit_breaker is not None and not isinstance(circuit_breaker, CircuitBreaker):
            raise _invalid(f"`circuit_breaker` must be 'shared', a `CircuitBreaker` or None, got {circuit_breaker!r}.")
        self.circuit_breaker: CircuitBreaker | None = circuit_breaker
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
        with spans.model_call(self, request, stream=False) as span:
            call = Call(self, request, timeout, recorder, span)
            recording = await call.replayed()
            if recording is not None:
                response = recording.response
            else:
                async with call.attempts() as attempts:
                    async for attempt in attempts:
                        with attempt:
                            attempt.response = await attempt.model._send(attempt.kwargs)
                assert attempts.response is not None, "the attempts end with a response or raise"
                response = attempts.response
                await call.record(response, None)
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
        with spans.model_call(self, request, stream=True) as span:
            call = Call(self, request, timeout, recorder, span)
            recording = await call.replayed()
            if recording is not None:
                for text in recording.deltas if recording.deltas is not None else (recording.response.text,):
                    if text:
                        yield TextDelta(text)
                response = recording.response
            else:
                seen: list[str] = []
                async with call.attempts() as attempts:
                    async for attempt in attempts:
                        with attempt:
                            async for item in attempt.model._send_stream(attempt.kwargs):
                                if isinstance(item, TextDelta):
                                    attempt.committed = True
                                    seen.append(item.text)
                                    yield item
                                else:
                                    attempt.response = item
                assert attempts.response is not None, "the attempts end with a response or raise"
                response = attempts.response
                await call.record(response, seen)
            spans.model_response(span, response)
            yield response

    # -- internals -----------------------------------------------------------------------------------------

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
