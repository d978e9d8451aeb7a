"""The prompt a run starts from, built before the run in one place that `generate` and `stream` share.

The model's first request reads, in order: the system prompt (the agent's instructions, or what its function of the
runtime context returns, plus the output schema when the model cannot take one as a response format), memory's
context messages (working memory, recalled messages, the thread's history), then the caller's messages; and it
offers the agent's tools, the call's `toolsets=` and memory's (`update_working_memory`). A run that goes on after
approval starts from its stored messages instead and gets memory's tools again (`resumed_turn`). Either way the turn
is saved to its thread once the run has finished (`remember`).
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .. import structured
from ..errors import ErrorKind, MastraError
from ..memory.turn import MemoryTurn, begin_turn, turn_tools
from ..models.types import Message
from . import _inputs
from ._loop import AgentRun, RunState
from ._options import RunOptions
from ._toolset import collect
from .results import AgentResult

if TYPE_CHECKING:
    from .agent import Agent

__all__ = ["make_run", "remember", "resumed_turn", "start_run"]


async def start_run(agent: Agent, messages: str | Message | Sequence[str | Message], options: RunOptions) -> AgentRun:
    """A new run of `agent`: its prompt and tools, ready for the loop."""
    conversation = _inputs.messages(messages)
    run_id = options.run_id or uuid.uuid4().hex
    hub = agent.mastra
    if options.run_id is not None and hub is not None and await hub.runs.agent_run(run_id) is not None:
        # A paused run is stored under its id: a new run under the same id would take it over.
        raise MastraError(
            ErrorKind.DOMAIN, "AGENT_RUN_EXISTS", f"A run `{run_id}` is already stored; choose another `run_id`.",
            details={"run_id": run_id},
        )  # fmt: skip
    turn = await _memory_turn(agent, options, conversation)
    run = make_run(options, RunState(run_id, conversation), turn)
    system = await _system_prompt(agent, options)
    conversation[:0] = ([{"role": "system", "content": system}] if system else []) + (turn.context if turn else [])
    if turn is not None:  # kept with a run that pauses for approval, so that its end is saved too
        run.memory = {"thread_id": turn.thread.id, "resource_id": turn.thread.resource_id,
                      "start": len(conversation) - len(turn.inputs)}  # fmt: skip
    return run


def make_run(
    options: RunOptions, state: RunState, turn: MemoryTurn | None, memory: dict[str, Any] | None = None
) -> AgentRun:
    """A run with the tools the model sees (the options' and memory's) and its tool choice in the provider's form."""
    toolset = options.toolset
    if turn is not None and turn.tools:
        toolset = toolset.merged(collect(turn.tools, "`toolsets=`"))
    tool_choice = _inputs.tool_choice(options.tool_choice, toolset)
    return AgentRun(options=options, toolset=toolset, tool_choice=tool_choice, state=state, turn=turn, memory=memory)


async def resumed_turn(agent: Agent, options: RunOptions) -> MemoryTurn | None:
    """The memory turn of a run that paused for approval, in its thread (`options.thread_id`): memory's tools, no
    context (the stored messages have it)."""
    memory = agent.active_memory
    if options.thread_id is None or memory is None:
        return None
    thread = await memory.thread_for(options.thread_id, options.resource_id)
    return MemoryTurn(memory, thread, [], tools=turn_tools(memory, thread))


async def remember(run: AgentRun, result: AgentResult) -> None:
    """Save a finished turn to its memory thread; a run paused for approval is saved once its last call is
    decided."""
    if run.turn is None or run.memory is None or result.finish_reason == "approval_required":
        return
    await run.turn.finish(run.state.messages[run.memory["start"] :], result.text, run.model)


async def _memory_turn(agent: Agent, options: RunOptions, inputs: list[Message]) -> MemoryTurn | None:
    memory = agent.active_memory
    if options.thread_id is None:
        if options.resource_id is not None:
            raise _inputs.invalid("`resource_id=` needs `thread_id=` too: memory keeps turns in a thread.")
        return None
    if memory is None:
        raise MastraError(
            ErrorKind.VALIDATION, "AGENT_MEMORY_MISSING",
            f"Agent `{agent.name}` has no memory to keep thread `{options.thread_id}`: pass "
            "`Agent(..., memory=Memory())` or `Mastra(memory=Memory())`.",
        )  # fmt: skip
    return await begin_turn(memory, options.thread_id, options.resource_id, list(inputs))


async def _system_prompt(agent: Agent, options: RunOptions) -> str:
    made: Any = agent.instructions
    if callable(made):
        made = made(options.context)
        if inspect.isawaitable(made):
            made = await made
        if not isinstance(made, str):
            raise _inputs.invalid(f"`instructions` of `{agent.name}` returned {type(made).__name__}, not a str.")
    prompt: str = made
    if options.output is not None and not options.model.supports_json_schema():
        prompt = f"{prompt}\n\n{structured.schema_prompt(options.output)}".strip()
    return prompt
