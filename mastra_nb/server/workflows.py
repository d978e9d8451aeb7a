"""The routes of workflows: list and describe, create a run, start and resume it (waiting for the outcome, in
the background, or streaming its events), observe it, cancel it, list, read and delete runs.

A run made by `create-run` lives in this process until it starts (a run is stored when it starts): `start-async`
and `start` find it by id, and a `start-async` with an unknown id creates the run, as Mastra's server does.
A run this server is driving is kept by id while it goes, so that `observe` can follow it and `cancel` can
interrupt the very object that runs it.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable
from typing import TYPE_CHECKING, Any

from ..errors import ErrorKind, MastraError
from ..events import Event
from ..workflows.run import Run, RunResult
from .routes import Call, Route, field
from .shapes import workflow_info, workflow_result
from .streams import WorkflowChunks, error_chunk, listed, records, shutting_down

if TYPE_CHECKING:
    from ..mastra import Mastra

__all__ = ["ROUTES"]

_CREATED_KEPT = 10_000  # runs created and not started yet, per hub: the oldest are forgotten past this
# hub -> run id -> run; weakly keyed, so a hub that is gone takes its created runs with it
_created: weakref.WeakKeyDictionary[Mastra, OrderedDict[str, Run]] = weakref.WeakKeyDictionary()
# run id -> the run this server is driving and the task that drives it (which also keeps it from the collector)
_live: dict[str, tuple[Run, asyncio.Task[RunResult]]] = {}


async def list_workflows(call: Call) -> Any:
    return {name: workflow_info(workflow) for name, workflow in call.hub.list_workflows().items()}


async def run_counts(call: Call) -> Any:
    """How many runs of each workflow are running and suspended, in storage."""
    counts = {name: {"running": 0, "suspended": 0} for name in call.hub.list_workflows()}
    for status in ("running", "suspended"):
        for info in await call.hub.runs.list(kind="workflow", status=status):
            if info.name in counts:
                counts[info.name][status] += 1
    return counts


async def get_workflow(call: Call) -> Any:
    return workflow_info(call.hub.get_workflow(call.param("workflowId")))


async def create_run(call: Call) -> Any:
    workflow = call.hub.get_workflow(call.param("workflowId"))
    data = await call.json()
    run_id = call.query("runId")
    if run_id is not None and await _exists(call.hub, run_id):
        # A handle on a run that exists (client-js resumes through `createRun({runId})`): nothing to create.
        return {"runId": run_id}
    run = workflow.create_run(run_id=run_id, resource_id=call.resource(field(data, "resourceId", str)))
    created = _created.setdefault(call.hub, OrderedDict())
    created[run.run_id] = run
    while len(created) > _CREATED_KEPT:
        created.popitem(last=False)
    return {"runId": run.run_id}


async def _exists(hub: Mastra, run_id: str) -> bool:
    """Whether a run `run_id` is created here, driven here or stored."""
    if run_id in _live or run_id in _created.get(hub, {}):
        return True
    try:
        await hub.runs.get(run_id)
    except MastraError as error:
        if error.code != "RUN_NOT_FOUND":
            raise
        return False
    return True


async def _run(call: Call, *, create: bool) -> Run:
    """The run named by `?runId=`: one created here, else a stored one; a new one when `create` and none is named
    or known. A confined caller's runs are its resource's, and others' are not found."""
    run = await _found_run(call, create=create)
    call.own(run.resource_id, "run", run.run_id)
    return run


async def _found_run(call: Call, *, create: bool) -> Run:
    workflow = call.hub.get_workflow(call.param("workflowId"))
    run_id = call.query("runId") if create else call.required_query("runId")
    if run_id is None:
        return workflow.create_run(resource_id=call.tenant)
    live = _live.get(run_id)
    if live is not None and live[0].workflow is workflow:
        return live[0]
    waiting = _created.get(call.hub)
    created = waiting.get(run_id) if waiting is not None else None
    if waiting is not None and created is not None and created.workflow is workflow:
        call.own(created.resource_id, "run", run_id)  # not taken from the map unless it is the caller's
        del waiting[run_id]
        return created
    if create:
        try:
            return await workflow.get_run(run_id)
        except MastraError as error:
            if error.code != "RUN_NOT_FOUND":
                raise
            return workflow.create_run(run_id=run_id, resource_id=call.tenant)
    return await workflow.get_run(run_id)


