"""The one module that talks to litellm: loading it, calling it, and translating its errors.

litellm costs ~4 s to import, so `load_litellm()` imports it on the first call of a model that needs it, never at
package import (a `ScriptedModel` answers without it). Before that import it sets `LITELLM_LOCAL_MODEL_COST_MAP=True`
(unless the user set it) so litellm reads its bundled price list instead of fetching one from the internet; after
it, it silences litellm's help banners. It changes nothing else of the process: the one warning filter it adds
matches only deprecation warnings raised from litellm's own modules (litellm's import installs its own filters for
the pydantic notes about its types), and the `mastra/...` custom provider (a `ScriptedModel` served through
litellm's own API) is registered only by the first call of a `mastra/...` model, or by
`use_scripted_provider()`. `warm_litellm()` then does ahead of time what litellm otherwise does on the first call of a
process (the notebook's warm-up thread calls both). Every exception litellm raises becomes a `MastraError` in
`translate`, and nowhere else.
"""

from __future__ import annotations

import gc
import importlib
import inspect
import logging
import os
import platform
import re
import threading
import warnings
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from ..errors import ErrorKind, MastraError
from ..redaction import guard, refresh_environment, safe_cause
from .types import ModelResponse, TextDelta, ToolCall, Usage

__all__ = [
    "SETTINGS", "aclose_clients", "complete", "cost_of", "count_tokens", "embed", "load_litellm", "stream",
    "supports_json_schema", "translate", "use_scripted_provider", "warm_litellm",
]  # fmt: skip

logger = guard(logging.getLogger("mastra_nb.models"))

# litellm's process-wide settings that mastra_nb changes. The bench measures a call with and without them. None of
# litellm's other switches (turn_off_message_logging, disable_token_counter, disable_aiohttp_transport, "no-log")
# made a call measurably cheaper here, and turn_off_message_logging made it dearer (it redacts a copy of each
# request), so they keep litellm's defaults, which also leaves a user's own litellm callbacks working as documented.
SETTINGS: dict[str, Any] = {
    "suppress_debug_info": True,  # no "Give Feedback / Get Help" banner printed on every exception
}

_lock = threading.Lock()
_litellm: Any = None
_unpriced: set[str] = set()  # models litellm has no prices for: their cost lookup is slow and always misses
_warmed = False
_provider_registered = False
_in_use = threading.Event()  # set by the first call that needs litellm: the warm-up leaves it the rest of its work


def load_litellm() -> Any:
    """Import and configure litellm once; returns the module."""
    global _litellm
    if _litellm is not None:
        return _litellm
    with _lock:
        if _litellm is None:
            os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            try:
                import litellm
            except ImportError as exc:  # pragma: no cover - litellm is a core dependency
                raise ImportError("mastra_nb's models need litellm: pip install 'litellm>=1.50'") from exc
            for name, value in SETTINGS.items():
                setattr(litellm, name, value)
            # Noise from inside litellm that its users cannot act on (pydantic deprecations in streamed calls); the
            # filter matches warnings raised from litellm's modules only, so nobody else's warnings are hidden.
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"litellm\.")
            _litellm = litellm
    return _litellm


def use_scripted_provider() -> None:
    """Register the `mastra/...` custom provider in litellm (once), so that `litellm.acompletion(model=
    "mastra/scripted", mastra_script=scripted_model, ...)` works; a `Model("mastra/...")` call does this itself."""
    global _provider_registered
    if _provider_registered:
        return
    litellm = load_litellm()
    with _lock:
        from ._scripted_provider import PROVIDER, ScriptedHandler

        if not any(item.get("provider") == PROVIDER for item in litellm.custom_provider_map):
            litellm.custom_provider_map = [
                *litellm.custom_provider_map,
                {"provider": PROVIDER, "custom_handler": ScriptedHandler()},
            ]
        _provider_registered = True


def _use(model: str = "") -> Any:
    """litellm, for a call of `model`: a warm-up still under way stops at its next step rather than share the GIL
    with it; a `mastra/...` model has its provider registered first."""
    _in_use.set()
    if model.startswith("mastra/") and not _provider_registered:
        use_scripted_provider()
    return load_litellm()


