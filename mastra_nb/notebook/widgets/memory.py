"""`MemoryView`: what a `Memory` keeps for one resource: its threads, a thread's messages, the working memory
(editable) and a semantic search box.

```
 memory.list_threads(resource) ──> threads ──> memory.js;  pick one ──> memory.list_messages(thread) ──> messages
 memory.js ──{"type": "save", value}──> memory.update_working_memory(...)  (refused: the error inline, nothing stored)
 memory.js ──{"type": "search", query}──> memory.recall(query, resource_id=...) ──> results
 hub events memory:updated ──Throttle──> the threads, messages and working memory read again
```
Every read and write runs in the background (`spawn`), so a click never blocks the kernel.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

import traitlets

from ...display.html import card, code, esc, table
from ...errors import MastraError
from ...events import MEMORY_UPDATED
from ._base import MastraWidget, Throttle, css, esm, spawn

if TYPE_CHECKING:
    from ...events import Event
    from ...mastra import Mastra
    from ...memory import Memory, MemoryMessage

__all__ = ["MemoryView"]

_TEXT_CHARS = 2000


class MemoryView(MastraWidget):
    """The memory of `resource_id`: threads, messages, working memory and search.

    Args:
        memory: the `Memory` to show.
        resource_id: whose threads (a user, an account).
        hub: the hub whose `memory:updated` events refresh the view (none: refresh by hand).
        limit: how many threads to list, most recently active first.
    """

    _esm = esm("memory.js")
    _css = css("memory.css")

    resource_id = traitlets.Unicode("").tag(sync=True)
    threads: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)
    thread_id = traitlets.Unicode("").tag(sync=True)
    messages: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)
    # {"enabled", "scope", "schema" (a JSON schema or None), "value" (the stored text or None)}
    working: traitlets.Dict[str, Any] = traitlets.Dict().tag(sync=True)
    working_error = traitlets.Unicode("").tag(sync=True)
    working_saved = traitlets.Unicode("").tag(sync=True)
    query = traitlets.Unicode("").tag(sync=True)
    results: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)

    def __init__(self, memory: Memory, resource_id: str, *, hub: Mastra | None = None, limit: int = 20) -> None:
        super().__init__(resource_id=resource_id)
        self.memory = memory
        self.limit = limit
        self.task: Any = None
        self.throttle = Throttle(self.reload, 0.3)
        self.on_close(self.throttle.cancel)
        if hub is not None:
            self.on_close(hub.events.subscribe(MEMORY_UPDATED, self._on_event).unsubscribe)
        self.on_msg(self._on_message)
        self.reload()

    # -- what the front end asks for ---------------------------------------------------------------------------

    def _on_message(self, widget: Any, content: Any, buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        kind = content.get("type")
        if kind == "resource":
            self.show_resource(str(content.get("resource_id", "")))
        elif kind == "thread":
            self.open_thread(str(content.get("thread_id", "")))
        elif kind == "save":
            self.save_working_memory(str(content.get("value", "")))
        elif kind == "search":
            self.search(str(content.get("query", "")))
        elif kind == "refresh":
            self.reload()

    def _on_event(self, event: Event) -> None:
        payload = event.payload
        if payload.get("resource_id") in (None, self.resource_id) or payload.get("thread_id") == self.thread_id:
            self.throttle.touch()

    def show_resource(self, resource_id: str) -> Any:
        """Show another resource's memory; returns the background task."""
        resource_id = resource_id.strip()
        if not resource_id:
            self.message = "Name a resource (a user, an account) to show its memory."
            return None
        with self.hold_sync():
            self.resource_id, self.thread_id, self.messages, self.results, self.query = resource_id, "", [], [], ""
        return self.reload()

    def open_thread(self, thread_id: str) -> Any:
        """Show a thread's messages (and its working memory, when that is kept per thread)."""
        self.thread_id = thread_id
        return self.reload()

    def reload(self) -> Any:
        """Read the threads, the open thread's messages and the working memory again, in the background."""
        self.task = spawn(self._guard(self._reload()))
        return self.task

    def save_working_memory(self, value: str) -> Any:
        """Store `value` as the working memory (JSON text when it has a schema), validated by
        `memory.update_working_memory`; a refused value leaves what is stored and shows the error."""
        self.task = spawn(self._save(value))
        return self.task

    def search(self, query: str) -> Any:
        """Messages of the resource related in meaning to `query` (`memory.recall`), with their neighbours."""
        self.query = query.strip()
        if not self.query:
            self.results = []
            return None
        self.task = spawn(self._guard(self._search(self.query)))
        return self.task

    # -- the work, in the background -------------------------------------------------------------------------

    async def _guard(self, work: Any) -> None:
        try:
            await work
        except MastraError as error:  # shown in the view: a background task has no cell to fail
            self.message = f"[{error.code}] {error.message}"

    async def _reload(self) -> None:
        memory, resource = self.memory, self.resource_id
        threads = await memory.list_threads(resource, limit=self.limit)
        if self.thread_id and not any(t.id == self.thread_id for t in threads):
            found = await memory.get_thread(self.thread_id)
            if found is not None and found.resource_id == resource:
                threads.append(found)
        messages = [_message(m) for m in await memory.list_messages(self.thread_id)] if self.thread_id else []
        working = await self._working()
        if self.closed:
            return
        with self.hold_sync():
            self.threads = [
                {"id": t.id, "title": t.title or "", "updated_at": _when(t.updated_at),
                 "cloned_from": t.metadata.get("cloned_from")}
                for t in threads
            ]  # fmt: skip
            self.messages = messages
            self.working = working
            self.message = ""

    async def _working(self) -> dict[str, Any]:
        settings = self.memory.options.working_memory
        if settings is None or not settings.enabled:
            return {"enabled": False, "scope": None, "schema": None, "value": None}
        schema = settings.schema_.model_json_schema() if settings.schema_ is not None else None
        value: str | None = None
        if settings.scope == "resource":
            value = await self.memory.get_working_memory(resource_id=self.resource_id)
        elif self.thread_id:
            value = await self.memory.get_working_memory(thread_id=self.thread_id)
        if value is None and schema is None:
            value = settings.template if settings.scope == "resource" or self.thread_id else None
        return {"enabled": True, "scope": settings.scope, "schema": schema, "value": value}

    async def _save(self, value: str) -> None:
        settings = self.memory.options.working_memory
        scope = settings.scope if settings is not None else "resource"
        resource, thread = (self.resource_id, None) if scope == "resource" else (None, self.thread_id)
        if scope == "thread" and not self.thread_id:
            self.working_error = "This working memory is kept per thread: open a thread first."
            return
        given: Any = value
        if settings is not None and settings.schema_ is not None:
            try:
                given = json.loads(value)
            except ValueError as error:
                self.working_error, self.working_saved = f"not valid JSON: {error}", ""
                return
        try:
            stored = await self.memory.update_working_memory(given, resource_id=resource, thread_id=thread)
        except MastraError as error:
            self.working_error, self.working_saved = _explain(error), ""
            return
        with self.hold_sync():
            self.working = {**self.working, "value": stored}
            self.working_error, self.working_saved = "", "Saved."

    async def _search(self, query: str) -> None:
        found = await self.memory.recall(query, resource_id=self.resource_id)
        titles = {t["id"]: t["title"] for t in self.threads}
        self.results = [
            {**_message(r.message), "score": None if r.score is None else round(r.score, 4), "matched": r.matched,
             "thread_title": titles.get(r.message.thread_id, "")}
            for r in found
        ]  # fmt: skip

    # -- the static snapshot ---------------------------------------------------------------------------------

    def snapshot(self) -> str:
        threads = table(
            ["thread", "title", "updated"],
            [[code(t["id"]), esc(t["title"]), esc(t["updated_at"])] for t in self.threads],
            kind="threads",
        )
        sections = [f"<strong>Threads</strong>{threads}"]
        if self.thread_id:
            lines = "".join(
                f'<div data-role="{esc(m["role"])}" style="margin: 3px 0;"><strong>{esc(m["role"])}</strong> '
                f'<span style="white-space: pre-wrap;">{esc(m["text"] or _tools(m))}</span></div>'
                for m in self.messages
            )
            sections.append(f"<strong>Thread {code(self.thread_id)}</strong>{lines or '<em>No messages.</em>'}")
        working = self.working
        if working.get("enabled"):
            value = working.get("value")
            shown = f'<pre style="white-space: pre-wrap;">{esc(value)}</pre>' if value else "<em>empty</em>"
            sections.append(f"<strong>Working memory</strong> ({esc(working.get('scope'))} scope){shown}")
        if self.query:
            hits = table(
                ["score", "thread", "role", "text"],
                [[esc("" if r["score"] is None else f"{r['score']:.3f}"), code(r["thread_id"]), esc(r["role"]),
                  esc(r["text"])] for r in self.results],
                kind="recall",
            )  # fmt: skip
            sections.append(f"<strong>Search</strong> {esc(self.query)}{hits}")
        return card("Memory", self.resource_id, *sections)

    def __repr__(self) -> str:
        return f"MemoryView({self.resource_id!r}, threads={len(self.threads)}, thread={self.thread_id!r})"


def _message(message: MemoryMessage) -> dict[str, Any]:
    text = message.text
    return {
        "id": message.id, "thread_id": message.thread_id, "role": message.role,
        "text": text if len(text) <= _TEXT_CHARS else text[:_TEXT_CHARS] + "…",
        "tools": message.tool_names, "created_at": _when(message.created_at),
    }  # fmt: skip


def _tools(message: dict[str, Any]) -> str:
    return ", ".join(message["tools"])


def _when(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value is not None else ""


def _explain(error: MastraError) -> str:
    """The error's message, with each field error it names (`MastraError.from_validation`'s details)."""
    fields = error.details.get("errors") if isinstance(error.details, dict) else None
    if not fields:
        return f"[{error.code}] {error.message}"
    named = "; ".join(f"{f.get('field') or '(value)'}: {f.get('expected')}" for f in fields)
    return f"[{error.code}] {named}"