async def _start(call: Call, run: Run, data: dict[str, Any]) -> RunResult:
    return await run.start(data.get("inputData"), state=data.get("initialState"),
                           context=call.context(data, default_none=True))  # fmt: skip


def _step(data: dict[str, Any]) -> str | None:
    step = field(data, "step", (str, list))
    if isinstance(step, list):  # Mastra names a nested step by the ids from the outside in
        return str(step[-1]) if step else None
    return step


def _resume(run: Run, data: dict[str, Any]) -> Awaitable[RunResult]:
    return run.resume(data.get("resumeData"), step=_step(data))


async def _audited(call: Call, run: Run, event: str) -> None:
    await call.audit(event, "allowed", run_id=run.run_id, workflow=run.workflow.id)


def _drive(run: Run, work: Awaitable[RunResult]) -> asyncio.Task[RunResult]:
    """Run `work` (a start or resume of `run`) as a task this server keeps until it ends."""
    task = asyncio.ensure_future(work)
    current = _live.get(run.run_id)
    if current is None or current[1].done():  # a second start of a live run fails; the first one stays kept
        _live[run.run_id] = (run, task)

    def settled(done: asyncio.Task[RunResult]) -> None:
        if _live.get(run.run_id, (None, None))[1] is done:
            del _live[run.run_id]
        # The outcome is stored with the run (`GET runs/:runId` reads it); retrieved here so that asyncio does
        # not report a failure nobody awaited.
        if not done.cancelled():
            done.exception()

    task.add_done_callback(settled)
    return task


async def start_async(call: Call) -> Any:
    data = await call.json()
    run = await _run(call, create=True)
    await _audited(call, run, "run.started")
    # Shielded: a client that leaves does not stop the run, which goes on and is stored as it ends.
    return workflow_result(await asyncio.shield(_drive(run, _start(call, run, data))))


async def start(call: Call) -> Any:
    data = await call.json()
    run = await _run(call, create=False)
    await _audited(call, run, "run.started")
    _drive(run, _start(call, run, data))
    return {"message": "Workflow run started", "runId": run.run_id}


async def resume_async(call: Call) -> Any:
    data = await call.json()
    run = await _run(call, create=False)
    await _audited(call, run, "run.resumed")
    return workflow_result(await asyncio.shield(_drive(run, _resume(run, data))))


async def resume(call: Call) -> Any:
    data = await call.json()
    run = await _run(call, create=False)
    await _audited(call, run, "run.resumed")
    _drive(run, _resume(run, data))
    return {"message": "Workflow run resumed", "runId": run.run_id}


async def restart_async(call: Call) -> Any:
    run = await _run(call, create=False)
    return workflow_result(await asyncio.shield(_drive(run, run.restart())))


async def restart(call: Call) -> Any:
    run = await _run(call, create=False)
    _drive(run, run.restart())
    return {"message": "Workflow run restarted", "runId": run.run_id}


def _travel(run: Run, data: dict[str, Any]) -> Awaitable[RunResult]:
    step = _step(data)
    if step is None:
        raise MastraError(ErrorKind.VALIDATION, "BODY_INVALID", "The request body needs `step`: where to travel to.",
                          details={"field": "step"})  # fmt: skip
    return run.time_travel(step, data.get("inputData"))


async def time_travel_async(call: Call) -> Any:
    """Re-run from a step as a new run (a fork of this one, whose history stays); answers with the fork's result."""
    data = await call.json()
    run = await _run(call, create=False)
    return workflow_result(await asyncio.shield(asyncio.ensure_future(_travel(run, data))))


async def stream(call: Call) -> Any:
    data = await call.json()
    run = await _run(call, create=True)
    await _audited(call, run, "run.started")
    return await _streamed(call, run, _start(call, run, data))


async def resume_stream(call: Call) -> Any:
    data = await call.json()
    run = await _run(call, create=False)
    await _audited(call, run, "run.resumed")
    return await _streamed(call, run, _resume(run, data))


