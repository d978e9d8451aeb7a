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
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from pydantic_core import to_jsonable_python

from ..errors import ErrorKind, MastraError

if TYPE_CHECKING:
    import mcp.types as mcp_types
    from mcp.server import Server

    from ..mastra import Mastra

__all__ = ["MCPServer"]

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

    def entries(self) -> dict[str, tuple[dict[str, Any], Callable[[dict[str, Any]], Awaitable[Any]], str]]:
        """Every MCP tool: name -> (its JSON Schema, what runs it, its description)."""
        hub, found = self.hub, {}
        for name, tool in self._pick("tools", hub.list_tools()).items():
            found[name] = (tool.json_schema(), _tool_call(tool, hub), tool.description or f"The tool `{name}`.")
        for name, agent in self._pick("agents", hub.list_agents()).items():
            about = f"Ask the agent `{name}`" + (f": {agent.description}" if agent.description else ".")
            found[f"ask_{name}"] = (_ASK, _ask(agent), about)
        for name, workflow in self._pick("workflows", hub.list_workflows()).items():
            about = f"Run the workflow `{name}`" + (f": {workflow.description}" if workflow.description else ".")
            found[f"run_{name}"] = (_object_schema(workflow.input.json_schema()), _run(workflow), about)
            found[f"resume_{name}"] = (_RESUME, _resume(workflow),
                                       f"Resume a suspended run of the workflow `{name}`.")  # fmt: skip
        return found

    def _pick(self, kind: str, registered: dict[str, Any]) -> dict[str, Any]:
        only = self._only[kind]
        return registered if only is None else {name: item for name, item in registered.items() if name in only}

    # -- the protocol ---------------------------------------------------------------------------------------------

    def lowlevel(self) -> Server[Any]:
        """The SDK's server, its handlers bound to this hub."""
        import mcp.types as types
        from mcp.server import Server
        from mcp.shared.exceptions import MCPError

        async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
            return types.ListToolsResult(tools=[
                types.Tool(name=name, description=about, input_schema=schema)
                for name, (schema, _, about) in self.entries().items()
            ])  # fmt: skip

        async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
            entry = self.entries().get(params.name)
            if entry is None:  # a protocol error (JSON-RPC), not a tool's failure
                raise MCPError(types.INVALID_PARAMS, f"No tool `{params.name}` on this server; see tools/list.")
            try:
                value = await entry[1](dict(params.arguments or {}))
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


def _object_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """MCP tools take objects; a workflow whose input is not one takes `{"input": ...}`."""
    return schema if schema.get("type") == "object" else {"type": "object", "properties": {"input": schema},
                                                          "required": ["input"]}  # fmt: skip


def _tool_call(tool: Any, hub: Mastra) -> Callable[[dict[str, Any]], Awaitable[Any]]:
    async def call(arguments: dict[str, Any]) -> Any:
        return _jsonable(await tool.execute(arguments))

    return call


def _ask(agent: Any) -> Callable[[dict[str, Any]], Awaitable[Any]]:
    async def call(arguments: dict[str, Any]) -> Any:
        message = arguments.get("message")
        if not isinstance(message, str) or not message:
            raise MastraError(ErrorKind.VALIDATION, "MCP_ARGUMENTS_INVALID", "`message` must be a non-empty string.")
        result = await agent.generate(message, thread_id=arguments.get("thread_id"),
                                      resource_id=arguments.get("resource_id"))  # fmt: skip
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


def _run(workflow: Any) -> Callable[[dict[str, Any]], Awaitable[Any]]:
    async def call(arguments: dict[str, Any]) -> Any:
        given = arguments if workflow.input.json_schema().get("type") == "object" else arguments.get("input")
        return _outcome(workflow, await workflow.create_run().start(given))

    return call


def _resume(workflow: Any) -> Callable[[dict[str, Any]], Awaitable[Any]]:
    async def call(arguments: dict[str, Any]) -> Any:
        run_id = arguments.get("run_id")
        if not isinstance(run_id, str):
            raise MastraError(ErrorKind.VALIDATION, "MCP_ARGUMENTS_INVALID", "`run_id` must be a string.")
        run = await workflow.get_run(run_id)
        return _outcome(workflow, await run.resume(arguments.get("resume_data"), step=arguments.get("step")))

    return call
