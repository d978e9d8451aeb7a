"""`RunOptions`: one run's settings, resolved once by the entry point that starts or resumes the run.

`generate`, `stream`, `approve_tool_call` and `decline_tool_call` each build one from their arguments over the
agent's defaults and its hub's config (`Agent._options`); the prompt, the loop and the approval path read that
one object, so they cannot disagree about a setting. A resumed run takes its stored settings as the arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ..context import RuntimeContext
from ..errors import ErrorKind, MastraError
from ..models.model import Model
from ..models.recording import Recorder, RecordMode
from . import _inputs
from ._toolset import Toolset
from .results import AgentStep

if TYPE_CHECKING:
    from ._approval import Approvals
    from .agent import Agent

__all__ = ["RunOptions", "StepHook", "model_of", "recorder_of"]

StepHook = Callable[[AgentStep], Any]


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """What a run does, decided before it starts.

    Attributes:
        agent: the agent's name, for logs and errors.
        model: the call's model (the agent's, else the hub's `config.default_model`).
        toolset: the agent's tools and the call's `toolsets=`; memory's tools join them in the prompt.
        tool_choice: as asked (the call's, else the agent's); the prompt turns a tool's name into the provider's form.
        max_steps: the most model calls (the call's, else the agent's, else the hub's `config.max_steps`, else 10).
        provider_options: the agent's `default_options` under the call's `options=`.
        output: the pydantic model the answer must match, or None.
        context: the runtime context for instructions, tools, workflows and sub-agents.
        require_approval: every tool call waits for a decision.
        on_step_finish: called (sync or async) with each `AgentStep`.
        stream: the model is called streaming (`stream`) or not.
        timeout: each model call's timeout (the hub's `config.model_timeout`).
        recorder: record/replay of the model calls, or None.
        approvals: where a paused run is kept: set when a call may need approval, so that an agent with no hub
            fails before any tool runs.
        thread_id, resource_id: the memory thread of the turn, and who it belongs to.
        run_id: the id the caller chose for a new run, or None for a new one.
        client_tools: the names (as the model sees them) of the tools the caller runs itself: a step that calls
            one ends the run with its calls, for the caller to run and send back.
    """

    agent: str
    model: Model
    toolset: Toolset
    tool_choice: str | dict[str, Any] | None
    max_steps: int
    provider_options: Mapping[str, Any]
    output: type[BaseModel] | None
    context: RuntimeContext
    require_approval: bool
    on_step_finish: StepHook | None
    stream: bool
    timeout: float | None
    recorder: Recorder | None
    approvals: Approvals | None
    thread_id: str | None = None
    resource_id: str | None = None
    run_id: str | None = None
    client_tools: frozenset[str] = frozenset()


def model_of(agent: Agent) -> Model:
    """The agent's model, else one of the hub's `config.default_model`."""
    if agent.model is not None:
        return agent.model
    hub = agent.mastra
    default = hub.config.default_model if hub is not None else None
    if default is None:
        raise MastraError(
            ErrorKind.VALIDATION, "AGENT_MODEL_MISSING",
            f"Agent `{agent.name}` has no model: pass `model=\"openai/gpt-4o-mini\"` (or a `ScriptedModel` for an "
            "offline demo), or set `MASTRA_DEFAULT_MODEL` and register the agent in a hub.",
        )  # fmt: skip
    return Model(default)


def recorder_of(agent: Agent) -> Recorder | None:
    """Record/replay of the agent's model calls (its `record=`, else the hub's `config.record_mode`)."""
    hub = agent.mastra
    mode: RecordMode = agent.record or (hub.config.record_mode if hub is not None else "off")
    if mode == "off":
        return None
    if hub is None:
        raise _inputs.unregistered(agent.name, f"record mode `{mode}` keeps model calls")
    return Recorder(hub.storage, mode, f"agent `{agent.name}`")
