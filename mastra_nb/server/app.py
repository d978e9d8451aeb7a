"""`create_app(hub)`: the hub over HTTP, in Mastra's REST dialect, as an ASGI app.

Starlette rather than FastAPI: the routes' bodies follow Mastra's shapes, not pydantic models of ours, and every
route is declared once in a `Route` table, which the app, the permission check of the security issue and the
OpenAPI document all read; FastAPI's signature-driven models would be a second declaration of the same thing.

A request goes: CORS, then the user's middleware in declared order, then the route's endpoint, which gives the
request an id (`X-Request-Id`, taken from the request when it sends a sane one), announces it, reads the body
within the size limit, runs the handler, turns any failure into Mastra's error JSON (see `http.py`), and counts
and logs it (see `operations.py`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute
from starlette.routing import Route as StarletteRoute

from ..errors import ErrorKind, MastraError
from ..redaction import guard
from . import components, memory, observability, openapi, workflows
from .auth import Auth, AuthError, User, component_of
from .http import BODY_LIMIT, HTTPError, LateResponse, error_response, json_response
from .mcp_mount import MCPMount
from .operations import HeaderLimit, Operations, SecurityHeaders
from .rate_limits import RateLimited, RateLimits
from .routes import Call, Route

if TYPE_CHECKING:
    from ..mastra import Mastra
    from ..mcp import MCPServer

__all__ = ["ROUTES", "create_app"]

logger = guard(logging.getLogger("mastra_nb.server"))
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
Dispatch = Callable[[Request, Callable[[Request], Awaitable[Response]]], Awaitable[Response]]
# A middleware function, or (path prefix, function) for one that runs only on paths under the prefix.
UserMiddleware = Dispatch | tuple[str, Dispatch]
HEADER_LIMIT = 16_384


async def _capabilities(call: Call) -> Any:
    """Whether authentication is on, and (with a valid token) who the caller is and what it may do."""
    auth = call.auth
    if auth is None:
        return {"enabled": False, "login": None}
    user = None
    with contextlib.suppress(AuthError):
        user = await auth.user(call.request)
    return {
        "enabled": True, "login": None,
        "user": {"id": user.id} if user is not None else None,
        "capabilities": {"user": True, "session": False, "sso": False, "rbac": True, "acl": False},
        "access": {"roles": list(user.roles), "permissions": sorted(auth.granted(user))} if user is not None else None,
    }  # fmt: skip


async def _audit_log(call: Call) -> Any:
    """The security events, newest first; `event`, `userId`, `since` (ISO time) and `limit` narrow them."""
    since_text = call.query("since")
    try:
        since = datetime.fromisoformat(since_text) if since_text else None
    except ValueError:
        raise HTTPError(400, f"`since` must be an ISO time, got {since_text!r}.", code="QUERY_INVALID",
                        field="since") from None  # fmt: skip
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=timezone.utc)
    found = await call.hub.audit.list(event=call.query("event"), user_id=call.query("userId"), since=since,
                                      limit=call.int_query("limit", 100, low=1, high=10_000))  # fmt: skip
    return {"events": [
        {"id": e.id, "at": e.at, "event": e.event, "userId": e.user_id, "address": e.address, "route": e.route,
         "decision": e.decision, "requestId": e.request_id, "details": e.details}
        for e in found
    ]}  # fmt: skip


async def _builder(call: Call) -> Any:
    return {"enabled": False}  # Mastra's agent builder (an editor of stored agents): this server has none


async def _builder_models(call: Call) -> Any:
    return {"providers": []}  # no builder, so no models to build with


async def _packages(call: Call) -> Any:
    try:
        ours = version("mastra_nb")
    except PackageNotFoundError:  # pragma: no cover - run from a checkout without installing
        ours = "0+unknown"
    return {
        "packages": [{"name": "mastra_nb", "version": ours}],
        "isDev": False,
        "observabilityEnabled": call.hub.telemetry.enabled,
        "storageType": type(call.hub.storage).__name__,
    }


ROUTES: tuple[Route, ...] = (
    *components.ROUTES,
    *workflows.ROUTES,
    *memory.ROUTES,
    *observability.ROUTES,
    Route("GET", "/auth/capabilities", _capabilities, "public", "Whether authentication is on, and who asks."),
    Route("GET", "/system/packages", _packages, "system:read", "The server's packages and storage."),
    Route("GET", "/audit", _audit_log, "audit:read", "Security events, newest first."),
    Route("GET", "/editor/builder/settings", _builder, "system:read", "Mastra's agent builder: off here."),
    Route(
        "GET",
        "/editor/builder/models/available",
        _builder_models,
        "system:read",
        "Models for Mastra's agent builder: none, as it is off.",
    ),
)


def create_app(
    hub: Mastra,
    *,
    prefix: str = "/api",
    middleware: Sequence[UserMiddleware] = (),
    cors_origins: Iterable[str] | None = None,
    body_limit: int = BODY_LIMIT,
    routes: Iterable[Route] = (),
    close_hub: bool = False,
    auth: Auth | None = None,
    rate_limits: RateLimits | None = None,
    header_limit: int = HEADER_LIMIT,
    mcp_servers: Sequence[MCPServer] = (),
    mcp_hosts: Sequence[str] | None = None,
    mcp_stateless: bool = False,
) -> Starlette:
    """An ASGI app serving `hub` under `prefix` in Mastra's REST dialect, with `GET /health`, `/ready`, `/metrics`
    and, under the prefix, `/openapi.json` and `/docs`.

    Args:
        hub: the hub whose agents, tools and workflows the routes reach.
        prefix: where Mastra's routes live ("/api", as Mastra's client expects by default).
        middleware: `async def mw(request, call_next)` functions, run in this order around every route, or
            `(path_prefix, mw)` pairs for one that runs only under that path (`("/api/agents", mw)`).
        cors_origins: the origins browsers may call from; by default any ("*", as Mastra's server allows; the
            request's origin is echoed, so a browser may send credentials, as Studio does), and none once `auth`
            is on (name them).
        body_limit: the largest request body in bytes (4.5 MiB, Mastra's default); larger ones get 413.
        routes: more `Route`s of your own, under the prefix; each must declare its permission.
        close_hub: shut the hub down when the app stops (a served module's hub; not a notebook's, which lives on).
        auth: who may call (see `Auth`): every route but `/health`, `/ready`, the docs and `/auth/capabilities` then
            needs credentials (401 without) and the permission it declares (403 naming it).
        rate_limits: per-caller limits per group of routes, and on failed authentication (429; see `RateLimits`).
        header_limit: the most bytes a request's headers may add up to (16 KiB); more gets 431.
        mcp_servers: `MCPServer`s to serve over Streamable HTTP at `{prefix}/mcp/<id>/mcp` (behind `auth`, with
            `mcp:execute`), listed at `{prefix}/mcp/v0/servers`.
        mcp_hosts: the hosts MCP clients may name (`"example.com:443"`); by default loopback only.
        mcp_stateless: keep no MCP session between requests, so that several workers can serve one client.

    Raises:
        MastraError: validation `SERVER_ROUTE_INVALID` for a route that declares no permission or a prefix that
            does not start with "/".
    """
    if not prefix.startswith("/") or (prefix.endswith("/") and prefix != "/"):
        raise MastraError(ErrorKind.VALIDATION, "SERVER_ROUTE_INVALID",
                          f"`prefix` must start with '/' and not end with one, got {prefix!r}.")  # fmt: skip
    prefix = "" if prefix == "/" else prefix
    mounted = (
        MCPMount(mcp_servers, auth, mcp_hosts, stateless=mcp_stateless, limits=rate_limits, body_limit=body_limit)
        if mcp_servers
        else None
    )
    table = [*ROUTES, *(mounted.routes() if mounted is not None else ()), *routes]
    for route in table:
        if not isinstance(route, Route) or not route.permission:
            raise MastraError(
                ErrorKind.VALIDATION, "SERVER_ROUTE_INVALID",
                f"Every route must be a `Route` that declares its permission (or \"public\"), got {route!r}.",
            )  # fmt: skip
    operations = Operations(hub)

    def document() -> dict[str, Any]:  # made on each request: a notebook's hub gains agents while it is served
        known = {"agentId": sorted(hub.list_agents()), "toolId": sorted(hub.list_tools()),
                 "workflowId": sorted(hub.list_workflows())}  # fmt: skip
        return openapi.document(table, prefix, known)

    starlette_routes: list[BaseRoute] = [
        StarletteRoute(
            prefix + route.path,
            _endpoint(hub, route, body_limit, operations, auth, rate_limits),
            methods=[route.method],
        )
        for route in table
    ]
    metrics_route = Route("GET", "/metrics", lambda call: operations.metrics(call.request), "observability:read",
                          "Prometheus metrics.")  # fmt: skip
    if mounted is not None:
        transport = [(route, _endpoint(hub, route, body_limit, operations, auth, rate_limits))
                     for route in mounted.transport_routes()]  # fmt: skip
        starlette_routes[:0] = [StarletteRoute(prefix + r.path, e, methods=[r.method]) for r, e in transport]
    starlette_routes += [
        StarletteRoute("/", _made(lambda: HTMLResponse(openapi.welcome(prefix))), methods=["GET"]),
        StarletteRoute("/health", _health, methods=["GET"]),
        StarletteRoute("/ready", operations.ready, methods=["GET"]),
        StarletteRoute(
            "/metrics",
            operations.metrics
            if auth is None or auth.public_metrics
            else _endpoint(hub, metrics_route, body_limit, operations, auth, rate_limits),
            methods=["GET"],
        ),
        StarletteRoute(f"{prefix}/openapi.json", _made(lambda: json_response(document())), methods=["GET"]),
        StarletteRoute(f"{prefix}/docs", _made(lambda: HTMLResponse(openapi.page(document()))), methods=["GET"]),
    ]
    origins = list(cors_origins) if cors_origins is not None else ([] if auth is not None else ["*"])
    stack = [
        Middleware(
            CORSMiddleware,
            # Any origin, with credentials: Studio fetches with `credentials: "include"`, which a browser refuses
            # against `*`; so the request's origin is echoed. (No cookie or session is read while auth is off.)
            allow_origins=[] if origins == ["*"] else origins,
            allow_origin_regex=".*" if origins == ["*"] else None,
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["Content-Type", "Authorization", "x-mastra-client-type", "X-Request-Id"],
            expose_headers=["X-Request-Id"],
        ),
        *(Middleware(BaseHTTPMiddleware, dispatch=_scoped(mw)) for mw in middleware),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with mounted.running() if mounted is not None else contextlib.nullcontext():
            yield
        operations.draining.set()  # open streams end with a last chunk; /ready says 503
        if rate_limits is not None:
            await rate_limits.close()
        if close_hub:
            await hub.shutdown()

    stack[:0] = [Middleware(HeaderLimit, limit=header_limit), Middleware(SecurityHeaders, csp=openapi.CSP)]
    app = Starlette(routes=starlette_routes, middleware=stack, lifespan=lifespan)
    app.state.hub = hub
    app.state.routes = tuple(table)
    app.state.operations = operations
    app.state.mcp = tuple(mcp_servers)
    return app


async def _authorized(auth: Auth | None, route: Route, request: Request, limits: RateLimits | None) -> User | None:
    """The caller, checked to hold the route's permission (for the component in its path).

    Raises:
        HTTPError: 401 without valid credentials, 403 naming the missing permission.
        RateLimited: an address that failed to authenticate too often lately (even with valid credentials now).
    """
    if auth is None or route.permission == "public":
        return None
    if limits is not None:
        await limits.check_failures(_address(request))
    try:
        user = await auth.user(request)
    except AuthError as error:
        if limits is not None:
            await limits.failed(_address(request))
        raise HTTPError(401, f"Authentication required: {error.reason}.", code="UNAUTHENTICATED") from None
    component = component_of(request)
    if not auth.allows(user, route.permission, component):
        needed = f"{route.permission}:{component}" if component is not None else route.permission
        raise HTTPError(403, f"Missing required permission: {needed}", code="FORBIDDEN")
    return user


# Refusals the audit log keeps: no or bad credentials, a missing permission, a rate limit.
_AUDITED = {401: "auth.failed", 403: "auth.denied", 429: "rate.limited"}


async def _audit(hub: Mastra, request: Request, route: Route, request_id: str, response: Response) -> None:
    body = json.loads(bytes(response.body)) if isinstance(response, JSONResponse) else {}
    await hub.audit.record(
        _AUDITED[response.status_code], address=_address(request), route=f"{route.method} {request.url.path}",
        decision="refused", request_id=request_id, details={"reason": str(body.get("error", ""))[:300]},
    )  # fmt: skip


def _address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def _scoped(middleware: UserMiddleware) -> Dispatch:
    """The middleware as Starlette runs it: one given with a path prefix passes other paths straight on."""
    if not isinstance(middleware, tuple):
        return middleware
    prefix, dispatch = middleware

    async def scoped(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if request.url.path == prefix or request.url.path.startswith(prefix.rstrip("/") + "/"):
            return await dispatch(request, call_next)
        return await call_next(request)

    return scoped


async def _health(request: Request) -> Response:
    return json_response({"success": True})


def _made(make: Callable[[], Response]) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return make()

    return endpoint


def _endpoint(
    hub: Mastra, route: Route, body_limit: int, operations: Operations, auth: Auth | None, limits: RateLimits | None
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        sent = request.headers.get("x-request-id", "")
        request_id = sent if _REQUEST_ID.fullmatch(sent) else uuid.uuid4().hex
        started = time.perf_counter()
        operations.started(request, route.path, request_id)
        counted: dict[str, str] = {}
        try:
            user = await _authorized(auth, route, request, limits)
            if limits is not None and route.permission != "public":
                caller = f"user:{user.id}" if user is not None else f"address:{_address(request)}"
                counted = await limits.hit(route.permission.split(":")[0], caller)
            answer = await route.handler(Call(hub, request, body_limit, operations, auth, user, request_id))
            response = answer if isinstance(answer, Response) else json_response(answer)
        except RateLimited as limited:
            said = "failed authentications" if limited.failed_auth else "requests"
            response = error_response(HTTPError(
                429, f"Too many {said}: the limit is {limited.limit}; retry in {limited.retry_after} s.",
                code="RATE_LIMITED"), request_id)  # fmt: skip
            response.headers["Retry-After"] = str(limited.retry_after)
        except Exception as error:
            response = error_response(error, request_id)
            if response.status_code == 401:
                response.headers["WWW-Authenticate"] = "Bearer"
            if response.status_code >= 500:
                logger.warning("%s %s failed: %s", route.method, route.path, error, exc_info=error)
        if auth is not None and response.status_code in _AUDITED:
            await _audit(hub, request, route, request_id, response)
        elapsed = time.perf_counter() - started
        response.headers.update(counted)
        response.headers["X-Request-Id"] = request_id
        if isinstance(response, LateResponse):  # counted once it has answered, with the status it sent

            async def finished(status: int) -> None:
                operations.completed(request, route.path, request_id, status, time.perf_counter() - started)

            response.finished = finished
            return response
        response.headers["Server-Timing"] = f"app;dur={elapsed * 1000:.1f}"  # to the response's start, for a stream
        operations.completed(request, route.path, request_id, response.status_code, elapsed)
        return response

    endpoint.__name__ = route.handler.__name__
    return endpoint
