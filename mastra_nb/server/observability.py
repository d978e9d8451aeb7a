"""The routes of observability: stored traces and their spans, scorers and their scores, and logs, in Mastra's
shapes (`SpanRecord` with Mastra's span types, its pagination).

Logs: this server keeps none (Python's logging goes to its handlers, not to storage), so it lists no log
transport, and the log routes answer with no logs rather than with a 404 that Studio would show as a failure.
"""

from __future__ import annotations

from typing import Any

from ..errors import ErrorKind, MastraError
from ..telemetry.traces import SpanRecord
from .routes import Call, Route

__all__ = ["ROUTES"]

# Our span kinds in Mastra's span types.
_SPAN_TYPES = {"agent": "agent_run", "model": "model_generation", "tool": "tool_call", "mcp_tool": "mcp_tool_call",
               "workflow": "workflow_run", "step": "workflow_step", "parallel": "workflow_parallel",
               "branch": "workflow_conditional", "loop": "workflow_loop", "foreach": "workflow_loop",
               "sleep": "workflow_sleep", "memory": "memory_operation", "scorer": "scorer_run"}  # fmt: skip
_ENTITIES = {"agent": "agent", "workflow": "workflow", "tool": "tool", "mcp_tool": "tool", "scorer": "scorer",
             "step": "workflow_step"}  # fmt: skip


def span_shape(span: SpanRecord) -> dict[str, Any]:
    """A stored span as Mastra's `SpanRecord`."""
    entity = _ENTITIES.get(span.kind)
    name = span.name.split(" ", 1)[-1] if entity is not None else None
    return {
        "traceId": span.trace_id, "spanId": span.span_id, "parentSpanId": span.parent_span_id, "name": span.name,
        "spanType": _SPAN_TYPES.get(span.kind, "generic"), "isEvent": False,
        "startedAt": span.start_time, "endedAt": span.end_time, "createdAt": span.start_time,
        "updatedAt": span.end_time, "entityType": entity, "entityId": name, "entityName": name,
        "attributes": span.attributes, "input": span.input, "output": span.output, "error": span.error,
        "metadata": {"status": span.status, "events": span.events},
    }  # fmt: skip


async def list_traces(call: Call) -> Any:
    """Root spans of stored traces, newest first; `entityType`+`entityId` (agent or workflow), `runId` and
    `threadId` narrow them."""
    page = call.int_query("page", 0)
    per_page = call.int_query("perPage", 10, low=1, high=100)
    entity_type, entity_id = call.query("entityType"), call.query("entityId")
    if entity_type not in (None, "agent", "workflow"):
        raise MastraError(ErrorKind.VALIDATION, "QUERY_INVALID",
                          f"`entityType` must be agent or workflow, got {entity_type!r}.",
                          details={"field": "entityType"})  # fmt: skip
    if not call.hub.telemetry.store:  # traces are not kept: there are none to list
        return {"pagination": {"total": 0, "page": page, "perPage": per_page, "hasMore": False}, "spans": []}
    summaries = await call.hub.traces.list(
        agent=entity_id if entity_type == "agent" else None,
        workflow=entity_id if entity_type == "workflow" else None,
        run_id=call.query("runId"), thread_id=call.query("threadId"), limit=(page + 1) * per_page + 1,
    )  # fmt: skip
    shown = summaries[page * per_page : (page + 1) * per_page]
    spans = []
    for summary in shown:
        trace = await call.hub.traces.get(summary.trace_id)
        spans.append(span_shape(trace.roots[0] if trace.roots else trace.spans[0]))
    total = len(summaries) if len(summaries) <= (page + 1) * per_page else (page + 1) * per_page + 1
    return {
        "pagination": {"total": total, "page": page, "perPage": per_page,
                       "hasMore": len(summaries) > (page + 1) * per_page},
        "spans": spans,
    }  # fmt: skip


async def get_trace(call: Call) -> Any:
    trace = await call.hub.traces.get(call.param("traceId"))
    return {"traceId": trace.trace_id, "spans": [span_shape(span) for span in trace.spans]}


async def list_scorers(call: Call) -> Any:
    """The registered scorers, keyed by id, with the agents and workflow steps that use them."""
    agents = call.hub.list_agents()
    found = {}
    for key, scorer in call.hub.list_scorers().items():
        users = [name for name, agent in agents.items() if any(s.scorer is scorer for s in agent.scorers)]
        found[key] = {
            "scorer": {"config": {"id": scorer.id, "name": scorer.id, "description": scorer.description}},
            "agentIds": users, "agentNames": users, "workflowIds": [], "isRegistered": True, "source": "code",
        }  # fmt: skip
    return found


async def list_scores(call: Call) -> Any:
    page = call.int_query("page", 0)
    per_page = call.int_query("perPage", 10, low=1, high=100)
    results = await call.hub.scores.list(scorer_id=call.param("scorerId"), limit=(page + 1) * per_page + 1)
    shown = results[page * per_page : (page + 1) * per_page]
    scores = [
        {"id": r.id, "scorerId": r.scorer_id, "score": r.score, "reason": r.reason, "entityType": r.target_kind,
         "entityId": r.target_id, "runId": r.run_id, "traceId": r.trace_id, "spanId": r.span_id,
         "metadata": r.details, "createdAt": r.created_at, "updatedAt": r.created_at}
        for r in shown
    ]  # fmt: skip
    return {"pagination": {"total": len(results), "page": page, "perPage": per_page,
                           "hasMore": len(results) > (page + 1) * per_page}, "scores": scores}  # fmt: skip


async def log_transports(call: Call) -> Any:
    return {"transports": []}


async def logs(call: Call) -> Any:
    page = call.int_query("page", 0)
    per_page = call.int_query("perPage", 100, low=1, high=1000)
    return {"logs": [], "total": 0, "page": page, "perPage": per_page, "hasMore": False}


ROUTES = (
    Route("GET", "/observability/traces", list_traces, "observability:read",
          "Stored traces (their root spans), newest first, a page at a time."),
    Route("GET", "/observability/traces/{traceId}", get_trace, "observability:read", "A trace's spans."),
    Route("GET", "/scores/scorers", list_scorers, "scores:read", "The registered scorers, keyed by id."),
    Route("GET", "/scores/scorer/{scorerId}", list_scores, "scores:read", "A scorer's stored scores."),
    Route("GET", "/logs/transports", log_transports, "logs:read", "Where logs are kept (nowhere: none are stored)."),
    Route("GET", "/logs", logs, "logs:read", "Stored logs (none: this server stores no logs)."),
    Route("GET", "/logs/{runId}", logs, "logs:read", "A run's stored logs (none: this server stores no logs)."),
)  # fmt: skip
