"""Run: one execution of a workflow: start, resume, cancel, restart, time travel, watch and stream.

A run's truth is in storage (a `workflow_runs` row and its journal), so a run suspended in one process is
resumed from another by `await workflow.get_run(run_id)` and `await run.resume(data)`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from ..context import RuntimeContext
from ..errors import ErrorKind, MastraError
from ..events import WORKFLOW_COMPLETED, WORKFLOW_FAILED, WORKFLOW_STARTED, Event, EventBus, Subscription
from ..redaction import guard, safe_cause
from ..telemetry import spans
from ._engine import BRANCH, SLEEP, Execution
from ._journal import Durability, Journal, Record, now, settled
from .signals import BailSignal, Suspended
from .step import Step

if TYPE_CHECKING:
    from .workflow import Workflow

__all__ = ["Run", "RunResult", "RunStatus", "StepResult"]

RunStatus = Literal["pending", "running", "success", "failed", "suspended", "canceled"]

# Identifies this process in the runs it owns, so that `Mastra.list_active_runs` can tell a run another (maybe
# dead) process was executing from one this process is executing right now.
PROCESS = {"pid": os.getpid(), "host": socket.gethostname(), "token": uuid.uuid4().hex}

# The runs executing in this process, by id, whichever `Workflow` object runs them (a notebook may have
# re-defined the workflow since). Process state by nature, hence module level.
LIVE: dict[str, Run] = {}
_WARNED: weakref.WeakSet[Workflow] = weakref.WeakSet()  # workflows whose private-store warning was given
logger = guard(logging.getLogger("mastra_nb.workflows"))


@dataclass(frozen=True)
class StepResult:
    """What happened at one path of a run; values in their stored JSON form."""

    path: str
    step_id: str
    status: str
    input: Any
    output: Any
    suspend_payload: Any
    resume_payload: Any
    error: dict[str, Any] | None
    attempts: int
    started_at: datetime | None
    ended_at: datetime | None
    suspended_at: datetime | None
    resumed_at: datetime | None


@dataclass(frozen=True)
class RunResult:
    """The outcome of a run so far."""

    run_id: str
    workflow_id: str
    status: RunStatus
    output: Any = None
    error: MastraError | None = None
    suspended: list[str] = field(default_factory=list)  # paths of the suspended steps
    steps: dict[str, StepResult] = field(default_factory=dict)
    parent_run_id: str | None = None
    trace_id: str | None = None  # the trace of the latest start, resume or restart (None when tracing is off)
    bailed: str | None = None  # the path of the step whose `ctx.bail(...)` ended the run (status "success")

    def _repr_html_(self) -> str:
        from ..display.reprs import run_result_html  # imported on first display: import mastra_nb stays light

        return run_result_html(self)


class Run:
    """A run of a workflow; made by `workflow.create_run()` or loaded by `await workflow.get_run(run_id)`."""

    def __init__(
        self,
        workflow: Workflow,
        run_id: str | None = None,
        resource_id: str | None = None,
        durability: Durability = "batched",
    ) -> None:
        self.workflow = workflow
        self.run_id = run_id or uuid.uuid4().hex
        self.resource_id = resource_id
        self.status: RunStatus = "pending"
        self.input: Any = None
        self.output: Any = None
        self.error: MastraError | None = None
        self.state: Any = None
        self.runtime_context = RuntimeContext()
        self.suspended: list[str] = []
        self.parent: dict[str, Any] | None = None  # {"run_id", "path"} of a time-travel fork
        self.bailed: str | None = None  # the path of the step whose `ctx.bail(...)` ended the run
        self._stored_input: Any = None  # the JSON forms of input and output, as stored
        self._stored_output: Any = None
        self._initial_state: Any = None  # as stored; a time-travel fork starts from it
        self.created_at = now()
        self.trace_id: str | None = None
        self._journal = Journal(workflow.mastra.runs if durability != "none" else None, self.run_id, durability)
        self._events = EventBus()
        self._task: asyncio.Future[RunResult] | None = None
        self._cancel_requested = False

    @classmethod
    def load(cls, workflow: Workflow, row: dict[str, Any], steps: list[dict[str, Any]]) -> Run:
        """Rebuild a run from its stored row and journal rows (in a fresh object, maybe a fresh process)."""
        snapshot = row["snapshot"] or {}
        run = cls(workflow, row["run_id"], row["resource_id"], snapshot.get("durability", workflow.durability))
        run.status, run.created_at = row["status"], row["created_at"] or run.created_at
        subject = f"stored run `{run.run_id}` of workflow `{workflow.id}`"
        run.input = workflow.input.validate(row["input"], "WORKFLOW_INPUT_INVALID", f"input of {subject}")
        run._stored_input, run._stored_output = row["input"], row["output"]
        if row["output"] is not None:
            run.output = workflow.output.validate(row["output"], "WORKFLOW_OUTPUT_INVALID", f"output of {subject}")
        if snapshot.get("state") is not None:
            run.state = workflow.state.validate(snapshot["state"], "WORKFLOW_STATE_INVALID", f"state of {subject}")
        if row["error"]:
            error = row["error"]
            run.error = MastraError(
                error["kind"], error["code"], error["message"], details=error["details"], retryable=error["retryable"]
            )
        run.suspended, run.parent = snapshot.get("suspended", []), snapshot.get("parent")
        run.bailed = snapshot.get("bailed")
        run._initial_state = snapshot.get("initial_state")
        run._journal.restore(steps, row["version"])
        return run

    # -- the public API -------------------------------------------------------------------------------------

    async def start(self, input: Any = None, *, state: Any = None, context: RuntimeContext | None = None) -> RunResult:
        """Run the workflow from its first step; returns when it succeeds, fails, suspends or is canceled.

        Raises:
            MastraError: `WORKFLOW_INPUT_INVALID` (naming the field) before anything is stored, or
                `RUN_ALREADY_STARTED`.
        """
        if self.status != "pending" or self._busy:
            raise self._error("RUN_ALREADY_STARTED", f"has already started (status `{self.status}`)")
        workflow = self.workflow
        self.input = workflow.input.validate(input, "WORKFLOW_INPUT_INVALID", f"input of workflow `{workflow.id}`")
        self._stored_input = workflow.input.dump(self.input, f"The input of workflow `{workflow.id}`")
        default_state = {} if workflow.state.type is not None and state is None else state
        self.state = workflow.state.validate(default_state, "WORKFLOW_STATE_INVALID", f"state of `{workflow.id}`")
        self._initial_state = workflow.state.dump(self.state, f"The state of workflow `{workflow.id}`")
        self.runtime_context = context if context is not None else RuntimeContext.current()
        return await self._execute(Execution(self))

    async def resume(self, data: Any = None, step: Step | Workflow | str | None = None) -> RunResult:
        """Continue a suspended step with `data`, validated against the step's `resume` schema.

        Args:
            data: the resume data.
            step: the suspended step: a `Step`, its id, or its path (`"2.1"`); may be omitted when exactly one
                step is suspended.

        The resume first claims the run in storage, as a compare-and-set from the suspended row this object
        read: of two resumes of one run (two objects, two processes, a double click), exactly one goes on and
        the step runs once.

        Raises:
            MastraError: `RUN_NOT_SUSPENDED` (also when another resume took the run first: the error names its
                stored status) or `RUN_CONFLICT` (it changed in storage since this object read it; load it
                again); `RUN_STEP_AMBIGUOUS`/`RUN_STEP_NOT_SUSPENDED` for `step`; or `RESUME_DATA_INVALID`
                naming the field. In each case nothing stored changes. `RUN_CANCELED` when `cancel()` stopped
                it before it began.
        """
        if self.status != "suspended" or self._busy:
            status = "being resumed" if self._busy else self.status
            raise self._error("RUN_NOT_SUSPENDED", f"is `{status}`, not suspended: there is nothing to resume")
        path = self._suspended_path(step)
        unit = self.workflow.unit_at(path)
        assert isinstance(unit, Step), path  # only steps suspend; a nested workflow's suspension is its step's
        subject = f"step `{unit.id}` at `{path}`"
        resume_data = unit.resume.validate(data, "RESUME_DATA_INVALID", f"resume data of {subject}")
        stored = unit.resume.dump(resume_data, f"The resume data of {subject}")  # refused now, not mid-run
        return await self._execute(Execution(self, resume=(path, resume_data, stored)), claim="suspended")

    async def cancel(self) -> RunResult:
        """Stop the run: a running run is interrupted (a sync step's thread finishes on its own), a suspended or
        sleeping one will not continue. Its journal is kept. A start or resume of this object that had not begun
        yet raises `RUN_CANCELED` to its caller.

        Raises:
            MastraError: `RUN_NOT_ACTIVE`; `RUN_CONFLICT` (or `RUN_NOT_SUSPENDED`) when the stored run changed
                since this object read it (another object or process resumed or finished it); nothing is written.
        """
        if self._busy:
            assert self._task is not None
            self._cancel_requested = True
            self._task.cancel()
            try:
                result = await asyncio.shield(self._task)
            except asyncio.CancelledError:
                if not self._task.done():
                    raise  # this call itself was cancelled
            else:
                if result.status == "canceled":
                    return result
            # Too late, or too early, for the task: it ended (finished or suspended) or never began. What is
            # stored is canceled below if it is still active.
        if self.status not in ("pending", "suspended", "running"):
            raise self._error("RUN_NOT_ACTIVE", f"is already `{self.status}`; only an active run can be canceled")
        # A compare-and-set: only if storage still holds the run as this object saw it (a pending run is inserted).
        await self._journal.transition(self._row("canceled"), expect=self.status if self._journal.stored else None)
        self.status = "canceled"
        return self.result

    async def restart(self) -> RunResult:
        """Continue a run whose process died (status `running` in storage) from its last recorded step.

        The run is claimed first, as a compare-and-set on the row this object read: of two processes restarting
        one orphaned run, exactly one goes on; the other gets `RUN_CONFLICT`."""
        if self.status != "running" or self._busy:
            raise self._error(
                "RUN_NOT_RESTARTABLE", f"is `{self.status}`; only a run left running by a dead process restarts"
            )
        return await self._execute(Execution(self), claim="running")

    async def time_travel(self, step: Step | Workflow | str, input: Any = None) -> RunResult:
        """Re-run from `step` as a new run (a fork that records this run as its parent), with the step's
        stored input or `input`. This run's history is never changed. Returns the fork's result."""
        path = self._path_of(step)
        first = self._journal.records.get(path)
        if first is None:
            raise self._error("RUN_STEP_NOT_FOUND", f"never reached `{path}`, so there is nothing to travel back to")
        fork = Run(self.workflow, durability=self._journal.durability)
        fork.input, fork.resource_id = self.input, self.resource_id
        fork._stored_input, fork._initial_state = self._stored_input, self._initial_state
        fork.runtime_context, fork.parent = self.runtime_context, {"run_id": self.run_id, "path": path}
        for p, record in self._journal.records.items():
            if record.seq < first.seq and not p.startswith(f"{path}."):
                fork._journal.put(replace(record))
        # The state as it was when `path` first ran: the last change recorded before it, else the initial state.
        changes = [r.state for r in sorted(fork._journal.records.values(), key=lambda r: r.seq) if r.state is not None]
        state = changes[-1] if changes else self._initial_state
        fork.state = self.workflow.state.validate(state, "WORKFLOW_STATE_INVALID", f"state of run `{fork.run_id}`")
        overrides = {path: input if input is not None else first.input}
        return await fork._execute(Execution(fork, overrides=overrides))

    def watch(self, callback: Callable[[Event], Any]) -> Subscription:
        """Call `callback(event)` for each event of this run (`step:*`, `workflow:*` and custom ones)."""
        return self._events.subscribe("*", callback)

    async def stream(self, input: Any = None, **options: Any) -> AsyncIterator[Event]:
        """Start the run and yield its events as they happen; the last one is `workflow:completed`/`failed`
        (a suspended run ends the stream after its `step:suspended` events)."""
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        subscription = self.watch(queue.put_nowait)

        async def drive() -> RunResult:
            try:
                return await self.start(input, **options)
            finally:
                await self._events.drain()  # every event is queued before the end marker
                queue.put_nowait(None)

        task = asyncio.ensure_future(drive())
        try:
            while (event := await queue.get()) is not None:
                yield event
            await task  # surface an error of `start` itself
        finally:
            subscription.unsubscribe()

    @property
    def result(self) -> RunResult:
        records = sorted(self._journal.records.values(), key=lambda r: r.seq)
        return RunResult(
            run_id=self.run_id, workflow_id=self.workflow.id, status=self.status, output=self.output,
            error=self.error, suspended=list(self.suspended),
            steps={r.path: _step_result(r) for r in records if r.step_id not in (BRANCH, SLEEP)},
            parent_run_id=self.parent["run_id"] if self.parent else None, trace_id=self.trace_id,
            bailed=self.bailed,
        )  # fmt: skip

    def __repr__(self) -> str:
        return f"Run({self.workflow.id!r}, run_id={self.run_id!r}, status={self.status!r})"

    def _repr_html_(self) -> str:
        from ..display.reprs import run_html  # imported on first display: import mastra_nb stays light

        return run_html(self)

    # -- execution ------------------------------------------------------------------------------------------

    @property
    def _busy(self) -> bool:
        """Whether this object is executing the run now (set before the first await of a start or resume)."""
        return self._task is not None and not self._task.done()

    async def _execute(self, execution: Execution, claim: str | None = None) -> RunResult:
        with spans.workflow_run(self) as span:  # the task below inherits the span: the steps' spans nest under it
            self.trace_id = span.trace_id
            self._cancel_requested = False
            self._task = asyncio.ensure_future(self._drive(execution, claim))
            try:
                result = await self._task
            except asyncio.CancelledError:
                if not (self._task.cancelled() and self._cancel_requested):
                    raise  # an interrupt: the run stays as stored (running, when claimed) for a restart
                raise self._error(  # `cancel()` stopped the task before it began: nothing ran or was claimed
                    "RUN_CANCELED", "was canceled (`run.cancel()`) before this call began; nothing ran"
                ) from None
            finally:
                if LIVE.get(self.run_id) is self:
                    del LIVE[self.run_id]
            spans.workflow_result(span, self)
        return result

    async def _drive(self, execution: Execution, claim: str | None) -> RunResult:
        # A run row marked running is how a crashed run is found again. A start inserts it (a stored run of that
        # id fails the insert); a resume or restart claims it from the status this object read, so that of two
        # claims exactly one goes on. The loser has changed nothing, here or in storage.
        # A cancellation that arrives meanwhile waits for the claim's outcome: a claimed run is then canceled in
        # storage (or, interrupted, left running for a restart); an unclaimed one is untouched.
        write, interrupted = await settled(self._journal.transition(self._row("running"), expect=claim))
        refused = write.exception()
        if isinstance(refused, MastraError) and claim is None and refused.code == "STORAGE_CONFLICT":
            raise self._error(
                "RUN_ALREADY_EXISTS", "is already stored; load it with `await workflow.get_run(run_id)` or start a "
                "new run with another id",
            ) from refused  # fmt: skip
        if refused is not None:
            raise refused
        LIVE[self.run_id] = self
        self.status, self.suspended, self.error = "running", [], None
        self._announce(WORKFLOW_STARTED, resumed=claim is not None)
        workflow = self.workflow
        try:
            if interrupted:
                raise asyncio.CancelledError
            output = await execution.workflow(workflow, self.input, "")
            self._finish(output)
        except Suspended as signal:
            self.status, self.suspended = "suspended", signal.paths
            if workflow.private and workflow not in _WARNED:
                _WARNED.add(workflow)
                logger.warning(
                    "Run `%s` of workflow `%s` is suspended in the workflow's private in-memory store: it is lost "
                    "when this process ends. To keep it, register the workflow in a hub with storage "
                    "(`hub.add_workflow(workflow)`) before running it.", self.run_id, workflow.id,
                )  # fmt: skip
        except BailSignal as signal:
            try:
                self._finish(signal.result)
                self.bailed = signal.path
            except MastraError as error:
                self.status, self.error = "failed", error
        except MastraError as error:
            self.status, self.error = "failed", error
        except Exception as error:  # a bug of ours: the run is failed and stored as such, never left running
            self.status = "failed"
            self.error = MastraError(
                ErrorKind.SYSTEM, "WORKFLOW_INTERNAL_ERROR",
                f"Run `{self.run_id}` failed inside mastra_nb: {type(error).__name__}: {error}. Please report it.",
            )  # fmt: skip
            self.error.__cause__ = safe_cause(error)
        except asyncio.CancelledError:
            if not self._cancel_requested:
                raise
            self.status = "canceled"
        # The run has ended here: a `cancel()` arriving while its end is written comes too late, and an interrupt
        # waits for the write, so that storage and this object agree.
        write, interrupted = await settled(self._save())
        refused = write.exception()
        if isinstance(refused, MastraError) and refused.code in ("RUN_CONFLICT", "RUN_NOT_FOUND"):
            # Another object or process changed the stored run meanwhile (a cancel, say): storage says what it is.
            self.status = refused.details.get("status") or self.status
        if refused is not None:
            raise refused
        if interrupted and not self._cancel_requested:
            raise asyncio.CancelledError
        self._cancel_requested = False
        if self.status in ("success", "failed", "canceled"):
            name = WORKFLOW_FAILED if self.status == "failed" else WORKFLOW_COMPLETED
            self._announce(name, status=self.status, error=self.error.to_dict() if self.error else None)
        return self.result

    def _finish(self, output: Any) -> None:
        workflow = self.workflow
        self.output = workflow.output.validate(output, "WORKFLOW_OUTPUT_INVALID", f"output of `{workflow.id}`")
        self._stored_output = workflow.output.dump(self.output, f"The output of workflow `{workflow.id}`")
        self.status = "success"

    async def _save(self) -> None:
        """Write the run row as this object has it, with the pending journal records."""
        self._journal.put_run(self._row(self.status))
        await self._journal.flush()

    def _row(self, status: str) -> dict[str, Any]:
        """The run row with `status`; a run about to go on (running) has no suspended steps or error yet."""
        going_on = status == "running"
        dump = self.workflow
        return {
            "run_id": self.run_id, "workflow_id": dump.id, "resource_id": self.resource_id, "status": status,
            "input": self._stored_input, "output": self._stored_output,
            "error": self.error.to_dict() if self.error and not going_on else None,
            "snapshot": {
                "suspended": [] if going_on else self.suspended, "parent": self.parent, "bailed": self.bailed,
                "owner": PROCESS,
                "initial_state": self._initial_state,
                "state": dump.state.dump(self.state, f"The state of workflow `{dump.id}`"),
                "durability": self._journal.durability,
            },
            "created_at": self.created_at, "updated_at": now(),
        }  # fmt: skip

    def _announce(self, name: str, **extra: Any) -> None:
        payload = {"run_id": self.run_id, "workflow_id": self.workflow.id, **extra}
        self.workflow.mastra.events.emit(name, payload)
        self._events.emit(name, payload)

    # -- helpers --------------------------------------------------------------------------------------------

    def _suspended_path(self, step: Step | Workflow | str | None) -> str:
        key = step if step is None or isinstance(step, str) else step.id
        records = self._journal.records
        matches = [p for p in self.suspended if key is None or p == key or records[p].step_id == key]
        if len(matches) == 1:
            return matches[0]
        listed = ", ".join(f"`{p}` (step `{records[p].step_id}`)" for p in self.suspended)
        if not matches:
            raise self._error("RUN_STEP_NOT_SUSPENDED", f"has no suspended step `{key}`; suspended: {listed}")
        raise self._error("RUN_STEP_AMBIGUOUS", f"has several suspended steps ({listed}); pass `step=` with a path")

    def _path_of(self, step: Step | Workflow | str) -> str:
        """A path given as is, or the one path where a step (by object or id) has a record."""
        key = step if isinstance(step, str) else step.id
        if key in self._journal.records:
            return key
        paths = [p for p, r in self._journal.records.items() if r.step_id == key]
        if len(paths) == 1:
            return paths[0]
        if not paths:
            raise self._error("RUN_STEP_NOT_FOUND", f"has no step `{key}`")
        raise self._error("RUN_STEP_AMBIGUOUS", f"ran step `{key}` at {', '.join(paths)}; pass the path instead")

    def _error(self, code: str, problem: str) -> MastraError:
        return MastraError(
            ErrorKind.DOMAIN, code, f"Run `{self.run_id}` of workflow `{self.workflow.id}` {problem}.",
            details={"run_id": self.run_id, "status": self.status},
        )  # fmt: skip


def orphaned(row: dict[str, Any]) -> bool:
    """Whether a run stored as `running` has no process executing it: not this one, nor a live process on this
    host. A run last owned by another host counts as orphaned: nothing here can tell whether that host lives."""
    if row["run_id"] in LIVE:
        return False
    owner = (row["snapshot"] or {}).get("owner") or {}
    if owner.get("token") == PROCESS["token"] or owner.get("host") != PROCESS["host"]:
        return True
    try:
        os.kill(int(owner["pid"]), 0)  # signal 0 only asks whether the process exists
    except (KeyError, TypeError, ValueError, ProcessLookupError):
        return True
    except PermissionError:
        return False
    return False


def _step_result(record: Record) -> StepResult:
    # Filled in directly: a frozen dataclass's __init__ sets each of 13 fields through object.__setattr__,
    # which made building a 1,000-item foreach's result a fifth of its cost.
    result = object.__new__(StepResult)
    result.__dict__.update({name: getattr(record, source) for name, source in _RESULT_FIELDS})
    return result


_RESULT_FIELDS = tuple((f.name, "attempt" if f.name == "attempts" else f.name) for f in fields(StepResult))
