"""The server's OpenAPI 3.1 document, made from the route table, and a docs page that needs no network.

Every route is in it with its parameters, its permission (`x-mastra-permission`), its request body and its
answers: the success shape, and Mastra's error JSON for the failures. The shapes are Mastra's, as client-js reads
them; they name the fields a client relies on and allow more (Mastra's own objects carry more than any client
reads).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from .routes import Route

__all__ = ["CSP", "document", "page", "welcome"]

Schema = dict[str, Any]


def _object(required: Sequence[str] = (), **properties: Schema) -> Schema:
    found: Schema = {"type": "object", "properties": properties}
    if required:
        found["required"] = list(required)
    return found


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _keyed(name: str) -> Schema:
    return {"type": "object", "additionalProperties": _ref(name)}


_ANY: Schema = {}
_TEXT: Schema = {"type": "string"}
_MAYBE_TEXT: Schema = {"type": ["string", "null"]}
_MESSAGES: Schema = {"oneOf": [_TEXT, {"type": "array", "items": {"oneOf": [_TEXT, {"type": "object"}]}}]}
_RUN_ID = {"name": "runId", "in": "query", "schema": _TEXT}

COMPONENTS: dict[str, Schema] = {
    "Error": _object(
        ["error", "code"],
        error=_TEXT,
        code=_TEXT,
        requestId=_TEXT,
        issues={"type": "array", "items": _object(["field", "message"], field=_TEXT, message=_TEXT)},
        details={"type": "object"},
    ),
    "Tool": _object(
        ["id"],
        id=_TEXT,
        description=_MAYBE_TEXT,
        inputSchema=_MAYBE_TEXT,
        outputSchema=_MAYBE_TEXT,
        requireApproval={"type": "boolean"},
    ),
    "Agent": _object(
        ["name", "tools"],
        id=_TEXT,
        name=_TEXT,
        description=_MAYBE_TEXT,
        instructions=_MAYBE_TEXT,
        tools=_keyed("Tool"),
        provider=_TEXT,
        modelId=_TEXT,
    ),
    "Workflow": _object(
        ["steps", "stepGraph"],
        name=_TEXT,
        description=_MAYBE_TEXT,
        steps={"type": "object"},
        allSteps={"type": "object"},
        stepGraph={"type": "array"},
        inputSchema=_MAYBE_TEXT,
        outputSchema=_MAYBE_TEXT,
    ),
    "WorkflowResult": _object(
        ["status", "steps"],
        status=_TEXT,
        runId=_TEXT,
        steps={"type": "object"},
        result=_ANY,
        error={"type": "object"},
        suspended={"type": "array", "items": {"type": "array", "items": _TEXT}},
    ),
    "FullOutput": _object(
        ["text", "finishReason", "toolCalls", "toolResults", "steps", "runId"],
        text=_TEXT,
        finishReason=_TEXT,
        toolCalls={"type": "array"},
        toolResults={"type": "array"},
        steps={"type": "array"},
        runId=_TEXT,
        usage={"type": "object"},
        suspendPayload={"type": "object"},
    ),
    "Thread": _object(
        ["id", "resourceId"],
        id=_TEXT,
        resourceId=_TEXT,
        title=_MAYBE_TEXT,
        metadata={"type": "object"},
        createdAt=_TEXT,
        updatedAt=_TEXT,
    ),
    "Message": _object(
        ["id", "role", "content"],
        id=_TEXT,
        role=_TEXT,
        threadId=_TEXT,
        resourceId=_TEXT,
        createdAt=_TEXT,
        content=_object(["format", "parts"], format={"const": 2}, parts={"type": "array"}),
    ),
    "Span": _object(
        ["traceId", "spanId", "name", "spanType"],
        traceId=_TEXT,
        spanId=_TEXT,
        name=_TEXT,
        spanType=_TEXT,
        parentSpanId=_MAYBE_TEXT,
    ),
    "Ack": _object(["message"], message=_TEXT, runId=_TEXT),
}
_PAGINATION = _object(
    ["total", "page", "perPage", "hasMore"],
    total={"type": "integer"},
    page={"type": "integer"},
    perPage={"type": "integer"},
    hasMore={"type": "boolean"},
)

_RUN_BODY = _object(inputData=_ANY, initialState=_ANY, requestContext={"type": "object"}, resourceId=_TEXT)
_RESUME_BODY = _object(
    step={"oneOf": [_TEXT, {"type": "array", "items": _TEXT}]}, resumeData=_ANY, requestContext={"type": "object"}
)
_GENERATE_BODY = _object(
    ["messages"],
    messages=_MESSAGES,
    runId=_TEXT,
    maxSteps={"type": "integer"},
    requestContext={"type": "object"},
    memory=_object(thread={"oneOf": [_TEXT, {"type": "object"}]}, resource=_TEXT),
    modelSettings={"type": "object"},
    toolChoice={"oneOf": [_TEXT, {"type": "object"}]},
    requireToolApproval={"type": "boolean"},
    structuredOutput=_object(["schema"], schema={"type": "object"}),
    clientTools={"type": "object", "additionalProperties": _object(description=_TEXT, inputSchema={"type": "object"})},
)
_DECISION_BODY = _object(
    ["runId", "toolCallId"], runId=_TEXT, toolCallId=_TEXT, reason=_TEXT, requestContext={"type": "object"}
)
# Each SSE event: its `data` is a chunk's JSON text, or `[DONE]` to close (as Mastra frames it).
_SSE = {"text/event-stream": {"schema": _object(["data"], data={**_TEXT, "contentMediaType": "application/json"})}}
_RECORDS = {"text/plain": {"schema": _TEXT}}

# (method, path) -> (request body, success answer, extra query parameters); the answer is JSON unless it is _SSE
# or _RECORDS (a stream).
_SHAPES: dict[tuple[str, str], tuple[Schema | None, Any, list[dict[str, Any]]]] = {
    ("GET", "/agents"): (None, _keyed("Agent"), []),
    ("GET", "/agents/{agentId}"): (None, _ref("Agent"), []),
    ("POST", "/agents/{agentId}/generate"): (_GENERATE_BODY, _ref("FullOutput"), []),
    ("POST", "/agents/{agentId}/stream"): (_GENERATE_BODY, _SSE, []),
    ("POST", "/agents/{agentId}/approve-tool-call"): (_DECISION_BODY, _SSE, []),
    ("POST", "/agents/{agentId}/decline-tool-call"): (_DECISION_BODY, _SSE, []),
    ("POST", "/agents/{agentId}/approve-tool-call-generate"): (_DECISION_BODY, _ref("FullOutput"), []),
    ("POST", "/agents/{agentId}/decline-tool-call-generate"): (_DECISION_BODY, _ref("FullOutput"), []),
    ("GET", "/agents/{agentId}/tools/{toolId}"): (None, _ref("Tool"), []),
    ("POST", "/agents/{agentId}/tools/{toolId}/execute"): (_object(data={"type": "object"}), _ANY, []),
    ("GET", "/tools"): (None, _keyed("Tool"), []),
    ("GET", "/tools/{toolId}"): (None, _ref("Tool"), []),
    ("POST", "/tools/{toolId}/execute"): (
        _object(data={"type": "object"}, requestContext={"type": "object"}),
        _ANY,
        [],
    ),
    ("GET", "/workflows"): (None, _keyed("Workflow"), []),
    ("GET", "/workflows/{workflowId}"): (None, _ref("Workflow"), []),
    ("POST", "/workflows/{workflowId}/create-run"): (
        _object(resourceId=_TEXT),
        _object(["runId"], runId=_TEXT),
        [_RUN_ID],
    ),
    ("POST", "/workflows/{workflowId}/start-async"): (_RUN_BODY, _ref("WorkflowResult"), [_RUN_ID]),
    ("POST", "/workflows/{workflowId}/start"): (_RUN_BODY, _ref("Ack"), [{**_RUN_ID, "required": True}]),
    ("POST", "/workflows/{workflowId}/stream"): (_RUN_BODY, _RECORDS, [_RUN_ID]),
    ("POST", "/workflows/{workflowId}/resume-async"): (
        _RESUME_BODY,
        _ref("WorkflowResult"),
        [{**_RUN_ID, "required": True}],
    ),
    ("POST", "/workflows/{workflowId}/resume"): (_RESUME_BODY, _ref("Ack"), [{**_RUN_ID, "required": True}]),
    ("POST", "/workflows/{workflowId}/resume-stream"): (_RESUME_BODY, _RECORDS, [{**_RUN_ID, "required": True}]),
    ("POST", "/workflows/{workflowId}/observe"): (None, _RECORDS, [{**_RUN_ID, "required": True}]),
    ("POST", "/workflows/{workflowId}/runs/{runId}/cancel"): (None, _ref("Ack"), []),
    ("GET", "/workflows/{workflowId}/runs"): (
        None,
        _object(["runs", "total"], runs={"type": "array"}, total={"type": "integer"}),
        [],
    ),
    ("GET", "/workflows/{workflowId}/runs/{runId}"): (
        None,
        _object(["runId", "status"], runId=_TEXT, status=_TEXT),
        [{"name": "fields", "in": "query", "schema": _TEXT}],
    ),
    ("GET", "/memory/threads"): (
        None,
        _object(["threads", "total"], threads={"type": "array", "items": _ref("Thread")}, total={"type": "integer"}),
        [],
    ),
    ("POST", "/memory/threads"): (
        _object(["resourceId"], resourceId=_TEXT, threadId=_TEXT, title=_TEXT, metadata={"type": "object"}),
        _ref("Thread"),
        [],
    ),
    ("GET", "/memory/threads/{threadId}"): (None, _ref("Thread"), []),
    ("PATCH", "/memory/threads/{threadId}"): (_object(title=_TEXT, metadata={"type": "object"}), _ref("Thread"), []),
    ("GET", "/memory/threads/{threadId}/messages"): (
        None,
        _object(["messages"], messages={"type": "array", "items": _ref("Message")}, uiMessages={"type": "array"}),
        [],
    ),
    ("POST", "/memory/save-messages"): (
        _object(["messages"], messages={"type": "array"}),
        _object(["messages"], messages={"type": "array"}),
        [],
    ),
    ("GET", "/observability/traces"): (
        None,
        _object(["pagination", "spans"], pagination=_PAGINATION, spans={"type": "array", "items": _ref("Span")}),
        [],
    ),
    ("GET", "/observability/traces/{traceId}"): (
        None,
        _object(["traceId", "spans"], traceId=_TEXT, spans={"type": "array", "items": _ref("Span")}),
        [],
    ),
}

# The query parameters routes read, beyond `runId` (which _SHAPES names where it matters).
_QUERIES = {
    "/memory/": ["agentId"],
    "/memory/threads": ["resourceId", "page", "perPage", "orderBy[field]", "orderBy[direction]"],
    "/memory/search": ["searchQuery", "resourceId", "threadId"],
    "/workflows/{workflowId}/runs": ["page", "perPage", "status", "resourceId"],
    "/observability/traces": ["page", "perPage", "entityType", "entityId", "runId", "threadId"],
}
_INTEGERS = {"page", "perPage"}


def _ours() -> str:
    try:
        return version("mastra_nb")
    except PackageNotFoundError:  # pragma: no cover - run from a checkout without installing
        return "0+unknown"


def _parameters(route: Route, extra: list[dict[str, Any]], known: dict[str, list[str]]) -> list[dict[str, Any]]:
    found = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {**_TEXT, "examples": known[name]} if known.get(name) else _TEXT,
        }
        for name in re.findall(r"\{(\w+)\}", route.path)
    ]
    names = {p["name"] for p in found} | {p["name"] for p in extra}
    for start, queries in _QUERIES.items():
        if route.path == start or (start.endswith("/") and route.path.startswith(start)):
            for name in queries:
                if name not in names:
                    names.add(name)
                    schema = {"type": "integer", "minimum": 0} if name in _INTEGERS else _TEXT
                    found.append({"name": name, "in": "query", "schema": schema})
    return found + extra


def _operation(route: Route, known: dict[str, list[str]]) -> dict[str, Any]:
    body, answer, extra = _SHAPES.get((route.method, route.path), (None, _ANY, []))
    content = answer if answer in (_SSE, _RECORDS) else {"application/json": {"schema": answer}}
    error = {"application/json": {"schema": _ref("Error")}}
    operation: dict[str, Any] = {
        "summary": route.summary,
        "operationId": f"{route.method.lower()}{re.sub(r'[^A-Za-z0-9]+', '_', route.path)}",
        "tags": [route.path.strip("/").split("/")[0]],
        "x-mastra-permission": route.permission,
        "parameters": _parameters(route, extra, known),
        "responses": {
            "200": {"description": "Done.", "content": content},
            "400": {"description": "Bad input: the fields are named.", "content": error},
            "404": {"description": "No such component or run.", "content": error},
            "409": {"description": "A run in the wrong state.", "content": error},
            "413": {"description": "The body is over the limit.", "content": error},
            "500": {"description": "A failure while running.", "content": error},
            "503": {"description": "A circuit breaker is open.", "content": error},
        },
    }
    if route.permission != "public":  # with `auth` and `rate_limits` on
        operation["responses"].update({
            "401": {"description": "No valid credentials.", "content": error},
            "403": {"description": "A permission this route needs is missing; it is named.", "content": error},
            "429": {"description": "Over a rate limit; see Retry-After.", "content": error},
        })  # fmt: skip
        operation["security"] = [{"bearer": []}, {}]
    if route.method in ("POST", "PATCH", "PUT"):
        operation["requestBody"] = {
            "required": False,
            "content": {"application/json": {"schema": body if body is not None else _object()}},
        }
    return operation


def document(routes: Sequence[Route], prefix: str, known: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of `routes` served under `prefix`; `known` gives path parameters' example values
    (the hub's agent, tool and workflow ids), so a reader, or a fuzzer, can reach real components."""
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(prefix + route.path, {})[route.method.lower()] = _operation(route, known or {})
    for path, summary in (
        ("/health", "The process answers."),
        ("/ready", "Storage and vector stores answer."),
        ("/metrics", "Prometheus metrics."),
    ):
        paths[path] = {
            "get": {
                "summary": summary,
                "operationId": path.strip("/"),
                "tags": ["operations"],
                "x-mastra-permission": "public",
                "responses": {"200": {"description": "Yes."}, "503": {"description": "No."}},
            }
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "mastra_nb",
            "version": _ours(),
            "description": "A mastra_nb hub in Mastra's REST dialect: @mastra/client-js and Studio work with it.",
        },
        "paths": paths,
        "components": {
            "schemas": COMPONENTS,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A JWT or an API key, when the server has `auth`.",
                }
            },
        },
    }


