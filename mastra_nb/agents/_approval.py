"""Runs paused for tool approval, and the approval records, in the hub's key/value storage.

A paused run is one JSON value at `agents:runs:<run_id>`: the conversation, the steps so far, the paused step
(the model's answer, the results of the calls that needed no approval, a decision slot per waiting call) and the
settings needed to go on. Each decision is also kept as its own record at `agents:approvals:<run_id>:<call_id>`:
who decided, when, what, and about which call. A decision and the run's new state are written in one
transaction. Because everything is in storage, a run paused in one process is resumed by another that opens
the same store (after a kernel restart, say).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

from ..errors import ErrorKind, MastraError
from ..models.types import Usage
from ..storage.base import SetOp, Storage
from .results import PendingApproval, StepResult, jsonable

if TYPE_CHECKING:
    from ._loop import Run

__all__ = ["APPROVAL_PREFIX", "RUN_PREFIX", "Approvals"]

RUN_PREFIX = "agents:runs:"
APPROVAL_PREFIX = "agents:approvals:"
Decision = Literal["approved", "declined"]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


class Approvals:
    """The paused runs and approval records of one agent."""

    def __init__(self, storage: Storage, agent: str) -> None:
        self.storage = storage
        self.agent = agent

    async def save(self, run: Run) -> None:
        """Store a run that has just paused (or paused again after a resume)."""
        state = run.state
        assert state.paused is not None
        stored = await self.storage.get(RUN_PREFIX + state.run_id)
        created = stored["created_at"] if stored else _now()
        await self.storage.set(RUN_PREFIX + state.run_id, {
            "run_id": state.run_id, "agent": self.agent, "status": "awaiting_approval",
            "created_at": created, "updated_at": _now(),
            "messages": jsonable(state.messages), "steps": [s.to_dict() for s in state.steps],
            "usage": state.usage.__dict__, "model": state.model, "paused": state.paused.to_dict(),
            "settings": {
                "max_steps": run.max_steps, "tool_choice": run.tool_choice, "options": jsonable(dict(run.options)),
                "output": run.output.__name__ if run.output is not None else None,
                "require_approval": run.require_approval, "context": jsonable(dict(run.context)),
                "memory": run.memory,
            },
        })  # fmt: skip

    async def load(self, run_id: str) -> dict[str, Any]:
        """The stored run, checked to belong to this agent."""
        if not isinstance(run_id, str) or not run_id:
            raise MastraError(
                ErrorKind.VALIDATION, "AGENT_RUN_NOT_FOUND", f"`run_id` must be a run's id, got {run_id!r}."
            )
        stored = await self.storage.get(RUN_PREFIX + run_id)
        if stored is None:
            raise MastraError(
                ErrorKind.DOMAIN, "AGENT_RUN_NOT_FOUND",
                f"No paused run `{run_id}` in this hub's storage. Runs paused for approval are kept in the storage "
                "they were paused in: open the same store (e.g. the same DuckDB file).",
                details={"run_id": run_id},
            )  # fmt: skip
        if stored["agent"] != self.agent:
            raise MastraError(
                ErrorKind.DOMAIN, "AGENT_RUN_OTHER_AGENT",
                f"Run `{run_id}` belongs to agent `{stored['agent']}`, not `{self.agent}`; decide it through that "
                "agent.", details={"run_id": run_id, "agent": stored["agent"]},
            )  # fmt: skip
        return stored

    async def decide(
        self, run_id: str, call_id: str, decision: Decision, by: str | None, reason: str | None
    ) -> dict[str, Any]:
        """Record a decision on one waiting call; returns the run as now stored."""
        stored = await self.load(run_id)
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
        record = {
            "run_id": run_id, "call_id": call_id, "agent": self.agent, "tool": call["name"],
            "arguments": call["arguments"], "decision": decision, "by": by, "reason": reason, "at": _now(),
        }  # fmt: skip
        decisions[call_id] = record
        stored["updated_at"] = record["at"]
        if all(d is not None for d in decisions.values()):
            stored["status"] = "resuming"  # a second resume of the same run now finds it busy
        await self.storage.transaction(
            [SetOp(RUN_PREFIX + run_id, stored), SetOp(f"{APPROVAL_PREFIX}{run_id}:{call_id}", record)]
        )
        return stored

    async def finish(self, run_id: str, status: str, error: dict[str, Any] | None = None) -> None:
        """Mark a resumed run completed or failed (the record stays, for the audit trail)."""
        stored = await self.storage.get(RUN_PREFIX + run_id)
        if stored is not None and stored["status"] == "resuming":
            stored.update(status=status, updated_at=_now(), error=error)
            await self.storage.set(RUN_PREFIX + run_id, stored)

    async def records(self, run_id: str) -> list[dict[str, Any]]:
        """The approval records of a run, by call id."""
        keys = await self.storage.list(f"{APPROVAL_PREFIX}{run_id}:")
        return [value for value in (await self.storage.mget(keys)).values()]

    async def waiting(self) -> list[PendingApproval]:
        """Every tool call of this agent that waits for a decision, oldest run first."""
        keys = await self.storage.list(RUN_PREFIX)
        runs = sorted((await self.storage.mget(keys)).values(), key=lambda r: r["created_at"])
        waiting: list[PendingApproval] = []
        for run in runs:
            if run["agent"] != self.agent or run["status"] != "awaiting_approval":
                continue
            decisions = run["paused"]["decisions"]
            for call in run["paused"]["response"]["tool_calls"]:
                if call["id"] in decisions and decisions[call["id"]] is None:
                    waiting.append(
                        PendingApproval(run["run_id"], call["id"], call["name"], _decoded(call["arguments"]))
                    )
        return waiting


def restore_steps(stored: dict[str, Any]) -> tuple[list[StepResult], Usage]:
    return [StepResult.from_dict(s) for s in stored["steps"]], Usage.from_dict(stored["usage"])


def _decoded(arguments: str) -> Any:
    try:
        return json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        return arguments