async def _streamed(call: Call, run: Run, work: Awaitable[RunResult]) -> Any:
    """The run's events as Mastra's workflow stream while `work` drives it, ending with `workflow-finish`.

    The first event is awaited before answering, so that a start or resume refused at once (bad input, a run
    in the wrong state) answers with its status and error JSON rather than a stream holding an error.
    """
    queue: asyncio.Queue[Event | None] = asyncio.Queue()
    subscription = run.watch(queue.put_nowait)
    task = _drive(run, work)
    task.add_done_callback(lambda _: queue.put_nowait(None))
    first = await queue.get()
    refused = task.exception() if first is None and not task.cancelled() else None
    if refused is not None:
        subscription.unsubscribe()
        raise refused
    chunks = WorkflowChunks(run.run_id, run.workflow.id)

    async def body() -> AsyncIterator[dict[str, Any]]:
        try:
            yield chunks.start()
            event = first
            while event is not None:
                record = chunks.of(event)
                if record is not None:
                    yield record
                event = await queue.get()
            yield _ending(run, task)
        finally:  # the client may leave early: the run goes on, unwatched
            subscription.unsubscribe()

    return records(call.until_drained(body(), shutting_down(run.run_id, "WORKFLOW")))


def _ending(run: Run, task: asyncio.Task[RunResult]) -> dict[str, Any]:
    """The last record of a stream of `run`, which `task` drove."""
    error = None if task.cancelled() else task.exception()
    if error is not None:
        return error_chunk(error, run.run_id, "WORKFLOW")
    return _finished(run)


async def observe(call: Call) -> Any:
    """What the run has done so far, then, while this server drives it, its events as they come."""
    workflow = call.hub.get_workflow(call.param("workflowId"))
    run_id = call.required_query("runId")
    live = _live.get(run_id)
    if live is None or live[0].workflow is not workflow:
        run = await workflow.get_run(run_id)
        call.own(run.resource_id, "run", run_id)
        return records(listed([*_replayed(run), _finished(run)]))
    run, task = live
    call.own(run.resource_id, "run", run_id)
    queue: asyncio.Queue[Event | None] = asyncio.Queue()
    # Watched before the replay is read, with no await between: each event is in the replay or in the queue.
    subscription = run.watch(queue.put_nowait)
    task.add_done_callback(lambda _: queue.put_nowait(None))
    replay = _replayed(run)
    chunks = WorkflowChunks(run.run_id, workflow.id)

    async def body() -> AsyncIterator[dict[str, Any]]:
        try:
            for replayed in replay:
                yield replayed
            while (event := await queue.get()) is not None:
                record = chunks.of(event)
                if record is not None:
                    yield record
            yield _ending(run, task)
        finally:
            subscription.unsubscribe()

    return records(call.until_drained(body(), shutting_down(run.run_id, "WORKFLOW")))


def _replayed(run: Run) -> list[dict[str, Any]]:
    chunks = WorkflowChunks(run.run_id, run.workflow.id)
    found = [chunks.start()]
    for path, step in run.result.steps.items():
        found += chunks.step(step.step_id, path, step.status, step.output, step.suspend_payload, step.error)
    return found


def _finished(run: Run) -> dict[str, Any]:
    return WorkflowChunks(run.run_id, run.workflow.id).finish(run.status, workflow_result(run.result))


async def cancel(call: Call) -> Any:
    workflow = call.hub.get_workflow(call.param("workflowId"))
    run_id = call.param("runId")
    live = _live.get(run_id)
    run = live[0] if live is not None and live[0].workflow is workflow else await workflow.get_run(run_id)
    call.own(run.resource_id, "run", run_id)
    await _audited(call, run, "run.canceled")
    await run.cancel()
    return {"message": "Workflow run canceled", "runId": run.run_id}


async def delete_run(call: Call) -> Any:
    workflow = call.hub.get_workflow(call.param("workflowId"))
    run_id = call.param("runId")
    info = await call.hub.runs.get(run_id)
    call.own(info.resource_id, "run", run_id)
    if info.kind != "workflow" or info.name != workflow.id:
        raise MastraError(ErrorKind.DOMAIN, "RUN_NOT_FOUND", f"Workflow `{workflow.id}` has no run `{run_id}`.",
                          details={"run_id": run_id})  # fmt: skip
    live = _live.get(run_id)
    if live is not None and not live[1].done():
        raise MastraError(ErrorKind.DOMAIN, "RUN_BUSY", f"Run `{run_id}` is running; cancel it before deleting it.",
                          details={"run_id": run_id})  # fmt: skip
    await call.hub.runs.delete(run_id)
    return {"message": "Workflow run deleted", "runId": run_id}


