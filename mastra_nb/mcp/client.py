"""`MCPClient`: the tools, resources and prompts of other MCP servers, for agents and workflows.

`MCPClient(servers={"time": {"command": "mcp-server-time", "args": [...]}, "docs": {"url": ..., "headers": ...}})`
connects to each server on first use, over stdio (a child process) or Streamable HTTP, and keeps the session.
`await client.tools()` gives each server tool as a `Tool` named `<server>_<tool>`, whose JSON Schema is the
server's own (the model sees exactly it; the input is checked against it, strictly, before the call), and whose
result is the call's structured content, else its text. A result with `isError` is a tool error the model reads.
A server's `require_approval` (True, or the names of some of its tools) makes an agent pause before calling them,
as for any tool that requires approval. `Agent(toolsets={"time": client})` lists the tools when a run needs them.

Failures: a call that finds its server gone (a crashed process, a restarted HTTP server) connects again and is
sent again: listing and reading as often as `_BACKOFF` allows, waiting a little longer before each attempt; a tool
call once (the server may have run it before its connection broke, so a crash in the middle of a call can run it
twice). When nothing works the call fails with `MCP_UNAVAILABLE`; a call that takes longer than `timeout` fails
with `MCP_TIMEOUT`; a JSON-RPC error the server answers with is `MCP_REQUEST_FAILED` (the session is kept). Each
server has a circuit breaker, shared by its tools and its listing: after a few failures in a row it opens, and
calls fail at once with `CIRCUIT_OPEN` instead of waiting on a dead server, until a trial call is let through.
Tool calls are traced as `mcp_tool` spans (Mastra's `mcp_tool_call`). Each session is held by a task of its own,
so calls at once share one session and a broken transport never cancels a caller.

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

from ..circuit import CircuitBreaker, report
from ..errors import ErrorKind, MastraError
from ..schema_models import SchemaModel, model_from_json_schema
from ..tools import Tool, sanitize

if TYPE_CHECKING:
    from ..mastra import Mastra

__all__ = ["MCPClient"]

_KEYS = {"command", "args", "env", "cwd", "url", "headers", "require_approval"}
# Seconds to wait before each new connection after a broken one: the first at once (a crashed process is simply
# started again), then a little longer, while a restarting server comes back.
_BACKOFF = (0.0, 0.25, 1.0)
_PAGES = 100  # pages of one list a server may answer with (as the SDK's own limit)


class _MCPTool(Tool):
    """A server's tool: its schema is given to the model verbatim; its spans say which server answered."""

    span_kind = "mcp_tool"

    def __init__(self, server: str, tool: Any, owner: MCPClient) -> None:
        name = sanitize(f"{server}_{tool.name}")  # MCP allows names models do not (`get.now`)
        schema = dict(tool.input_schema)
        model = model_from_json_schema(schema, f"{name}_input", where=f"tool `{name}` input schema")
        call = owner._caller(server, tool.name)

        async def execute(data: SchemaModel) -> Any:
            return await call(data.dump())

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
        self._sessions: dict[str, _Session] = {}
        self._locks: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Lock]] = {}
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
            _check_approval(server, self.servers[server], {tool.name for tool in listed})
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
        """Every item of a list operation, page after page (at most `_PAGES`); none when the server does not offer
        `what`. Through the server's breaker: a server that is down fails at once, not after every attempt."""

        async def everything(client: Any) -> list[Any]:
            if getattr(client.server_capabilities, what, None) is None:
                return []
            found, cursor, seen = [], None, set()
            for _ in range(_PAGES):
                listed = await page(client, cursor)
                found += getattr(listed, what)
                cursor = listed.next_cursor
                if not cursor or cursor in seen:  # the end, or a server going round in circles
                    return found
                seen.add(cursor)
            return found

        breaker = self._breakers.get(server)
        if breaker is None:
            return await self._with_session(server, everything)
        permit = await breaker.acquire(f"MCP server `{server}`")
        report(permit.changed, breaker, "mcp_server", server, None)
        outcome: BaseException | None = None
        try:
            return await self._with_session(server, everything)
        except BaseException as error:
            outcome = error
            raise
        finally:
            report(breaker.settle(permit, outcome), breaker, "mcp_server", server, None)

    async def close(self) -> None:
        """End every session (and child process)."""
        elsewhere = self._elsewhere()
        if elsewhere is not None:
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self.close(), elsewhere))
            return
        for name, session in list(self._sessions.items()):
            await self._drop(name, session)

    def _elsewhere(self) -> asyncio.AbstractEventLoop | None:
        """The sessions' loop when it is another, running one than this."""
        loop = self._loop
        if loop is None or loop is asyncio.get_running_loop() or loop.is_closed() or not loop.is_running():
            return None
        return loop

    def _caller(self, server: str, tool: str) -> Any:
        async def call(arguments: dict[str, Any]) -> Any:
            work = lambda client: client.call_tool(tool, arguments)  # noqa: E731
            result = await self._with_session(server, work, idempotent=False)
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

    async def _with_session(self, server: str, work: Any, *, idempotent: bool = True) -> Any:
        """`work(client)` on the server's session. A broken session is opened again, with backoff (`_BACKOFF`),
        and `work` done again: every time for what may run twice (listing, reading); for a tool call, once, since
        the server may have run it before its connection broke (a crash mid-call may so run a call twice)."""
        elsewhere = self._elsewhere()
        if elsewhere is not None:
            future = asyncio.run_coroutine_threadsafe(self._with_session(server, work, idempotent=idempotent),
                                                      elsewhere)  # fmt: skip
            return await asyncio.wrap_future(future)
        waits = iter(_BACKOFF if idempotent else _BACKOFF[:1])
        while True:
            session: _Session | None = None
            try:
                session = await self._session(server)
                return await asyncio.wait_for(work(session.client), self.timeout)
            except asyncio.TimeoutError:
                raise MastraError(ErrorKind.EXECUTION, "MCP_TIMEOUT",
                                  f"MCP server `{server}` did not answer within {self.timeout:g} s.",
                                  retryable=True) from None  # fmt: skip
            except Exception as error:
                if _is_protocol_error(error):  # the server answered, refusing: the session is fine
                    raise MastraError(ErrorKind.EXECUTION, "MCP_REQUEST_FAILED",
                                      f"MCP server `{server}` refused the request: {error}") from None  # fmt: skip
                # The transport broke or never opened: the process died, the HTTP server restarted or is down.
                if session is not None:
                    await self._drop(server, session)
                wait = next(waits, None)
                if wait is None:
                    failed = f"MCP server `{server}` failed: {_cause(error)}"
                    raise MastraError(ErrorKind.EXECUTION, "MCP_UNAVAILABLE", failed, retryable=True) from None
                await asyncio.sleep(wait)

    async def _session(self, server: str) -> _Session:
        """The server's open session, opened now if there is none (one at a time: calls at once share it)."""
        found = self._sessions.get(server)
        if found is not None and found.open:
            return found
        async with self._lock(server):
            found = self._sessions.get(server)
            if found is not None and found.open:
                return found
            if found is not None:
                await self._drop(server, found)
            opened = await _Session.start(self.servers[server], self.timeout)
            self._sessions[server] = opened
            self._loop = asyncio.get_running_loop()
            return opened

    def _lock(self, server: str) -> asyncio.Lock:
        """The server's lock for opening a session, on this loop (an asyncio lock belongs to one loop, and a client
        may outlive the loop it first ran on: a script's `asyncio.run` after another's)."""
        loop = asyncio.get_running_loop()
        found = self._locks.get(server)
        if found is None or found[0] is not loop:
            found = self._locks[server] = (loop, asyncio.Lock())
        return found[1]

    async def _drop(self, server: str, session: _Session) -> None:
        """Close `session`, and forget it if it is still the server's (another call may have replaced it)."""
        if self._sessions.get(server) is session:
            del self._sessions[server]
        await session.close()


