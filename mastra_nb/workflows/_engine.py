"""Execution: walks a workflow's nodes for one run, replaying what the journal already holds.

Every unit of work reads top to bottom: is there a recorded result at this path? use it; otherwise run the
step and record the result. A first run, a resume, a restart after a crash and a time-travel fork are all
this one walk over different journals, which is why nested, parallel and loop resumes need no special cases.
"""

from __future__ import annotations

import asyncio
import inspect
import time
import traceback
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._async import gather_eagerly
from ..errors import ErrorKind, MastraError
from ..evals.attach import score_step
from ..events import STEP_COMPLETED, STEP_STARTED, STEP_SUSPENDED
from ..redaction import safe_cause
from ..retry import retry_async
from ..telemetry import spans
from ..telemetry.tracing import REPEATS_SPANNED, SpanScope, StepSpans, active_telemetry
from ._journal import Record, now
from .graph import BranchNode, ForeachNode, LoopNode, MapNode, Node, ParallelNode, SleepNode, StepNode
from .signals import BailSignal, Signal, Suspended, SuspendSignal
from .step import Step, StepContext

if TYPE_CHECKING:
    from .run import Run
    from .workflow import Workflow

__all__ = ["BRANCH", "SLEEP", "Execution"]

# The step ids of the engine's own journal records: a branch decision and a sleep's due time. "@" keeps them
# apart from every user step id, which may only use letters, digits, "_" and "-".
BRANCH, SLEEP = "@branch", "@sleep"