_STYLE = (
    "body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse;width:100%}"
    "td,th{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}"
    ".m{font-weight:bold}pre{font-size:12px;max-height:20em;overflow:auto}"
)
# The pages' Content-Security-Policy: nothing loads or runs but their own inline style, named by its hash.
CSP = (
    "default-src 'none'; style-src 'sha256-"
    + base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
    + "'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def page(document: dict[str, Any]) -> str:
    """The docs page: every route with its permission, parameters and shapes, in plain HTML (no script, no CDN)."""
    rows = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            params = ", ".join(f"{p['name']} ({p['in']})" for p in operation.get("parameters", []))
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            answer = operation["responses"]["200"].get("content", {})
            shapes = "".join(
                f"<details><summary>{label}</summary><pre>{html.escape(json.dumps(value, indent=1))}</pre></details>"
                for label, value in (("request body", body), ("answer", answer))
                if value
            )
            rows.append(
                f"<tr><td class=m>{method.upper()}</td><td><code>{html.escape(path)}</code></td>"
                f"<td>{html.escape(operation.get('summary', ''))}{shapes}</td>"
                f"<td><code>{html.escape(operation.get('x-mastra-permission', ''))}</code></td>"
                f"<td>{html.escape(params)}</td></tr>"
            )
    info = document["info"]
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>mastra_nb API</title><style>{_STYLE}</style>"
        "</head><body>"
        f"<h1>{html.escape(info['title'])} {html.escape(info['version'])}</h1>"
        f"<p>{html.escape(info['description'])} The OpenAPI 3.1 document: <a href=openapi.json>openapi.json</a>.</p>"
        "<table><tr><th>Method</th><th>Path</th><th>What it does</th><th>Permission</th><th>Parameters</th></tr>"
        + "".join(rows)
        + "</table></body></html>"
    )


def welcome(prefix: str) -> str:
    """The page at `/`, which Studio fetches to see that a server is there (Mastra's answers too)."""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>mastra_nb</title></head><body>"
        f"<h1>mastra_nb</h1><p>Mastra's REST API is at <code>{html.escape(prefix)}</code>: "
        f'<a href="{html.escape(prefix)}/docs">its routes</a>, <a href=/health>health</a>, '
        "<a href=/ready>readiness</a>, <a href=/metrics>metrics</a>.</p></body></html>"
    )