# What litellm (1.110) does once per process, on its first call, and `warm_litellm()` does ahead: here the first
# streamed call to a local server took 0.3-0.5 s after the import, ~40 ms after `warm_litellm()`, the next ones ~20 ms
# (`bench/bench_models.py`). A name litellm renames is skipped; tests/test_models.py then names what the first call
# still loads.
_LAZY_NAMES = (  # attributes of the `litellm` module that import their class on first access, as every call does
    "logging_callback_manager", "LiteLLMProxyChatConfig", "openAIGPTAudioConfig", "AmazonAI21Config",
)  # fmt: skip
_FIRST_CALL_IMPORTS = (
    "litellm.proxy.openai_files_endpoints.common_utils",  # the check of messages for file ids: ~0.13 s of proxy types
    "litellm.llms.openai_like.dynamic_config",  # resolving an OpenAI-compatible provider
    "litellm.llms.github_copilot.per_user_auth",  # whether the call is a Copilot session
    "litellm._service_logger",  # wrapped around each provider request
    "litellm.proxy.spend_tracking.savings",  # the logging payload built after each call
    "litellm.types.litellm_core_utils.streaming_chunk_builder_utils",  # streamed calls
    "anyio._backends._asyncio",  # the end of a stream: the openai SDK drains the response under anyio
)
_FIRST_CALL_MODELS = (  # modules of the pydantic models litellm and the openai SDK build on first use (~0.1 s)
    "litellm.types.utils", "litellm.types.router", "litellm.types.services",
    "openai.types.chat.chat_completion", "openai.types.chat.chat_completion_message",
    "openai.types.chat.chat_completion_chunk", "openai.types.completion_usage",
)  # fmt: skip


def warm_litellm() -> None:
    """Do now what litellm otherwise does on the first call of the process: its lazy imports, its pydantic model
    builds, its tokenizer (a streamed call counts tokens), the platform's name; then collect garbage, so that the full
    collection the import has made due (~0.3 s) does not land in the first call. A call that starts meanwhile does
    the rest itself (the two would only slow each other down). Never raises: a step that fails is left to the call."""
    global _warmed
    if _warmed:
        return
    litellm = load_litellm()
    steps: list[tuple[Any, tuple[Any, ...]]] = [
        *((getattr, (litellm, name)) for name in _LAZY_NAMES),
        *((importlib.import_module, (module,)) for module in _FIRST_CALL_IMPORTS),
        *((_build_models, (module,)) for module in _FIRST_CALL_MODELS),
        (_count_a_token, (litellm,)),
        (platform.platform, ()),  # the openai SDK's headers name the platform: `uname -p` in a subprocess, then cached
        (gc.collect, ()),
    ]
    for step, args in steps:
        if _in_use.is_set():
            return
        try:
            step(*args)
        except Exception:
            logger.debug("warming litellm up: %s%r failed", getattr(step, "__name__", step), args, exc_info=True)
    _warmed = True


def _count_a_token(litellm: Any) -> None:
    litellm.token_counter(model="gpt-4o-mini", text="warm")


def _build_models(module_name: str) -> None:
    """Build the pydantic models defined in a module that are not built yet."""
    from pydantic import BaseModel

    for value in list(vars(importlib.import_module(module_name)).values()):
        if inspect.isclass(value) and issubclass(value, BaseModel) and value.__module__ == module_name:
            if not value.__pydantic_complete__:
                value.model_rebuild(raise_errors=False)


async def complete(kwargs: dict[str, Any], model: str) -> ModelResponse:
    """One `litellm.acompletion` call, as our `ModelResponse`."""
    litellm = _use(kwargs["model"])
    try:
        raw = await litellm.acompletion(**kwargs)
    except Exception as exc:
        raise translate(exc, model) from safe_cause(exc)
    return _response(raw, model)


