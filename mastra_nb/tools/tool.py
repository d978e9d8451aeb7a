"""Tool: a Python function an agent can call, with a schema, validation, timeout, retries and a cache.

`execute` is the one validated path, and reads top to bottom: validate the input, look in the cache,
run the function (async directly, sync in a worker thread) under the timeout and the retry policy,
validate the output, cache it, announce `tool:executed` or `tool:failed` on the hub's event bus.
Calling the tool object itself calls the bare function, so a decorated function still behaves like
itself in a notebook cell.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from pydantic import BaseModel, TypeAdapter, ValidationError

from ..circuit import CircuitBreaker, report, shared
from ..context import RuntimeContext
from ..errors import ErrorKind, MastraError
from ..events import TOOL_EXECUTED, TOOL_FAILED
from ..limits import check_bounds
from ..redaction import guard, safe_cause, sensitive_fields
from ..retry import RetryPolicy, as_policy, retry_async
from ..telemetry import spans
from ._schema import build_input_spec, output_adapter, parse_docstring, resolve_hints, strict_schema

if TYPE_CHECKING:
    from ..mastra import Mastra

__all__ = ["Tool", "ToolContext", "tool"]

F = TypeVar("F", bound=Callable[..., Any])
_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")  # what OpenAI, Anthropic and Gemini accept as a function name
_DEFAULT_CACHE_SIZE = 128
_unbound_logger = guard(logging.getLogger("mastra_nb.tools"))


@dataclass(frozen=True)
class ToolContext:
    """What a tool function receives in a parameter annotated `ToolContext` (or named `context`).

    Attributes:
        mastra: the hub the tool is registered in, or None for a tool used on its own.
        runtime_context: the request-scoped values of this call.
        tool_id: the id of the tool being run.
        attempt: 1 for the first try, 2 for the first retry, and so on.
    """

    mastra: Mastra | None
    runtime_context: RuntimeContext
    tool_id: str
    attempt: int


class Tool:
    """A function with a validated input and output that agents, workflows and people can call.

    Args:
        id: a name models accept: 1-64 letters, digits, `_` or `-`.
        description: what the tool does, for the model; None takes the docstring's first paragraph.
        execute: the function, sync or async. Its parameters become the input fields (descriptions come
            from the docstring's `Args:`), unless it takes a single pydantic model or `input_schema` is
            given, in which case it receives the validated model instance.
        input_schema: a pydantic model to validate the input with, instead of the signature.
        output_schema: a type or model the result must match; by default the return annotation, if any.
        timeout: seconds each attempt may take before it fails with the retryable `TOOL_TIMEOUT`; None takes
            the hub's `config.tool_timeout` once the tool is registered. A sync function that overruns keeps
            running in its worker thread: Python cannot stop a thread.
        retries: a `RetryPolicy`, or an int n meaning n retries after the first attempt
            (`RetryPolicy(attempts=n + 1)`). Only errors with `retryable=True` are retried.
        cache: True for an LRU cache of 128 results, an int for another size. Results are keyed by the
            validated input alone, so cache only tools whose result depends on nothing else; a cached
            result is returned as the same object each time, so do not mutate it.
        requires_approval: an agent that calls this tool pauses its run until a person approves or declines the
            call (`agent.approve_tool_call` / `decline_tool_call`). Calling `execute` directly asks no one.
        circuit_breaker: "shared" (default): the process's breaker of this tool id (5 retryable failures in a row,
            timeouts say, open it for 30 s: calls then fail at once with `CIRCUIT_OPEN`); a `CircuitBreaker(...)`
            of your own; None for none.

    Raises:
        MastraError: validation `TOOL_DEFINITION_INVALID` when the definition cannot work.
    """

    def __init__(
        self,
        id: str,
        description: str | None,
        execute: Callable[..., Any],
        *,
        input_schema: type[BaseModel] | None = None,
        output_schema: Any = None,
        timeout: float | None = None,
        retries: RetryPolicy | int | None = None,
        cache: bool | int = False,
        requires_approval: bool = False,
        circuit_breaker: CircuitBreaker | Literal["shared"] | None = "shared",
    ) -> None:
        if not isinstance(id, str) or not _ID.match(id):
            raise MastraError(
                ErrorKind.VALIDATION, "TOOL_DEFINITION_INVALID",
                f"Tool id {id!r} is not one models accept: use 1-64 letters, digits, `_` or `-`, "
                "e.g. `@tool(id=\"get_weather\")`.",
            )  # fmt: skip
        if not callable(execute) or inspect.isgeneratorfunction(execute) or inspect.isasyncgenfunction(execute):
            raise _invalid(id, f"`execute` must be a function returning one result, got {execute!r}.")
        self.id = id
        self.fn = execute
        self.description = description if description is not None else parse_docstring(inspect.getdoc(execute))[0]
        self._spec = build_input_spec(execute, id, ToolContext, input_schema)
        self.input_schema: type[BaseModel] = self._spec.model
        if output_schema is None:
            output_schema = resolve_hints(execute, id).get("return")
        self.output_schema: Any = output_schema
        self._output: TypeAdapter[Any] | None = None if output_schema in (None, Any) else output_adapter(output_schema)
        self.timeout = _check_timeout(id, timeout)
        self.retries = as_policy(retries, "TOOL_DEFINITION_INVALID", f"Tool `{id}`")
        self.cache_size = _cache_size(id, cache)
        if not isinstance(requires_approval, bool):
            raise _invalid(id, f"`requires_approval` must be True or False, got {requires_approval!r}.")
        self.requires_approval = requires_approval
        if circuit_breaker == "shared":
            circuit_breaker = shared(("tool", id), hold_back=False)  # a tool's calls may wait on each other
        elif circuit_breaker is not None and not isinstance(circuit_breaker, CircuitBreaker):
            raise _invalid(
                id, f"`circuit_breaker` must be 'shared', a `CircuitBreaker` or None, got {circuit_breaker!r}."
            )
        self.circuit_breaker: CircuitBreaker | None = circuit_breaker
        self.component = f"Tool `{id}`"  # what its breaker's refusals name (a breaker shared by tools names more)
        self._cache: OrderedDict[str, Any] = OrderedDict()
        self._cache_lock = threading.Lock()  # not asyncio.Lock: calls may run on different event loops
        # A callable object with an `async def __call__` is async too, though not a coroutine function itself.
        self._is_async = inspect.iscoroutinefunction(execute) or inspect.iscoroutinefunction(type(execute).__call__)
        self._mastra: Mastra | None = None
        # So that help(), inspect.signature() and the notebook see the function; updated=() keeps the function's
        # own attributes from overwriting the tool's.
        functools.update_wrapper(
            self, execute, assigned=("__module__", "__name__", "__qualname__", "__doc__"), updated=()
        )

    # -- the hub ---------------------------------------------------------------------------------------------

    def bind(self, mastra: Mastra) -> Tool:
        """Attach the tool to a hub; `Mastra.add_tool` calls this. A later bind replaces an earlier one."""
        self._mastra = mastra
        return self

    @property
    def mastra(self) -> Mastra | None:
        """The hub the tool is registered in, or None."""
        return self._mastra

    # -- schemas ---------------------------------------------------------------------------------------------

    def json_schema(self) -> dict[str, Any]:
        """The JSON Schema of the tool's input (a new dict each call)."""
        return self.input_schema.model_json_schema()

    def output_json_schema(self) -> dict[str, Any] | None:
        """The JSON Schema of the tool's result, or None when it has no declared type (or one JSON Schema cannot
        say, such as a plain class)."""
        if self._output is None:
            return None
        try:
            return self._output.json_schema()
        except Exception:  # pydantic's PydanticInvalidForJsonSchema and kin: the type is fine, only unsayable
            return None

    def to_openai(self, strict: bool = False) -> dict[str, Any]:
        """The tool in OpenAI's function-tool format, as litellm and most providers take it.

        Args:
            strict: rewrite the parameters for OpenAI's strict mode (see `_schema.strict_schema`).
        """
        parameters = strict_schema(self.json_schema(), self.id) if strict else self.json_schema()
        function: dict[str, Any] = {"name": self.id, "description": self.description, "parameters": parameters}
        if strict:
            function["strict"] = True
        return {"type": "function", "function": function}

    # -- calling ---------------------------------------------------------------------------------------------

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the bare function: no validation, no retries, no events."""
        return self.fn(*args, **kwargs)

    async def execute(self, input: Mapping[str, Any] | BaseModel, context: RuntimeContext | None = None) -> Any:
        """Validate `input`, run the tool and return its validated result.

        Args:
            input: the arguments as a mapping (what a model sends) or an instance of `input_schema`.
            context: the runtime context for this call; by default the one currently active.

        Raises:
            MastraError: `TOOL_INPUT_INVALID` or `TOOL_OUTPUT_INVALID` (validation); `TOOL_TIMEOUT` or
                `TOOL_EXECUTION_FAILED` (execution); or the `MastraError` the function raised itself.
        """
        started = time.perf_counter()
        attempts = 0
        with spans.tool_call(self, input) as span:
            try:
                data = self._validate_input(input)
                key = self._cache_key(data)
                hit, result = self._cache_get(key)
                if not hit:
                    runtime = context if context is not None else RuntimeContext.current()

                    async def attempt(number: int) -> Any:
                        nonlocal attempts
                        attempts = number
                        return await self._guarded(data, runtime, number)

                    result = self._validate_output(await retry_async(attempt, self.retries, self._log_retry))
                    self._cache_put(key, result)
            except MastraError as error:
                self._emit(TOOL_FAILED, started, attempts, error=error.to_dict())
                raise
            spans.tool_result(span, result, cached=hit, attempts=attempts)
        self._emit(TOOL_EXECUTED, started, attempts, cached=hit)
        return result

    def clear_cache(self) -> None:
        """Forget every cached result."""
        with self._cache_lock:
            self._cache.clear()

    async def _guarded(self, data: BaseModel, runtime: RuntimeContext, number: int) -> Any:
        """One attempt, with the circuit breaker's leave (an open one raises `CIRCUIT_OPEN`, running nothing)."""
        breaker = self.circuit_breaker
        if breaker is None:
            return await self._run_once(data, runtime, number)
        permit = await breaker.acquire(self.component)
        report(permit.changed, breaker, "tool", self.id, self._mastra)
        outcome: BaseException | None = None
        try:
            return await self._run_once(data, runtime, number)
        except BaseException as error:  # only settled here: retryable errors count, the rest are neutral
            outcome = error
            raise
        finally:
            report(breaker.settle(permit, outcome), breaker, "tool", self.id, self._mastra)

    async def _run_once(self, data: BaseModel, runtime: RuntimeContext, number: int) -> Any:
        context = ToolContext(self._mastra, runtime, self.id, number)
        args, kwargs = self._spec.arguments(data, context)
        # Activated here so that `RuntimeContext.current()` inside the tool, and in anything it calls, sees it.
        timeout = self.timeout if self.timeout is not None or self._mastra is None else self._mastra.config.tool_timeout
        with runtime.activate():
            if timeout is None:
                return await self._invoke(args, kwargs)
            try:
                return await asyncio.wait_for(self._invoke(args, kwargs), timeout)
            except asyncio.TimeoutError:  # only wait_for's: `_invoke` has already wrapped the function's own
                raise MastraError(
                    ErrorKind.EXECUTION, "TOOL_TIMEOUT",
                    f"Tool `{self.id}` did not finish within {timeout} s. Raise `timeout=` or make it faster.",
                    details={"tool_id": self.id, "timeout": timeout}, retryable=True,
                ) from None  # fmt: skip

    async def _invoke(self, args: list[Any], kwargs: dict[str, Any]) -> Any:
        try:
            if self._is_async:
                return await self.fn(*args, **kwargs)
            result = await asyncio.to_thread(self.fn, *args, **kwargs)  # a sync tool must not block the loop
            return await result if inspect.isawaitable(result) else result
        except MastraError:
            raise
        except Exception as exc:  # BaseExceptions (cancellation, KeyboardInterrupt) pass through untouched
            raise MastraError(
                ErrorKind.EXECUTION, "TOOL_EXECUTION_FAILED",
                f"Tool `{self.id}` raised {type(exc).__name__}: {exc}. "
                "Fix the tool or its input; the original error is chained as `__cause__` (unless it quoted a secret).",
                details={"tool_id": self.id, "exception": type(exc).__name__},
            ) from safe_cause(exc)  # fmt: skip

    def _validate_input(self, input: Any) -> BaseModel:
        model = self.input_schema
        if isinstance(input, model):
            return input
        if not isinstance(input, Mapping):
            raise MastraError(
                ErrorKind.VALIDATION, "TOOL_INPUT_INVALID",
                f"`Tool.execute` of `{self.id}` needs a mapping of arguments or a `{model.__name__}`, "
                f"got {type(input).__name__}.",
                details={"errors": [{"field": "(root)", "expected": f"a mapping or a `{model.__name__}`"}]},
            )  # fmt: skip
        check_bounds(input, code="TOOL_INPUT_INVALID", subject=f"input of tool `{self.id}`")
        if self._spec.nulls_to_drop:
            # A strict-mode model sends null for an argument it leaves at its default.
            input = {k: v for k, v in input.items() if v is not None or k not in self._spec.nulls_to_drop}
        try:
            return model.model_validate(input)
        except ValidationError as error:
            raise MastraError.from_validation(
                error, code="TOOL_INPUT_INVALID", subject=f"input of tool `{self.id}`", hidden=sensitive_fields(model)
            ) from None  # fmt: skip

    def _validate_output(self, result: Any) -> Any:
        if self._output is None:
            return result
        try:
            return self._output.validate_python(result)
        except ValidationError as error:
            raise MastraError.from_validation(
                error, code="TOOL_OUTPUT_INVALID", subject=f"output of tool `{self.id}`",
                hint=f"Make `{self.id}` return what its return annotation or `output_schema` says.",
            ) from None  # fmt: skip

    # -- cache, events, logs ---------------------------------------------------------------------------------

    def _cache_key(self, data: BaseModel) -> str | None:
        if not self.cache_size:
            return None
        try:
            dumped = data.model_dump(mode="json", by_alias=True)
        except Exception:  # an input pydantic cannot serialize is simply not cached
            return None
        return json.dumps(dumped, sort_keys=True, separators=(",", ":"))

    def _cache_get(self, key: str | None) -> tuple[bool, Any]:
        if key is None:
            return False, None
        with self._cache_lock:
            if key not in self._cache:
                return False, None
            self._cache.move_to_end(key)
            return True, self._cache[key]

    def _cache_put(self, key: str | None, result: Any) -> None:
        if key is None:
            return
        with self._cache_lock:
            self._cache[key] = result
            self._cache.move_to_end(key)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    def _emit(self, name: str, started: float, attempts: int, **extra: Any) -> None:
        if self._mastra is None:
            return
        payload = {"tool_id": self.id, "duration_ms": (time.perf_counter() - started) * 1000, "attempts": attempts}
        self._mastra.events.emit(name, {**payload, **extra})

    def _log_retry(self, number: int, error: MastraError, delay: float) -> None:
        hub = self._mastra
        log = hub.get_logger(f"tools.{self.id}") if hub is not None else guard(_unbound_logger.getChild(self.id))
        log.warning("Tool `%s` attempt %d failed (%s); retrying in %.2f s.", self.id, number, error, delay)
        spans.event("retry", attempt=number, error=str(error), delay_s=delay)

    def __repr__(self) -> str:
        fields = ", ".join(self.input_schema.model_json_schema().get("properties", {}))
        options = [f"timeout={self.timeout}"] if self.timeout is not None else []
        options += [f"attempts={self.retries.attempts}"] if self.retries.attempts > 1 else []
        options += [f"cache={self.cache_size}"] if self.cache_size else []
        options += ["requires_approval=True"] if self.requires_approval else []
        return f"Tool({self.id!r}, input=({fields}){''.join(', ' + o for o in options)})"

    def _repr_html_(self) -> str:
        from ..display.reprs import tool_html  # imported on first display: import mastra_nb stays light

        return tool_html(self)


