"""Runs paused for tool approval, as `agent_runs` rows through `hub.runs`, and the approval records.

A paused run is one `agent_runs` row: its status, and as `data` the conversation, the steps so far, the paused
step (the model's answer, the results of the calls that needed no approval, a decision slot per waiting call) and
the settings needed to go on. Each decision is also kept as its own record at `agents:approvals:<run_id>:<call_id>`
(key/value): who decided, when, what, and about which call. A decision is a compare-and-set on the row's version,
written in one transaction with its record: of two decisions on one call exactly one is stored, and of two
decisions that complete a run's last calls exactly one moves it to `resuming`, the one that goes on. Because
everything is in storage, a run paused in one process is resumed by another that opens the same store.

`resume` is what `approve_tool_call` and `decline_tool_call` do: record the decision and, once the run's last
waiting call is decided, rebuild the run from its row (its options from the stored settings) and drain the loop.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from .. import records, structured
from ..context import RuntimeContext
from ..errors import ErrorKind, MastraError
from ..limits import check_id
from ..models.types import Usage
from ..redaction import redact
from ..storage.base import SetOp
from ..telemetry import spans
from . import _inputs, _prompt
from ._loop import AgentRun, PausedStep, RunState, arguments_of, build_result, drain
from ._options import StepHook
from ._toolset import listed_sources
from .results import AgentResult, AgentStep, PendingApproval, jsonable

if TYPE_CHECKING:
    from ..runs import Runs
    from .agent import Agent

__all__ = ["APPROVAL_PREFIX", "Approvals", "resume"]

APPROVAL_PREFIX = "agents:approvals:"
Decision = Literal["approved", "declined"]
_TABLE = "agent_runs"
_ATTEMPTS = 8  # decisions on other calls of the same run that a decision reads past before giving up


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Approvals:
    """The paused runs and approval records of one agent."""

    def __init__(self, runs: Runs, agent: str) -> None:
        self.runs = runs
        self.agent = agent

    @classmethod
    def of(cls, agent: Agent) -> Approvals:
        """The approvals of `agent` in its hub's storage; an agent with no hub has none."""
        if agent.mastra is None:
            raise _inputs.unregistered(agent.name, "tool approval keeps the paused run")
        return cls(agent.mastra.runs, agent.name)

    async def save(self, run: AgentRun) -> None:
        """Store a run that has just paused (or paused again after a resume)."""
        state = run.state
        assert state.paused is not None
        options = run.options
        data = {
            "messages": jsonable(state.messages), "steps": [records.dump(s) for s in state.steps],
            "usage": records.dump(state.usage), "model": state.model, "paused": records.dump(state.paused),
            "settings": {
                "max_steps": options.max_steps, "tool_choice": run.tool_choice,
                "options": jsonable(dict(options.provider_options)),
                "output": options.output.__name__ if options.output is not None else None,
                "require_approval": options.require_approval, "context": jsonable(dict(options.context)),
                "memory": run.memory,
            },
        }  # fmt: skip
        values = {"status": "awaiting_approval", "data": data, "error": None, "updated_at": _now()}
        stored = await self.runs.agent_run(state.run_id)
        if stored is None:
            row = {"run_id": state.run_id, "agent": self.agent, "created_at": values["updated_at"], **values}
            row["resource_id"] = (run.memory or {}).get("resource_id")
            await self.runs.storage.transaction([self.runs.insert_op(_TABLE, row)])
        else:  # paused again after a resume that this process claimed
            await self.runs.transition(_TABLE, state.run_id, stored["version"], values, status=stored["status"])

    async def load(self, run_id: str) -> dict[str, Any]:
        """The stored run (its `data` with `run_id`, `agent`, `status`, `version`), checked to belong to this
        agent."""
        check_id(run_id, "run_id", "RUN_ID_INVALID")
        row = await self.runs.agent_run(run_id)
        if row is None:
            raise MastraError(
                ErrorKind.DOMAIN, "AGENT_RUN_NOT_FOUND",
                f"No paused run `{run_id}` in this hub's storage. Runs paused for approval are kept in the storage "
                "they were paused in: open the same store (e.g. the same DuckDB file).",
                details={"run_id": run_id},
            )  # fmt: skip
        if row["agent"] != self.agent:
            raise MastraError(
                ErrorKind.DOMAIN, "AGENT_RUN_OTHER_AGENT",
                f"Run `{run_id}` belongs to agent `{row['agent']}`, not `{self.agent}`; decide it through that "
                "agent.", details={"run_id": run_id, "agent": row["agent"]},
            )  # fmt: skip
        return _stored(row)

    async def decide(
        self, run_id: str, call_id: str, decision: Decision, by: str | None, reason: str | None
    ) -> dict[str, Any]:
        """Record a decision on one waiting call; returns the run as now stored. A decision on another call of
        the same run, stored meanwhile, is read and kept; a decision on the same call wins only once.

        Raises:
            MastraError: `AGENT_RUN_NOT_AWAITING`, `AGENT_TOOL_CALL_NOT_PENDING` (also for the loser of two
                decisions on one call), `RUN_CONFLICT` when the run keeps changing under it.
        """
        for attempt in range(_ATTEMPTS):
            stored = await self.load(run_id)
            record = _check_pending(stored, run_id, call_id)
            record.update(decision=decision, by=by, reason=reason, at=_now().isoformat())
            decisions: dict[str, Any] = stored["paused"]["decisions"]
            decisions[call_id] = record
            # All decided: `resuming`, so that whoever else tries to go on with this run finds it taken.
            status = "resuming" if all(d is not None for d in decisions.values()) else "awaiting_approval"
            values = {"status": status, "data": _data(stored), "updated_at": _now()}
            try:
                stored["version"] = await self.runs.transition(
                    _TABLE, run_id, stored["version"], values, status="awaiting_approval",
                    also=[SetOp(f"{APPROVAL_PREFIX}{run_id}:{call_id}", record)],
                )  # fmt: skip
            except MastraError as error:
                if error.code != "RUN_CONFLICT" or attempt == _ATTEMPTS - 1:
                    raise
                continue  # someone decided something meanwhile: read it, then decide again or give way
            stored["status"] = status
            return stored
        raise AssertionError("unreachable")  # pragma: no cover

    async def finish(self, run_id: str, status: str, error: dict[str, Any] | None = None) -> None:
        """Mark a resumed run completed or failed (the row stays, for the audit trail)."""
        row = await self.runs.agent_run(run_id)
        if row is not None and row["status"] == "resuming":
            values = {"status": status, "error": error, "updated_at": _now()}
            await self.runs.transition(_TABLE, run_id, row["version"], values, status="resuming")

    async def records(self, run_id: str) -> list[dict[str, Any]]:
        """The approval records of a run, by call id."""
        storage = self.runs.storage
        keys = await storage.list(f"{APPROVAL_PREFIX}{run_id}:")
        return [value for value in (await storage.mget(keys)).values()]

    async def waiting(self) -> list[PendingApproval]:
        """Every tool call of this agent that waits for a decision, oldest run first."""
        waiting: list[PendingApproval] = []
        for row in await self.runs.agent_runs(self.agent, "awaiting_approval"):
            paused = row["data"]["paused"]
            decisions = paused["decisions"]
            for call in paused["response"]["tool_calls"]:
                if call["id"] in decisions and decisions[call["id"]] is None:
                    waiting.append(
                        PendingApproval(row["run_id"], call["id"], call["name"], _decoded(call["arguments"]))
                    )
        return waiting