async def list_runs(call: Call) -> Any:
    workflow = call.hub.get_workflow(call.param("workflowId"))
    per_page = call.int_query("perPage", 100, low=1, high=1000)
    page = call.int_query("page", 0)
    found = await call.hub.runs.list(
        workflow=workflow.id, status=call.query("status"), resource_id=call.resource(call.query("resourceId"))
    )
    shown = found[page * per_page : (page + 1) * per_page]
    runs = [
        {"workflowName": info.name, "runId": info.run_id, "status": info.status, "resourceId": info.resource_id,
         "createdAt": info.created_at, "updatedAt": info.updated_at, "snapshot": {"status": info.status}}
        for info in shown
    ]  # fmt: skip
    return {"runs": runs, "total": len(found)}


async def get_run(call: Call) -> Any:
    workflow = call.hub.get_workflow(call.param("workflowId"))
    run = await workflow.get_run(call.param("runId"))
    call.own(run.resource_id, "run", run.run_id)
    info = await call.hub.runs.get(run.run_id)
    result = workflow_result(run.result)
    found = {
        "runId": run.run_id, "workflowName": workflow.id, "resourceId": info.resource_id,
        "createdAt": info.created_at, "updatedAt": info.updated_at, **result,
    }  # fmt: skip
    fields = call.query("fields")
    if fields:
        wanted = {name.strip() for name in fields.split(",")} | {"runId", "workflowName", "status"}
        found = {key: value for key, value in found.items() if key in wanted}
    return found


ROUTES = (
    Route("GET", "/workflows", list_workflows, "workflows:read", "The workflows, keyed by id."),
    Route("GET", "/workflows/run-counts", run_counts, "workflows:read", "Running and suspended runs per workflow."),
    Route("GET", "/workflows/{workflowId}", get_workflow, "workflows:read", "One workflow with its step graph."),
    Route("POST", "/workflows/{workflowId}/create-run", create_run, "workflows:execute", "Create a run."),
    Route("POST", "/workflows/{workflowId}/start-async", start_async, "workflows:execute",
          "Start a run and answer with its outcome (finished or suspended)."),
    Route("POST", "/workflows/{workflowId}/start", start, "workflows:execute", "Start a created run, not waiting."),
    Route("POST", "/workflows/{workflowId}/resume-async", resume_async, "workflows:execute",
          "Resume a suspended run and answer with its outcome."),
    Route("POST", "/workflows/{workflowId}/resume", resume, "workflows:execute", "Resume a run, not waiting."),
    Route("POST", "/workflows/{workflowId}/stream", stream, "workflows:execute",
          "Start a run, streaming its events (JSON records, each followed by 0x1E)."),
    Route("POST", "/workflows/{workflowId}/resume-stream", resume_stream, "workflows:execute",
          "Resume a suspended run, streaming its events."),
    Route("POST", "/workflows/{workflowId}/observe", observe, "workflows:read",
          "What a run has done so far, then its events while this server drives it."),
    Route("POST", "/workflows/{workflowId}/runs/{runId}/cancel", cancel, "workflows:execute", "Cancel a run."),
    Route("POST", "/workflows/{workflowId}/restart-async", restart_async, "workflows:execute",
          "Continue a run a dead process left running, from its last recorded step; answer with its outcome."),
    Route("POST", "/workflows/{workflowId}/restart", restart, "workflows:execute",
          "Continue a run a dead process left running, not waiting."),
    Route("POST", "/workflows/{workflowId}/time-travel-async", time_travel_async, "workflows:execute",
          "Re-run from `step` (with `inputData`, else its stored input) as a new run; answer with its outcome."),
    Route("GET", "/workflows/{workflowId}/runs", list_runs, "workflows:read", "The workflow's runs, newest first."),
    Route("GET", "/workflows/{workflowId}/runs/{runId}", get_run, "workflows:read", "One run and its steps."),
    Route("DELETE", "/workflows/{workflowId}/runs/{runId}", delete_run, "workflows:delete",
          "Delete a run that is not running, with its journal."),
)  # fmt: skip