class Execution:
    """One pass of a run over its workflow.

    Args:
        run: the run being executed.
        resume: `(path, validated data, data as stored)` of the suspended step to resume, if any.
        overrides: inputs to use instead of the journal's at given paths (time travel).
    """

    def __init__(
        self, run: Run, resume: tuple[str, Any, Any] | None = None, overrides: dict[str, Any] | None = None
    ) -> None:
        self.run = run
        self.journal = run._journal
        self.init_data = run.input
        self.state = run.state
        self.runtime_context = run.runtime_context
        self.resume = resume
        self.overrides = overrides or {}
        self._hub_events = run.workflow.mastra.events
        self._run_events = run._events
        self._step_spans: StepSpans | None = None  # which steps get spans; decided inside the run's span, once
        self._done_blocks: set[str] | None = None  # see `replayed`
        self.span_attributes: dict[str, Any] | None = None  # what each step's span carries (`telemetry.spans`)

    # -- walking ------------------------------------------------------------------------------------------

    async def workflow(self, workflow: Workflow, data: Any, prefix: str) -> Any:
        """Run `workflow`'s nodes in order from `data`; returns the last node's output."""
        scope: dict[str, Any] = {}  # step id -> output, for `ctx.get_step_result`
        for index, node in enumerate(workflow.nodes):
            data = await self._node(node, data, f"{prefix}{index}", scope)
        return data

    async def _node(self, node: Node, data: Any, path: str, scope: dict[str, Any]) -> Any:
        if isinstance(node, StepNode):
            return await self._unit(node.step, data, path, scope)
        if isinstance(node, ParallelNode):
            units = list(enumerate(node.steps))
            with spans.workflow_block(self, "parallel", path):
                return await self._together(units, data, path, scope)
        if isinstance(node, BranchNode):
            with spans.workflow_block(self, "branch", path) as span:
                taken = await self._branch_decision(node, data, path)
                span.set("mastra.branch.taken", [node.branches[i][1].id for i in taken])
                return await self._together([(i, node.branches[i][1]) for i in taken], data, path, scope)
        if isinstance(node, LoopNode):
            with spans.workflow_block(self, "loop", path) as span:
                return await self._loop(node, data, path, scope, span)
        if isinstance(node, ForeachNode):
            with spans.workflow_block(self, "foreach", path, {"mastra.foreach.concurrency": node.concurrency}) as span:
                return await self._foreach(node, data, path, scope, span)
        if isinstance(node, MapNode):
            return await self._map(node, data, path, scope)
        with spans.workflow_block(self, "sleep", path):
            return await self._sleep(node, data, path)

    async def _unit(
        self, unit: Step | Workflow, data: Any, path: str, scope: dict[str, Any], repeat: int | None = None
    ) -> Any:
        """Run one step or nested workflow; `repeat` is the index of a loop's iteration or a foreach's item:
        under `Telemetry(step_spans="blocks")` those after the first `REPEATS_SPANNED` are counted on their
        block's span instead of having one each."""
        if self._step_spans is None:
            telemetry = active_telemetry(self.run.workflow.mastra)
            self._step_spans = telemetry.step_spans if telemetry.enabled else "off"
        mode = self._step_spans
        if mode == "off" or (mode == "blocks" and repeat is not None and repeat >= REPEATS_SPANNED):
            span = None  # tight loops' common case: no span
            output = await (self._step(unit, data, path, scope) if isinstance(unit, Step)
                            else self._nested(unit, data, path))  # fmt: skip
        else:
            with spans.workflow_step(self, unit, path) as span:
                try:
                    output = await (self._step(unit, data, path, scope) if isinstance(unit, Step)
                                    else self._nested(unit, data, path))  # fmt: skip
                finally:  # a failed step's span shows its input too
                    spans.step_input(span, self, unit, path, data)
                spans.step_result(span, self, unit, path, output)
        score_step(self, unit, data, output, span)
        scope[unit.id] = output
        return output

    async def _together(
        self, units: list[tuple[int, Step | Workflow]], data: Any, path: str, scope: dict[str, Any]
    ) -> dict[str, Any]:
        """Run units concurrently; output keyed by unit id. Every branch finishes before a failure or
        suspension is reported, so a suspended branch never leaves a sibling half-done."""
        results = await gather_eagerly(self._unit(unit, data, f"{path}.{i}", scope) for i, unit in units)
        _raise_first(results)
        return {unit.id: result for (_, unit), result in zip(units, results, strict=True)}

    async def _branch_decision(self, node: BranchNode, data: Any, path: str) -> list[int]:
        # The decision is journaled, so a resumed run takes the branches it took before.
        record = self.journal.records.get(path)
        if record is not None and record.status == "success":
            return list(record.output)
        taken = [i for i, (condition, _) in enumerate(node.branches) if await _call(condition, data, "condition", path)]
        self.journal.put(Record(path, BRANCH, self.journal.next_seq(), "success", output=taken, ended_at=now()))
        return taken

    async def _loop(self, node: LoopNode, data: Any, path: str, scope: dict[str, Any], span: SpanScope) -> Any:
        iteration = 0
        try:
            while True:
                data = await self._unit(node.step, data, f"{path}.{iteration}", scope, repeat=iteration)
                iteration += 1
                if bool(await _call(node.condition, data, "condition", path)) == node.until:
                    return data
        finally:
            span.set("mastra.loop.iterations", iteration)

    async def _foreach(
        self, node: ForeachNode, data: Any, path: str, scope: dict[str, Any], span: SpanScope
    ) -> list[Any]:
        if not isinstance(data, list):
            raise MastraError(
                ErrorKind.VALIDATION,
                "WORKFLOW_FOREACH_NOT_LIST",
                f"`foreach` over step `{node.step.id}` at `{path}` needs a list from the step before it, "
                f"got {type(data).__name__}.",
                details={"path": path, "step_id": node.step.id},
            )
        span.set("mastra.foreach.items", len(data))
        if node.concurrency == 1:
            results: list[Any] = []
            suspended: list[str] = []
            for i, item in enumerate(data):
                try:
                    results.append(await self._unit(node.step, item, f"{path}.{i}", dict(scope), repeat=i))
                except Suspended as signal:  # the other items still run, as they would concurrently
                    suspended.extend(signal.paths)
            if suspended:
                raise Suspended(suspended)
            scope[node.step.id] = results
            return results
        gate = asyncio.Semaphore(node.concurrency)

        async def one(i: int, item: Any) -> Any:
            async with gate:
                return await self._unit(node.step, item, f"{path}.{i}", dict(scope), repeat=i)

        gathered = await gather_eagerly(one(i, item) for i, item in enumerate(data))
        _raise_first(gathered)
        scope[node.step.id] = gathered
        return gathered

    async def _map(self, node: MapNode, data: Any, path: str, scope: dict[str, Any]) -> Any:
        if node.fn is not None:
            return await _call(node.fn, data, "map function", path)
        assert node.mapping is not None
        return {name: self._resolve(source, data, scope) for name, source in node.mapping.items()}

    def _resolve(self, source: dict[str, Any], data: Any, scope: dict[str, Any]) -> Any:
        if "value" in source:
            return source["value"]
        if "step" in source:
            step_id = source["step"] if isinstance(source["step"], str) else source["step"].id
            if step_id not in scope:
                raise MastraError(
                    ErrorKind.DOMAIN,
                    "WORKFLOW_MAP_SOURCE_MISSING",
                    f"`map` reads step `{step_id}`, which has not completed before it in this workflow.",
                )
            base = scope[step_id]
        else:
            base = self.init_data if "init" in source else data
        return _dig(base, source.get("path", source.get("init", "")))

    async def _sleep(self, node: SleepNode, data: Any, path: str) -> Any:
        record = self.journal.records.get(path)
        if record is not None and record.status == "success":
            return data
        if record is not None:  # a sleep begun before a restart keeps its due time
            due = datetime.fromisoformat(record.output["until"])
        else:
            due = node.until or datetime.now(timezone.utc) + timedelta(seconds=node.seconds or 0)
            due = due if due.tzinfo is not None else due.replace(tzinfo=timezone.utc)
            output = {"until": due.isoformat()}
            record = Record(path, SLEEP, self.journal.next_seq(), "waiting", output=output, started_at=now())
            self.journal.put(record)
            await self.journal.flush()  # the due time must outlive this process
        await asyncio.sleep(max(0.0, (due - datetime.now(timezone.utc)).total_seconds()))
        record.status, record.ended_at = "success", now()
        self.journal.put(record)
        return data

    async def _nested(self, workflow: Workflow, data: Any, path: str) -> Any:
        record = self.journal.records.get(path)
        if record is not None and record.status == "success":
            return workflow.output.validate(record.output, "STEP_OUTPUT_INVALID", f"stored output of `{path}`")
        if path in self.overrides:
            data = self.overrides.pop(path)
        value = workflow.input.validate(data, "STEP_INPUT_INVALID", f"input of nested workflow `{workflow.id}`")
        started = now()
        self._emit(STEP_STARTED, path, workflow.id)
        output = await self.workflow(workflow, value, f"{path}.")
        output = workflow.output.validate(output, "STEP_OUTPUT_INVALID", f"output of nested workflow `{workflow.id}`")
        dumped = workflow.output.dump(output, f"Output of nested workflow `{workflow.id}`")
        seq = record.seq if record is not None else self.journal.next_seq()
        stored_input = workflow.input.dump(value, f"The input of nested workflow `{workflow.id}`")
        record = Record(path, workflow.id, seq, "success", 1, stored_input, dumped, started_at=started, ended_at=now())
        self.journal.put(record)
        self._emit(STEP_COMPLETED, path, workflow.id, status="success", output=dumped)
        return output

    # -- one step -------------------------------------------------------------------------------------

    async def _step(self, step: Step, data: Any, path: str, scope: dict[str, Any]) -> Any:
        record = self.journal.records.get(path)
        subject = f"step `{step.id}` at `{path}`"
        resume: tuple[Any, Any] | None = None  # the resume data, validated and as stored
        if record is not None:
            if record.status == "success":
                return step.output.validate(record.output, "STEP_OUTPUT_INVALID", f"stored output of {subject}")
            if record.status == "suspended":
                if self.resume is None or self.resume[0] != path:
                    raise Suspended([path])
                resume = self.resume[1], self.resume[2]
            elif record.resume_payload is not None:  # resumed, then cut short by a crash: resume it again
                stored = record.resume_payload
                resume = step.resume.validate(stored, "RESUME_DATA_INVALID", f"resume data of {subject}"), stored
        if path in self.overrides:
            data = self.overrides.pop(path)
        current = Record(path, step.id, record.seq if record else self.journal.next_seq(), "running", started_at=now())
        if resume is not None and record is not None:
            current.resume_payload, current.resumed_at = resume[1], now()
            current.suspend_payload, current.suspended_at = record.suspend_payload, record.suspended_at
        self.journal.put(current)
        await self.journal.before_step(resumed=resume is not None)
        self._emit(STEP_STARTED, path, step.id)
        resume_data = resume[0] if resume is not None else None

        async def attempt(number: int) -> Any:
            current.attempt = number
            ctx = StepContext(self, scope, step, path, resume_data, number) if step.wants_context else None
            return await _guarded(step, step.call(value, ctx))

        try:
            value = step.input.validate(data, "STEP_INPUT_INVALID", f"input of {subject}")
            current.input = step.input.dump(value, f"The input of {subject}")
            if step.retries.attempts == 1:  # no retries: one coroutine fewer per step
                current.attempt = 1
                ctx = StepContext(self, scope, step, path, resume_data, 1) if step.wants_context else None
                returned = await _guarded(step, step.call(value, ctx))
            else:
                returned = await retry_async(attempt, step.retries)
            output = step.output.validate(returned, "STEP_OUTPUT_INVALID", f"output of {subject}")
            current.output = step.output.dump(output, f"The output of {subject}")
        except SuspendSignal as signal:
            try:
                payload = step.suspend.validate(signal.payload, "STEP_SUSPEND_INVALID", f"suspend payload of {subject}")
                current.suspend_payload = step.suspend.dump(payload, f"The suspend payload of {subject}")
            except MastraError as error:
                raise self._record_failure(current, error) from error
            current.status, current.suspended_at = "suspended", now()
            self.journal.put(current)
            self._emit(STEP_SUSPENDED, path, step.id, payload=current.suspend_payload)
            raise Suspended([path]) from None
        except BailSignal as signal:
            signal.path = path
            workflow = self.run.workflow
            try:  # the bail result is the run's output: held to the workflow's output schema
                signal.result = workflow.output.validate(signal.result, "WORKFLOW_OUTPUT_INVALID", f"bail of {subject}")
                current.output = workflow.output.dump(signal.result, f"The bail result of {subject}")
            except MastraError as error:
                raise self._record_failure(current, error) from error
            current.status, current.ended_at = "success", now()
            self.journal.put(current)
            self._emit(STEP_COMPLETED, path, step.id, status="success", bailed=True, output=current.output)
            raise
        except MastraError as error:
            raise self._record_failure(current, error) from error
        current.status, current.ended_at = "success", now()
        self.journal.put(current)  # again: a flush for another branch may have written it as running
        self._emit(STEP_COMPLETED, path, step.id, status="success", output=current.output)
        await self.journal.step_done()
        return output

    def _record_failure(self, current: Record, error: MastraError) -> MastraError:
        """Mark the step failed and return the error to raise, naming the step and its path."""
        # The step's own errors ("raised ...", "did not finish ...") read on from its name; others follow "failed:".
        said = error.message if error.code in ("STEP_FAILED", "STEP_TIMEOUT") else f"failed: {error.message}"
        failure = MastraError(
            error.kind, error.code, f"Step `{current.step_id}` at `{current.path}` {said}",
            details={**error.details, "step_id": current.step_id, "path": current.path}, retryable=error.retryable,
        )  # fmt: skip
        current.status, current.ended_at, current.error = "failed", now(), failure.to_dict()
        self.journal.put(current)
        self._emit(STEP_COMPLETED, current.path, current.step_id, status="failed", error=failure.to_dict())
        return failure

    def replayed(self, path: str) -> bool:
        """Whether the journal shows the block at `path` done (it has records, and every record at or inside it is
        a success), so that a replay gives it no span. Answered from an index of the journal built once per pass,
        which keeps a loop of blocks linear: a block's records are all written after it opens, so the journal
        as the first block found it says the same about every later block as the journal at its opening."""
        if self._done_blocks is None:
            done: dict[str, bool] = {}
            for path_of, record in self.journal.records.items():
                success = record.status == "success"
                prefix = ""
                for part in path_of.split("."):
                    prefix = f"{prefix}.{part}" if prefix else part
                    done[prefix] = done.get(prefix, True) and success
            self._done_blocks = {prefix for prefix, success in done.items() if success}
        return path in self._done_blocks

    # -- state and events -----------------------------------------------------------------------------

    def set_state(self, state: Any, path: str) -> None:
        workflow = self.run.workflow
        self.state = workflow.state.validate(state, "WORKFLOW_STATE_INVALID", f"state of workflow `{workflow.id}`")
        self.run.state = self.state
        record = self.journal.records.get(path)
        if record is not None:
            record.state = workflow.state.dump(self.state, f"The state of workflow `{workflow.id}`")
            self.journal.put(record)

    def emit_custom(self, name: str, payload: dict[str, Any], path: str, step_id: str) -> None:
        self._emit(name, path, step_id, payload=payload)

    def _emit(self, name: str, path: str, step_id: str, **extra: Any) -> None:
        if not (self._hub_events.subscriptions or self._run_events.subscriptions):
            return  # the common case in a tight loop: nobody listens, so build nothing
        payload = {"run_id": self.run.run_id, "workflow_id": self.run.workflow.id, "path": path, "step_id": step_id}
        payload.update(extra)
        self._hub_events.emit(name, payload)
        self._run_events.emit(name, payload)


