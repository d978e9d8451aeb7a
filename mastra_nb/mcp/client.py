"""`MCPClient`: the tools, resources and prompts of other MCP servers, for agents and workflows.

`MCPClient(servers={"time": {"command": "mcp-server-time", "args": [...]}, "docs": {"url": ..., "headers": ...}})`
connects to each server on first use, over stdio (a child process) or Streamable HTTP, and keeps the session.
`await client.tools()` gives each server tool as a `Tool` named `<server>_<tool>`, whose JSON Schema is the
server's own (the model sees exactly it; the input is checked against it, strictly, before the call), and whose
result is the call's structured content, else its text. A result with `isError` is a tool error the model reads.
A server's `require_approval` (True, or the names of some of its tools) makes an agent pause before calling them,
as for any tool that requires approval. `Agent(toolsets={"time": client})` lists the tools when a run needs them.

Failures: a call that finds its server gone (a crashed process, a restarted HTTP server) connects again, waiting
a little longer before each new attempt (`_BACKOFF`), and fails with `MCP_UNAVAILABLE` when none works; a call that
takes longer than `timeout` fails with `MCP_TIMEOUT`; a JSON-RPC error the server answers with is
`MCP_REQUEST_FAILED` (the session is kept). Each server has a circuit breaker shared by its tools: after a few
failed calls in a row it opens, and calls fail at once with `CIRCUIT_OPEN` instead of waiting on a dead server,
until a trial call is let through. Tool calls are traced as `mcp_tool` spans (Mastra's `mcp_tool_call`).

`await client.close()` ends every session and child process, and so does the shutdown of a hub its tools were
registered in (directly or through an agent).
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

from ..circuit import CircuitBreaker
from ..errors import ErrorKind, MastraError
from ..schema_models import model_from_json_schema
from ..tools import Tool

if TYPE_CHECKING:
    from ..mastra import Mastra

__all__ = ["MCPClient"]

_KEYS = {"command", "args", "env", "cwd", "url", "headers", "require_approval"}
# Seconds to wait before each new connection after a broken one: the first at once (a crashed process is simply
# started again), then a little longer, while a restarting server comes back.
_BACKOFF = (0.0, 0.25, 1.0)


class _MCPTool(Tool):
    """A server's tool: its schema is given to the model verbatim; its spans say which server answered."""

    span_kind = "mcp_tool"

    def __init__(self, server: str, tool: Any, owner: MCPClient) -> None:
        name = f"{server}_{tool.name}"[:64]
        schema = dict(tool.input_schema)
        model = model_from_json_schema(schema, f"{name}_input", where=f"tool `{name}` input schema")
        call = owner._caller(server, tool.name)

        async def execute(data: BaseModel) -> Any:
            return await call(data.model_dump(mode="json", by_alias=True, exclude_unset=True))

        approval = owner.servers[server].get("require_approval", False)
        super().__init__(
            name, tool.description or f"`{tool.name}` of MCP server `{server}`.", execute, input_schema=model,
            requires_approval=approval is True or (isinstance(approval, list) and tool.name in approval),
            circuit_breaker=owner._breakers.get(server),
        )  # fmt: skip
        self._schema, self._owner = schema, owner
        self.component = f"MCP server `{server}`"  # its breaker is the server's, shared by its tools
        self.span_attributes = {"mastra.mcp.server": server, "mastra.mcp.tool": tool.name}

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
            `{"url", "headers"?}` for one over Streamable HTTP; either may add `"require_approval"`: True for all
            its tools, or a list of its tool names.
        timeout: seconds a connection or a call may take.
        circuit_breaker: the settings of each server's breaker, as a `CircuitBreaker` (by default 3 failed calls in
            a row open it for 30 s); None for none.
    """

    def __init__(
        self,
        servers: Mapping[str, Mapping[str, Any]],
        *,
        timeout: float = 30.0,
        circuit_breaker: CircuitBreaker | None = CircuitBreaker(3, 30.0),  # noqa: B008 - a template, never used
    ) -> None:
        for name, spec in servers.items():
            _check(name, spec)
        self.servers = {name: dict(spec) for name, spec in servers.items()}
        self.timeout = timeout
        # A server's tools share its breaker: they fail together when it is down. Tools' calls may wait on each
        # other, so the breakers do not hold calls back (see `CircuitBreaker`).
        self._breakers = {} if circuit_breaker is None else {
            name: CircuitBreaker(circuit_breaker.failure_threshold, circuit_breaker.reset_timeout, hold_back=False)
            for name in self.servers
        }  # fmt: skip
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
            listed = await self._listed(server, "tools", lambda client, cursor: client.list_tools(cursor=cursor))
            found[server] = [_MCPTool(server, tool, self) for tool in listed]
        return found

    async def resources(self) -> dict[str, list[Any]]:
        """Each server's resources (the SDK's `Resource`s: uri, name, description, mime type), by server; a server
        that has none says so with an empty list."""
        return {server: await self._listed(server, "resources", lambda client, cursor: client.list_resources(
            cursor=cursor)) for server in self.servers}  # fmt: skip

    async def read_resource(self, server: str, uri: str) -> list[Any]:
        """A resource's contents (the SDK's text or blob contents: `.text` or `.blob`, with `.uri`, `.mime_type`)."""
        read = await self._with_session(self._known(server), lambda client: client.read_resource(uri))
        return list(read.contents)

    async def prompts(self) -> dict[str, list[Any]]:
        """Each server's prompts (the SDK's `Prompt`s: name, description, arguments), by server."""
        return {server: await self._listed(server, "prompts", lambda client, cursor: client.list_prompts(
            cursor=cursor)) for server in self.servers}  # fmt: skip

    async def get_prompt(self, server: str, name: str, arguments: Mapping[str, str] | None = None) -> Any:
        """A prompt filled in with `arguments`: the SDK's `GetPromptResult` (`.messages`, `.description`)."""
        return await self._with_session(self._known(server),
                                        lambda client: client.get_prompt(name, dict(arguments or {})))  # fmt: skip

    def _known(self, server: str) -> str:
        if server not in self.servers:
            raise MastraError(ErrorKind.VALIDATION, "MCP_SERVER_NOT_FOUND",
                              f"No MCP server `{server}` in this client; it has {', '.join(self.servers)}.",
                              details={"field": "server"})  # fmt: skip
        return server

    async def _listed(self, server: str, what: str, page: Any) -> list[Any]:
        """Every item of a list operation, page after page; none when the server does not offer `what`."""

        async def everything(client: Any) -> list[Any]:
            if getattr(client.server_capabilities, what, None) is None:
                return []
            found, cursor = [], None
            while True:
                listed = await page(client, cursor)
                found += getattr(listed, what)
                cursor = listed.next_cursor
                if not cursor:
                    return found

        return await self._with_session(server, everything)

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
        """`work(client)` on the server's session; a broken session is opened again, with backoff (`_BACKOFF`)."""
        elsewhere = self._elsewhere()
        if elsewhere is not None:
            future = asyncio.run_coroutine_threadsafe(self._with_session(server, work), elsewhere)
            return await asyncio.wrap_future(future)
        waits = iter(_BACKOFF)
        while True:
            try:
                client = await self._session(server)
                return await asyncio.wait_for(work(client), self.timeout)
            except asyncio.TimeoutError:
                raise MastraError(ErrorKind.EXECUTION, "MCP_TIMEOUT",
                                  f"MCP server `{server}` did not answer within {self.timeout:g} s.",
                                  retryable=True) from None  # fmt: skip
            except Exception as error:
                if _is_protocol_error(error):  # the server answered, refusing: the session is fine
                    raise MastraError(ErrorKind.EXECUTION, "MCP_REQUEST_FAILED",
                                      f"MCP server `{server}` refused the request: {error}") from None  # fmt: skip
                # The transport broke or never opened: the process died, the HTTP server restarted or is down.
                await self._drop(server)
                wait = next(waits, None)
                if wait is None:
                    raise MastraError(ErrorKind.EXECUTION, "MCP_UNAVAILABLE",
                                      f"MCP server `{server}` failed ({len(_BACKOFF) + 1} attempts): "
                                      f"{type(error).__name__}: {error}", retryable=True) from None  # fmt: skip
                await asyncio.sleep(wait)

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
        except BaseException:
            with contextlib.suppress(Exception):
                await stack.aclose()
            raise
        self._sessions[server] = (client, stack)
        self._loop = asyncio.get_running_loop()
        return client

    async def _drop(self, server: str) -> None:
        found = self._sessions.pop(server, None)
        if found is not None:
            with contextlib.suppress(Exception):
                await found[1].aclose()


def _check(name: Any, spec: Any) -> None:
    problem = None
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", name):
        problem = ("", "a name of 1-32 letters, digits, `_` or `-`")
    elif not isinstance(spec, Mapping) or ("command" in spec) == ("url" in spec):
        problem = ("", "exactly one of `command` (stdio) or `url` (Streamable HTTP)")
    elif set(spec) - _KEYS:
        problem = (f".{sorted(set(spec) - _KEYS)[0]}", f"only {', '.join(sorted(_KEYS))}")
    else:
        approval = spec.get("require_approval", False)
        if not isinstance(approval, bool) and not (isinstance(approval, list) and all(
                isinstance(item, str) for item in approval)):  # fmt: skip
            problem = (".require_approval", "true, false or a list of tool names")
    if problem is not None:
        where = f"servers.{name}{problem[0]}"
        raise MastraError(ErrorKind.VALIDATION, "MCP_SERVER_INVALID", f"MCP server {name!r}: `{where}` must be "
                          f"{problem[1]}.", details={"errors": [{"field": where, "expected": problem[1]}]})  # fmt: skip


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
