"""`MCPServer(hub)`: the hub's tools, agents and workflows as a Model Context Protocol server.

Built on the `mcp` SDK's low-level `Server`, since every component already has its JSON Schema:
- each tool is an MCP tool with its schema and description; its result comes back as text (JSON) and, as
  structured content, `{"result": value}`;
- each agent is `ask_<name>` taking `{message, thread_id?, resource_id?}` and answering with its text;
- each workflow is `run_<id>` taking the workflow's input and answering with its result, or, when the run
  suspends, with the run id, the suspended steps, their payloads and the resume schema; `resume_<id>` takes
  `{run_id, resume_data, step?}` and goes on with it.

A component's failure is a result with `isError` and the `MastraError`'s message (redacted when it was made); an
unknown tool is a protocol error. `serve_stdio()` speaks over stdin and stdout (logs go to stderr), for the MCP
clients that launch a server as a process (`mastra_nb mcp MODULE:ATTR`).

Who calls is a `Caller`, which the transport in front of the server makes from each request (an HTTP app's
authentication, `server/mcp_mount.py`; over stdio, the one who launched the process may do everything): it says
which components the caller may run (the list shows only those; a call of another is an `isError` result naming
the permission), the memory resource it is confined to (its turns and runs are its own; another tenant's run is
answered as one that does not exist, another's thread as not found (a thread id nobody uses starts a new thread,
so that a thread is someone's cannot be hidden)) and the runtime context its components run in.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic_core import to_jsonable_python

from ..context import RuntimeContext
from ..errors import ErrorKind, MastraError

if TYPE_CHECKING:
    import mcp.types as mcp_types
    from mcp.server import Server

    from ..mastra import Mastra

__all__ = ["Caller", "Entry", "MCPServer"]

_ASK = {"type": "object", "properties": {
    "message": {"type": "string", "description": "What to ask the agent."},
    "thread_id": {"type": "string", "description": "A memory thread to continue (the agent's memory)."},
    "resource_id": {"type": "string", "description": "Whose thread it is (needed to start one)."},
}, "required": ["message"], "additionalProperties": False}  # fmt: skip
_RESUME = {"type": "object", "properties": {
    "run_id": {"type": "string", "description": "The suspended run (from the run tool's answer)."},
    "resume_data": {"description": "What the suspended step asked for (its resume schema)."},
    "step": {"type": "string", "description": "The suspended step, when several are."},
}, "required": ["run_id", "resume_data"], "additionalProperties": False}  # fmt: skip


class Caller:
    """Who calls the server, and what they may do: by default, everything (the one who launched a stdio server).

    `tenant` is the memory resource the caller is confined to (None: any); `context` the runtime context its
    calls run in (None: the active one).
    """

    tenant: str | None = None
    context: RuntimeContext | None = None

    def may(self, kind: str, name: str) -> bool:
        """Whether the caller may run the component `name` of `kind` ("tools", "agents" or "workflows")."""
        return True

    async def check(self, tool: str, entry: Entry) -> None:
        """Before the MCP tool `tool` runs: refuse it when the caller may not run its component.

        Raises:
            MastraError: `FORBIDDEN`, naming the permission that is missing.
        """
        if not self.may(entry.kind, entry.component):
            raise MastraError(ErrorKind.DOMAIN, "FORBIDDEN",
                              f"Missing required permission: {entry.kind}:execute:{entry.component}")  # fmt: skip

    def own(self, resource: str | None, what: str, name: str, *, missing: bool = False) -> None:
        """Check that a thread or run of `resource` is the confined caller's (and exists: not `missing`); else it
        is not found, in the same words whether it is another tenant's or nobody's."""
        if missing or (self.tenant is not None and resource != self.tenant):
            code = {"thread": "MEMORY_THREAD_NOT_FOUND", "run": "RUN_NOT_FOUND"}.get(what, "RESOURCE_NOT_FOUND")
            raise MastraError(ErrorKind.DOMAIN, code, f"There is no {what} `{name}`.")


@dataclass(frozen=True)
class Entry:
    """One MCP tool: how to make its JSON Schema, what runs it, its description, and the component it runs."""

    # Made when the tool is listed, not when the catalogue is: a call finds its entry among all the hub's, and
    # making every component's schema for each call cost more than the call.
    make_schema: Callable[[], dict[str, Any]]
    run: Callable[[dict[str, Any], Caller], Awaitable[Any]]
    about: str
    kind: str  # "tools", "agents" or "workflows"
    component: str

    @property
    def schema(self) -> dict[str, Any]:
        return self.make_schema()


class MCPServer:
    """The hub's components as MCP tools.

    Args:
        hub: whose tools, agents and workflows to serve.
        id: the server's id (its path in a served app: `{prefix}/mcp/<id>/mcp`).
        name, version: what the server says it is.
        tools, agents, workflows: the names to serve of each (default: all the hub holds, when asked).
    """

    def __init__(
        self,
        hub: Mastra,
        *,
        id: str = "mastra",
        name: str | None = None,
        version: str = "1.0.0",
        tools: Iterable[str] | None = None,
        agents: Iterable[str] | None = None,
        workflows: Iterable[str] | None = None,
    ) -> None:
        self.hub, self.id, self.name, self.version = hub, id, name or id, version
        self._only = {"tools": _names(tools), "agents": _names(agents), "workflows": _names(workflows)}

    # -- the catalogue ------------------------------------------------------------------------------------------

    def entries(self) -> dict[str, Entry]:
        """Every MCP tool, by name."""
        hub, found = self.hub, {}
        for name, tool in self._pick("tools", hub.list_tools()).items():
            about = tool.description or f"The tool `{name}`."
            found[name] = Entry(tool.json_schema, _tool_call(tool), about, "tools", name)
        for name, agent in self._pick("agents", hub.list_agents()).items():
            about = f"Ask the agent `{name}`" + (f": {agent.description}" if agent.description else ".")
            found[f"ask_{name}"] = Entry(lambda: _ASK, _ask(agent), about, "agents", name)
        for name, workflow in self._pick("workflows", hub.list_workflows()).items():
            about = f"Run the workflow `{name}`" + (f": {workflow.description}" if workflow.description else ".")
            schema = functools.partial(_object_schema, workflow)
            found[f"run_{name}"] = Entry(schema, _run(workflow), about, "workflows", name)
            found[f"resume_{name}"] = Entry(
                lambda: _RESUME, _resume(workflow), f"Resume a suspended run of the workflow `{name}`.", "workflows",
                name,
            )  # fmt: skip
        return found

    def _pick(self, kind: str, registered: dict[str, Any]) -> dict[str, Any]:
        only = self._only[kind]
        return registered if only is None else {name: item for name, item in registered.items() if name in only}

    # -- the protocol ---------------------------------------------------------------------------------------------

    def lowlevel(self, caller: Callable[[Any], Caller] | None = None) -> Server[Any]:
        """The SDK's server, its handlers bound to this hub.

        Args:
            caller: who calls, from the transport's request (the HTTP request; None over stdio); by default a
                `Caller` that may do everything.
        """
        import mcp.types as types
        from mcp.server import Server
        from mcp.shared.exceptions import MCPError

        def who(ctx: Any) -> Caller:
            return caller(ctx.request) if caller is not None else Caller()

        async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
            asking = who(ctx)
            return types.ListToolsResult(tools=[
                types.Tool(name=name, description=entry.about, input_schema=entry.schema)
                for name, entry in self.entries().items() if asking.may(entry.kind, entry.component)
            ])  # fmt: skip

        async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
            entry = self.entries().get(params.name)
            if entry is None:  # a protocol error (JSON-RPC), not a tool's failure
                raise MCPError(types.INVALID_PARAMS, f"No tool `{params.name}` on this server; see tools/list.")
            asking = who(ctx)
            try:
                await asking.check(params.name, entry)
                value = await entry.run(dict(params.arguments or {}), asking)
            except MastraError as error:
                return _result({"error": error.to_dict()}, error.message, error=True)
            return _result(value, json.dumps(value, ensure_ascii=False))

        return Server(self.name, version=self.version, on_list_tools=list_tools, on_call_tool=call_tool)

    async def serve_stdio(self) -> None:
        """Serve over this process's stdin and stdout until the client closes them."""
        from mcp.server.stdio import stdio_server

        server = self.lowlevel()
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())