async def resume(
    agent: Agent,
    run_id: str,
    call_id: str,
    decision: Decision,
    *,
    by: str | None,
    reason: str | None,
    output: type[BaseModel] | None,
    context: RuntimeContext | Mapping[str, Any] | None,
    toolsets: Any,
    on_step_finish: StepHook | None,
) -> AgentResult:
    """Record a decision on a waiting call (`approve_tool_call`, `decline_tool_call`); once every waiting call of
    the run is decided, go on with the run from its stored state.

    The run's options are built here, once: its stored settings (max steps, tool choice, provider options, whether
    every call needs approval, runtime context, memory thread) as the arguments, over the agent's defaults, with
    what the caller passes again (`output=`, `context=`, `toolsets=`, `on_step_finish=`).
    """
    approvals = Approvals.of(agent)
    output = structured.check_output(output)
    if run_id in agent._busy:
        raise MastraError(ErrorKind.DOMAIN, "AGENT_RUN_BUSY", f"Run `{run_id}` is being resumed; wait for it.")
    agent._busy.add(run_id)
    try:
        wanted = (await approvals.load(run_id))["settings"]["output"]
        if wanted is not None and output is None:  # checked before the decision is recorded
            raise MastraError(
                ErrorKind.VALIDATION,
                "AGENT_OUTPUT_REQUIRED",
                f"Run `{run_id}` was started with `output={wanted}`; pass `output=` again to decide on it.",
            )
        stored = await approvals.decide(run_id, call_id, decision, by, reason)
        try:
            run, paused = await _resumed_run(agent, stored, output, context, toolsets, on_step_finish)
            if stored["status"] == "awaiting_approval":  # other calls of the run still wait
                waiting = [PendingApproval(run_id, c.id, c.name, arguments_of(c)) for c in paused.response.tool_calls
                           if c.id in paused.decisions and paused.decisions[c.id] is None]  # fmt: skip
                return build_result(run, "approval_required", paused.response.text, pending=waiting)
            with spans.agent_run(agent, run, None) as span:
                result = await drain(run)
                spans.agent_result(span, result)
        except BaseException as error:
            # A resume that fails or is interrupted, in the run or before it (a stored record that no longer
            # loads, a model that cannot be made), must not stay "resuming" for ever.
            if stored["status"] == "resuming":
                failure = error.to_dict() if isinstance(error, MastraError) else {"exception": redact(repr(error))}
                await approvals.finish(run_id, "failed", failure)
            raise
        if result.finish_reason != "approval_required":
            await approvals.finish(run_id, "completed")
            await _prompt.remember(run, result)  # saved to its thread now that it has finished
        return result
    finally:
        agent._busy.discard(run_id)