async def _guarded(step: Step, call: Any) -> Any:
    """Apply the step's timeout and turn a plain exception into a retryable `MastraError`."""
    started = time.perf_counter()
    try:
        if step.timeout is None:
            return await call
        return await asyncio.wait_for(call, step.timeout)
    except MastraError:
        raise
    except asyncio.TimeoutError as exc:
        if step.timeout is not None and time.perf_counter() - started >= step.timeout:
            raise MastraError(
                ErrorKind.EXECUTION, "STEP_TIMEOUT", f"did not finish within {step.timeout} s.", retryable=True,
            ) from None  # fmt: skip
        raise _failed(exc) from safe_cause(exc)
    except Exception as exc:
        raise _failed(exc) from safe_cause(exc)


def _failed(exc: Exception) -> MastraError:
    # Retryable: a plain exception from a step is as likely to be transient (a network hiccup) as not, and
    # a step is retried only when its author asked for retries. The message says where in the user's code it was
    # raised (the innermost frame: a notebook cell's line), since the run view and a stored run have no traceback.
    name = type(exc).__name__
    frames = traceback.extract_tb(exc.__traceback__)
    last = frames[-1] if frames else None
    where = f"{Path(last.filename).name}:{last.lineno} in `{last.name}`" if last else None
    shown_at = f" (at {where}" + (f": `{last.line.strip()}`)" if last and last.line else ")") if where else ""
    return MastraError(
        ErrorKind.EXECUTION, "STEP_FAILED", f"raised {name}: {exc}{shown_at}", retryable=True,
        details={"exception": name, "where": where, "line": last.line if last else None},
    )  # fmt: skip


