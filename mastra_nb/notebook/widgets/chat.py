"""`ChatWidget`: a conversation with an agent: streaming answers, tool-call cards, a stop button.

```
 chat.js ──{"type": "send", text}──> send ──spawn──> agent.stream(history + text) ──events──> messages
         ──Throttle──> chat.js
 chat.js ──{"type": "stop"}──> stop: the turn's task is cancelled; the answer so far stays, marked stopped
```
The widget keeps the conversation it had (user turns and the agent's answers) and sends it with each new turn.
Text deltas are throttled like the graph's events, so a fast model does not send a message per token.
"""

from __future__ import annotations

import asyncio
import copy
import json
import threading
from typing import TYPE_CHECKING, Any

import traitlets

from ...errors import MastraError
from ..html import card, code, esc, json_block
from ._base import STATIC, MastraWidget, Throttle, css, spawn

if TYPE_CHECKING:
    from ...agents import Agent

__all__ = ["ChatWidget"]


class ChatWidget(MastraWidget):
    """A chat with `agent`.

    Args:
        agent: the agent to talk to.
        interval: the shortest time between two updates of a streaming answer sent to the front end, in seconds.
    """

    _esm = STATIC / "chat.js"
    _css = css("chat.css")

    agent_name = traitlets.Unicode("").tag(sync=True)
    # [{role, text, status, tools: [{id, name, arguments, result, error}]}]
    messages: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)
    busy = traitlets.Bool(False).tag(sync=True)

    def __init__(self, agent: Agent, *, interval: float = 0.05) -> None:
        super().__init__(agent_name=agent.name)
        self.agent = agent
        self.task: Any = None  # the turn under way, an asyncio task or a concurrent future
        self._lock = threading.Lock()
        self._messages: list[dict[str, Any]] = []
        self._history: list[dict[str, Any]] = []  # OpenAI-format messages of the finished turns
        self.throttle = Throttle(self._flush, interval)
        self.on_close(self.throttle.cancel)
        self.on_close(self.stop)
        self.on_msg(self._on_message)

    def _on_message(self, widget: Any, content: Any, buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        if content.get("type") == "send":
            self.send(str(content.get("text", "")))
        elif content.get("type") == "stop":
            self.stop()

    def send(self, text: str) -> Any:
        """Ask the agent `text` in the background; returns the turn's task (or future), or None when a turn is
        already under way or the text is empty."""
        text = text.strip()
        if not text or self.busy:
            return None
        with self._lock:
            self._messages += [
                {"role": "user", "text": text, "tools": [], "status": "done"},
                {"role": "assistant", "text": "", "tools": [], "status": "streaming"},
            ]
        self.busy = True
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
        try:
            async for event in self.agent.stream([*self._history, {"role": "user", "content": text}]):
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
            status, answer["error"] = "failed", f"{type(error).__name__}: {error}"
        with self._lock:
            answer["status"] = status
            if result is not None:
                answer["text"] = result.text
                answer["scripted"] = result.scripted
                answer["pending"] = [{"tool": p.tool, "call_id": p.call_id} for p in result.pending_approvals]
            if status == "done":
                self._history += [{"role": "user", "content": text}, {"role": "assistant", "content": answer["text"]}]
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
            error = f'<div style="color: #c62828;">{esc(message["error"])}</div>' if message.get("error") else ""
            parts.append(
                f'<div data-role="{message["role"]}" style="margin: 6px 0;"><strong>{esc(who)}</strong>{flag}'
                f'{tools}<div style="white-space: pre-wrap;">{esc(message["text"])}</div>{error}</div>'
            )
        body = "".join(parts) or "<em>No messages yet.</em>"
        return card("Chat", self.agent_name, body)

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
    elif event.kind == "tool-result":
        done = event.result
        card = next((t for t in answer["tools"] if t["id"] == done.call_id), None)
        if card is None:
            card = {"id": done.call_id, "name": done.tool, "arguments": done.arguments}
            answer["tools"].append(card)
        card["result"] = _plain(done.result)
        card["error"] = f"[{done.error.get('code')}] {done.error.get('message')}" if done.error else None


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
