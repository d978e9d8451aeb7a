"""`Memory`: threads and messages in storage, their vectors in a vector store, working memory per resource.

Rows live in the storage's `threads`, `messages` and `resources` tables; each text message's vector lives in
its resource's index (`index_for`), with the message's thread and role as metadata, so recall searches a
resource without a filter and a thread with one. Vectors are written after the rows, and an agent turn leaves
the assistant's vectors to a background task (`flush()` waits for it): a reply never waits on embedding its own
text. The vector store is optional: while it fails, recall is empty and what it missed is re-indexed once it is
back (`_indexing`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import uuid
from collections.abc import Collection, Coroutine, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ..errors import ErrorKind, MastraError, shown
from ..events import MEMORY_UPDATED
from ..limits import check_bounds, check_id
from ..models.types import Message
from ..redaction import hide_known
from ..storage.base import DeleteRowsOp, UpsertOp
from ..storage.compare import is_in
from ..storage.tables import dump_json
from . import working
from ._context import messages_around
from ._indexing import BATCH, Indexing
from .messages import MemoryMessage, RecalledMessage, Thread, from_openai
from .options import MemoryOptions, MessageRange, SemanticRecall, WorkingMemory

if TYPE_CHECKING:
    from ..mastra import Mastra
    from ..storage.base import Storage
    from ..vectors import Embedder, VectorStore

__all__ = ["Memory"]


_THREAD_ORDERS = ("-updated_at", "updated_at", "-created_at", "created_at")


class Memory:
    """Conversation memory for agents: history, semantic recall and working memory.

    Args:
        storage: where threads and messages live; by default the hub's storage once an agent using this memory
            is registered, else an `InMemoryStore` of its own.
        vector: where message vectors live; by default the hub's vector store (a Chroma folder beside the
            DuckDB file), else a temporary Chroma folder of its own.
        embedder: by default the local all-MiniLM-L6-v2 embedder (no API key, no download).
        options: a `MemoryOptions` or a dict of its fields (`{"last_messages": 20, "working_memory": True}`).
    """

    def __init__(
        self,
        storage: Storage | None = None,
        vector: VectorStore | None = None,
        embedder: Embedder | None = None,
        options: MemoryOptions | Mapping[str, Any] | None = None,
    ) -> None:
        try:
            self.options = (
                options if isinstance(options, MemoryOptions) else MemoryOptions.model_validate(options or {})
            )
        except ValidationError as error:
            raise MastraError.from_validation(
                error, code="MEMORY_OPTIONS_INVALID", subject="`Memory(options=...)`"
            ) from None
        self._storage = storage
        self._vector = vector
        self._embedder = embedder
        self._hub: Mastra | None = None
        self._owned: list[Any] = []
        self._indexing = Indexing(self)
        self._pending: set[asyncio.Task[None]] = set()

    # -- services ----------------------------------------------------------------------------------------------

    def bind(self, mastra: Mastra) -> Memory:
        """Take the hub's storage, vector store and events for what was not given explicitly."""
        self._hub = mastra
        return self

    @property
    def storage(self) -> Storage:
        if self._storage is None:
            if self._hub is not None:
                return self._hub.storage
            from ..storage.memory import InMemoryStore

            self._storage = InMemoryStore()
            self._owned.append(self._storage)
        return self._storage

    @property
    def vector(self) -> VectorStore:
        if self._vector is None:
            if self._hub is not None:
                return self._hub.vectors
            from ..vectors import ChromaVectorStore

            self._vector = ChromaVectorStore()
            self._owned.append(self._vector)
        return self._vector

    @property
    def vector_opened(self) -> VectorStore | None:
        """The vector store in use, or None while none was needed yet (checking it must not create one)."""
        if self._vector is not None:
            return self._vector
        return self._hub.vectors_opened if self._hub is not None else None

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            from ..vectors import default_embedder

            self._embedder = default_embedder()
        return self._embedder

    def index_for(self, resource_id: str) -> str:
        """The vector index of a resource's messages: one per resource, so recall needs no filter to stay within
        the resource (Chroma's filtered search slows with the number of matching vectors: ~0.4 s at 100,000
        against ~2 ms unfiltered), and one per embedding model, so vectors of two models never mix."""
        model = re.sub(r"[^A-Za-z0-9._-]+", "-", self.embedder.name).strip("-._")[:60]
        return f"memory-{model}-{hashlib.sha1(resource_id.encode()).hexdigest()[:16]}"

    # -- threads -----------------------------------------------------------------------------------------------

    async def create_thread(
        self,
        resource_id: str,
        *,
        thread_id: str | None = None,
        title: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Thread:
        """Create a thread of `resource_id` (a new id unless `thread_id` is given)."""
        _check_id(resource_id, "resource_id")
        _check_metadata(title, metadata)
        now = _now()
        thread = Thread(thread_id or uuid.uuid4().hex, resource_id, title, dict(metadata or {}), now, now)
        _check_id(thread.id, "thread_id")
        if await self.get_thread(thread.id) is not None:
            raise MastraError(ErrorKind.DOMAIN, "MEMORY_THREAD_EXISTS", f"Thread `{thread.id}` exists already.")
        await self.storage.upsert("threads", [thread.to_row()])
        return thread

    async def get_thread(self, thread_id: str) -> Thread | None:
        # Every id is checked to be a plain str of sane length: the error names `thread_id`, and storage would
        # refuse a mapping such as `{"$ne": ""}` anyway (a value in `where` is never read as operators).
        rows = await self.storage.select("threads", where={"id": _check_id(thread_id, "thread_id")})
        return Thread.from_row(rows[0]) if rows else None

    async def list_threads(
        self, resource_id: str, *, limit: int = 20, offset: int = 0, order_by: str = "-updated_at"
    ) -> list[Thread]:
        """The resource's threads, most recently active first (or by `order_by`: `created_at` or `updated_at`,
        with a leading "-" for newest first), a page at a time."""
        where = {"resource_id": _check_id(resource_id, "resource_id")}
        if order_by not in _THREAD_ORDERS:
            raise MastraError(
                ErrorKind.VALIDATION, "MEMORY_ORDER_INVALID",
                f"`order_by` must be one of {', '.join(_THREAD_ORDERS)}, got {shown(order_by)}.",
                details={"errors": [{"field": "order_by", "expected": ", ".join(_THREAD_ORDERS)}]},
            )  # fmt: skip
        rows = await self.storage.select("threads", where=where, order_by=order_by, limit=limit, offset=offset)
        return [Thread.from_row(r) for r in rows]

    async def count_threads(self, resource_id: str) -> int:
        """How many threads the resource has."""
        return await self.storage.count("threads", {"resource_id": _check_id(resource_id, "resource_id")})

    async def update_thread(
        self, thread_id: str, *, title: str | None = None, metadata: Mapping[str, Any] | None = None
    ) -> Thread:
        """Change a thread's title and/or metadata (metadata is replaced, not merged)."""
        _check_metadata(title, metadata)
        thread = await self._thread(thread_id)
        changed = Thread(
            thread.id,
            thread.resource_id,
            title if title is not None else thread.title,
            dict(metadata) if metadata is not None else thread.metadata,
            thread.created_at,
            _now(),
        )
        await self.storage.upsert("threads", [changed.to_row()])
        return changed

    async def delete_thread(self, thread_id: str) -> bool:
        """Delete a thread, its messages and their vectors; returns whether it existed."""
        thread = await self.get_thread(thread_id)
        if thread is None:
            return False
        await self.flush()
        if await self._has_index(thread.resource_id):
            await self.vector.delete(self.index_for(thread.resource_id), filter={"thread_id": thread_id})
        await self.storage.transaction(
            [DeleteRowsOp("messages", {"thread_id": thread_id}), DeleteRowsOp("threads", {"id": thread_id})]
        )
        self._announce("thread_deleted", thread_id=thread_id)
        return True

    async def clone_thread(
        self,
        thread_id: str,
        *,
        new_thread_id: str | None = None,
        title: str | None = None,
        resource_id: str | None = None,
    ) -> Thread:
        """A copy of a thread with all its messages (new ids), e.g. to try another turn without losing this one."""
        source = await self._thread(thread_id)
        metadata = {**source.metadata, "cloned_from": source.id}
        thread = await self.create_thread(
            resource_id or source.resource_id, thread_id=new_thread_id, title=title or source.title, metadata=metadata
        )
        messages = await self.list_messages(thread_id)
        copies = [
            MemoryMessage(uuid.uuid4().hex, thread.id, thread.resource_id, m.role, m.content, m.created_at)
            for m in messages
        ]
        await self._store(thread, copies)
        await self.write_vectors(copies)
        return thread

    # -- messages ----------------------------------------------------------------------------------------------

    async def save_messages(
        self, thread_id: str, messages: str | Message | Sequence[str | Message], *, resource_id: str | None = None
    ) -> list[MemoryMessage]:
        """Append messages (str for a user message, or OpenAI-format dicts) to a thread, creating the thread
        for `resource_id` when it does not exist; their vectors are written before this returns."""
        openai = _given_messages(messages)  # checked before the thread is made: a refusal must store nothing
        thread = await self.thread_for(thread_id, resource_id)
        saved = await self.append(thread, openai)
        await self.write_vectors(saved)
        return saved

    async def list_messages(self, thread_id: str, *, last: int | None = None) -> list[MemoryMessage]:
        """A thread's messages, oldest first; with `last`, only the latest `last` of them."""
        _check_id(thread_id, "thread_id")
        if last is not None:
            rows = await self.storage.select(
                "messages", where={"thread_id": thread_id}, order_by="-created_at", limit=last
            )
            rows.reverse()
        else:
            rows = await self.storage.select("messages", where={"thread_id": thread_id}, order_by="created_at")
        return [MemoryMessage.from_row(r) for r in rows]

    async def get_messages(self, ids: Sequence[str]) -> list[MemoryMessage]:
        """The stored messages among `ids` (ids not stored are skipped), oldest first."""
        if isinstance(ids, str):  # one id, not its characters
            ids = [ids]
        ids = [_check_id(i, "ids[]") for i in ids]
        rows = await self.storage.select("messages", where={"id": is_in(ids)}, order_by="created_at") if ids else []
        return [MemoryMessage.from_row(r) for r in rows]

    async def delete_messages(self, ids: Sequence[str]) -> int:
        """Delete messages (and their vectors) by id; returns how many rows were deleted."""
        if isinstance(ids, str):
            ids = [ids]
        ids = [_check_id(i, "ids[]") for i in ids]
        if not ids:
            return 0
        await self.flush()
        rows = await self.storage.select("messages", where={"id": is_in(ids)})
        for resource in {r["resource_id"] for r in rows}:
            if await self._has_index(resource):
                await self.vector.delete(
                    self.index_for(resource), ids=[r["id"] for r in rows if r["resource_id"] == resource]
                )
        return await self.storage.delete_rows("messages", {"id": is_in(ids)})

    # -- recall ------------------------------------------------------------------------------------------------

    async def recall(
        self,
        query: str | Sequence[float],
        *,
        resource_id: str | None = None,
        thread_id: str | None = None,
        top_k: int | None = None,
        message_range: int | MessageRange | None = None,
        exclude: Collection[str] = (),
    ) -> list[RecalledMessage]:
        """Past messages related in meaning to `query` (a text, or its vector), with their neighbours.

        Searches the resource's threads when `resource_id` is given, else the thread `thread_id`. Results are
        grouped by thread and in conversation order; `matched` marks the messages the search found. Messages in
        `exclude` (a turn's history, which the model sees anyway) are not among the `top_k` matches.
        """
        if resource_id is None and thread_id is None:
            raise MastraError(
                ErrorKind.VALIDATION,
                "MEMORY_SCOPE_MISSING",
                "`recall` needs `resource_id=` or `thread_id=` to say where to search.",
            )
        settings = self.options.semantic_recall or SemanticRecall()
        span = message_range if message_range is not None else settings.message_range
        span = MessageRange(before=span, after=span) if isinstance(span, int) else span
        where: dict[str, Any] | None = None
        if resource_id is None:
            assert thread_id is not None
            resource_id, where = (await self._thread(thread_id)).resource_id, {"thread_id": thread_id}
        _check_id(resource_id, "resource_id")
        vector = await self.embedder.embed_one(query) if isinstance(query, str) else list(query)
        wanted = top_k or settings.top_k
        skipped = set(exclude)
        matches = await self._indexing.search(resource_id, vector, wanted + len(skipped), where)
        matches = [m for m in matches if m.id not in skipped][:wanted]
        if not matches:
            return []
        rows = await messages_around(self.storage, [m.id for m in matches], span.before, span.after)
        scores = {m.id: m.score for m in matches}
        return [
            RecalledMessage(MemoryMessage.from_row(row), scores.get(row["id"]), row["id"] in scores) for row in rows
        ]

    # -- working memory ----------------------------------------------------------------------------------------

    async def get_working_memory(self, *, resource_id: str | None = None, thread_id: str | None = None) -> str | None:
        """The stored working memory (markdown, or a schema's JSON) of the resource or thread its scope names."""
        settings = self._working()
        if settings.scope == "resource":
            rows = await self.storage.select("resources", where={"id": _need(resource_id, "resource_id")})
            return rows[0]["working_memory"] if rows else None
        thread = await self.get_thread(_need(thread_id, "thread_id"))
        return thread.metadata.get("working_memory") if thread is not None else None

    async def update_working_memory(
        self,
        value: str | Mapping[str, Any],
        *,
        resource_id: str | None = None,
        thread_id: str | None = None,
        merge: bool = False,
    ) -> str:
        """Store working memory: markdown, or (with a schema) an object; `merge=True` patches the stored object.

        Raises:
            MastraError: `MEMORY_WORKING_INVALID` naming the field when the result does not match the schema;
                nothing is stored then.
        """
        settings = self._working()
        if merge and settings.schema_ is not None:
            current = await self.get_working_memory(resource_id=resource_id, thread_id=thread_id)
            value = working.merge(json.loads(current) if current else {}, value)
        text = working.validated(settings, value)
        if settings.scope == "resource":
            resource = _need(resource_id, "resource_id")
            rows = await self.storage.select("resources", where={"id": resource})
            metadata = rows[0]["metadata"] if rows else {}
            await self.storage.upsert(
                "resources", [{"id": resource, "working_memory": text, "metadata": metadata, "updated_at": _now()}]
            )
        else:
            thread = await self._thread(_need(thread_id, "thread_id"))
            await self.update_thread(thread.id, metadata={**thread.metadata, "working_memory": text})
        self._announce("working_memory", resource_id=resource_id, thread_id=thread_id)
        return text

    def _working(self) -> WorkingMemory:
        return self.options.working_memory or WorkingMemory()

    # -- used by agent turns -----------------------------------------------------------------------------------

    async def thread_for(self, thread_id: str, resource_id: str | None) -> Thread:
        """The thread, created for `resource_id` when new; a thread of another resource is an error."""
        _check_id(thread_id, "thread_id")
        thread = await self.get_thread(thread_id)
        if thread is None:
            if resource_id is None:
                raise MastraError(
                    ErrorKind.VALIDATION,
                    "MEMORY_RESOURCE_MISSING",
                    f"Thread `{thread_id}` does not exist; pass `resource_id=` to create it.",
                )
            return await self.create_thread(resource_id, thread_id=thread_id)
        if resource_id is not None and thread.resource_id != resource_id:
            raise MastraError(
                ErrorKind.DOMAIN,
                "MEMORY_THREAD_OTHER_RESOURCE",
                f"Thread `{thread_id}` belongs to resource `{thread.resource_id}`, not `{resource_id}`.",
            )
        return thread

    async def append(self, thread: Thread, messages: Sequence[Message]) -> list[MemoryMessage]:
        """Store OpenAI-format messages at the end of a thread (no vectors yet); returns them as stored, with any
        known secret (a model's key, a secret environment variable) masked: a thread outlives the turn it was said in.
        """
        start = _now()
        saved = [
            MemoryMessage(
                uuid.uuid4().hex,
                thread.id,
                thread.resource_id,
                role,
                hide_known(parts),
                start + timedelta(microseconds=i),
            )
            for i, (role, parts) in enumerate(from_openai(messages))
        ]
        await self._store(thread, saved)
        return saved

    async def _store(self, thread: Thread, messages: list[MemoryMessage]) -> None:
        if not messages:
            return
        current = await self.get_thread(thread.id) or thread  # the turn's tools may have changed its metadata
        touched = Thread(current.id, current.resource_id, current.title, current.metadata, current.created_at, _now())
        await self.storage.transaction(
            [UpsertOp("messages", [m.to_row() for m in messages]), UpsertOp("threads", [touched.to_row()])]
        )
        self._announce("messages_saved", thread_id=thread.id, resource_id=thread.resource_id, count=len(messages))

    async def write_vectors(
        self, messages: Sequence[MemoryMessage], known: Mapping[str, list[float]] | None = None
    ) -> None:
        """Write the vectors of the messages that have text; `known` holds vectors already computed, by id. While
        the vector store fails they are kept for re-indexing instead (see `reindex`)."""
        expected = self._indexing.expect(messages)
        try:
            await self._write_vectors(messages, known)
        finally:
            self._indexing.landed(expected)

    def write_vectors_later(
        self, messages: Sequence[MemoryMessage], known: Mapping[str, list[float]] | None = None
    ) -> None:
        """`write_vectors` in a background task (`flush()` waits). Counted as under way from now: a recall in the
        meantime that finds the resource's index missing does not take these stored messages for lost ones."""
        expected = self._indexing.expect(messages)

        async def write() -> None:
            try:
                await self._write_vectors(messages, known)
            finally:
                self._indexing.landed(expected)

        self.later(write())

    async def _write_vectors(self, messages: Sequence[MemoryMessage], known: Mapping[str, list[float]] | None) -> None:
        if self.options.semantic_recall is None:
            return
        texts = [m for m in messages if m.role in ("user", "assistant") and m.text]
        if not texts:
            return
        known = known or {}
        missing = [m for m in texts if m.id not in known]
        computed = dict(
            zip(
                [m.id for m in missing],
                await self.embedder.embed([m.text for m in missing]) if missing else [],
                strict=True,
            )
        )
        vectors = {m.id: known.get(m.id) or computed[m.id] for m in texts}
        await self._indexing.write(texts, vectors)

    async def reindex(self) -> int:
        """Index now every message the vector store missed: while it failed, or since its index was lost (its
        folder deleted). Turns do this by themselves in the background, a few messages at a time, once the store
        works; this does all of it. Returns how many messages were indexed.

        Raises:
            MastraError: `MEMORY_VECTORS_UNAVAILABLE` when the vector store still fails; what is left stays marked.
        """
        await self.flush()
        total, more = 0, True
        while more:
            done, more = await self._indexing.step(BATCH)
            total += done
        return total

    def later(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` (writing vectors, naming a thread) in a background task of the running loop; `flush()`
        waits for it."""
        task = asyncio.get_running_loop().create_task(work)
        self._pending.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            hub = self._hub
            logger = hub.get_logger("memory") if hub is not None else None
            if logger is not None:
                logger.error("A background memory write failed: %s", task.exception())

    async def flush(self) -> None:
        """Wait for the vectors being written in the background, on whichever loop they run: a notebook's `%%ask`
        runs its turn on mastra_nb's private loop, a cell's `await memory.flush()` on the kernel's."""
        loop = asyncio.get_running_loop()
        while self._pending:
            pending = list(self._pending)
            await asyncio.gather(
                *(t if t.get_loop() is loop else _ended(t, loop) for t in pending), return_exceptions=True
            )

    async def _has_index(self, resource_id: str) -> bool:
        return await self._indexing.exists(resource_id)

    async def _thread(self, thread_id: str) -> Thread:
        thread = await self.get_thread(thread_id)
        if thread is None:
            raise MastraError(ErrorKind.DOMAIN, "MEMORY_THREAD_NOT_FOUND", f"There is no thread `{thread_id}`.")
        return thread

    def _announce(self, action: str, **payload: Any) -> None:
        if self._hub is not None:
            self._hub.events.emit(MEMORY_UPDATED, {"action": action, **payload})

    async def close(self) -> None:
        """Finish background writes and close the stores this memory made for itself."""
        await self.flush()
        for owned in reversed(self._owned):
            await owned.close()
        self._owned.clear()

    def __repr__(self) -> str:
        options = self.options
        return (
            f"Memory(last_messages={options.last_messages}, semantic_recall={options.semantic_recall is not None}, "
            f"working_memory={options.working_memory is not None})"
        )


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _check_id(value: Any, name: str) -> str:
    return check_id(value, name, "MEMORY_ID_INVALID")


def _given_messages(messages: Any) -> list[Message]:
    """The messages a caller gave `save_messages` as OpenAI-format dicts, or a validation error naming the first
    bad one."""
    items = [messages] if isinstance(messages, str | Mapping) else messages
    if not isinstance(items, Sequence):
        items = [items]
    openai: list[Any] = [{"role": "user", "content": m} if isinstance(m, str) else m for m in items]
    check_bounds(openai, code="MEMORY_MESSAGE_INVALID", subject="messages")
    for position, message in enumerate(openai):
        content = message.get("content") if isinstance(message, Mapping) else None
        texts = content if isinstance(content, list) else [{"type": "text", "text": content}]
        if (
            not isinstance(message, Mapping)
            or not (content is None or isinstance(content, (str, list)))
            or not all(isinstance(p, Mapping) and isinstance(p.get("text", ""), (str, type(None))) for p in texts)
        ):
            raise MastraError(
                ErrorKind.VALIDATION, "MEMORY_MESSAGE_INVALID",
                f"Message {position} must be a str or an OpenAI-format dict (`role`, and `content` as a str, a list "
                f"of parts or None), got {shown(message)}.",
                details={"errors": [{"field": f"[{position}]", "expected": "a str or an OpenAI-format message"}]},
            )  # fmt: skip
    dump_json(openai, "`messages`")  # what no store can keep (a lone surrogate, a non-str key) is refused now
    try:
        from_openai(openai)  # the role and the tool calls are checked by the conversion itself
    except (KeyError, TypeError, AttributeError) as error:
        raise MastraError(
            ErrorKind.VALIDATION, "MEMORY_MESSAGE_INVALID",
            f"The messages' tool calls must be OpenAI-format (`id`, `function.name`, `function.arguments`): {error!r}.",
            details={"errors": [{"field": "tool_calls", "expected": "OpenAI-format tool calls"}]},
        ) from None  # fmt: skip
    return [dict(m) for m in openai]


def _check_metadata(title: Any, metadata: Any) -> None:
    if title is not None and not isinstance(title, str):
        raise MastraError(
            ErrorKind.VALIDATION, "MEMORY_THREAD_INVALID",
            f"`title` must be a str or None, got {type(title).__name__}.",
            details={"errors": [{"field": "title", "expected": "a str or None"}]},
        )  # fmt: skip
    if metadata is None:
        return
    if not isinstance(metadata, Mapping) or not all(isinstance(key, str) for key in metadata):
        raise MastraError(
            ErrorKind.VALIDATION, "MEMORY_THREAD_INVALID",
            f"`metadata` must be a mapping with str keys, got {shown(metadata)}.",
            details={"errors": [{"field": "metadata", "expected": "a mapping with str keys"}]},
        )  # fmt: skip
    check_bounds(metadata, code="MEMORY_THREAD_INVALID", subject="thread `metadata`")


def _need(value: str | None, name: str) -> str:
    if value is None:
        raise MastraError(ErrorKind.VALIDATION, "MEMORY_SCOPE_MISSING", f"This working memory's scope needs `{name}=`.")
    return _check_id(value, name)


def _ended(task: asyncio.Task[None], loop: asyncio.AbstractEventLoop) -> asyncio.Future[None]:
    """A future of `loop` that is done once `task`, running on another loop (in its own thread), is done."""
    ended: asyncio.Future[None] = loop.create_future()

    def end() -> None:
        if not ended.done():  # a canceled flush leaves it canceled
            ended.set_result(None)

    def tell(_: asyncio.Task[None]) -> None:
        loop.call_soon_threadsafe(end)

    task.get_loop().call_soon_threadsafe(task.add_done_callback, tell)  # callbacks are added on the task's thread
    return ended
