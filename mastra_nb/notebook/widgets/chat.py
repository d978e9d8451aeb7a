"""`ChatWidget`: a conversation with an agent: a thread picker, streaming answers, tool-call cards, approval
buttons for calls that wait for a decision, a stop button.

```
 chat.js ──{"type": "send", text}──> send ──spawn──> agent.stream(text, thread_id, resource_id) ──events──> messages
         ──Throttle──> chat.js
 chat.js ──{"type": "thread", thread_id}──> the thread's stored messages ("" starts a new thread at the next turn)
 chat.js ──{"type": "approve"|"decline", run_id, call_id}──> agent.approve_tool_call / decline_tool_call ──> the
         answer goes on below its cards
 chat.js ──{"type": "stop"}──> stop: the turn's task is cancelled; the answer so far stays, marked stopped
```
When the agent has memory (its own or the hub's), each turn goes to the picked thread of `resource_id`, and the
memory brings the history. Without memory, the widget keeps the conversation it had and sends it with each turn.
Text deltas are throttled like the graph's events, so a fast model does not send a message per token.
"""

from __future__ import annotations

import asyncio
import copy
import json
import threading
import uuid
from typing import TYPE_CHECKING, Any

import traitlets

from ..._async import run_sync
from ...display.html import card, code, esc, json_block
from ...errors import MastraError
from ...redaction import redact
from ._base import MastraWidget, Throttle, css, esm, spawn

if TYPE_CHECKING:
    from ...agents import Agent, AgentResult
    from ...memory import Memory, MemoryMessage

__all__ = ["ChatWidget"]