def _raise_first(results: list[Any]) -> None:
    """After a gather: re-raise the first failure, else a bail, else every suspension together."""
    suspended: list[str] = []
    bail: BailSignal | None = None
    for result in results:
        if isinstance(result, Suspended):
            suspended.extend(result.paths)
        elif isinstance(result, BailSignal):
            bail = bail or result
        elif isinstance(result, BaseException):
            raise result
    if bail is not None:
        raise bail
    if suspended:
        raise Suspended(suspended)


async def _call(fn: Callable[..., Any], data: Any, role: str, path: str) -> Any:
    """Call a user's condition or map function; its failure becomes a `MastraError` naming it and the path."""
    try:
        result = fn(data)
        return await result if inspect.isawaitable(result) else result
    except (MastraError, Signal):
        raise
    except Exception as exc:
        name = getattr(fn, "__name__", type(fn).__name__)
        raise MastraError(
            ErrorKind.EXECUTION, "WORKFLOW_FUNCTION_FAILED",
            f"The {role} `{name}` at `{path}` raised {type(exc).__name__}: {exc}",
            details={"path": path, "function": name, "exception": type(exc).__name__},
        ) from safe_cause(exc)  # fmt: skip


def _dig(value: Any, path: str) -> Any:
    for part in path.split(".") if path else ():
        value = value[int(part)] if isinstance(value, list) else (
            value[part] if isinstance(value, dict) else getattr(value, part)
        )  # fmt: skip
    return value
