"""MCP servers mounted into the app, at Mastra's paths: Streamable HTTP at `{prefix}/mcp/<id>/mcp`, the list at
`GET {prefix}/mcp/v0/servers` and a server's tools at `GET {prefix}/mcp/<id>/tools`.

The transport is the `mcp` SDK's session manager, one per server, started by the app's lifespan. Its endpoint is a
route like every other (`mcp:execute`, narrowable to one server as `mcp:execute:<id>`): the same authentication,
rate limits (group `mcp`, each JSON-RPC message a request), audit of refusals, metrics and access log. Inside, each
call is the caller's (`_HTTPCaller`): tools/list shows the components it may run, a call of another is an `isError`
result naming the permission (`agents:execute:calc`), a confined caller's agent turns and runs are in its own
resource, and every tools/call is in the audit log (`mcp.call`, allowed or refused). A session belongs to the
caller that opened it: another caller presenting its id is answered as if it did not exist.

`stateless=True` keeps no session between requests (each request is served by a fresh transport), so several
worker processes behind a load balancer can answer one client; `mastra_nb serve --mcp --workers N` uses it.

DNS-rebinding protection stays on: by default only loopback hosts and origins may reach the transport (a web page
must not drive a notebook's tools through a rebound name); a server on a real host name lists its hosts in
`mcp_hosts`.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from ..errors import ErrorKind, MastraError
from ..mcp.server import Caller, Entry
from .http import json_response
from .routes import Call, Route

if TYPE_CHECKING:
    from ..mcp import MCPServer
    from .auth import Auth

__all__ = ["MCPMount"]

_LOOPBACK = ["127.0.0.1:*", "localhost:*", "[::1]:*"]
_CALLER = "mastra_nb.mcp_caller"  # where the request's scope carries its caller to the MCP handlers
_SESSION = b"mcp-session-id"
_OWNERS_KEPT = 10_000  # sessions whose owner is remembered (the SDK's default limit of open sessions)


class MCPMount:
    """The app's MCP servers: their transports, routes and lifespan."""

    def __init__(
        self, servers: Sequence[MCPServer], auth: Auth | None, hosts: Sequence[str] | None, *, stateless: bool = False
    ) -> None:
        from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
        from mcp.server.transport_security import TransportSecuritySettings

        self.servers = {server.id: server for server in servers}
        self.auth = auth
        self.stateless = stateless
        allowed = list(hosts) if hosts is not None else _LOOPBACK
        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=True, allowed_hosts=allowed,
            allowed_origins=[f"{scheme}://{host}" for host in allowed for scheme in ("http", "https")],
        )  # fmt: skip
        self.managers = {
            server.id: StreamableHTTPSessionManager(
                app=server.lowlevel(caller=_caller_of), security_settings=security, stateless=stateless
            )
            for server in servers
        }
        self.transports = {key: StreamableHTTPASGIApp(manager) for key, manager in self.managers.items()}
        self._owners: OrderedDict[str, str | None] = OrderedDict()  # session id -> the user id that opened it

    def routes(self) -> tuple[Route, ...]:
        """The documented routes: the servers and their tools."""
        return (
            Route("GET", "/mcp/v0/servers", self._list, "mcp:read", "The MCP servers this app serves."),
            Route("GET", "/mcp/{serverId}/tools", self._tools, "mcp:read", "An MCP server's tools."),
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
        server = self.servers[self._server(call)]
        return {"tools": [{"name": name, "description": entry.about, "inputSchema": entry.schema}
                          for name, entry in server.entries().items()]}  # fmt: skip

    async def _transport(self, call: Call) -> Response:
        key = self._server(call)
        call.request.scope[_CALLER] = _HTTPCaller(call)
        return _Transport(self, key, call.user.id if call.user is not None else None)


def _caller_of(request: Any) -> Caller:
    """The caller the endpoint put in the request (none over a transport without one: may do everything)."""
    found = getattr(request, "scope", {}).get(_CALLER)
    return found if isinstance(found, Caller) else Caller()


class _HTTPCaller(Caller):
    """The authenticated caller of an HTTP request, as the MCP handlers see it."""

    def __init__(self, call: Call) -> None:
        self.call = call
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


class _Transport(Response):
    """The SDK's transport answering the request itself (it streams), with the endpoint's headers added, and a
    session kept to the caller that opened it."""

    def __init__(self, mount: MCPMount, key: str, user: str | None) -> None:
        self.mount, self.key, self.user = mount, key, user
        self.status_code, self.background, self.raw_headers = 200, None, []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        owners = self.mount._owners
        session = dict(scope["headers"]).get(_SESSION)
        if session is not None and owners.get(session.decode("latin-1"), self.user) != self.user:
            # The SDK's own answer to an unknown session: another caller's session is not told apart from none.
            unknown = {"code": -32600, "message": "Session not found"}
            refused = json_response({"jsonrpc": "2.0", "id": None, "error": unknown}, status=404)
            await refused(scope, receive, send)
            return

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                opened = dict(headers).get(_SESSION)
                if session is None and opened is not None and not self.mount.stateless:
                    owners[opened.decode("latin-1")] = self.user
                    while len(owners) > _OWNERS_KEPT:
                        owners.popitem(last=False)
                message = {**message, "headers": headers + self.raw_headers}
            await send(message)

        await self.mount.transports[self.key](scope, receive, sending)
