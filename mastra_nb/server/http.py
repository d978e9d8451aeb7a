"""The HTTP edge of the server: reading a request's JSON, and answering errors as Mastra's server does.

Every failure leaves as `{"error": message, "code": ..., ...}` with the status Mastra's client expects: 400 for
bad input (with `issues: [{field, message}]`, as Mastra's validation answers), 404 for an unknown component or
run, 409 for a run in the wrong state, 413 for a body over the limit, 503 for an open circuit breaker, and 500
for a failure while running. A `MastraError`'s message is redacted when it is made, so nothing here can leak a
secret that the error did not already hide.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic_core import to_jsonable_python
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..errors import ErrorKind, MastraError

__all__ = ["BODY_LIMIT", "HTTPError", "LateResponse", "body", "error_response", "json_response", "status_of"]

BODY_LIMIT = 4_718_592  # 4.5 MiB, Mastra's default `bodySizeLimit`

# A run (or an agent run awaiting approval) that exists but is not in the state the request needs.
_CONFLICTS = frozenset({
    "RUN_NOT_SUSPENDED", "RUN_STEP_NOT_SUSPENDED", "RUN_CONFLICT", "RUN_NOT_RESUMABLE", "RUN_NOT_RESTARTABLE",
    "RUN_ALREADY_STARTED", "RUN_ALREADY_EXISTS", "RUN_BUSY", "RUN_FINISHED", "RUN_NOT_ACTIVE", "STORAGE_CONFLICT",
    "APPROVAL_NOT_PENDING", "AGENT_RUN_BUSY", "AGENT_RUN_NOT_AWAITING", "AGENT_RUN_EXISTS",
})  # fmt: skip


class HTTPError(Exception):
    """A failure that belongs to HTTP itself (a body that is not JSON, too large, a missing query parameter)."""

    def __init__(self, status: int, message: str, *, code: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.field = status, message, code, field


def status_of(error: MastraError) -> int:
    """The HTTP status of a `MastraError`, by its code first and then by its kind."""
    code = error.code
    if code.endswith("_NOT_FOUND"):
        return 404
    if code in _CONFLICTS:
        return 409
    if code == "CIRCUIT_OPEN":
        return 503
    if error.kind is ErrorKind.VALIDATION:
        return 400
    if error.kind is ErrorKind.DOMAIN:
        return 400 if code.endswith("_INVALID") else 409
    return 500


def error_response(error: BaseException, request_id: str | None = None) -> JSONResponse:
    """The JSON answer for a failure; anything that is neither ours nor HTTP's is a 500 that says only its type."""
    extra: dict[str, Any] = {}
    if isinstance(error, HTTPError):
        status, message, code = error.status, error.message, error.code
        if error.field is not None:
            extra["issues"] = [{"field": error.field, "message": message}]
    elif isinstance(error, MastraError):
        status, message, code = status_of(error), error.message, error.code
        issues = error.details.get("errors")
        if isinstance(issues, list):
            extra["issues"] = [
                {"field": str(item.get("field")), "message": str(item.get("expected"))}
                for item in issues
                if isinstance(item, Mapping)
            ]
        elif isinstance(error.details.get("field"), str):
            extra["issues"] = [{"field": error.details["field"], "message": message}]
        extra["details"] = error.details
    else:  # a bug of ours or of user code that did not become a MastraError: its text may hold anything
        status, message, code = 500, f"Internal server error ({type(error).__name__}).", "INTERNAL_ERROR"
    if request_id is not None:
        extra["requestId"] = request_id
    return json_response({"error": message, "code": code, **extra}, status=status)


class LateResponse(Response):
    """A response that an ASGI app sends itself (the MCP transport), whose status is known only once it starts:
    it adds the endpoint's headers to the app's and tells `finished(status)` when it is done, so the access log
    and the metrics count what was really answered."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.status_code, self.background, self.raw_headers = 200, None, []
        self.finished: Any = None  # set by the endpoint: called with the status sent

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        status = 500  # an app that fails before it starts answering

        async def sending(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []), *self.raw_headers]}
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.status_code = status
            if self.finished is not None:
                await self.finished(status)


def json_response(content: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """JSON with dates as ISO text and anything else JSON cannot say as its text."""
    jsonable = to_jsonable_python(content, fallback=str, inf_nan_mode="null")
    return JSONResponse(jsonable, status_code=status, headers=dict(headers or {}))


async def body(request: Request, limit: int) -> dict[str, Any]:
    """The request's JSON object (an empty body is `{}`).

    Raises:
        HTTPError: 413 over `limit` bytes (counted as they arrive, so a lying Content-Length cannot get past it),
            400 for text that is not JSON or JSON that is not an object.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise HTTPError(400, f"The request body is not JSON: {error}.", code="BODY_INVALID", field="body") from None
    if not isinstance(value, dict):
        raise HTTPError(
            400, f"The request body must be a JSON object, got {type(value).__name__}.", code="BODY_INVALID",
            field="body",
        )  # fmt: skip
    return value


def _too_large(limit: int) -> HTTPError:
    return HTTPError(
        413, f"The request body is larger than the server's limit of {limit} bytes.", code="BODY_TOO_LARGE"
    )
