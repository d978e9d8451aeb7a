"""`MCPClient`: the tools of other MCP servers as mastra_nb tools, for agents and workflows.

`MCPClient(servers={"time": {"command": "mcp-server-time", "args": [...]}, "docs": {"url": ..., "headers": ...}})`
connects to each server on first use, over stdio (a child process) or Streamable HTTP, and keeps the session.
`await client.tools()` gives each server tool as a `Tool` named `<server>_<tool>`, whose JSON Schema is the
server's own (the model sees exactly it; the input is checked against it, strictly, before the call), and whose
result is the call's structured content, else its text. A result with `isError` is a tool error the model reads.
A call that finds its server gone (a crashed process, a restarted HTTP server) connects again once and retries;
a call that takes longer than `timeout` fails with `MCP_TIMEOUT`. `await client.close()` ends every session and
child process, and so does the shutdown of a hub its tools were registered in (directly or through an agent).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ..errors import ErrorKind, MastraError
from ..schema_models import model_from_json_schema
from ..tools import Tool

if TYPE_CHECKING:
    from ..mastra import Mastra

__all__ = ["MCPClient"]


class _MCPTool(Tool):
    """A server's tool: its schema is given to the model verbatim."""

    def __init__(self, name: str, description: str, schema: dict[str, Any], call: Any, owner: MCPClient) -> None:
        model = model_from_json_schema(schema, f"{name}_input", where=f"tool `{name}` input schema")

        async def execute(data: BaseModel) -> Any:
            return await call(data.model_dump(mode="json", by_alias=True, exclude_unset=True))

        super().__init__(name, description, execute, input_schema=model)
        self._schema, self._owner = schema, owner

    def bind(self, mastra: Mastra) -> Tool:
        # The hub's shutdown ends the client's sessions and child processes too.
        mastra.on_shutdown(self._owner.close)
        return super().bind(mastra)

    def json_schema(self) -> dict[str, Any]:
        return json.loads(json.dumps(self._schema))  # a new dict each call, as every tool's