def _names(given: Iterable[str] | None) -> frozenset[str] | None:
    return None if given is None else frozenset(given)


def _jsonable(value: Any) -> Any:
    return to_jsonable_python(value, fallback=str, inf_nan_mode="null")


def _result(value: Any, text: str, *, error: bool = False) -> mcp_types.CallToolResult:
    import mcp.types as types

    structured = value if isinstance(value, dict) else {"result": value}
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], structured_content=structured,
                                is_error=error)  # fmt: skip


def _object_schema(workflow: Any) -> dict[str, Any]:
    """A workflow's input schema as an MCP tool's: MCP tools take objects; a workflow whose input is not one takes
    `{"input": ...}`."""
    schema = workflow.input.json_schema()
    return schema if schema.get("type") == "object" else {"type": "object", "properties": {"input": schema},
                                                          "required": ["input"]}  # fmt: skip


_Call = Callable[[dict[str, Any], Caller], Awaitable[Any]]


def _tool_call(tool: Any) -> _Call:
    async def call(arguments: dict[str, Any], caller: Caller) -> Any:
        return _jsonable(await tool.execute(arguments, caller.context))

    return call


def _text(arguments: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = arguments.get(name)
    if (value is None and not required) or (isinstance(value, str) and value):
        return value
    raise MastraError(ErrorKind.VALIDATION, "MCP_ARGUMENTS_INVALID", f"`{name}` must be a non-empty string.",
                      details={"field": name})  # fmt: skip


def _ask(agent: Any) -> _Call:
    async def call(arguments: dict[str, Any], caller: Caller) -> Any:
        message = _text(arguments, "message", required=True)
        thread, resource = _text(arguments, "thread_id"), _text(arguments, "resource_id")
        if caller.tenant is not None and agent.active_memory is not None and thread is not None:
            # A confined caller's turns are in its own resource's threads.
            caller.own(resource if resource is not None else caller.tenant, "resource", resource or "")
            resource = caller.tenant
            existing = await agent.active_memory.get_thread(thread)
            if existing is not None:
                caller.own(existing.resource_id, "thread", thread)
        result = await agent.generate(message, context=caller.context, thread_id=thread, resource_id=resource)
        return {"text": result.text, "finish_reason": result.finish_reason, "run_id": result.run_id}

    return call


def _outcome(workflow: Any, result: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"status": result.status, "run_id": result.run_id}
    if result.status == "success":
        found["result"] = _jsonable(result.output)
    if result.error is not None:
        found["error"] = result.error.to_dict()
    if result.suspended:
        found["suspended"] = list(result.suspended)
        found["suspended_steps"] = [result.steps[path].step_id for path in result.suspended]
        found["suspend_payloads"] = {path: result.steps[path].suspend_payload for path in result.suspended}
        found["resume_schemas"] = {path: workflow.unit_at(path).resume.json_schema() for path in result.suspended}
    return found


def _run(workflow: Any) -> _Call:
    async def call(arguments: dict[str, Any], caller: Caller) -> Any:
        given = arguments if workflow.input.json_schema().get("type") == "object" else arguments.get("input")
        run = workflow.create_run(resource_id=caller.tenant)
        return _outcome(workflow, await run.start(given, context=caller.context))

    return call


def _resume(workflow: Any) -> _Call:
    async def call(arguments: dict[str, Any], caller: Caller) -> Any:
        run_id = str(_text(arguments, "run_id", required=True))
        try:
            run = await workflow.get_run(run_id)
        except MastraError as error:
            if error.code != "RUN_NOT_FOUND":
                raise
            run = None
        # A run nobody has and another tenant's are answered alike, so that a caller cannot tell them apart.
        caller.own(None if run is None else run.resource_id, "run", run_id, missing=run is None)
        assert run is not None
        # The run goes on in the context it started with, as the REST route's resume does.
        return _outcome(workflow, await run.resume(arguments.get("resume_data"), step=_text(arguments, "step")))

    return call
