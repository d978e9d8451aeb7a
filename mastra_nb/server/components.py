"""The routes of agents and tools: list, describe, generate or stream, approve or decline a waiting call, execute a
tool."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel

from ..agents import Agent, AgentResult, ErrorEvent
from ..errors import ErrorKind, MastraError
from ..schema_models import model_from_json_schema
from ..tools import Tool
from .routes import Call, Route, field
from .shapes import agent_info, full_output, tool_info
from .streams import AgentChunks, error_chunk, listed, shutting_down, sse

__all__ = ["ROUTES"]

# Mastra's `modelSettings` names, and ours (litellm's).
_SETTINGS = {"temperature": "temperature", "maxTokens": "max_tokens", "maxOutputTokens": "max_tokens",
             "topP": "top_p", "frequencyPenalty": "frequency_penalty", "presencePenalty": "presence_penalty",
             "stopSequences": "stop", "seed": "seed"}  # fmt: skip


def _text_of(content: Any) -> Any:
    """A message's content as our messages take it: text parts joined (Mastra's UI messages send parts)."""
    if isinstance(content, list):
        return "".join(
            part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text"
        )
    return content


def _parts(content: Any, kind: str) -> list[dict[str, Any]]:
    return [part for part in content if isinstance(part, dict) and part.get("type") == kind] if isinstance(
        content, list) else []  # fmt: skip


def _json_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _converted(message: dict[str, Any]) -> list[dict[str, Any]]:
    """One of Mastra's messages as OpenAI-format messages: tool-call parts become the assistant's `tool_calls`,
    tool-result parts one tool message each (as a client sends them back after running its own tools)."""
    content = message.get("content")
    if not isinstance(content, list):  # OpenAI's format already (text content, `tool_calls`, `tool_call_id`)
        return [{**message, "content": _text_of(content)}]
    if message["role"] == "tool":
        return [{"role": "tool", "tool_call_id": str(part.get("toolCallId")),
                 "content": _json_text(part["output"] if "output" in part else part.get("result"))}
                for part in _parts(content, "tool-result")]  # fmt: skip
    calls = [
        {"id": str(part.get("toolCallId")), "type": "function",
         "function": {"name": str(part.get("toolName")), "arguments": _json_text(part.get("args", part.get("input")))}}
        for part in _parts(content, "tool-call")
    ]  # fmt: skip
    converted = {"role": message["role"], "content": _text_of(content) or (None if calls else "")}
    if calls:
        converted["tool_calls"] = calls
    return [converted]


def _messages(data: dict[str, Any]) -> Any:
    messages = field(data, "messages", (str, list), required=True)
    if isinstance(messages, str):
        return messages
    found: list[Any] = []
    for index, message in enumerate(messages):
        if isinstance(message, str):
            found.append(message)
            continue
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise MastraError(
                ErrorKind.VALIDATION, "BODY_INVALID",
                f"`messages[{index}]` must be a string or an object with `role` and `content`.",
                details={"field": f"messages.{index}"},
            )  # fmt: skip
        found += _converted(message)
    return found


def _memory(data: dict[str, Any]) -> tuple[str | None, str | None]:
    memory = field(data, "memory", dict)
    if memory is None:
        return None, None
    thread = memory.get("thread")
    if isinstance(thread, dict):
        thread = thread.get("id")
    resource = memory.get("resource")
    for name, value in (("memory.thread", thread), ("memory.resource", resource)):
        if value is not None and not isinstance(value, str):
            raise MastraError(ErrorKind.VALIDATION, "BODY_INVALID", f"`{name}` must be a string.",
                              details={"field": name})  # fmt: skip
    return thread, resource


def _options(data: dict[str, Any]) -> dict[str, Any] | None:
    settings = field(data, "modelSettings", dict)
    if not settings:
        return None
    unknown = sorted(set(settings) - set(_SETTINGS) - {"maxRetries"})
    if unknown:
        raise MastraError(
            ErrorKind.VALIDATION, "BODY_INVALID",
            f"`modelSettings` does not know {', '.join(unknown)}; it takes {', '.join(sorted(_SETTINGS))}.",
            details={"field": "modelSettings"},
        )  # fmt: skip
    return {_SETTINGS[key]: value for key, value in settings.items() if key in _SETTINGS}


def _unsupported(data: dict[str, Any], *names: str, within: str = "") -> None:
    for name in names:
        if data.get(name):
            where = f"{within}.{name}" if within else name
            raise MastraError(
                ErrorKind.VALIDATION, "BODY_UNSUPPORTED", f"This server does not take `{where}` yet.",
                details={"field": where},
            )  # fmt: skip


# -- agents -------------------------------------------------------------------------------------------------


async def list_agents(call: Call) -> Any:
    return {name: agent_info(name, agent) for name, agent in call.hub.list_agents().items()}


async def providers(call: Call) -> Any:
    """The model providers the hub's agents use, each with its models and whether its key is set."""
    found: dict[str, set[str]] = {}
    for agent in call.hub.list_agents().values():
        if agent.model is not None:
            provider, _, model = agent.model.name.partition("/")
            found.setdefault(provider if model else "", set()).add(model or provider)
    listed = []
    for provider, models in sorted(found.items()):
        key = "" if provider in ("", "mastra") else f"{provider.upper()}_API_KEY"  # mastra/...: scripted, no key
        listed.append({"id": provider, "name": provider or "default", "envVar": key,
                       "connected": not key or bool(os.environ.get(key)), "models": sorted(models)})  # fmt: skip
    return {"providers": listed}