class ChatWidget(MastraWidget):
    """A chat with `agent`.

    Args:
        agent: the agent to talk to.
        resource_id: whose threads the picker lists, when the agent has memory.
        thread_id: the thread to open (its stored messages are shown); None starts a new thread at the first turn.
        interval: the shortest time between two updates of a streaming answer sent to the front end, in seconds.
    """

    _esm = esm("chat.js")
    _css = css("chat.css")

    agent_name = traitlets.Unicode("").tag(sync=True)
    # [{role, text, status, tools: [{id, name, arguments, result, error}]}]
    messages: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)
    busy = traitlets.Bool(False).tag(sync=True)
    # The thread picker: shown when the agent has memory. thread_id "" means a new thread, made at the next turn.
    has_memory = traitlets.Bool(False).tag(sync=True)
    resource_id = traitlets.Unicode("").tag(sync=True)
    thread_id = traitlets.Unicode("").tag(sync=True)
    threads: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)

    def __init__(
        self, agent: Agent, *, resource_id: str = "notebook-user", thread_id: str | None = None, interval: float = 0.05
    ) -> None:
        self.memory: Memory | None = agent.active_memory
        super().__init__(agent_name=agent.name, has_memory=self.memory is not None, resource_id=resource_id)
        self.agent = agent
        self.task: Any = None  # the turn (or decision) under way, an asyncio task or a concurrent future
        self._lock = threading.Lock()
        self._messages: list[dict[str, Any]] = []
        self._history: list[dict[str, Any]] = []  # OpenAI-format messages of the finished turns (without memory)
        self.throttle = Throttle(self._flush, interval)
        self.on_close(self.throttle.cancel)
        self.on_close(self.stop)
        self.on_msg(self._on_message)
        if self.memory is not None:
            run_sync(self._open(thread_id or ""))

    def _on_message(self, widget: Any, content: Any, buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        kind = content.get("type")
        if kind == "send":
            self.send(str(content.get("text", "")))
        elif kind == "stop":
            self.stop()
        elif kind == "thread":
            self.pick_thread(str(content.get("thread_id", "")))
        elif kind in ("approve", "decline"):
            self.decide(str(content.get("run_id", "")), str(content.get("call_id", "")), kind == "approve")

    # -- threads ---------------------------------------------------------------------------------------------

    def pick_thread(self, thread_id: str) -> Any:
        """Show a thread of the resource (its stored messages) and continue it with the next turn; "" starts a new
        thread. Returns the background task, or None while a turn is under way or without memory."""
        if self.memory is None or self.busy:
            return None
        self.task = spawn(self._open(thread_id))
        return self.task

    async def _open(self, thread_id: str) -> None:
        assert self.memory is not None
        stored = await self.memory.list_messages(thread_id) if thread_id else []
        threads = await self._threads()
        with self._lock:
            self._messages = _transcript(stored)
            self._history = []
        with self.hold_sync():
            self.thread_id = thread_id
            self.threads = threads
        self.throttle.touch(now=True)

    async def _threads(self) -> list[dict[str, Any]]:
        assert self.memory is not None
        return [{"id": t.id, "title": t.title or ""} for t in await self.memory.list_threads(self.resource_id)]

    # -- turns -----------------------------------------------------------------------------------------------

    def send(self, text: str) -> Any:
        """Ask the agent `text` in the background; returns the turn's task (or future), or None when a turn is
        already under way or the text is empty."""
        text = text.strip()
        if not text or self.busy:
            return None
        with self._lock:
            self._messages += [
                {"role": "user", "text": text, "tools": [], "status": "done"},
                {"role": "assistant", "text": "", "tools": [], "status": "streaming", "pending": []},
            ]
        self.busy = True
        if self.memory is not None and not self.thread_id:
            self.thread_id = uuid.uuid4().hex  # a new thread, made by the turn
        self.throttle.touch(now=True)
        self.task = spawn(self._turn(text))
        return self.task

    def stop(self) -> None:
        """Stop the turn under way (its answer so far stays in the conversation, marked stopped)."""
        task = self.task
        if task is not None and not task.done():
            task.cancel()

    async def _turn(self, text: str) -> None:
        answer = self._messages[-1]
        result = None
        if self.memory is not None:
            stream = self.agent.stream(text, thread_id=self.thread_id, resource_id=self.resource_id)
        else:
            stream = self.agent.stream([*self._history, {"role": "user", "content": text}])
        try:
            async for event in stream:
                with self._lock:
                    _apply(answer, event)
                if event.kind == "finish":
                    result = event.result
                self.throttle.touch(now=event.kind != "text-delta")
            status = "done"
        except asyncio.CancelledError:
            status = "stopped"  # the user pressed stop: end the turn here, keep what was said
        except MastraError as error:
            status, answer["error"] = "failed", f"[{error.code}] {error.message}"
        except Exception as error:  # shown in the chat: a background task has no cell to fail
            status, answer["error"] = "failed", redact(f"{type(error).__name__}: {error}")
        with self._lock:
            answer["status"] = status
            answer["prompt"] = text
            if result is not None:
                _finish(answer, result)
            if status == "done" and not answer["pending"]:
                self._remember(answer)
        if self.memory is not None:
            self.threads = await self._threads()
        self.busy = False
        self.throttle.touch(now=True)

    def _remember(self, answer: dict[str, Any]) -> None:
        """Keep a finished exchange for the next turn (without memory: with memory, the thread keeps it)."""
        self._history += [{"role": "user", "content": answer["prompt"]},
                          {"role": "assistant", "content": answer["text"]}]  # fmt: skip

    # -- approvals -------------------------------------------------------------------------------------------

    def decide(self, run_id: str, call_id: str, approve: bool) -> Any:
        """Approve (or decline) a tool call the agent waits on; the run goes on in the background once every
        waiting call of its turn is decided. Returns the task, or None while a turn is under way or when the call
        is not waiting."""
        with self._lock:
            answer = next((m for m in self._messages if m.get("run_id") == run_id), None)
            waiting = answer is not None and any(p["call_id"] == call_id for p in answer.get("pending", []))
        if self.busy or answer is None or not waiting:
            return None
        with self._lock:
            answer["pending"] = [p for p in answer["pending"] if p["call_id"] != call_id]
            answer["status"] = "streaming"
            for card in answer["tools"]:
                if card["id"] == call_id:
                    card["decision"] = "approved" if approve else "declined"
        self.busy = True
        self.throttle.touch(now=True)
        self.task = spawn(self._decide(answer, run_id, call_id, approve))
        return self.task

    async def _decide(self, answer: dict[str, Any], run_id: str, call_id: str, approve: bool) -> None:
        decide = self.agent.approve_tool_call if approve else self.agent.decline_tool_call
        status = "done"
        try:
            result = await decide(run_id, call_id, by="chat")
        except asyncio.CancelledError:
            status, result = "stopped", None
        except MastraError as error:
            status, result, answer["error"] = "failed", None, f"[{error.code}] {error.message}"
        except Exception as error:  # shown in the chat: a background task has no cell to fail
            status, result, answer["error"] = "failed", None, redact(f"{type(error).__name__}: {error}")
        with self._lock:
            answer["status"] = status
            if result is not None:
                _finish(answer, result)
                if not answer["pending"]:
                    self._remember(answer)
        self.busy = False
        self.throttle.touch(now=True)

    def _flush(self) -> None:
        if self.closed:
            return
        with self._lock:
            self.messages = copy.deepcopy(self._messages)

    def snapshot(self) -> str:
        with self._lock:
            messages = copy.deepcopy(self._messages)
        parts = []
        for message in messages:
            who = "you" if message["role"] == "user" else self.agent_name
            tools = "".join(
                f'<div data-tool="{esc(t["name"])}" style="margin: 4px 0 4px 12px;">tool {code(t["name"])} '
                f"{esc(_short(t['arguments']))} → "
                + (f'<span style="color: #c62828;">{esc(t["error"])}</span>' if t.get("error")
                   else json_block(t.get("result")))
                + "</div>"
                for t in message["tools"]
            )  # fmt: skip
            flag = "" if message["status"] in ("done", "streaming") else f" <em>({esc(message['status'])})</em>"
            waiting = "".join(
                f'<div data-pending="{esc(p["call_id"])}" style="color: #6a1b9a;">waiting for approval: '
                f"{code(p['tool'])} {esc(_short(p['arguments']))}</div>"
                for p in message.get("pending", [])
            )
            error = f'<div style="color: #c62828;">{esc(message["error"])}</div>' if message.get("error") else ""
            parts.append(
                f'<div data-role="{message["role"]}" style="margin: 6px 0;"><strong>{esc(who)}</strong>{flag}'
                f'{tools}<div style="white-space: pre-wrap;">{esc(message["text"])}</div>{waiting}{error}</div>'
            )
        body = "".join(parts) or "<em>No messages yet.</em>"
        thread = f"thread {code(self.thread_id)} of {code(self.resource_id)}" if self.thread_id else ""
        return card("Chat", self.agent_name, body, subtitle=thread)

    def __repr__(self) -> str:
        return f"ChatWidget({self.agent_name!r}, messages={len(self.messages)}, busy={self.busy})"


def _apply(answer: dict[str, Any], event: Any) -> None:
    """Fold one stream event into the answer being written."""
    if event.kind == "text-delta":
        answer["text"] += event.text
    elif event.kind == "tool-call":
        call = event.call
        answer["tools"].append({"id": call.id, "name": call.name, "arguments": _json(call.arguments),
                                "result": None, "error": None})  # fmt: skip
    elif event.kind == "approval-required":
        for card in answer["tools"]:
            if card["id"] == event.approval.call_id:
                card["waiting"] = True
    elif event.kind == "tool-result":
        done = event.result
        card = next((t for t in answer["tools"] if t["id"] == done.call_id), None)
        if card is None:
            card = {"id": done.call_id, "name": done.tool, "arguments": done.arguments}
            answer["tools"].append(card)
        _fill(card, done)


def _fill(card: dict[str, Any], done: Any) -> None:
    card["result"] = _plain(done.result)
    card["error"] = f"[{done.error.get('code')}] {done.error.get('message')}" if done.error else None
    card["waiting"] = False


def _finish(answer: dict[str, Any], result: AgentResult) -> None:
    """Fold a turn's (or a decision's) result into the answer: its text, every tool result, the calls still
    waiting for approval."""
    answer["text"] = result.text
    answer["scripted"] = result.scripted
    answer["run_id"] = result.run_id
    cards = {card["id"]: card for card in answer["tools"]}
    for done in result.tool_results:
        card = cards.get(done.call_id)
        if card is None:
            card = {"id": done.call_id, "name": done.tool, "arguments": _plain(done.arguments)}
            answer["tools"].append(card)
        _fill(card, done)
    answer["pending"] = [{"run_id": p.run_id, "call_id": p.call_id, "tool": p.tool, "arguments": _plain(p.arguments)}
                         for p in result.pending_approvals]  # fmt: skip
    for waiting in answer["pending"]:
        if waiting["call_id"] in cards:
            cards[waiting["call_id"]]["waiting"] = True


def _transcript(stored: list[MemoryMessage]) -> list[dict[str, Any]]:
    """A thread's stored messages as the chat shows them: tool results go into their call's card."""
    out: list[dict[str, Any]] = []
    cards: dict[str, dict[str, Any]] = {}
    for message in stored:
        if message.role == "system":
            continue
        if message.role == "tool":
            for part in message.content:
                card = cards.get(part.get("id", ""))
                if card is not None and part.get("type") == "tool-result":
                    card["result"] = _json(part.get("result"))
            continue
        if message.role == "assistant" and out and out[-1]["role"] == "assistant" and not out[-1]["text"]:
            item = out[-1]  # the tool-calling step and the answer after it: one answer, as it was streamed
        else:
            item = {"role": message.role, "text": "", "tools": [], "status": "done", "pending": []}
            out.append(item)
        item["text"] = message.text
        for part in message.content:
            if part.get("type") == "tool-call":
                card = {"id": part["id"], "name": part["name"], "arguments": _json(part.get("arguments")),
                        "result": None, "error": None}  # fmt: skip
                cards[card["id"]] = card
                item["tools"].append(card)
    return out


def _json(text: Any) -> Any:
    if not isinstance(text, str):
        return _plain(text)
    try:
        return json.loads(text)
    except ValueError:
        return text


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


def _short(value: Any) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= 200 else text[:199] + "…"
