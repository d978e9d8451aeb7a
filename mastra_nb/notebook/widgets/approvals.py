"""`ApprovalsForm`: the tool calls an agent's paused run waits on, each with **Approve** and **Decline**; once
every call is decided the run goes on in the background and its answer is shown.

```
 agent.pending_approvals() ──> calls [{call_id, tool, arguments, decision, result, error}] ──> approvals.js
 approvals.js ──{"type": "approve"|"decline", call_id}──> decide ──spawn──> agent.approve_tool_call / decline_tool_call
                                                                        └──> status, answer, each call's result
```
Everything a decision needs is in storage, so the form works for a run paused before a kernel restart once its
agent is defined again (`%mastra resume RUN_ID` finds the agent whose run it is). The chat has the same buttons for
the calls of its own turns.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import traitlets

from ...display.html import badge, card, code, esc, json_block, table
from ...errors import MastraError
from ...redaction import redact
from ._base import MastraWidget, css, esm, spawn

if TYPE_CHECKING:
    from ...agents import Agent
    from ...agents.results import AgentResult, PendingApproval

__all__ = ["ApprovalsForm"]


class ApprovalsForm(MastraWidget):
    """The waiting tool calls of one paused agent run, to approve or decline.

    Args:
        agent: the agent whose run it is.
        run_id: the paused run (`result.run_id`).
        pending: its waiting calls (`result.pending_approvals`, or `await agent.pending_approvals()`; calls of
            other runs are left out).
    """

    _esm = esm("approvals.js")
    _css = css("approvals.css")

    run_id = traitlets.Unicode("").tag(sync=True)
    agent_name = traitlets.Unicode("").tag(sync=True)
    status = traitlets.Unicode("awaiting_approval").tag(sync=True)  # awaiting_approval, running, done, failed
    calls: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)
    answer = traitlets.Unicode("").tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)
    busy = traitlets.Bool(False).tag(sync=True)

    def __init__(self, agent: Agent, run_id: str, pending: Iterable[PendingApproval]) -> None:
        super().__init__(run_id=run_id, agent_name=agent.name)
        self.agent = agent
        self.task: Any = None  # the latest decision, an asyncio task or a concurrent future
        self.result: AgentResult | None = None
        self.calls = [_call(p) for p in pending if p.run_id == run_id]
        if not self.calls:
            self.message = f"No tool call of run `{run_id}` waits for approval."
        self.on_msg(self._on_message)

    def _on_message(self, widget: Any, content: Any, buffers: Any) -> None:
        if isinstance(content, dict) and content.get("type") in ("approve", "decline"):
            self.decide(str(content.get("call_id", "")), content["type"] == "approve")

    def decide(self, call_id: str, approve: bool) -> Any:
        """Approve (or decline) a waiting call in the background; returns the task (or future), or None while a
        decision is under way or when the call does not wait."""
        call = next((c for c in self.calls if c["call_id"] == call_id), None)
        if self.busy or call is None or call["decision"] is not None:
            self.message = f"Tool call `{call_id}` is not waiting for a decision here."
            return None
        self.calls = [{**c, "decision": "approved" if approve else "declined"} if c is call else c for c in self.calls]
        with self.hold_sync():
            self.busy, self.status = True, "running"
            self.message = f"{'Approved' if approve else 'Declined'} `{call['tool']}`…"
        self.task = spawn(self._decide(call_id, approve))
        return self.task

    async def _decide(self, call_id: str, approve: bool) -> None:
        decide = self.agent.approve_tool_call if approve else self.agent.decline_tool_call
        try:
            result = await decide(self.run_id, call_id, by="notebook")
        except MastraError as error:
            self._finish(None, f"[{error.code}] {error.message}")
        except Exception as error:  # shown in the form: a background task has no cell to fail
            self._finish(None, redact(f"The run failed: {type(error).__name__}: {error}"))
        else:
            self._finish(result, "")

    def _finish(self, result: AgentResult | None, error: str) -> None:
        if self.closed:
            return
        calls = [dict(c) for c in self.calls]
        if result is None:
            status, message = "failed", error
        else:
            self.result = result
            outcomes = {r.call_id: r for r in result.tool_results}
            for c in calls:
                if c["call_id"] in outcomes:
                    c["result"], c["error"] = _plain(outcomes[c["call_id"]].result), outcomes[c["call_id"]].error
            known = {c["call_id"] for c in calls}
            calls += [_call(p) for p in result.pending_approvals if p.call_id not in known]
            if result.pending_approvals:
                status, message = "awaiting_approval", "The run waits for the calls still undecided."
            else:
                status, message = "done", "The run finished."
        with self.hold_sync():
            self.calls = calls
            self.status, self.message, self.busy = status, message, False
            if result is not None and not result.pending_approvals:
                self.answer = result.text

    # -- static ---------------------------------------------------------------------------------------------

    def snapshot(self) -> str:
        rows = [
            [code(c["tool"]), json_block(c["arguments"]), esc(c["decision"] or "waiting"),
             esc(c["error"]["code"] if c["error"] else "" if c["result"] is None else json.dumps(c["result"]))]
            for c in self.calls
        ]  # fmt: skip
        sections = [table(["tool", "arguments", "decision", "result"], rows, kind="approvals")]
        if self.answer:
            sections.append(f"<div><strong>answer</strong> {esc(self.answer)}</div>")
        if self.message:
            sections.append(esc(self.message))
        subtitle = badge(self.status) + f" agent {code(self.agent_name)}"
        return card("Approvals", f"run {self.run_id}", *sections, subtitle=subtitle)

    def __repr__(self) -> str:
        return f"ApprovalsForm(run_id={self.run_id!r}, status={self.status!r}, calls={len(self.calls)})"


def _call(pending: PendingApproval) -> dict[str, Any]:
    return {"call_id": pending.call_id, "tool": pending.tool, "arguments": _plain(pending.arguments),
            "decision": None, "result": None, "error": None}  # fmt: skip


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