async def stream(kwargs: dict[str, Any], model: str) -> AsyncIterator[TextDelta | ModelResponse]:
    """One streamed call: text deltas as they arrive, then the assembled `ModelResponse`.

    Tool-call deltas are joined by their index (the id and name come in the first delta of a call, the
    arguments in pieces); usage comes in the last chunk because the request asks for it.
    """
    litellm = _use(kwargs["model"])
    text: list[str] = []
    calls: dict[int, dict[str, str]] = {}
    finish, usage = "stop", None
    try:
        chunks = await litellm.acompletion(**kwargs, stream=True, stream_options={"include_usage": True})
        async for chunk in chunks:
            usage = getattr(chunk, "usage", None) or usage
            if not chunk.choices:
                continue
            choice = chunk.choices[0]
            finish = choice.finish_reason or finish
            delta = choice.delta
            if delta.content:
                text.append(delta.content)
                yield TextDelta(delta.content)
            for part in delta.tool_calls or ():
                call = calls.setdefault(part.index or 0, {"id": "", "name": "", "arguments": ""})
                call["id"] = call["id"] or part.id or ""
                if part.function is not None:
                    call["name"] = call["name"] or part.function.name or ""
                    call["arguments"] += part.function.arguments or ""
    except MastraError:
        raise
    except Exception as exc:
        raise translate(exc, model) from safe_cause(exc)
    tool_calls = tuple(ToolCall(c["id"] or f"call_{i}", c["name"], c["arguments"]) for i, c in sorted(calls.items()))
    counted = _usage(usage, None)
    counted = replace(counted, cost=cost_of(kwargs["model"], counted))  # litellm prices streamed calls only in logs
    yield ModelResponse("".join(text), tool_calls, finish, counted, model)


def _usage(raw: Any, cost: float | None) -> Usage:
    if raw is None:
        return Usage(cost=cost)
    prompt = int(getattr(raw, "prompt_tokens", 0) or 0)
    completion = int(getattr(raw, "completion_tokens", 0) or 0)
    return Usage(prompt, completion, int(getattr(raw, "total_tokens", 0) or prompt + completion), cost)


def _response(raw: Any, model: str) -> ModelResponse:
    choice = raw.choices[0]
    message = choice.message
    tool_calls = tuple(
        ToolCall(call.id or f"call_{i}", call.function.name or "", call.function.arguments or "")
        for i, call in enumerate(message.tool_calls or ())
    )
    hidden = getattr(raw, "_hidden_params", None) or {}
    usage = _usage(getattr(raw, "usage", None), hidden.get("response_cost"))
    return ModelResponse(message.content or "", tool_calls, choice.finish_reason or "stop", usage, model)


async def embed(kwargs: dict[str, Any], model: str) -> list[list[float]]:
    """One `litellm.aembedding` call: the vectors of `kwargs["input"]`, in order."""
    litellm = _use()
    try:
        raw = await litellm.aembedding(**kwargs)
    except Exception as exc:
        raise translate(exc, model) from safe_cause(exc)
    items = sorted(raw.data, key=lambda item: item["index"] if isinstance(item, dict) else item.index)
    return [list(item["embedding"] if isinstance(item, dict) else item.embedding) for item in items]


def count_tokens(model: str, messages: list[dict[str, Any]]) -> int:
    """The prompt tokens of `messages` on `model`, by litellm's tokenizer (tiktoken's for unknown models)."""
    return int(_use().token_counter(model=model, messages=messages))


def cost_of(model: str, usage: Usage) -> float | None:
    """The USD cost of `usage` on `model`, or None when litellm has no prices for it."""
    if model in _unpriced or model.startswith("mastra/"):
        return None
    litellm = _use()
    try:
        prompt, completion = litellm.cost_per_token(
            model=model, prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens
        )
    except Exception:  # litellm raises for models missing from its price list
        _unpriced.add(model)
        return None
    return float(prompt + completion)


def supports_json_schema(model: str) -> bool:
    """Whether litellm says `model` takes a JSON-schema `response_format`."""
    litellm = _use()
    try:
        return bool(litellm.supports_response_schema(model=model))
    except Exception:
        return False


async def aclose_clients() -> None:
    """Close the HTTP clients litellm cached for the running event loop's calls, and forget them.

    litellm keeps one client per provider and event loop; a loop that ends with clients open leaves sockets
    for the garbage collector (ResourceWarnings). Call this before closing a loop that made model calls.
    """
    if _litellm is None:
        return
    from litellm.llms.custom_httpx.async_client_cleanup import close_litellm_async_clients

    await close_litellm_async_clients()
    _litellm.in_memory_llm_clients_cache.flush_cache()


