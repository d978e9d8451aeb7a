"""What the people who run the server look at: readiness, Prometheus metrics, the access log, and draining.

- `GET /health` says the process answers; `GET /ready` says it can do its work: its storage answers a query (a
  store migrates its schema when it opens, so an answer means the schema is there), and each vector store in
  use lists its indexes. A failing part is named in a 503; so is a server that is shutting down.
- `GET /metrics` is the hub's metrics (runs, steps, model and tool calls, tokens, errors, circuit breakers) and
  the server's own: requests by route and status, and their latency.
- Each request is logged once to `mastra_nb.server.access` with its method, route, status, latency and request
  id as fields (JSON lines with `configure_logging(json=True)`), and announced on the hub's bus as
  `request:started` and `request:completed`.
- Draining: once a shutdown begins, `/ready` answers 503 and each open stream ends with a last chunk saying so;
  uvicorn lets requests in flight finish up to its deadline, and runs keep their journal, to be resumed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from ..events import REQUEST_COMPLETED, REQUEST_STARTED
from ..redaction import guard, redact
from .http import json_response

if TYPE_CHECKING:
    from ..mastra import Mastra

__all__ = ["HeaderLimit", "Operations", "SecurityHeaders"]

access_log = guard(logging.getLogger("mastra_nb.server.access"))
_READY_TIMEOUT = 5.0  # seconds a part may take to answer before it counts as failing


class Operations:
    """One app's readiness, request metrics, access log and draining state."""

    def __init__(self, hub: Mastra) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.hub = hub
        self.draining = asyncio.Event()
        self.registry = CollectorRegistry(auto_describe=True)
        self._requests = Counter("mastra_http_requests", "HTTP requests by route and status.",
                                 ("method", "route", "status"), registry=self.registry)  # fmt: skip
        self._seconds = Histogram("mastra_http_request_seconds", "HTTP request latency (to the response's start).",
                                  ("method", "route"), registry=self.registry)  # fmt: skip

    def started(self, request: Request, route: str, request_id: str) -> None:
        self.hub.events.emit(REQUEST_STARTED, {"method": request.method, "route": route, "request_id": request_id})

    def completed(self, request: Request, route: str, request_id: str, status: int, seconds: float) -> None:
        method = request.method
        self._requests.labels(method, route, str(status)).inc()
        self._seconds.labels(method, route).observe(seconds)
        path = request.scope["path"]  # not request.url: building the URL costs more than the rest of this
        fields = {"method": method, "route": route, "path": path, "status": status,
                  "ms": round(seconds * 1000, 2), "request_id": request_id}  # fmt: skip
        access_log.info("%s %s %d %.1f ms", method, path, status, seconds * 1000, extra=fields)
        self.hub.events.emit(REQUEST_COMPLETED, fields)

    async def ready(self, request: Request) -> Response:
        if self.draining.is_set():
            return json_response({"ready": False, "failing": {"server": "shutting down"}}, status=503)
        checks = {"storage": self._storage(), **{f"vectors:{name}": self._vectors(store)
                                                 for name, store in self._vector_stores().items()}}  # fmt: skip
        outcomes = await asyncio.gather(*(_timed(check) for check in checks.values()))
        failing = {name: outcome for name, outcome in zip(checks, outcomes, strict=True) if outcome is not None}
        if failing:
            return json_response({"ready": False, "failing": failing}, status=503)
        return json_response({"ready": True, "checked": sorted(checks)})

    async def _storage(self) -> None:
        await self.hub.storage.count("workflow_runs")

    def _vector_stores(self) -> dict[str, Any]:
        """The vector stores in use: the hub's, once made, and those of the memories of its agents."""
        stores = [self.hub.vectors_opened]
        stores += [agent.memory.vector_opened for agent in self.hub.list_agents().values() if agent.memory]
        if self.hub.memory is not None:
            stores.append(self.hub.memory.vector_opened)
        unique = list({id(store): store for store in stores if store is not None}.values())
        return {f"{type(store).__name__}-{n}" if n else type(store).__name__: store for n, store in enumerate(unique)}

    @staticmethod
    async def _vectors(store: Any) -> None:
        await store.list_indexes()

    async def metrics(self, request: Request) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        body = self.hub.metrics.render() + generate_latest(self.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    async def until_drained(
        self, chunks: AsyncIterator[dict[str, Any]], last: dict[str, Any]
    ) -> AsyncIterator[dict[str, Any]]:
        """`chunks` until they end, or until a shutdown begins: then `last`, and no more."""
        draining = asyncio.ensure_future(self.draining.wait())
        iterator = chunks.__aiter__()
        try:
            while True:
                following = asyncio.ensure_future(iterator.__anext__())
                await asyncio.wait({following, draining}, return_when=asyncio.FIRST_COMPLETED)
                if not following.done():
                    following.cancel()
                    yield last
                    return
                try:
                    yield following.result()
                except StopAsyncIteration:
                    return
        finally:
            draining.cancel()


async def _timed(check: Any) -> str | None:
    """None when `check` finishes in time, else what went wrong (its type and message, never a stack)."""
    try:
        await asyncio.wait_for(check, _READY_TIMEOUT)
    except asyncio.TimeoutError:
        return f"did not answer within {_READY_TIMEOUT:g} s"
    except Exception as error:
        return redact(f"{type(error).__name__}: {error}")
    return None


class SecurityHeaders:
    """ASGI middleware that adds the headers every answer should carry: no MIME sniffing, no framing, no referrer,
    no caching of API answers (they may be private), HSTS over TLS, and `csp` on HTML pages (the docs and welcome
    pages: no script may run there)."""

    def __init__(self, app: Any, csp: str) -> None:
        self.app, self.csp = app, csp.encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        secure = scope.get("scheme") == "https"

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                extra = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                         (b"referrer-policy", b"no-referrer")]  # fmt: skip
                if b"cache-control" not in names:
                    extra.append((b"cache-control", b"no-store"))
                if secure:
                    extra.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
                if any(name.lower() == b"content-type" and value.startswith(b"text/html") for name, value in headers):
                    extra.append((b"content-security-policy", self.csp))
                message = {**message, "headers": headers + [h for h in extra if h[0] not in names]}
            await send(message)

        await self.app(scope, receive, sending)


class HeaderLimit:
    """ASGI middleware that answers 431 to a request whose headers add up to more than `limit` bytes, before any
    route reads them (uvicorn's own parser takes far larger ones)."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and sum(len(k) + len(v) for k, v in scope["headers"]) > self.limit:
            response = json_response({
                "error": f"The request's headers are larger than the server's limit of {self.limit} bytes.",
                "code": "HEADERS_TOO_LARGE"}, status=431)  # fmt: skip
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
