"""Step: one unit of a workflow, with typed input, output, resume and suspend schemas.

A step function takes its input, and optionally a `StepContext`: `def fetch(input)` or
`async def fetch(input, ctx)`. Async functions run on the event loop; sync ones in a worker thread, so a
slow step never freezes the notebook.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, NoReturn, overload

from ..errors import ErrorKind, MastraError
from ..evals.attach import attached_scorers
from ..retry import RetryPolicy, as_policy
from .schema import Schema
from .signals import BailSignal, SuspendSignal

if TYPE_CHECKING:
    from ..context import RuntimeContext
    from ..mastra import Mastra
    from ..tools import Tool
    from ._engine import Execution

__all__ = ["Step", "StepContext", "step"]

_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class StepContext:
    """What a running step can see and do besides its input.

    Attributes:
        run_id: the run's id.
        workflow_id: the id of the (innermost) workflow the step belongs to.
        path: the step's position in the run (`"2"`, or `"3.1.0"` inside parallel, loop, foreach or nested).
        resume_data: the validated data the step was resumed with, or None on a first run.
        attempt: 1 for the first try, then 2, 3 ... on retries.
        mastra: the hub.
        runtime_context: the run's request-scoped values.
    """

    __slots__ = ("_execution", "_scope", "attempt", "path", "resume_data", "run_id", "step", "workflow_id")

    def __init__(
        self, execution: Execution, scope: dict[str, Any], step: Step, path: str, resume_data: Any, attempt: int
    ) -> None:
        self._execution = execution
        self._scope = scope
        self.step = step
        self.run_id = execution.run.run_id
        self.workflow_id = execution.run.workflow.id
        self.path = path
        self.resume_data = resume_data
        self.attempt = attempt

    @property
    def mastra(self) -> Mastra:
        return self._execution.run.workflow.mastra

    @property
    def runtime_context(self) -> RuntimeContext:
        return self._execution.runtime_context

    def suspend(self, payload: Any = None) -> NoReturn:
        """Pause this step (and the run) until `run.resume(data)`; the step then runs again with `resume_data`."""
        raise SuspendSignal(payload)

    def bail(self, result: Any = None) -> NoReturn:
        """End the whole run now, successfully, with `result` as its output."""
        raise BailSignal(result)

    def get_step_result(self, step: Step | str) -> Any:
        """The output of a step of this workflow that has completed in this run.

        Raises:
            MastraError: when that step has not completed (yet).
        """
        step_id = step if isinstance(step, str) else step.id
        if step_id not in self._scope:
            raise MastraError(
                ErrorKind.DOMAIN,
                "STEP_RESULT_MISSING",
                f"Step `{step_id}` has no result in run `{self.run_id}` yet; `get_step_result` sees only steps of "
                f"this workflow that completed before step `{self.step.id}`.",
            )
        return self._scope[step_id]

    def get_init_data(self) -> Any:
        """The run's input."""
        return self._execution.init_data

    @property
    def state(self) -> Any:
        """The workflow state (validated against the workflow's `state` schema)."""
        return self._execution.state

    def set_state(self, state: Any) -> None:
        """Replace the workflow state; it is stored with this step's result."""
        self._execution.set_state(state, self.path)

    def emit(self, name: str, payload: dict[str, Any] | None = None) -> None:
        """Announce a custom event on the hub's bus (and to the run's watchers), tagged with run and step."""
        self._execution.emit_custom(name, payload or {}, self.path, self.step.id)


