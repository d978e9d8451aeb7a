"""MCP servers mounted into the app, at Mastra's paths: Streamable HTTP at `{prefix}/mcp/<id>/mcp`, the list at
`GET {prefix}/mcp/v0/servers` and a server's tools at `GET {prefix}/mcp/<id>/tools`.

The transport is the `mcp` SDK's session manager, one per server, started by the app's lifespan. Its endpoint is a
route like every other (`mcp:execute`, narrowable to one server as `mcp:execute:<id>`): the same authentication,
rate limits (group `mcp`, each JSON-RPC message a request), audit of refusals, metrics and access log. Inside, each
call is the caller's (`_HTTPCaller`): tools/list shows the components it may run, a call of another is an `isError`
result naming the permission (`agents:execute:calc`), a call counts against the rate limit of its component's group
too (`agents`, `workflows`, `tools`: MCP is no way around them), a confined caller's agent turns and runs are in its
own resource, and every tools/call is in the audit log (`mcp.call`, allowed or refused). A session belongs to the
caller that opened it: the caller is handed to the SDK as its authenticated user, whose session manager answers
another caller presenting the session's id as if the session did not exist (audited as `mcp.session`). Bodies
are limited as the app's are.

`stateless=True` keeps no session between requests (each request is served by a fresh transport), so several
worker processes behind a load balancer can answer one client; `mastra_nb serve --mcp --workers N` uses it.

DNS-rebinding protection stays on: by default only loopback hosts and origins may reach the transport (a web page
must not drive a notebook's tools through a rebound name); a server on a real host name lists its hosts in
`mcp_hosts`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from ..errors import ErrorKind, MastraError
from ..mcp.server import Caller, Entry
from .http import BODY_LIMIT, LateResponse
from .rate_limits import RateLimited
from .routes import Call, Route

if TYPE_CHECKING:
    from ..mcp import MCPServer
    from .auth import Auth
    from .rate_limits import RateLimits

__all__ = ["MCPMount"]

_LOOPBACK = ["127.0.0.1:*", "localhost:*", "[::1]:*"]
_CALLER = "mastra_nb.mcp_caller"  # where the request's scope carries its caller to the MCP handlers


class MCPMount:
    """The app's MCP servers: their transports, routes and lifespan."""

    def __init__(
        self,
        servers: Sequence[MCPServer],
        auth: Auth | None,
        hosts: Sequence[str] | None,
        *,
        stateless: bool = False,
        limits: RateLimits | None = None,
        body_limit: int = BODY_LIMIT,
    ) -> None:
        from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
        from mcp.server.transport_security import TransportSecuritySettings

        self.servers = {server.id: server for server in servers}
        self.auth = auth
        self.limits = limits
        allowed = list(hosts) if hosts is not None else _LOOPBACK
        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=True, allowed_hosts=allowed,
            allowed_origins=[f"{scheme}://{host}" for host in allowed for scheme in ("http", "https")],
        )  # fmt: skip
        self.managers = {
            server.id: StreamableHTTPSessionManager(
                app=server.lowlevel(caller=_caller_of),
                security_settings=security,
                stateless=stateless,
                max_request_body_size=body_limit,
            )
            for server in servers
        }
        self.transports = {key: StreamableHTTPASGIApp(manager) for key, manager in self.managers.items()}

    def routes(self) -> tuple[Route, ...]:
        """The documented routes: the servers and their tools."""
        return (
            Route("GET", "/mcp/v0/servers", self._list, "mcp:read", "The MCP servers this app serves."),
            Route(
                "GET",
                "/mcp/{serverId}/tools",
                self._tools,
                "mcp:read",
                "An MCP server's tools (those the caller may run).",
            ),
        )

    def transport_routes(self) -> tuple[Route, ...]:
        """The Streamable HTTP endpoint (not in the OpenAPI document: its bodies are JSON-RPC, not REST)."""
        return tuple(
            Route(method, "/mcp/{serverId}/mcp", self._transport, "mcp:execute", "An MCP server (Streamable HTTP).")
            for method in ("POST", "GET", "DELETE")
        )

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            for manager in self.managers.values():
                await stack.enter_async_context(manager.run())
            yield

    def _server(self, call: Call) -> str:
        key = call.param("serverId")
        if key not in self.servers:
            raise MastraError(ErrorKind.DOMAIN, "MCP_SERVER_NOT_FOUND", f"No MCP server `{key}` here.")
        return key

    async def _list(self, call: Call) -> Any:
        servers = [{"id": s.id, "name": s.name, "version_detail": {
            "version": s.version, "release_date": date.today().isoformat(), "is_latest": True}}
            for s in self.servers.values()]  # fmt: skip
        return {"servers": servers, "total_count": len(servers), "next": None}

    async def _tools(self, call: Call) -> Any:
        """The tools the caller may run, as the server's `tools/list` shows them to it."""
        server, caller = self.servers[self._server(call)], _HTTPCaller(call, None)
        return {"tools": [{"name": name, "description": entry.about, "inputSchema": entry.schema}
                          for name, entry in server.entries().items()
                          if caller.may(entry.kind, entry.component)]}  # fmt: skip

    async def _transport(self, call: Call) -> Response:
        key = self._server(call)
        scope = call.request.scope
        scope[_CALLER] = _HTTPCaller(call, self.limits)
        if call.user is not None:
            # The SDK's session manager keeps each session to the user that opened it (it reads `scope["user"]`).
            from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
            from mcp.server.auth.provider import AccessToken

            token = AccessToken(token="", client_id=call.user.id, subject=call.user.id, scopes=[])
            scope["user"] = AuthenticatedUser(token)
        return _Transport(self.transports[key], call)


