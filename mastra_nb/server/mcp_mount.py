"""MCP servers mounted into the app, at Mastra's paths: Streamable HTTP at `{prefix}/mcp/<id>/mcp`, the list at
`GET {prefix}/mcp/v0/servers` and a server's tools at `GET {prefix}/mcp/<id>/tools`.

The transport is the `mcp` SDK's session manager, one per server, started by the app's lifespan. In front of it the
same checks as every route: with `auth`, a caller needs credentials and `mcp:execute` (narrowable to one server,
`mcp:execute:<id>`), and the answer of a refusal is the same JSON. DNS-rebinding protection stays on: by default only
loopback hosts and origins may reach the transport (a web page must not drive a notebook's tools through a rebound
name); a server on a real host name lists its hosts in `mcp_hosts`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.routing import Route as StarletteRoute

from .auth import Auth, AuthError
from .http import json_response
from .routes import Call, Route

if TYPE_CHECKING:
    from ..mcp import MCPServer

__all__ = ["MCPMount"]

_LOOPBACK = ["127.0.0.1:*", "localhost:*", "[::1]:*"]


class MCPMount:
    """The app's MCP servers: their transports, routes and lifespan."""

    def __init__(self, servers: Sequence[MCPServer], auth: Auth | None, hosts: Sequence[str] | None) -> None:
        from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
        from mcp.server.transport_security import TransportSecuritySettings

        self.servers = {server.id: server for server in servers}
        self.auth = auth
        allowed = list(hosts) if hosts is not None else _LOOPBACK
        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=True, allowed_hosts=allowed,
            allowed_origins=[f"{scheme}://{host}" for host in allowed for scheme in ("http", "https")],
        )  # fmt: skip
        self.managers = {
            server.id: StreamableHTTPSessionManager(app=server.lowlevel(), security_settings=security)
            for server in servers
        }
        self.transports = {key: StreamableHTTPASGIApp(manager) for key, manager in self.managers.items()}

    def mounts(self, prefix: str) -> list[StarletteRoute]:
        # A route of the exact path with an ASGI app (an object, so Starlette passes it every method and the raw
        # request): a Mount would redirect the path without its trailing slash.
        return [StarletteRoute(f"{prefix}/mcp/{key}/mcp", _Guarded(self, key)) for key in self.servers]

    def routes(self) -> tuple[Route, ...]:
        return (
            Route("GET", "/mcp/v0/servers", self._list, "mcp:read", "The MCP servers this app serves."),
            Route("GET", "/mcp/{serverId}/tools", self._tools, "mcp:read", "An MCP server's tools."),
        )

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            for manager in self.managers.values():
                await stack.enter_async_context(manager.run())
            yield

    async def _list(self, call: Call) -> Any:
        servers = [{"id": s.id, "name": s.name, "version_detail": {
            "version": s.version, "release_date": date.today().isoformat(), "is_latest": True}}
            for s in self.servers.values()]  # fmt: skip
        return {"servers": servers, "total_count": len(servers), "next": None}

    async def _tools(self, call: Call) -> Any:
        from ..errors import ErrorKind, MastraError

        key = call.param("serverId")
        server = self.servers.get(key)
        if server is None:
            raise MastraError(ErrorKind.DOMAIN, "MCP_SERVER_NOT_FOUND", f"No MCP server `{key}` here.")
        return {"tools": [{"name": name, "description": about, "inputSchema": schema}
                          for name, (schema, _, about) in server.entries().items()]}  # fmt: skip


class _Guarded:
    """A server's transport behind the app's authentication and `mcp:execute` (for this server)."""

    def __init__(self, mount: MCPMount, key: str) -> None:
        self.mount, self.key = mount, key

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        auth = self.mount.auth
        if auth is not None:
            try:
                user = await auth.user(Request(scope))
            except AuthError as error:
                response = json_response({"error": f"Authentication required: {error.reason}.",
                                          "code": "UNAUTHENTICATED"}, status=401)  # fmt: skip
                response.headers["WWW-Authenticate"] = "Bearer"
                await response(scope, receive, send)
                return
            if not auth.allows(user, "mcp:execute", self.key):
                response = json_response({"error": f"Missing required permission: mcp:execute:{self.key}",
                                          "code": "FORBIDDEN"}, status=403)  # fmt: skip
                await response(scope, receive, send)
                return
        await self.mount.transports[self.key](scope, receive, send)