class Step:
    """A typed unit of work.

    Args:
        id: unique within its workflow: 1-64 letters, digits, `_` or `-`.
        execute: `fn(input)` or `fn(input, ctx: StepContext)`, sync or async.
        input, output: pydantic models (or other types) the input and the result are validated against;
            None accepts any plain JSON value.
        resume: the schema of the data `run.resume(data)` gives this step.
        suspend: the schema of the payload this step passes to `ctx.suspend(payload)`.
        description: for the graph and people.
        retries: a `RetryPolicy`, or n retries after the first attempt; only retryable errors are retried.
        timeout: seconds one attempt may take.
        scorers: `Scorer`s (or `scorer.sample(rate)`) that judge the step's output in the background each time it
            succeeds; scores are stored in the hub's `scores` table.
    """

    def __init__(
        self,
        id: str,
        execute: Callable[..., Any],
        *,
        input: Any = None,
        output: Any = None,
        resume: Any = None,
        suspend: Any = None,
        description: str | None = None,
        retries: RetryPolicy | int | None = None,
        timeout: float | None = None,
        scorers: Iterable[Any] = (),
    ) -> None:
        if not isinstance(id, str) or not _ID.match(id):
            raise MastraError(
                ErrorKind.VALIDATION,
                "STEP_DEFINITION_INVALID",
                f"Step id {id!r} is not valid: use 1-64 letters, digits, `_` or `-`.",
            )
        if not callable(execute):
            raise MastraError(
                ErrorKind.VALIDATION, "STEP_DEFINITION_INVALID", f"Step `{id}` needs a callable `execute`."
            )
        self.id = id
        self.fn = execute
        self.description = description if description is not None else (inspect.getdoc(execute) or "").split("\n\n")[0]
        self.input, self.output = Schema(input), Schema(output)
        self.resume, self.suspend = Schema(resume), Schema(suspend)
        self.retries = as_policy(retries, "STEP_DEFINITION_INVALID", f"Step `{id}`")
        if timeout is not None and (not isinstance(timeout, (int, float)) or timeout <= 0):
            raise MastraError(
                ErrorKind.VALIDATION, "STEP_DEFINITION_INVALID", f"Step `{id}`: `timeout` must be > 0 seconds."
            )
        self.timeout = timeout
        self.scorers = attached_scorers(scorers, f"`Step({id!r}, scorers=...)`")
        self._is_async = inspect.iscoroutinefunction(execute)
        self.wants_context = _count_parameters(id, execute) == 2  # else the engine builds no `StepContext`

    async def call(self, data: Any, ctx: StepContext | None) -> Any:
        """Run the function once (the engine adds validation, retries and the journal around it); `ctx` may be
        None when the function takes no context."""
        args = (data, ctx) if self.wants_context else (data,)
        if self._is_async:
            result = self.fn(*args)
        else:
            result = await asyncio.to_thread(self.fn, *args)
        return await result if inspect.isawaitable(result) else result

    @classmethod
    def from_tool(cls, tool: Tool) -> Step:
        """A step that runs a `Tool`: same id, input and output schemas."""

        async def run_tool(data: Any, ctx: StepContext) -> Any:
            return await tool.execute(data, ctx.runtime_context)

        return cls(tool.id, run_tool, input=tool.input_schema, output=tool.output_schema, description=tool.description)

    def __repr__(self) -> str:
        return f"Step({self.id!r})"


@overload
def step(fn: Callable[..., Any], /) -> Step: ...
@overload
def step(
    *,
    id: str | None = None,
    input: Any = None,
    output: Any = None,
    resume: Any = None,
    suspend: Any = None,
    description: str | None = None,
    retries: RetryPolicy | int | None = None,
    timeout: float | None = None,
    scorers: Iterable[Any] = (),
) -> Callable[[Callable[..., Any]], Step]: ...
def step(fn: Callable[..., Any] | None = None, /, *, id: str | None = None, **options: Any) -> Any:
    """Turn a function into a `Step`; bare (`@step`) or with options (`@step(input=In, output=Out)`).

    Without `input=`/`output=`, the annotations of the first parameter and of the return value are used.
    """

    def decorate(function: Callable[..., Any]) -> Step:
        hints = _hints(function)
        first = next(iter(inspect.signature(function).parameters), None)
        options.setdefault("input", hints.get(first) if first else None)
        options.setdefault("output", hints.get("return"))
        return Step(id if id is not None else function.__name__, function, **options)

    return decorate if fn is None else decorate(fn)


def _hints(function: Callable[..., Any]) -> dict[str, Any]:
    import typing

    try:
        hints = typing.get_type_hints(function)
    except Exception:
        return {}
    return {name: hint for name, hint in hints.items() if hint is not Any and hint is not type(None)}


def _count_parameters(step_id: str, fn: Callable[..., Any]) -> int:
    params = [
        p for p in inspect.signature(fn).parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if len(params) not in (1, 2):
        raise MastraError(
            ErrorKind.VALIDATION,
            "STEP_DEFINITION_INVALID",
            f"Step `{step_id}`'s function must take `(input)` or `(input, ctx)`, but it takes {len(params)} "
            "positional parameters.",
        )
    return len(params)