async def get_agent(call: Call) -> Any:
    name = call.param("agentId")
    return agent_info(name, call.hub.get_agent(name))


def _structured(data: dict[str, Any]) -> type[BaseModel] | None:
    """The model of `structuredOutput.schema` (a JSON Schema, as client-js sends a zod schema), or None."""
    asked = field(data, "structuredOutput", dict)
    if asked is None:
        return None
    _unsupported(asked, *(key for key in asked if key != "schema"), within="structuredOutput")
    return model_from_json_schema(asked.get("schema"), "StructuredOutput", where="structuredOutput.schema")


def _runs_in_client(arguments: BaseModel) -> Any:  # a client tool's stand-in: the agent never calls it
    raise MastraError(ErrorKind.DOMAIN, "TOOL_RUNS_IN_CLIENT", "This tool is run by the client that sent it.")


def _client_tools(data: dict[str, Any]) -> list[Tool] | None:
    """`clientTools` (`{name: {description, inputSchema}}`, as client-js sends them) as tools the caller runs."""
    given = field(data, "clientTools", dict)
    if not given:
        return None
    tools = []
    for name, spec in given.items():
        where = f"clientTools.{name}"
        if not isinstance(spec, dict):
            raise MastraError(ErrorKind.VALIDATION, "BODY_INVALID", f"`{where}` must be an object.",
                              details={"field": where})  # fmt: skip
        schema = spec.get("inputSchema") or spec.get("parameters") or {"type": "object", "properties": {}}
        model = model_from_json_schema(schema, f"{name}_input", where=f"{where}.inputSchema")
        description = spec.get("description") if isinstance(spec.get("description"), str) else None
        tools.append(Tool(str(spec.get("id") or name), description or f"The client's tool `{name}`.",
                          _runs_in_client, input_schema=model))  # fmt: skip
    return tools


async def _run_arguments(call: Call, agent: Agent, data: dict[str, Any]) -> dict[str, Any]:
    """The arguments of `agent.generate`/`agent.stream` from a generate or stream body."""
    _unsupported(data, "output")
    thread, resource = _memory(data)
    memory = agent.active_memory
    if memory is None:  # as Mastra does: an agent without memory answers and remembers nothing
        thread = resource = None
    elif thread is not None:
        resource = call.resource(resource)  # a confined caller's turns are in its own resource's threads
        existing = await memory.get_thread(thread)
        if existing is not None:
            call.own(existing.resource_id, "thread", thread)
    return {
        "messages": _messages(data),
        "context": call.context(data),
        "max_steps": field(data, "maxSteps", int),
        "tool_choice": field(data, "toolChoice", (str, dict)),
        "require_approval": bool(field(data, "requireToolApproval", bool)),
        "options": _options(data),
        "thread_id": thread,
        "resource_id": resource,
        "run_id": field(data, "runId", str) or uuid.uuid4().hex,
        "output": _structured(data),
        "client_tools": _client_tools(data),
    }


async def generate(call: Call) -> Any:
    agent = call.hub.get_agent(call.param("agentId"))
    arguments = await _run_arguments(call, agent, await call.json())
    return full_output(await agent.generate(arguments.pop("messages"), **arguments))


async def stream(call: Call) -> Any:
    """The run as SSE chunks, each sent as the model produces it.

    The first event is awaited before answering, so that a run refused at once (bad options, a run id in use, a
    model that cannot be reached) answers with its status and error JSON; later failures are `error` chunks.
    """
    agent = call.hub.get_agent(call.param("agentId"))
    arguments = await _run_arguments(call, agent, await call.json())
    events = agent.stream(arguments.pop("messages"), **arguments)
    first = await anext(events)
    if isinstance(first, ErrorEvent):
        raise first.error
    chunks = AgentChunks(arguments["run_id"])

    async def body() -> AsyncIterator[dict[str, Any]]:
        yield chunks.start()
        for item in chunks.of(first):
            yield item
        try:
            async for event in events:
                for item in chunks.of(event):
                    yield item
        except MastraError:
            pass  # its ErrorEvent went out as an `error` chunk just before
        except Exception as error:
            yield error_chunk(error, chunks.run_id)

    return sse(call.until_drained(body(), shutting_down(chunks.run_id)))


