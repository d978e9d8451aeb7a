"""The tools an agent offers a model, gathered from every source under names providers accept.

Sources: tools given directly (a `Tool`, a plain function, a mapping of name to tool, or a list of any of these:
a toolset), workflows (through their `as_tool()`, named `workflow_<id>`), sub-agents (a tool `agent_<name>`
taking `{prompt}`), named toolsets (`Agent(toolsets={"time": mcp})`) and per-call toolsets. A toolset may be a
*tool source*: an object with an async `tools()` method (an `MCPClient`), listed when a run first needs it. Names
are sanitized to `[a-zA-Z0-9_-]{1,64}`; two different tools ending up with one name is an error that names both
sources, never a silent override.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from ..errors import ErrorKind, MastraError, shown
from ..tools import Tool, ToolContext, sanitize, tool

if TYPE_CHECKING:
    from ..workflows import Step
    from .agent import Agent

__all__ = [
    "AgentPrompt", "AgentReply", "Toolset", "agent_step", "agent_tool", "collect", "is_source", "list_source",
    "listed_sources", "named_toolsets", "workflow_entry",
]  # fmt: skip


@dataclass(frozen=True)
class Toolset:
    """Tools by the name the model sees, their OpenAI-format definitions, and which ones need approval."""

    tools: Mapping[str, Tool]
    specs: tuple[dict[str, Any], ...]
    needs_approval: frozenset[str]

    @classmethod
    def build(cls, entries: Iterable[tuple[str, Tool, str]]) -> Toolset:
        """Build from `(name, tool, source)` entries; the source names where a tool came from in errors."""
        tools: dict[str, Tool] = {}
        sources: dict[str, str] = {}
        for name, item, source in entries:
            exposed = sanitize(name)
            existing = tools.get(exposed)
            if existing is item:
                continue  # the same tool reached twice is no conflict
            if existing is not None:
                raise MastraError(
                    ErrorKind.DOMAIN, "AGENT_TOOL_NAME_COLLISION",
                    f"Two tools would both be called `{exposed}`: {sources[exposed]} and {source}. Rename one "
                    "(`@tool(id=...)`, or pass tools as a mapping `{\"new_name\": tool}`).",
                    details={"name": exposed, "sources": [sources[exposed], source]},
                )  # fmt: skip
            tools[exposed] = item
            sources[exposed] = source
        specs = tuple(
            {"type": "function",
             "function": {"name": name, "description": item.description, "parameters": item.json_schema()}}
            for name, item in tools.items()
        )  # fmt: skip
        approval = frozenset(name for name, item in tools.items() if getattr(item, "requires_approval", False))
        return cls(tools, specs, approval)

    def merged(self, entries: Iterable[tuple[str, Tool, str]]) -> Toolset:
        """This toolset plus more entries (a call's `toolsets=`), with the same collision rule."""
        extra = list(entries)
        if not extra:
            return self
        return Toolset.build([*((n, t, "the agent's tools") for n, t in self.tools.items()), *extra])


def collect(items: Any, source: str) -> Iterator[tuple[str, Tool, str]]:
    """Entries from a `Tool`, a function, a mapping of name to either, or a (nested) list of these."""
    if items is None:
        return
    if isinstance(items, Tool):
        yield items.id, items, f"{source} (`{items.id}`)"
    elif isinstance(items, Mapping):
        for name, item in items.items():
            if not isinstance(name, str) or not name:
                raise _invalid(f"{source} maps names to tools; {name!r} is not a name.")
            yield name, _as_tool(item, source), f"{source} (key `{name}`)"
    elif callable(items):
        converted = tool(items)
        yield converted.id, converted, f"{source} (function `{converted.id}`)"
    elif isinstance(items, Iterable) and not isinstance(items, (str, bytes)):
        for item in items:
            yield from collect(item, source)
    else:
        raise _invalid(
            f"{source} takes tools (`@tool` functions or `Tool`s), mappings or lists of them; got {shown(items, 80)}."
        )


def is_source(item: Any) -> bool:
    """Whether `item` is a tool source: not a tool, but an object whose async `tools()` lists some."""
    return not isinstance(item, Tool) and inspect.iscoroutinefunction(getattr(item, "tools", None))


def named_toolsets(toolsets: Any, where: str) -> tuple[list[tuple[str, Tool, str]], dict[str, Any]]:
    """`{name: toolset}` as the entries of its tools at hand, and the tool sources to list later, by name."""
    if toolsets is None:
        return [], {}
    if not isinstance(toolsets, Mapping):
        raise _invalid(f"{where} maps a toolset's name to its tools or to a tool source (an `MCPClient`); "
                       f"got {shown(toolsets, 80)}.")  # fmt: skip
    entries: list[tuple[str, Tool, str]] = []
    sources: dict[str, Any] = {}
    for name, items in toolsets.items():
        if not isinstance(name, str) or not name:
            raise _invalid(f"{where} maps names to toolsets; {name!r} is not a name.")
        if is_source(items):
            sources[name] = items
        else:
            entries += collect(items, f"toolset `{name}`")
    return entries, sources


async def list_source(name: str, source: Any, owner: str) -> list[tuple[str, Tool, str]]:
    """The entries of a tool source's tools, listed now.

    Raises:
        MastraError: the source's own error, saying which toolset of which agent could not be listed.
    """
    try:
        listed = await source.tools()
    except MastraError as error:
        raise MastraError(error.kind, error.code, f"Toolset `{name}` of {owner} cannot be listed: {error.message}",
                          details=error.details, retryable=error.retryable) from None  # fmt: skip
    return list(collect(listed, f"toolset `{name}`"))


async def listed_sources(toolsets: Any, owner: str) -> Any:
    """A call's `toolsets=` with each tool source replaced by its tools (listed now), in the form `collect` takes:
    a list of the sources' tools and a mapping of the rest."""
    if not isinstance(toolsets, Mapping) or not any(is_source(items) for items in toolsets.values()):
        return toolsets
    listed = [entry[1] for name, items in toolsets.items() if is_source(items)
              for entry in await list_source(name, items, owner)]  # fmt: skip
    return [listed, {name: items for name, items in toolsets.items() if not is_source(items)}]


def _as_tool(item: Any, source: str) -> Tool:
    if isinstance(item, Tool):
        return item
    if callable(item):
        return tool(item)
    raise _invalid(f"{source} holds {type(item).__name__} {shown(item)}, which is not a tool or a function.")


def workflow_entry(workflow: Any) -> tuple[str, Tool, str]:
    """The tool that runs a workflow (its `as_tool()`, named `workflow_<id>`)."""
    as_tool: Callable[[], Any] | None = getattr(workflow, "as_tool", None)
    if not callable(as_tool):
        raise _invalid(f"`workflows=` takes workflows (objects with `as_tool()`), got {type(workflow).__name__}.")
    made = as_tool()
    if not isinstance(made, Tool):
        raise _invalid(f"`{type(workflow).__name__}.as_tool()` returned {type(made).__name__}, not a `Tool`.")
    return made.id, made, f"workflow `{getattr(workflow, 'id', made.id)}`"


class AgentPrompt(BaseModel):
    """What a coordinator (or a workflow step) asks an agent."""

    prompt: str = Field(description="The task or question for this agent, with everything it needs to know.")


class AgentReply(BaseModel):
    """An agent's answer as a workflow step's output."""

    text: str


def agent_tool(agent: Agent) -> Tool:
    """The tool `agent_<name>` through which a coordinator delegates to `agent`.

    The sub-agent runs with the caller's runtime context; the tool returns its validated `output=` object when
    it has one, else its text, or the pending approvals when the sub-agent paused for them.
    """

    async def delegate(request: AgentPrompt, context: ToolContext) -> Any:
        result = await agent.generate(request.prompt, context=context.runtime_context)
        if result.pending_approvals:
            return {
                "status": "approval_required", "run_id": result.run_id, "agent": agent.name,
                "pending": [{"call_id": p.call_id, "tool": p.tool} for p in result.pending_approvals],
            }  # fmt: skip
        return result.object if result.object is not None else result.text

    description = agent.description or f"Delegate a task to the agent `{agent.name}`; it answers in text."
    return Tool(sanitize(f"agent_{agent.name}"), description, delegate, input_schema=AgentPrompt)


def agent_step(agent: Agent) -> Step:
    """The workflow step that asks `agent` (`agent.as_step()`): `{"prompt"}` in, `{"text"}` out."""
    from ..workflows import Step, StepContext  # loaded when asked: an agent without workflows never needs them

    async def ask(data: AgentPrompt, ctx: StepContext) -> AgentReply:
        result = await agent.generate(data.prompt, context=ctx.runtime_context)
        return AgentReply(text=result.text)

    return Step(sanitize(agent.name), ask, input=AgentPrompt, output=AgentReply, description=agent.description)


def _invalid(message: str) -> MastraError:
    return MastraError(ErrorKind.VALIDATION, "AGENT_DEFINITION_INVALID", f"`Agent`: {message}")
