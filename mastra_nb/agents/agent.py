"""`Agent`: instructions, a model and tools, driven by the tool loop in `_loop`.

An agent is a definition; each `generate` or `stream` call is a run with its own id. What a run needs from the
hub (storage for approvals and recordings, the default model, timeouts and step cap from the config) is read
when the run starts, so an agent works on its own and picks these up once registered with `Mastra(agents=...)`.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from .. import structured
from ..context import RuntimeContext
from ..errors import ErrorKind, MastraError, shown
from ..evals.attach import attached_scorers, score_agent_run
from ..memory import Memory
from ..memory.turn import MemoryTurn, begin_turn, turn_tools
from ..models.model import Model
from ..models.recording import Recorder, RecordMode, check_mode
from ..models.types import Message
from ..redaction import redact
from ..telemetry import spans
from ..tools import Tool, sanitize
from . import _inputs
from ._approval import Approvals, Decision, restore_steps
from ._loop import PausedStep, Run, RunState, StepHook, arguments_of, build_result, run_loop
from ._toolset import AgentPrompt, AgentReply, Toolset, agent_tool, collect, workflow_entry
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
        if not isinstance(name, str) or not name.strip():
            raise _inputs.invalid(f"`name` must be a non-empty str, got {name!r}.")
        if not isinstance(instructions, str) and not callable(instructions):
            raise _inputs.invalid(
                f"`instructions` must be a str or a function of the runtime context, got {shown(instructions)}."
            )
        self.name = name
        self.instructions = instructions
        self.model: Model | None = Model(model) if isinstance(model, str) else model
        if self.model is not None and not isinstance(self.model, Model):
            raise _inputs.invalid(f"`model` must be a litellm model string or a `Model`, got {type(model).__name__}.")
        self.max_steps = _inputs.check_steps(max_steps)
        self.tool_choice = tool_choice
        self.description = description
        self.default_options: dict[str, Any] = dict(default_options or {})
        self.record: RecordMode | None = None if record is None else check_mode(record, "`Agent(record=...)`")
        self.scorers = attached_scorers(scorers, f"`Agent({name!r}, scorers=...)`")
        if memory is not None and not isinstance(memory, Memory):
            raise _inputs.invalid(f"`memory=` takes a `Memory`, got {type(memory).__name__}.")
        self.memory = memory
        self.agents: tuple[Agent, ...] = tuple(agents)
        for sub in self.agents:
            if not isinstance(sub, Agent):
                raise _inputs.invalid(f"`agents=` takes `Agent`s, got {type(sub).__name__}.")
        self.workflows: tuple[Any, ...] = tuple(workflows)
        own = list(collect(tools, "`tools=`"))
        self._own_tools = [entry[1] for entry in own]
        delegated = [(t.id, t, f"sub-agent `{sub.name}`") for sub in self.agents for t in [agent_tool(sub)]]
        self._toolset = Toolset.build([*own, *(workflow_entry(w) for w in self.workflows), *delegated])
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
        for item in self._own_tools:
            item.bind(mastra)
        for sub in self.agents:
            sub.bind(mastra)
        return self

    @property
    def mastra(self) -> Mastra | None:
        return self._hub

    @property
    def tools(self) -> dict[str, Tool]:
        """The tools the model sees, by the name it sees them under."""
        return dict(self._toolset.tools)

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
    ) -> AgentResult:
        """Run the agent to an answer.

        Args:
            messages: a user message, one OpenAI-format message, or a list of either.
            output: a pydantic model the answer must match; the result's `object` is the validated instance.
            context: the runtime context for instructions, tools, workflows and sub-agents (default: the active one).
            max_steps: overrides the agent's cap on model calls.
            tool_choice: overrides the agent's tool choice.
            on_step_finish: called (sync or async) with each `StepResult`.
            toolsets: more tools for this call only, in any form `tools=` takes.
            require_approval: every tool call of this run waits for `approve_tool_call`/`decline_tool_call`.
            options: provider options for this call, over `default_options`.
            thread_id: the memory thread of this conversation: its history, working memory and recalled messages
                go into the prompt, and the turn is saved to it. Needs the agent's (or the hub's) `Memory`.
            resource_id: who the thread belongs to (a user, an account); needed to create a new thread. Threads of
                one resource share working memory and recall.

        Raises:
            MastraError: model errors (`MODEL_*`, after retries and fallbacks), `AGENT_OUTPUT_INVALID`, or
                configuration errors. Tool errors do not raise: the model reads them and the loop goes on.
        """
        run, turn = await self._start(messages, output, context, max_steps, tool_choice, on_step_finish, toolsets,
                                      require_approval, options, thread_id, resource_id, stream=False)  # fmt: skip
        with spans.agent_run(self, run, messages) as span:
            result = await _drain(run_loop(run))
            spans.agent_result(span, result)
            await _remember(turn, run, result)
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
    ) -> AgentStream:
        """Run the agent, streaming: `async for event in agent.stream(...)`. Arguments are those of `generate`.

        Events: `TextDeltaEvent`, `ToolCallEvent`, `ToolResultEvent`, `ApprovalRequiredEvent`, `StepFinishEvent`,
        then `FinishEvent` with the `AgentResult`; a failed run yields an `ErrorEvent` and raises its error.
        """

        async def events() -> AsyncIterator[AgentEvent]:
            try:
                run, turn = await self._start(messages, output, context, max_steps, tool_choice, on_step_finish,
                                              toolsets, require_approval, options, thread_id, resource_id,
                                              stream=True)  # fmt: skip
                with spans.agent_run(self, run, messages) as span:
                    async for event in run_loop(run):
                        if isinstance(event, FinishEvent):
                            spans.agent_result(span, event.result)
                            await _remember(turn, run, event.result)
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
        return await self._decide(run_id, call_id, "approved", by, reason, output, context, toolsets, on_step_finish)

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
        return await self._decide(run_id, call_id, "declined", by, reason, output, context, toolsets, on_step_finish)

    async def pending_approvals(self) -> list[PendingApproval]:
        """Every tool call of this agent's runs that waits for a decision, in the hub's storage."""
        return await self._approvals().waiting()

    async def approval_records(self, run_id: str) -> list[dict[str, Any]]:
        """The stored decisions on a run's tool calls: call, tool, arguments, decision, by, reason, at."""
        return await self._approvals().records(run_id)

    async def _decide(
        self,
        run_id: str,
        call_id: str,
        decision: Decision,
        by: str | None,
        reason: str | None,
        output: type[BaseModel] | None,
        context: RuntimeContext | Mapping[str, Any] | None,
        toolsets: Any,
        on_step_finish: StepHook | None,
    ) -> AgentResult:
        approvals = self._approvals()
        output = structured.check_output(output)
        if run_id in self._busy:
            raise MastraError(ErrorKind.DOMAIN, "AGENT_RUN_BUSY", f"Run `{run_id}` is being resumed; wait for it.")
        self._busy.add(run_id)
        try:
            wanted = (await approvals.load(run_id))["settings"]["output"]
            if wanted is not None and output is None:  # checked before the decision is recorded
                raise MastraError(
                    ErrorKind.VALIDATION,
                    "AGENT_OUTPUT_REQUIRED",
                    f"Run `{run_id}` was started with `output={wanted}`; pass `output=` again to decide on it.",
                )
            stored = await approvals.decide(run_id, call_id, decision, by, reason)
            settings = stored["settings"]
            turn = await self._resumed_turn(settings.get("memory"))
            if turn is not None and turn.tools:
                toolsets = [turn.tools, toolsets] if toolsets is not None else turn.tools
            steps, usage = restore_steps(stored)
            state = RunState(run_id, stored["messages"], steps, usage, stored["model"],
                             PausedStep.from_dict(stored["paused"]))  # fmt: skip
            ctx = _inputs.runtime_context(context if context is not None else RuntimeContext(settings["context"]))
            run = self._run(state, ctx, settings["max_steps"], settings["tool_choice"], settings["options"], output,
                            toolsets, settings["require_approval"], on_step_finish, stream=False)  # fmt: skip
            if stored["status"] == "awaiting_approval":  # other calls of the run still wait
                calls = state.paused.response.tool_calls if state.paused else ()
                decisions = stored["paused"]["decisions"]
                waiting = [PendingApproval(run_id, c.id, c.name, arguments_of(c)) for c in calls
                           if c.id in decisions and decisions[c.id] is None]  # fmt: skip
                return build_result(run, "approval_required", state.paused.response.text if state.paused else "",
                                    pending=waiting)  # fmt: skip
            try:
                with spans.agent_run(self, run, None) as span:
                    result = await _drain(run_loop(run))
                    spans.agent_result(span, result)
            except BaseException as error:  # a failed or interrupted resume must not stay "resuming" for ever
                failure = error.to_dict() if isinstance(error, MastraError) else {"exception": redact(repr(error))}
                await approvals.finish(run_id, "failed", failure)
                raise
            if result.finish_reason != "approval_required":
                await approvals.finish(run_id, "completed")
                if turn is not None:  # saved to its thread now that it has finished
                    start = settings["memory"]["start"]
                    await turn.finish(run.state.messages[start:], result.text, run.model)
            return result
        finally:
            self._busy.discard(run_id)

    # -- internals --------------------------------------------------------------------------------------------

    async def _start(
        self,
        messages: Any,
        output: Any,
        context: RuntimeContext | Mapping[str, Any] | None,
        max_steps: int | None,
        tool_choice: str | dict[str, Any] | None,
        on_step_finish: StepHook | None,
        toolsets: Any,
        require_approval: bool,
        options: Mapping[str, Any] | None,
        thread_id: str | None,
        resource_id: str | None,
        *,
        stream: bool,
    ) -> tuple[Run, MemoryTurn | None]:
        output = structured.check_output(output)
        ctx = _inputs.runtime_context(context)
        conversation = _inputs.messages(messages)
        turn = await self._memory_turn(thread_id, resource_id, conversation)
        if turn is not None and turn.tools:
            toolsets = [turn.tools, toolsets] if toolsets is not None else turn.tools
        state = RunState(uuid.uuid4().hex, conversation)
        run = self._run(state, ctx, _inputs.check_steps(max_steps), tool_choice, options, output, toolsets,
                        require_approval, on_step_finish, stream=stream)  # fmt: skip
        system = await self._system_prompt(ctx, run)
        conversation[:0] = ([{"role": "system", "content": system}] if system else []) + (turn.context if turn else [])
        if turn is not None:  # kept with a run that pauses for approval, so that its end is saved too
            run.memory = {"thread_id": turn.thread.id, "resource_id": turn.thread.resource_id,
                          "start": len(conversation) - len(turn.inputs)}  # fmt: skip
        return run, turn

    @property
    def active_memory(self) -> Memory | None:
        """The memory this agent's turns use: its own, else its hub's (`Mastra(memory=...)`), else None."""
        if self.memory is not None:
            return self.memory
        return self._hub.memory if self._hub is not None else None

    async def _resumed_turn(self, where: dict[str, Any] | None) -> MemoryTurn | None:
        """The memory turn of a run that paused for approval (`run.memory`): its thread, and memory's tools."""
        memory = self.active_memory
        if where is None or memory is None:
            return None
        thread = await memory.thread_for(where["thread_id"], where["resource_id"])
        return MemoryTurn(memory, thread, [], tools=turn_tools(memory, thread))

    async def _memory_turn(
        self, thread_id: str | None, resource_id: str | None, inputs: list[Message]
    ) -> MemoryTurn | None:
        memory = self.active_memory
        if thread_id is None:
            if resource_id is not None:
                raise _inputs.invalid("`resource_id=` needs `thread_id=` too: memory keeps turns in a thread.")
            return None
        if memory is None:
            raise MastraError(
                ErrorKind.VALIDATION, "AGENT_MEMORY_MISSING",
                f"Agent `{self.name}` has no memory to keep thread `{thread_id}`: pass `Agent(..., memory=Memory())` "
                "or `Mastra(memory=Memory())`.",
            )  # fmt: skip
        return await begin_turn(memory, thread_id, resource_id, list(inputs))

    def _run(
        self,
        state: RunState,
        ctx: RuntimeContext,
        max_steps: int | None,
        tool_choice: str | dict[str, Any] | None,
        options: Mapping[str, Any] | None,
        output: type[BaseModel] | None,
        toolsets: Any,
        require_approval: bool,
        on_step_finish: StepHook | None,
        *,
        stream: bool,
    ) -> Run:
        hub = self._hub
        toolset = self._toolset.merged(collect(toolsets, "`toolsets=`")) if toolsets is not None else self._toolset
        # Checked now, before any tool runs: a run that may pause needs the hub's storage.
        approvals = self._approvals() if require_approval or toolset.needs_approval else None
        return Run(
            agent=self.name,
            model=self._model(),
            toolset=toolset,
            state=state,
            context=ctx,
            max_steps=max_steps or self.max_steps or (hub.config.max_steps if hub is not None else 10),
            tool_choice=_inputs.tool_choice(tool_choice if tool_choice is not None else self.tool_choice, toolset),
            options={**self.default_options, **(options or {})},
            output=output,
            stream=stream,
            timeout=hub.config.model_timeout if hub is not None else None,
            recorder=self._recorder(),
            require_approval=bool(require_approval),
            on_step_finish=on_step_finish,
            approvals=approvals,
        )

    async def _system_prompt(self, ctx: RuntimeContext, run: Run) -> str:
        made: Any = self.instructions
        if callable(made):
            made = made(ctx)
            if inspect.isawaitable(made):
                made = await made
            if not isinstance(made, str):
                raise _inputs.invalid(f"`instructions` of `{self.name}` returned {type(made).__name__}, not a str.")
        prompt: str = made
        if run.output is not None and not run.model.supports_json_schema():
            prompt = f"{prompt}\n\n{structured.schema_prompt(run.output)}".strip()
        return prompt

    def _model(self) -> Model:
        if self.model is not None:
            return self.model
        default = self._hub.config.default_model if self._hub is not None else None
        if default is None:
            raise MastraError(
                ErrorKind.VALIDATION, "AGENT_MODEL_MISSING",
                f"Agent `{self.name}` has no model: pass `model=\"openai/gpt-4o-mini\"` (or a `ScriptedModel` for an "
                "offline demo), or set `MASTRA_DEFAULT_MODEL` and register the agent in a hub.",
            )  # fmt: skip
        return Model(default)

    def as_step(self) -> Step:
        """A workflow step that asks this agent: input `{"prompt": str}`, output `{"text": str}`, with the run's
        runtime context. `workflow.then(agent)` uses it."""
        from ..workflows import Step, StepContext

        async def ask(data: AgentPrompt, ctx: StepContext) -> AgentReply:
            result = await self.generate(data.prompt, context=ctx.runtime_context)
            return AgentReply(text=result.text)

        return Step(sanitize(self.name), ask, input=AgentPrompt, output=AgentReply, description=self.description)

    def _recorder(self) -> Recorder | None:
        hub = self._hub
        mode: RecordMode = self.record or (hub.config.record_mode if hub is not None else "off")
        if mode == "off":
            return None
        if hub is None:
            raise _inputs.unregistered(self.name, f"record mode `{mode}` keeps model calls")
        return Recorder(hub.storage, mode, f"agent `{self.name}`")

    def _approvals(self) -> Approvals:
        if self._hub is None:
            raise _inputs.unregistered(self.name, "tool approval keeps the paused run")
        return Approvals(self._hub.runs, self.name)

    def __repr__(self) -> str:
        model = self.model.name if self.model is not None else "<hub default>"
        return f"Agent({self.name!r}, model={model!r}, tools={sorted(self._toolset.tools)})"

    def _repr_html_(self) -> str:
        from ..display.reprs import agent_html  # imported on first display: import mastra_nb stays light

        return agent_html(self)


async def _remember(turn: MemoryTurn | None, run: Run, result: AgentResult) -> None:
    """Save a finished turn to memory. A run that pauses for approval is saved once its last call is decided
    (`_remember_resumed`)."""
    if turn is None or run.memory is None or result.finish_reason == "approval_required":
        return
    await turn.finish(run.state.messages[run.memory["start"] :], result.text, run.model)


async def _drain(events: AsyncIterator[AgentEvent]) -> AgentResult:
    async for event in events:
        if isinstance(event, FinishEvent):
            return event.result
    raise AssertionError("unreachable: the loop ends with a FinishEvent or raises")  # pragma: no cover