# -- the error boundary -----------------------------------------------------------------------------------------

_PREFIX = re.compile(r"^(litellm\.\w+:\s*)?(\w+Error:\s*)?(\w+Exception\s*-\s*)?")
_RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


def _provider_message(exc: BaseException) -> str:
    text = str(getattr(exc, "message", None) or exc).split("\nTraceback", 1)[0].strip()
    return _PREFIX.sub("", text, count=1).strip() or type(exc).__name__


_EXEC = ErrorKind.EXECUTION
_KEY_HINT = (
    "Set the provider's API key in the environment (e.g. `OPENAI_API_KEY`) or pass `Model(..., api_key=...)`; "
    "without a key, use `ScriptedModel` for demos."
)
_NAME_HINT = "Model names need a provider prefix that litellm knows, e.g. `openai/gpt-4o-mini` or `ollama/llama3.2`."


def _no_key(message: str) -> bool:
    """Whether litellm refused before sending anything, for want of a key (it reports that as an HTTP 500)."""
    lowered = message.lower()
    return "missing credentials" in lowered or ("api_key" in lowered and "environment variable" in lowered)


def _classify(name: str, status: int | None, message: str) -> tuple[str, ErrorKind, bool, str]:
    """Code, kind, whether retrying can help, and a hint, from litellm's exception class and the HTTP status."""
    lowered = message.lower()
    if _no_key(message):
        return "MODEL_AUTH_FAILED", ErrorKind.SYSTEM, False, _KEY_HINT  # no retry makes a key
    if name in ("Timeout", "APITimeoutError"):
        return "MODEL_TIMEOUT", _EXEC, True, "Raise the model's `timeout=` or try again."
    if name == "RateLimitError" or status == 429:
        return "MODEL_RATE_LIMITED", _EXEC, True, "Wait, lower the request rate, or add fallbacks."
    if name in ("AuthenticationError", "PermissionDeniedError") or status in (401, 403):
        return "MODEL_AUTH_FAILED", ErrorKind.SYSTEM, False, _KEY_HINT
    if name == "ContextWindowExceededError":
        return "MODEL_CONTEXT_TOO_LONG", _EXEC, False, "Shorten the conversation or use a larger model."
    if name == "ContentPolicyViolationError":
        return "MODEL_CONTENT_FILTERED", _EXEC, False, "The provider refused the content."
    if name == "NotFoundError" or status == 404:
        return "MODEL_NOT_FOUND", _EXEC, False, "Check the model name and `api_base`."
    if "llm provider not provided" in lowered:
        return "MODEL_NAME_INVALID", ErrorKind.VALIDATION, False, _NAME_HINT
    if name == "APIConnectionError" or (status is not None and (status in _RETRYABLE_STATUS or status >= 500)):
        return "MODEL_PROVIDER_ERROR", _EXEC, True, "The provider failed; retrying may help."
    if name in ("BadRequestError", "UnprocessableEntityError", "UnsupportedParamsError") or status is not None:
        return "MODEL_BAD_REQUEST", _EXEC, False, "Fix the request; retrying it unchanged cannot help."
    return "MODEL_CALL_FAILED", _EXEC, False, "See the chained exception."


def translate(exc: BaseException, model: str) -> MastraError:
    """The `MastraError` for an exception litellm raised: the provider's message, a stable code, and whether
    retrying can help (rate limits, timeouts, lost connections and 5xx can; other 4xx cannot)."""
    if isinstance(exc, MastraError):
        return exc
    refresh_environment()  # the key litellm read from the environment may be echoed in the message
    name = type(exc).__name__
    message = _provider_message(exc)
    raw_status = getattr(exc, "status_code", None)
    # No request was made without a key: litellm's "500" would send the reader looking at the provider.
    status = raw_status if isinstance(raw_status, int) and not _no_key(message) else None
    code, kind, retryable, hint = _classify(name, status, message)
    where = f" (HTTP {status})" if status else ""
    ended = message if message.endswith((".", "!", "?")) else message + "."
    return MastraError(
        kind,
        code,
        f"Model `{model}` failed{where}: {ended} {hint}",
        details={"model": model, "status_code": status, "provider_error": name, "provider_message": message},
        retryable=retryable,
    )