def _caller_of(request: Any) -> Caller:
    """The caller the endpoint put in the request; none (a request that did not come through it) may do nothing."""
    found = getattr(request, "scope", {}).get(_CALLER)
    return found if isinstance(found, Caller) else _Nobody()


class _Nobody(Caller):
    def may(self, kind: str, name: str) -> bool:
        return False


class _HTTPCaller(Caller):
    """The authenticated caller of an HTTP request, as the MCP handlers see it."""

    def __init__(self, call: Call, limits: RateLimits | None) -> None:
        self.call, self.limits = call, limits
        self.tenant = call.tenant
        self.context = call.context({}) if call.user is not None else None

    def may(self, kind: str, name: str) -> bool:
        auth = self.call.auth
        return auth is None or (self.call.user is not None and auth.allows(self.call.user, f"{kind}:execute", name))

    async def check(self, tool: str, entry: Entry) -> None:
        allowed = self.may(entry.kind, entry.component)
        await self.call.audit("mcp.call", "allowed" if allowed else "refused", tool=tool,
                              component=f"{entry.kind}:{entry.component}")  # fmt: skip
        await super().check(tool, entry)
        if self.limits is not None:
            user, client = self.call.user, self.call.request.client
            caller = f"user:{user.id}" if user is not None else f"address:{client.host if client else 'unknown'}"
            try:
                await self.limits.hit(entry.kind, caller)
            except RateLimited as limited:
                await self.call.audit("rate.limited", "refused", tool=tool, limit=limited.limit)
                raise MastraError(ErrorKind.DOMAIN, "RATE_LIMITED",
                                  f"Too many requests to {entry.kind}: the limit is {limited.limit}; retry in "
                                  f"{limited.retry_after} s.", retryable=True) from None  # fmt: skip


class _Transport(LateResponse):
    """The SDK's transport answering the request itself (it streams)."""

    def __init__(self, transport: Any, call: Call) -> None:
        super().__init__(transport)
        self.call = call

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await super().__call__(scope, receive, send)
        if self.status_code == 404 and "mcp-session-id" in self.call.request.headers:
            # A session that ended, or another caller's: the SDK answers both alike; the log tells who asked.
            await self.call.audit("mcp.session", "not_found")