class MCPClient:
    """Connections to MCP servers.

    Args:
        servers: name -> `{"command", "args"?, "env"?, "cwd"?}` for a server launched over stdio, or
            `{"url", "headers"?}` for one over Streamable HTTP.
        timeout: seconds a connection or a call may take.
    """

    def __init__(self, servers: Mapping[str, Mapping[str, Any]], *, timeout: float = 30.0) -> None:
        for name, spec in servers.items():
            if not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", name) or not isinstance(spec, Mapping) or (
                    "command" in spec) == ("url" in spec):  # fmt: skip
                raise MastraError(
                    ErrorKind.VALIDATION, "MCP_SERVER_INVALID",
                    f"MCP server {name!r} needs a short name and exactly one of `command` (stdio) or `url` (HTTP).",
                    details={"errors": [{"field": f"servers.{name}", "expected": "{command, args} or {url}"}]},
                )  # fmt: skip
        self.servers = {name: dict(spec) for name, spec in servers.items()}
        self.timeout = timeout
        self._sessions: dict[str, tuple[Any, contextlib.AsyncExitStack]] = {}
        # The loop the sessions live on: the SDK's sessions belong to the task group that opened them, so a call
        # from another loop (a notebook cell's `await` while `%%ask` opened them on mastra_nb's loop) goes there.
        self._loop: asyncio.AbstractEventLoop | None = None

    async def tools(self) -> list[Tool]:
        """Every server's tools, named `<server>_<tool>`."""
        return [tool for tools in (await self.toolsets()).values() for tool in tools]

    async def toolsets(self) -> dict[str, list[Tool]]:
        """Each server's tools, by server."""
        found: dict[str, list[Tool]] = {}
        for server in self.servers:
            listed = await self._with_session(server, lambda client: client.list_tools())
            found[server] = [
                _MCPTool(f"{server}_{tool.name}"[:64], tool.description or f"`{tool.name}` of MCP server `{server}`.",
                         dict(tool.input_schema), self._caller(server, tool.name), self)
                for tool in listed.tools
            ]  # fmt: skip
        return found

    async def close(self) -> None:
        """End every session (and child process)."""
        elsewhere = self._elsewhere()
        if elsewhere is not None:
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self.close(), elsewhere))
            return
        for name in list(self._sessions):
            await self._drop(name)

    def _elsewhere(self) -> asyncio.AbstractEventLoop | None:
        """The sessions' loop when it is another, running one than this."""
        loop = self._loop
        if loop is None or loop is asyncio.get_running_loop() or loop.is_closed() or not loop.is_running():
            return None
        return loop

    def _caller(self, server: str, tool: str) -> Any:
        async def call(arguments: dict[str, Any]) -> Any:
            result = await self._with_session(server, lambda client: client.call_tool(tool, arguments))
            text = "".join(getattr(part, "text", "") for part in result.content)
            if result.is_error:
                raise MastraError(ErrorKind.EXECUTION, "MCP_TOOL_ERROR",
                                  f"MCP server `{server}`'s tool `{tool}` failed: {text or 'no message'}")  # fmt: skip
            if result.structured_content is not None:
                return result.structured_content
            try:
                return json.loads(text)
            except ValueError:
                return text

        return call

    async def _with_session(self, server: str, work: Any) -> Any:
        """`work(client)` on the server's session; a session that broke is opened again once."""
        elsewhere = self._elsewhere()
        if elsewhere is not None:
            future = asyncio.run_coroutine_threadsafe(self._with_session(server, work), elsewhere)
            return await asyncio.wrap_future(future)
        for attempt in (1, 2):
            client = await self._session(server)
            try:
                return await asyncio.wait_for(work(client), self.timeout)
            except asyncio.TimeoutError:
                raise MastraError(ErrorKind.EXECUTION, "MCP_TIMEOUT",
                                  f"MCP server `{server}` did not answer within {self.timeout:g} s.",
                                  retryable=True) from None  # fmt: skip
            except MastraError:
                raise
            except Exception as error:  # the transport broke: the process died, the HTTP server restarted
                await self._drop(server)
                if attempt == 2 or _is_protocol_error(error):
                    raise MastraError(ErrorKind.EXECUTION, "MCP_UNAVAILABLE",
                                      f"MCP server `{server}` failed: {type(error).__name__}: {error}",
                                      retryable=True) from None  # fmt: skip
        raise AssertionError("unreachable")  # pragma: no cover

    async def _session(self, server: str) -> Any:
        if server in self._sessions:
            return self._sessions[server][0]
        from mcp import Client, StdioServerParameters

        spec = self.servers[server]
        stack = contextlib.AsyncExitStack()
        try:
            if "command" in spec:
                from mcp.client.stdio import stdio_client

                launched = StdioServerParameters(command=spec["command"], args=list(spec.get("args", [])),
                                                 env=spec.get("env"), cwd=spec.get("cwd"))  # fmt: skip
                target: Any = stdio_client(launched, errlog=_stderr())
            else:
                import httpx2
                from mcp.client.streamable_http import streamable_http_client

                web = await stack.enter_async_context(httpx2.AsyncClient(headers=spec.get("headers"),
                                                                         timeout=self.timeout))  # fmt: skip
                target = streamable_http_client(spec["url"], http_client=web)
            client = await asyncio.wait_for(stack.enter_async_context(Client(target)), self.timeout)
        except BaseException as error:
            await stack.aclose()
            if isinstance(error, Exception):
                raise MastraError(ErrorKind.EXECUTION, "MCP_UNAVAILABLE",
                                  f"Cannot connect to MCP server `{server}`: {type(error).__name__}: {error}",
                                  retryable=True) from None  # fmt: skip
            raise
        self._sessions[server] = (client, stack)
        self._loop = asyncio.get_running_loop()
        return client

    async def _drop(self, server: str) -> None:
        found = self._sessions.pop(server, None)
        if found is not None:
            with contextlib.suppress(Exception):
                await found[1].aclose()


def _stderr() -> Any:
    """Where a child server's stderr goes: this process's, or, in a kernel (whose `sys.stderr` is no file), the
    kernel process's own."""
    try:
        sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return sys.__stderr__
    return sys.stderr


def _is_protocol_error(error: Exception) -> bool:
    """A JSON-RPC error the server answered with (retrying cannot help) rather than a broken connection."""
    import mcp.types as types
    from mcp.shared.exceptions import MCPError

    return isinstance(error, MCPError) and error.code != types.CONNECTION_CLOSED