class _Session:
    """One open session, held by a task of its own: the SDK's client must be closed by the task that opened it
    (its task group's cancel scope), and a broken transport then cancels that task, not a caller's."""

    def __init__(self, client: Any, holder: asyncio.Task[None], closing: asyncio.Event) -> None:
        self.client, self.holder, self.closing = client, holder, closing

    @property
    def open(self) -> bool:
        """Held still (its loop, too, runs on: a session of a loop that was closed is gone with it)."""
        return not self.holder.done() and not self.holder.get_loop().is_closed()

    @staticmethod
    async def start(spec: Mapping[str, Any], timeout: float) -> _Session:
        """Open a session to the server `spec` names, in a task that holds it until `close()`."""
        from mcp import Client, StdioServerParameters

        loop = asyncio.get_running_loop()
        ready: asyncio.Future[Any] = loop.create_future()
        closing = asyncio.Event()

        async def hold() -> None:
            try:
                async with contextlib.AsyncExitStack() as stack:
                    if "command" in spec:
                        from mcp.client.stdio import stdio_client

                        launched = StdioServerParameters(command=spec["command"], args=list(spec.get("args", [])),
                                                         env=spec.get("env"), cwd=spec.get("cwd"))  # fmt: skip
                        target: Any = stdio_client(launched, errlog=_stderr())
                    else:
                        import httpx2
                        from mcp.client.streamable_http import streamable_http_client

                        web = await stack.enter_async_context(httpx2.AsyncClient(headers=spec.get("headers"),
                                                                                 timeout=timeout))  # fmt: skip
                        target = streamable_http_client(spec["url"], http_client=web)
                    ready.set_result(await stack.enter_async_context(Client(target)))
                    await closing.wait()
            except Exception as error:  # it could not open, or it broke while open (its calls then fail)
                if not ready.done():
                    ready.set_exception(error)
            finally:
                if not ready.done():  # cancelled while opening
                    ready.set_exception(ConnectionError("the session was closed while it opened"))

        holder = loop.create_task(hold())
        try:
            client = await asyncio.wait_for(asyncio.shield(ready), timeout)
        except BaseException:
            closing.set()
            holder.cancel()
            with contextlib.suppress(BaseException):
                await holder
            raise
        return _Session(client, holder, closing)

    async def close(self) -> None:
        self.closing.set()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(self.holder, 10.0)


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