def _invalid(tool_id: str, problem: str) -> MastraError:
    return MastraError(ErrorKind.VALIDATION, "TOOL_DEFINITION_INVALID", f"Tool `{tool_id}`: {problem}")


def _check_timeout(tool_id: str, timeout: float | None) -> float | None:
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
        raise _invalid(tool_id, f"`timeout` must be a positive number of seconds or None, got {timeout!r}.")
    return timeout


def _cache_size(tool_id: str, cache: bool | int) -> int:
    if cache is True:
        return _DEFAULT_CACHE_SIZE
    if cache is False or cache is None:
        return 0
    if not isinstance(cache, int) or cache < 0:
        raise _invalid(tool_id, f"`cache` must be True, False or a maximum number of entries, got {cache!r}.")
    return cache


@overload
def tool(fn: F, /) -> Tool: ...
@overload
def tool(
    *,
    id: str | None = None,
    description: str | None = None,
    input_schema: type[BaseModel] | None = None,
    output_schema: Any = None,
    timeout: float | None = None,
    retries: RetryPolicy | int | None = None,
    cache: bool | int = False,
    requires_approval: bool = False,
    circuit_breaker: CircuitBreaker | Literal["shared"] | None = "shared",
) -> Callable[[Callable[..., Any]], Tool]: ...
def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    id: str | None = None,
    description: str | None = None,
    input_schema: type[BaseModel] | None = None,
    output_schema: Any = None,
    timeout: float | None = None,
    retries: RetryPolicy | int | None = None,
    cache: bool | int = False,
    requires_approval: bool = False,
    circuit_breaker: CircuitBreaker | Literal["shared"] | None = "shared",
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Turn a function into a `Tool`; use it bare (`@tool`) or with options (`@tool(timeout=5)`).

    The id defaults to the function's name and the description to its docstring's first paragraph; the
    other arguments are those of `Tool`.

    Example:
        >>> @tool
        ... def add(a: int, b: int = 1) -> int:
        ...     '''Add two integers.'''
        ...     return a + b
        >>> add(2, 3)
        5
    """

    def decorate(function: Callable[..., Any]) -> Tool:
        return Tool(
            id if id is not None else getattr(function, "__name__", ""),
            description,
            function,
            input_schema=input_schema,
            output_schema=output_schema,
            timeout=timeout,
            retries=retries,
            cache=cache,
            requires_approval=requires_approval,
            circuit_breaker=circuit_breaker,
        )

    return decorate if fn is None else decorate(fn)
