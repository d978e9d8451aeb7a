"""The routes of workflows: list and describe, create a run, start and resume it (waiting for the outcome, or
in the background), cancel it, list and read runs.

A run made by `create-run` lives in this process until it starts (a run is stored when it starts): `start-async`
and `start` find it by id, and a `start-async` with an unknown id creates the run, as Mastra's server does.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from ..context import RuntimeContext
from ..errors import MastraError
from ..workflows.run import Run
from .routes import Call, Route, field
from .shapes import workflow_info, workflow_result

if TYPE_CHECKING:
    from ..mastra import Mastra

__all__ = ["ROUTES"]

_CREATED_KEPT = 10_000  # runs created and not started yet, per hub: the oldest are forgotten past this
# hub -> run id -> run; weakly keyed, so a hub that is gone takes its created runs with it
_created: weakref.WeakKeyDictionary[Mastra, OrderedDict[str, Run]] = weakref.WeakKeyDictionary()
_background: set[asyncio.Task[Any]] = set()  # runs started by `start` and `resume`, kept from the collector


async def list_workflows(call: Call) -> Any:
    return {name: workflow_info(workflow) for name, workflow in call.hub.list_workflows().items()}


async def get_workflow(call: Call) -> Any:
    return workflow_info(call.hub.get_workflow(call.param("workflowId")))


async def create_run(call: Call) -> Any:
    workflow = call.hub.get_workflow(call.param("workflowId"))
    data = await call.json()
    run = workflow.create_run(run_id=call.query("runId"), resource_id=field(data, "resourceId", str))
    created = _created.setdefault(call.hub, OrderedDict())
    created[run.run_id] = run
    while len(created) > _CREATED_KEPT:
        created.popitem(last=False)
    return {"runId": run.run_id}


async def _run(call: Call, *, create: bool) -> Run:
    """The run named by `?runId=`: one created here, else a stored one; a new one when `create` and none is named
    or known."""
    workflow = call.hub.get_workflow(call.param("workflowId"))
    run_id = call.query("runId") if create else call.required_query("runId")
    if run_id is None:
        return workflow.create_run()
    waiting = _created.get(call.hub)
    created = waiting.get(run_id) if waiting is not None else None
    if waiting is not None and created is not None and created.workflow is workflow:
        del waiting[run_id]
        return created
    if create:
        try:
            return await workflow.get_run(run_id)
        except MastraError as error:
            if error.code != "RUN_NOT_FOUND":
                raise
            return workflow.create_run(run_id=run_id)
    return await workflow.get_run(run_id)


async def _start(run: Run, data: dict[str, Any]) -> Any:
    context = field(data, "requestContext", dict)
    return await run.start(
        data.get("inputData"), state=data.get("initialState"),
        context=None if context is None else RuntimeContext(context),
    )  # fmt: skip


async def start_async(call: Call) -> Any:
    data = await call.json()
    run = await _run(call, create=True)
    return workflow_result(await _start(run, data))


async def start(call: Call) -> Any:
    data = await call.json()
    run = await _run(call, create=False)
    _in_background(_start(run, data))
    return {"message": "Workflow run started", "runId": run.run_id}


def _step(data: dict[str, Any]) -> str | None:
    step = field(data, "step", (str, list))
    if isinstance(step, list):  # Mastra names a nested step by the ids from the outside in
        return str(step[-1]) if step else None
    return step


async def resume_async(call: Call) -> Any:
    data = await call.json()
    run = await _run(call, create=False)
    return workflow_result(await run.resume(data.get("resumeData"), step=_step(data)))


async def resume(call: Call) -> Any:
    data = await call.json()
    run = await _run(call, create=False)
    _in_background(run.resume(data.get("resumeData"), step=_step(data)))
    return {"message": "Workflow run resumed", "runId": run.run_id}


async def cancel(call: Call) -> Any:
    workflow = call.hub.get_workflow(call.param("workflowId"))
    run = await workflow.get_run(call.param("runId"))
    await run.cancel()
    return {"message": "Workflow run canceled", "runId": run.run_id}


async def list_runs(call: Call) -> Any:
    workflow = call.hub.get_workflow(call.param("workflowId"))
    per_page = call.int_query("perPage", 100, low=1, high=1000)
    page = call.int_query("page", 0)
    found = await call.hub.runs.list(
        workflow=workflow.id, status=call.query("status"), resource_id=call.query("resourceId")
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


def _in_background(work: Any) -> None:
    task = asyncio.ensure_future(work)
    _background.add(task)
    # The outcome is stored with the run (`GET runs/:runId` reads it): retrieved here so that asyncio does not
    # report a failed run as an exception nobody read.
    task.add_done_callback(_settled)


def _settled(task: asyncio.Task[Any]) -> None:
    _background.discard(task)
    if not task.cancelled():
        task.exception()


ROUTES = (
    Route("GET", "/workflows", list_workflows, "workflows:read", "The workflows, keyed by id."),
    Route("GET", "/workflows/{workflowId}", get_workflow, "workflows:read", "One workflow with its step graph."),
    Route("POST", "/workflows/{workflowId}/create-run", create_run, "workflows:execute", "Create a run."),
    Route("POST", "/workflows/{workflowId}/start-async", start_async, "workflows:execute",
          "Start a run and answer with its outcome (finished or suspended)."),
    Route("POST", "/workflows/{workflowId}/start", start, "workflows:execute", "Start a created run, not waiting."),
    Route("POST", "/workflows/{workflowId}/resume-async", resume_async, "workflows:execute",
          "Resume a suspended run and answer with its outcome."),
    Route("POST", "/workflows/{workflowId}/resume", resume, "workflows:execute", "Resume a run, not waiting."),
    Route("POST", "/workflows/{workflowId}/runs/{runId}/cancel", cancel, "workflows:execute", "Cancel a run."),
    Route("GET", "/workflows/{workflowId}/runs", list_runs, "workflows:read", "The workflow's runs, newest first."),
    Route("GET", "/workflows/{workflowId}/runs/{runId}", get_run, "workflows:read", "One run and its steps."),
)  # fmt: skip