def _check_approval(server: str, spec: Mapping[str, Any], offered: set[str]) -> None:
    """Refuse a `require_approval` that names a tool the server lacks: a misspelt name would leave the tool meant
    to wait for a person free to run."""
    approval = spec.get("require_approval")
    unknown = sorted(set(approval) - offered) if isinstance(approval, list) else []
    if unknown:
        field = f"servers.{server}.require_approval"
        raise MastraError(
            ErrorKind.VALIDATION, "MCP_SERVER_INVALID",
            f"MCP server `{server}` has no tool {', '.join(f'`{name}`' for name in unknown)} to wait for approval "
            f"(its tools: {', '.join(sorted(offered)) or 'none'}).",
            details={"errors": [{"field": field, "expected": "names of the server's tools"}]},
        )  # fmt: skip


def _stderr() -> Any:
    """Where a child server's stderr goes: this process's, or, in a kernel (whose `sys.stderr` is no file), the
    kernel process's own."""
    try:
        sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return sys.__stderr__
    return sys.stderr


def _cause(error: BaseException) -> str:
    """What broke, told by the innermost error (the SDK's task groups wrap the transport's in groups)."""
    while getattr(error, "exceptions", None):  # an exception group (anyio's, or Python 3.11's)
        error = error.exceptions[0]  # type: ignore[attr-defined]
    return f"{type(error).__name__}: {error}"


def _is_protocol_error(error: Exception) -> bool:
    """A JSON-RPC error the server answered with (retrying cannot help) rather than a broken connection."""
    import mcp.types as types
    from mcp.shared.exceptions import MCPError

    return isinstance(error, MCPError) and error.code != types.CONNECTION_CLOSED