async def _resumed_run(
    agent: Agent,
    stored: dict[str, Any],
    output: type[BaseModel] | None,
    context: RuntimeContext | Mapping[str, Any] | None,
    toolsets: Any,
    on_step_finish: StepHook | None,
) -> tuple[AgentRun, PausedStep]:
    """The run to go on with, from its stored state and settings, with what the caller passed again."""
    settings = stored["settings"]
    where: dict[str, Any] = settings.get("memory") or {}
    await agent.list_tools()  # a tool source's tools: the paused call may be one of them
    toolsets = await listed_sources(toolsets, "this call")
    options = agent._options(
        output=output,
        context=context if context is not None else RuntimeContext(settings["context"]),
        max_steps=settings["max_steps"],
        tool_choice=settings["tool_choice"],
        options=settings["options"],
        toolsets=toolsets,
        require_approval=settings["require_approval"],
        on_step_finish=on_step_finish,
        thread_id=where.get("thread_id"),
        resource_id=where.get("resource_id"),
        stream=False,
    )
    paused = records.load(PausedStep, stored["paused"])
    steps = [records.load(AgentStep, s) for s in stored["steps"]]
    usage = records.load(Usage, stored["usage"])
    state = RunState(stored["run_id"], stored["messages"], steps, usage, stored["model"], paused)
    run = _prompt.make_run(options, state, await _prompt.resumed_turn(agent, options), settings.get("memory"))
    return run, paused


_ROW_KEYS = ("run_id", "agent", "status", "version", "created_at", "updated_at", "error")


def _stored(row: dict[str, Any]) -> dict[str, Any]:
    return {**row["data"], **{key: row[key] for key in _ROW_KEYS}}


def _data(stored: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in stored.items() if key not in _ROW_KEYS}


def _check_pending(stored: dict[str, Any], run_id: str, call_id: str) -> dict[str, Any]:
    """The new decision record for `call_id`, if the run awaits approval and the call waits for a decision."""
    if stored["status"] != "awaiting_approval":
        raise MastraError(
            ErrorKind.DOMAIN, "AGENT_RUN_NOT_AWAITING",
            f"Run `{run_id}` is {stored['status'].replace('_', ' ')}, not awaiting approval; there is nothing "
            "to decide.", details={"run_id": run_id, "status": stored["status"]},
        )  # fmt: skip
    decisions: dict[str, Any] = stored["paused"]["decisions"]
    if call_id not in decisions or decisions[call_id] is not None:
        waiting = [cid for cid, d in decisions.items() if d is None]
        state = "was already decided" if call_id in decisions else "is not a call of this run waiting for approval"
        raise MastraError(
            ErrorKind.DOMAIN, "AGENT_TOOL_CALL_NOT_PENDING",
            f"Tool call `{call_id}` of run `{run_id}` {state}; waiting: {', '.join(waiting) or 'none'}.",
            details={"run_id": run_id, "call_id": call_id, "waiting": waiting},
        )  # fmt: skip
    call = next(c for c in stored["paused"]["response"]["tool_calls"] if c["id"] == call_id)
    return {"run_id": run_id, "call_id": call_id, "agent": stored["agent"], "tool": call["name"],
            "arguments": call["arguments"]}  # fmt: skip


def _decoded(arguments: str) -> Any:
    try:
        return json.loads(arguments) if arguments.strip() else {}
    except (ValueError, RecursionError):  # not JSON, or nested too deep for json's decoder
        return arguments
