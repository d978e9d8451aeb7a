"""`Agent`: instructions, a model and tools, driven by the tool loop in `_loop`.

An agent is a definition; each `generate` or `stream` call is a run with its own id. What a run needs from the
hub (storage for approvals and recordings, the default model, timeouts and step cap from the config) is read
when the run starts, so an agent works on its own and picks these up once registered with `Mastra(agents=...)`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from .. import structured
from ..context import RuntimeContext
from ..errors import MastraError
from ..evals.attach import attached_scorers, score_agent_run
from ..limits import check_id
from ..memory import Memory
from ..models.model import Model
from ..models.recording import RecordMode, check_mode
from ..models.types import Message
from ..telemetry import spans
from ..tools import Tool, sanitize
from . import _inputs
from ._approval import Approvals, resume
from ._loop import drain, run_loop
from ._options import RunOptions, StepHook, model_of, recorder_of
from ._prompt import remember, start_run
from ._toolset import (
    Toolset,
    agent_step,
    agent_tool,
    collect,
    list_source,
    listed_sources,
    named_toolsets,
    workflow_entry,
)  # fmt: skip
from .results import AgentEvent, AgentResult, AgentStream, ErrorEvent, FinishEvent, PendingApproval

if TYPE_CHECKING:
    from ..mastra import Mastra
    from ..workflows import Step

__all__ = ["Agent"]

Instructions = str | Callable[[RuntimeContext], "str | Awaitable[str]"]


class Agent:
    """An agent: a model that answers with the help of tools, workflows and other agents.

    Args:
        name: how the hub, other agents and the model's tool list refer to it.
        instructions: the system prompt, or a function of the `RuntimeContext` returning it (sync or async).
        model: a litellm model string (`"openai/gpt-4o-mini"`), a `Model`, or a `ScriptedModel`; None takes the
            hub's `config.default_model` (`MASTRA_DEFAULT_MODEL`).
        tools: `@tool` functions, `Tool`s, plain functions, mappings of name to tool, or lists of these (toolsets).
        toolsets: more tools by toolset name: `{"maths": [add], "time": mcp}`, each in any form `tools=` takes or
            a tool source (an object with an async `tools()`, such as an `MCPClient`), whose tools are listed when
            a run first needs them (`await agent.list_tools()` lists them at once).
        workflows: workflows the model may start, each exposed through its `as_tool()` as `workflow_<id>`.
        agents: sub-agents the model may delegate to, each exposed as a tool `agent_<name>` taking `{prompt}`.
        max_steps: the most model calls in one run; None takes the hub's `config.max_steps` (10).
        tool_choice: "auto", "none", "required", or a tool's name to force that tool.
        description: what the agent does, for a coordinator's model that may delegate to it.
        default_options: provider options for every call (temperature, max_tokens, seed, ...).
        record: record/replay mode of its model calls ("off", "record", "replay", "auto"); None takes the hub's
            `config.record_mode`.
        scorers: `Scorer`s that judge each finished run in the background (`scorer.sample(0.1)` judges one run in
            ten); scores are stored in the hub's `scores` table with the run's trace.

        memory: a `Memory` that keeps conversations: pass `thread_id=` (and `resource_id=` for a new thread) to
            `generate`/`stream` to use it; None takes the hub's `Mastra(memory=...)`, if any.

    Raises:
        MastraError: validation `AGENT_DEFINITION_INVALID`, or domain `AGENT_TOOL_NAME_COLLISION` when two sources
            would give the model two tools of one name.
    """

    def __init__(
        self,
        name: str,
        instructions: Instructions = "",
        model: str | Model | None = None,
        *,
        tools: Any = (),
        toolsets: Mapping[str, Any] | None = None,
        workflows: Iterable[Any] = (),
        agents: Iterable[Agent] = (),
        max_steps: int | None = None,
        tool_choice: str | dict[str, Any] | None = None,
        description: str | None = None,
        default_options: Mapping[str, Any] | None = None,
        record: RecordMode | None = None,
        scorers: Iterable[Any] = (),
        memory: Memory | None = None,
    ) -> None:
        self.model: Model | None = _inputs.check_definition(name, instructions, model, memory)
        self.name = name
        self.instructions = instructions
        self.max_steps = _inputs.check_steps(max_steps)
        self.tool_choice = tool_choice
        self.description = description
        self.default_options: dict[str, Any] = dict(default_options or {})
        self.record: RecordMode | None = None if record is None else check_mode(record, "`Agent(record=...)`")
        self.scorers = attached_scorers(scorers, f"`Agent({name!r}, scorers=...)`")
        self.memory = memory
        self.agents: tuple[Agent, ...] = tuple(agents)
        for sub in self.agents:
            if not isinstance(sub, Agent):
                raise _inputs.invalid(f"`agents=` takes `Agent`s, got {type(sub).__name__}.")
        self.workflows: tuple[Any, ...] = tuple(workflows)
        named, self._sources = named_toolsets(toolsets, "`Agent(toolsets=...)`")
        own = [*collect(tools, "`tools=`"), *named]
        self._own_tools = [entry[1] for entry in own]
        delegated = [(t.id, t, f"sub-agent `{sub.name}`") for sub in self.agents for t in [agent_tool(sub)]]
        self._toolset = Toolset.build([*own, *(workflow_entry(w) for w in self.workflows), *delegated])
        self._sourced: list[Tool] | None = None if self._sources else []  # the sources' tools, once listed
        self._hub: Mastra | None = None
        self._busy: set[str] = set()  # runs being resumed by this process

    # -- the hub ----------------------------------------------------------------------------------------------

    def bind(self, mastra: Mastra) -> Agent:
        """Attach the agent to a hub (`Mastra.add_agent` calls this), with its tools and sub-agents.

        Its tools then report `tool:*` events to this hub and take its timeout. A tool or sub-agent shared with
        another hub follows the latest registration, as `Tool.bind` does: re-running a notebook cell that builds a
        new hub moves them to the new one.
        """
        self._hub = mastra
        if self.memory is not None:
            self.memory.bind(mastra)
        for item in [*self._own_tools, *(self._sourced or [])]:
            item.bind(mastra)
        for sub in self.agents:
            sub.bind(mastra)
        return self

    @property
    def mastra(self) -> Mastra | None:
        return self._hub

    @property
    def tools(self) -> dict[str, Tool]:
        """The tools the model sees, by the name it sees them under (a tool source's once listed)."""
        return dict(self._toolset.tools)

    async def list_tools(self) -> dict[str, Tool]:
        """The tools the model sees, listing the toolsets' tool sources first if no run has yet.

        Raises:
            MastraError: a source that cannot be listed (its error, naming the toolset); the next call tries again.
        """
        if self._sourced is None:
            entries = [entry for name, source in self._sources.items()
                       for entry in await list_source(name, source, f"agent `{self.name}`")]  # fmt: skip
            if self._sourced is None:  # else another run listed them while this one waited: keep those
                self._toolset = self._toolset.merged(entries)  # first: a collision leaves them to be listed again
                self._sourced = [entry[1] for entry in entries]
                if self._hub is not None:
                    for item in self._sourced:
                        item.bind(self._hub)
        return self.tools

    # -- runs -------------------------------------------------------------------------------------------------

    async def generate(
        self,
        messages: str | Message | Sequence[str | Message],
        *,
        output: type[BaseModel] | None = None,
        context: RuntimeContext | Mapping[str, Any] | None = None,
        max_steps: int | None = None,
        tool_choice: str | dict[str, Any] | None = None,
        on_step_finish: StepHook | None = None,
        toolsets: Any = None,
        require_approval: bool = False,
        options: Mapping[str, Any] | None = None,
        thread_id: str | None = None,
        resource_id: str | None = None,
        run_id: str | None = None,
        client_tools: Any = None,
    ) -> AgentResult:
        """Run the agent to an answer.

        Args:
            messages: a user message, one OpenAI-format message, or a list of either.
            output: a pydantic model the answer must match; the result's `object` is the validated instance.
            context: the runtime context for instructions, tools, workflows and sub-agents (default: the active one).
            max_steps: overrides the agent's cap on model calls.
            tool_choice: overrides the agent's tool choice.
            on_step_finish: called (sync or async) with each `AgentStep`.
            toolsets: more tools for this call only, in any form `tools=` takes.
            require_approval: every tool call of this run waits for `approve_tool_call`/`decline_tool_call`.
            options: provider options for this call, over `default_options`.
            thread_id: the memory thread of this conversation: its history, working memory and recalled messages
                go into the prompt, and the turn is saved to it. Needs the agent's (or the hub's) `Memory`.
            resource_id: who the thread belongs to (a user, an account); needed to create a new thread. Threads of
                one resource share working memory and recall.
            run_id: the run's id (a new one by default), which approvals and traces name; a server chooses it so
                that every chunk of a stream can carry it. An id a stored paused run has is refused.
            client_tools: tools (in any form `tools=` takes) that the caller runs itself, as Mastra's client runs
                its `clientTools`: the model sees them, and a step that calls one ends the run with finish reason
                "tool_calls" and its calls (the step's other calls run as usual), for the caller to run them and
                call again with the results. Their functions are never called here.

        Raises:
            MastraError: model errors (`MODEL_*`, after retries and fallbacks), `AGENT_OUTPUT_INVALID`, or
                configuration errors. Tool errors do not raise: the model reads them and the loop goes on.
        """
        await self.list_tools()
        toolsets = await listed_sources(toolsets, "this call")
        run_options = self._options(
            output=output, context=context, max_steps=max_steps, tool_choice=tool_choice, options=options,
            toolsets=toolsets, require_approval=require_approval, on_step_finish=on_step_finish,
            thread_id=thread_id, resource_id=resource_id, run_id=run_id, client_tools=client_tools, stream=False,
        )  # fmt: skip
        run = await start_run(self, messages, run_options)
        with spans.agent_run(self, run, messages) as span:
            result = await drain(run)
            spans.agent_result(span, result)
            await remember(run, result)
        score_agent_run(self, messages, result, span)
        return result

    def stream(
        self,
        messages: str | Message | Sequence[str | Message],
        *,
        output: type[BaseModel] | None = None,
        context: RuntimeContext | Mapping[str, Any] | None = None,
        max_steps: int | None = None,
        tool_choice: str | dict[str, Any] | None = None,
        on_step_finish: StepHook | None = None,
        toolsets: Any = None,
        require_approval: bool = False,
        options: Mapping[str, Any] | None = None,
        thread_id: str | None = None,
        resource_id: str | None = None,
        run_id: str | None = None,
        client_tools: Any = None,
    ) -> AgentStream:
        """Run the agent, streaming: `async for event in agent.stream(...)`. Arguments are those of `generate`.

        Events: `TextDeltaEvent`, `ToolCallEvent`, `ToolResultEvent`, `ApprovalRequiredEvent`, `StepFinishEvent`,
        then `FinishEvent` with the `AgentResult`; a failed run yields an `ErrorEvent` and raises its error.
        """

        async def events() -> AsyncIterator[AgentEvent]:
            try:
                await self.list_tools()
                run_options = self._options(
                    output=output, context=context, max_steps=max_steps, tool_choice=tool_choice, options=options,
                    toolsets=await listed_sources(toolsets, "this call"), require_approval=require_approval,
                    on_step_finish=on_step_finish,
                    thread_id=thread_id, resource_id=resource_id, run_id=run_id, client_tools=client_tools,
                    stream=True,
                )  # fmt: skip
                run = await start_run(self, messages, run_options)
                with spans.agent_run(self, run, messages) as span:
                    async for event in run_loop(run):
                        if isinstance(event, FinishEvent):
                            spans.agent_result(span, event.result)
                            await remember(run, event.result)
                            score_agent_run(self, messages, event.result, span)
                        yield event
            except MastraError as error:
                yield ErrorEvent(error)
                raise

        return AgentStream(events())

    # -- approvals --------------------------------------------------------------------------------------------

    async def approve_tool_call(
        self,
        run_id: str,
        call_id: str,
        *,
        by: str | None = None,
        reason: str | None = None,
        output: type[BaseModel] | None = None,
        context: RuntimeContext | Mapping[str, Any] | None = None,
        toolsets: Any = None,
        on_step_finish: StepHook | None = None,
    ) -> AgentResult:
        """Approve a waiting tool call; once every waiting call of the run is decided, the run goes on.

        Works in another process than the one that paused the run, given the same storage.

        Args:
            run_id: the paused run (`result.run_id`).
            call_id: the call (`result.pending_approvals[i].call_id`).
            by: who decided, for the approval record.
            reason: why, for the record (and, on a decline, for the model).
            output: the run's `output=` model again, when it had one (a class cannot be stored).
            context: the runtime context to go on with (default: the stored one, as JSON).
            toolsets: the run's per-call `toolsets=` again, when it had them.
            on_step_finish: called with each step from here on.

        Returns:
            The run's result: finished, or still `approval_required` when other calls wait.

        Raises:
            MastraError: `AGENT_RUN_NOT_FOUND`, `AGENT_RUN_OTHER_AGENT`, `AGENT_RUN_NOT_AWAITING`,
                `AGENT_TOOL_CALL_NOT_PENDING`, `AGENT_OUTPUT_REQUIRED`, or what the resumed run raises.
        """
        return await resume(self, run_id, call_id, "approved", by=by, reason=reason, output=output, context=context,
                            toolsets=toolsets, on_step_finish=on_step_finish)  # fmt: skip

    async def decline_tool_call(
        self,
        run_id: str,
        call_id: str,
        *,
        by: str | None = None,
        reason: str | None = None,
        output: type[BaseModel] | None = None,
        context: RuntimeContext | Mapping[str, Any] | None = None,
        toolsets: Any = None,
        on_step_finish: StepHook | None = None,
    ) -> AgentResult:
        """Decline a waiting tool call: it is not run, and the model is told so (with `reason`, if given).

        Arguments, result and errors are those of `approve_tool_call`.
        """
        return await resume(self, run_id, call_id, "declined", by=by, reason=reason, output=output, context=context,
                            toolsets=toolsets, on_step_finish=on_step_finish)  # fmt: skip

    async def pending_approvals(self) -> list[PendingApproval]:
        """Every tool call of this agent's runs that waits for a decision, in the hub's storage."""
        return await Approvals.of(self).waiting()

    async def approval_records(self, run_id: str) -> list[dict[str, Any]]:
        """The stored decisions on a run's tool calls: call, tool, arguments, decision, by, reason, at."""
        return await Approvals.of(self).records(run_id)

    # -- internals --------------------------------------------------------------------------------------------

    @property
    def active_memory(self) -> Memory | None:
        """The memory this agent's turns use: its own, else its hub's (`Mastra(memory=...)`), else None."""
        if self.memory is not None:
            return self.memory
        return self._hub.memory if self._hub is not None else None

    def _options(
        self,
        *,
        output: type[BaseModel] | None,
        context: RuntimeContext | Mapping[str, Any] | None,
        max_steps: int | None,
        tool_choice: str | dict[str, Any] | None,
        options: Mapping[str, Any] | None,
        toolsets: Any,
        require_approval: bool,
        on_step_finish: StepHook | None,
        thread_id: str | None,
        resource_id: str | None,
        stream: bool,
        run_id: str | None = None,
        client_tools: Any = None,
    ) -> RunOptions:
        """A run's options: a call's arguments over this agent's defaults and its hub's config."""
        hub = self._hub
        output = structured.check_output(output)
        run_context = _inputs.runtime_context(context)
        max_steps = (
            _inputs.check_steps(max_steps) or self.max_steps or (hub.config.max_steps if hub is not None else 10)
        )
        toolset = self._toolset.merged(collect(toolsets, "`toolsets=`")) if toolsets is not None else self._toolset
        external = list(collect(client_tools, "`client_tools=`")) if client_tools is not None else []
        toolset = toolset.merged(external)
        # Checked now, before any tool runs: a run that may pause needs the hub's storage.
        approvals = Approvals.of(self) if require_approval or toolset.needs_approval else None
        return RunOptions(
            agent=self.name,
            model=model_of(self),
            toolset=toolset,
            tool_choice=tool_choice if tool_choice is not None else self.tool_choice,
            max_steps=max_steps,
            provider_options={**self.default_options, **(options or {})},
            output=output,
            context=run_context,
            require_approval=bool(require_approval),
            on_step_finish=on_step_finish,
            stream=stream,
            timeout=hub.config.model_timeout if hub is not None else None,
            recorder=recorder_of(self),
            approvals=approvals,
            thread_id=thread_id,
            resource_id=resource_id,
            run_id=None if run_id is None else check_id(run_id, "run_id", "RUN_ID_INVALID"),
            client_tools=frozenset(sanitize(name) for name, _, _ in external),
        )

    def as_step(self) -> Step:
        """A workflow step that asks this agent: input `{"prompt": str}`, output `{"text": str}`, with the run's
        runtime context. `workflow.then(agent)` uses it."""
        return agent_step(self)

    def __repr__(self) -> str:
        model = self.model.name if self.model is not None else "<hub default>"
        return f"Agent({self.name!r}, model={model!r}, tools={sorted(self._toolset.tools)})"

    def _repr_html_(self) -> str:
        from ..display.reprs import agent_html  # imported on first display: import mastra_nb stays light

        return agent_html(self)