async def _decide(call: Call, approve: bool) -> tuple[AgentResult, str]:
    """Record the decision the body names and go on with the run; its result, and the call decided on."""
    agent = call.hub.get_agent(call.param("agentId"))
    data = await call.json()
    run_id = field(data, "runId", str, required=True)
    call_id = field(data, "toolCallId", str, required=True)
    reason = field(data, "reason", str)
    if call.tenant is not None:  # a confined caller decides on its own runs only
        stored = await call.hub.runs.agent_run(run_id)
        call.own(stored["resource_id"] if stored is not None else None, "run", run_id)
    decide = agent.approve_tool_call if approve else agent.decline_tool_call
    by = call.user.id if call.user is not None else None
    result = await decide(run_id, call_id, by=by, reason=reason, context=call.context(data, default_none=True))
    await call.audit("tool.approved" if approve else "tool.declined", "approved" if approve else "declined",
                     run_id=run_id, tool_call_id=call_id)  # fmt: skip
    return result, call_id


async def approve_generate(call: Call) -> Any:
    return full_output((await _decide(call, True))[0])


async def decline_generate(call: Call) -> Any:
    return full_output((await _decide(call, False))[0])


async def approve(call: Call) -> Any:
    result, call_id = await _decide(call, True)
    return sse(listed(AgentChunks(result.run_id).after_decision(result, call_id)))


async def decline(call: Call) -> Any:
    result, call_id = await _decide(call, False)
    return sse(listed(AgentChunks(result.run_id).after_decision(result, call_id)))


def _agent_tool(call: Call) -> Any:
    agent = call.hub.get_agent(call.param("agentId"))
    name = call.param("toolId")
    tools = agent.tools
    found = tools.get(name) or next((tool for tool in tools.values() if tool.id == name), None)
    if found is None:
        raise MastraError(
            ErrorKind.DOMAIN, "TOOL_NOT_FOUND",
            f"Agent `{agent.name}` has no tool `{name}` (its tools: {', '.join(tools) or 'none'}).",
            details={"name": name},
        )  # fmt: skip
    return found


async def get_agent_tool(call: Call) -> Any:
    return tool_info(_agent_tool(call))


async def execute_agent_tool(call: Call) -> Any:
    return await _execute(call, _agent_tool(call))


# -- tools --------------------------------------------------------------------------------------------------


def _tool(call: Call) -> Any:
    name = call.param("toolId")
    tools = call.hub.list_tools()
    if name in tools:
        return tools[name]
    for agent in call.hub.list_agents().values():  # as Mastra's server does: an agent's tool by its id
        for tool in agent.tools.values():
            if tool.id == name:
                return tool
    return call.hub.get_tool(name)  # raises TOOL_NOT_FOUND, naming the registered tools


async def list_tools(call: Call) -> Any:
    return {name: tool_info(tool) for name, tool in call.hub.list_tools().items()}


async def get_tool(call: Call) -> Any:
    return tool_info(_tool(call))


async def execute_tool(call: Call) -> Any:
    return await _execute(call, _tool(call))


async def _execute(call: Call, tool: Any) -> Any:
    data = await call.json()
    arguments = field(data, "data", dict)
    return await tool.execute(arguments or {}, call.context(data))


ROUTES = (
    Route("GET", "/agents", list_agents, "agents:read", "The agents, keyed by id."),
    Route("GET", "/agents/providers", providers, "agents:read", "The model providers the agents use."),
    Route("GET", "/agents/{agentId}", get_agent, "agents:read", "One agent."),
    Route("POST", "/agents/{agentId}/generate", generate, "agents:execute", "Run the agent to an answer."),
    Route("POST", "/agents/{agentId}/stream", stream, "agents:execute",
          "Run the agent, streaming its chunks as Server-Sent Events."),
    Route("POST", "/agents/{agentId}/approve-tool-call", approve, "agents:execute",
          "Approve a waiting tool call; the rest of the run as Server-Sent Events."),
    Route("POST", "/agents/{agentId}/decline-tool-call", decline, "agents:execute",
          "Decline a waiting tool call; the rest of the run as Server-Sent Events."),
    Route("POST", "/agents/{agentId}/approve-tool-call-generate", approve_generate, "agents:execute",
          "Approve a waiting tool call; the run goes on to its answer."),
    Route("POST", "/agents/{agentId}/decline-tool-call-generate", decline_generate, "agents:execute",
          "Decline a waiting tool call; the run goes on to its answer."),
    Route("GET", "/agents/{agentId}/tools/{toolId}", get_agent_tool, "agents:read", "One of an agent's tools."),
    Route("POST", "/agents/{agentId}/tools/{toolId}/execute", execute_agent_tool, "tools:execute",
          "Execute one of an agent's tools."),
    Route("GET", "/tools", list_tools, "tools:read", "The registered tools, keyed by id."),
    Route("GET", "/tools/{toolId}", get_tool, "tools:read", "One tool (registered, or an agent's by its id)."),
    Route("POST", "/tools/{toolId}/execute", execute_tool, "tools:execute", "Execute a tool with `data`."),
)  # fmt: skip
