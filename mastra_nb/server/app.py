"""`create_app(hub)`: the hub over HTTP, in Mastra's REST dialect, as an ASGI app.

Starlette rather than FastAPI: the routes' bodies follow Mastra's shapes, not pydantic models of ours, and every
route is declared once in a `Route` table, which the app, the permission check of the security issue and the
OpenAPI document all read; FastAPI's signature-driven models would be a second declaration of the same thing.

A request goes: CORS, then the user's middleware in declared order, then the route's endpoint, which gives the
request an id (`X-Request-Id`, taken from the request when it sends a sane one), reads the body within the size
limit, runs the handler, and turns any failure into Mastra's error JSON (see `http.py`).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route as StarletteRoute

from ..errors import ErrorKind, MastraError
from ..redaction import guard
from . import components, memory, observability, workflows
from .http import BODY_LIMIT, error_response, json_response
from .routes import Call, Route

if TYPE_CHECKING:
    from ..mastra import Mastra

__all__ = ["ROUTES", "create_app"]

logger = guard(logging.getLogger("mastra_nb.server"))
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
UserMiddleware = Callable[[Request, Callable[[Request], Awaitable[Response]]], Awaitable[Response]]


async def _capabilities(call: Call) -> Any:
    return {"enabled": False, "login": None}


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
    Route("GET", "/auth/capabilities", _capabilities, "public", "Whether authentication is on (it is not yet)."),
    Route("GET", "/system/packages", _packages, "system:read", "The server's packages and storage."),
)


def create_app(
    hub: Mastra,
    *,
    prefix: str = "/api",
    middleware: Sequence[UserMiddleware] = (),
    cors_origins: Iterable[str] = ("*",),
    body_limit: int = BODY_LIMIT,
    routes: Iterable[Route] = (),
) -> Starlette:
    """An ASGI app serving `hub` under `prefix` in Mastra's REST dialect, plus `GET /health`.

    Args:
        hub: the hub whose agents, tools and workflows the routes reach.
        prefix: where Mastra's routes live ("/api", as Mastra's client expects by default).
        middleware: `async def mw(request, call_next)` functions, run in this order around every route.
        cors_origins: the origins browsers may call from ("*" by default, as Mastra's server allows).
        body_limit: the largest request body in bytes (4.5 MiB, Mastra's default); larger ones get 413.
        routes: more `Route`s of your own, under the prefix; each must declare its permission.

    Raises:
        MastraError: validation `SERVER_ROUTE_INVALID` for a route that declares no permission or a prefix that
            does not start with "/".
    """
    if not prefix.startswith("/") or (prefix.endswith("/") and prefix != "/"):
        raise MastraError(ErrorKind.VALIDATION, "SERVER_ROUTE_INVALID",
                          f"`prefix` must start with '/' and not end with one, got {prefix!r}.")  # fmt: skip
    prefix = "" if prefix == "/" else prefix
    table = [*ROUTES, *routes]
    for route in table:
        if not isinstance(route, Route) or not route.permission:
            raise MastraError(
                ErrorKind.VALIDATION, "SERVER_ROUTE_INVALID",
                f"Every route must be a `Route` that declares its permission (or \"public\"), got {route!r}.",
            )  # fmt: skip
    starlette_routes = [
        StarletteRoute(prefix + route.path, _endpoint(hub, route, body_limit), methods=[route.method])
        for route in table
    ]
    starlette_routes.append(StarletteRoute("/health", _health, methods=["GET"]))
    stack = [
        Middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["*"],
            allow_headers=["Content-Type", "Authorization", "x-mastra-client-type", "X-Request-Id"],
            expose_headers=["X-Request-Id"],
        ),
        *(Middleware(BaseHTTPMiddleware, dispatch=mw) for mw in middleware),
    ]
    app = Starlette(routes=starlette_routes, middleware=stack)
    app.state.hub = hub
    app.state.routes = tuple(table)
    return app


async def _health(request: Request) -> Response:
    return json_response({"success": True})


def _endpoint(hub: Mastra, route: Route, body_limit: int) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        sent = request.headers.get("x-request-id", "")
        request_id = sent if _REQUEST_ID.fullmatch(sent) else uuid.uuid4().hex
        started = time.perf_counter()
        try:
            answer = await route.handler(Call(hub, request, body_limit))
            response = answer if isinstance(answer, Response) else json_response(answer)
        except Exception as error:
            response = error_response(error, request_id)
            if response.status_code >= 500:
                logger.warning("%s %s failed: %s", route.method, route.path, error, exc_info=error)
        response.headers["X-Request-Id"] = request_id
        logger.info(
            "%s %s %d %.1f ms", request.method, request.url.path, response.status_code,
            (time.perf_counter() - started) * 1000, extra={"request_id": request_id},
        )  # fmt: skip
        return response

    endpoint.__name__ = route.handler.__name__
    return endpoint
