"""Memory's vectors: one index per resource, and what memory does when its vector store fails.

Rows in storage are the truth; vectors only find them by meaning. So the vector store is an optional part: when it
errors or vanished (a folder deleted under a live hub, a closed store, a dead server), no turn fails. Recall comes
back empty, so a turn still gets its recent messages and working memory; the first failure of an outage is said
once (a `warning:raised` event on the hub's bus and a log line), and every degraded recall, write and re-index is
counted (`mastra_memory_degraded_total{operation}`).

What the index missed is remembered in storage, as key/value markers, so it survives a kernel restart:
- `memory:unindexed:<index>:<message id>`: a message whose vector could not be written;
- `memory:rebuild:<index>`: a resource whose index was found missing while storage holds its messages (its folder
  was deleted, say); the value holds the resource and, as the rebuild goes, a cursor (`after`, a `created_at`).
They are worked off in a background task (`Memory.later`, so `flush()` waits), at most `BATCH` messages each time a
vector write succeeds (the store is back) or a search succeeds while writes are not known to fail; the first such
operation in a process also finds the markers an earlier process left. `Memory.reindex()` works all of them off at
once. Vectors are upserted by message id, so a message indexed twice still has one vector.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Awaitable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import ErrorKind, MastraError
from ..events import WARNING_RAISED
from ..redaction import guard
from ..storage.compare import gte, is_in
from .messages import MemoryMessage

if TYPE_CHECKING:
    from ..vectors import VectorMatch
    from .memory import Memory

__all__ = ["BATCH", "REBUILD", "UNINDEXED", "Indexing", "StoreDown"]

UNINDEXED = "memory:unindexed:"
REBUILD = "memory:rebuild:"
BATCH = 32  # messages re-indexed per turn: the local embedder takes ~30 ms a message on a small machine
_TEXT_ROLES = ["user", "assistant"]
T = TypeVar("T")


class StoreDown(MastraError):
    """The vector store failed (not the caller): memory goes on without it, or `reindex` says so."""

    def __init__(self, store: Any, error: Exception) -> None:
        self.error = error
        self.error_code = getattr(error, "code", None) or type(error).__name__
        self.detail = error.message if isinstance(error, MastraError) else str(error)
        super().__init__(
            ErrorKind.SYSTEM, "MEMORY_VECTORS_UNAVAILABLE",
            f"The vector store {store!r} failed ({self.error_code}: {self.detail}); the messages it missed stay "
            "marked and are re-indexed once it works (`await memory.reindex()` tries again now).",
            retryable=True,
        )  # fmt: skip


async def _store(store: Any, call: Awaitable[T]) -> T:
    """Await one call of `store`; its failure becomes `StoreDown`, except a caller's mistake (a validation error)
    and a missing index, which the callers handle."""
    try:
        return await call
    except StoreDown:
        raise
    except MastraError as error:
        if error.kind is ErrorKind.VALIDATION or error.code == "VECTOR_INDEX_NOT_FOUND":
            raise
        raise StoreDown(store, error) from error
    except Exception as error:  # a store of the user's own may raise anything
        raise StoreDown(store, error) from error


def _missing_index(error: Exception) -> bool:
    return isinstance(error, MastraError) and error.code == "VECTOR_INDEX_NOT_FOUND"


class Indexing:
    """The vector side of one `Memory` (see the module docstring)."""

    def __init__(self, memory: Memory) -> None:
        self.memory = memory
        self.known: set[str] = set()  # indexes known to exist
        self._lock = threading.Lock()  # memory runs on the kernel's loop and on mastra_nb's private one
        self._failing: set[str] = set()  # operations failing now ("recall", "write"): an outage while not empty
        self._backlog: bool | None = None  # markers may wait; None: not looked for in this process yet
        self._catching_up = False
        self._rebuilding: set[str] = set()  # indexes whose rebuild was said (once each)
        self._inflight: Counter[str] = Counter()  # user and assistant messages per resource whose vectors are under way

    @property
    def degraded(self) -> bool:
        """Whether the vector store is failing now (recall is empty, vectors wait to be re-indexed)."""
        return bool(self._failing)

    def _logger(self) -> logging.Logger:
        hub = self.memory._hub
        return hub.get_logger("memory") if hub is not None else guard(logging.getLogger("mastra_nb.memory"))

    async def _call(self, call: Awaitable[T]) -> T:
        return await _store(self.memory.vector, call)

    # -- indexes -----------------------------------------------------------------------------------------------

    async def exists(self, resource_id: str) -> bool:
        """Whether the resource's index exists (asked of the store once, then known)."""
        index = self.memory.index_for(resource_id)
        if index not in self.known and index in await self.memory.vector.list_indexes():
            self.known.add(index)
        return index in self.known

    async def _ensure(self, resource_id: str, dimension: int) -> tuple[str, bool]:
        """The resource's index, created when missing (see `_missing`); whether it was missing."""
        index = self.memory.index_for(resource_id)
        if await self._call(self.exists(resource_id)):
            return index, False
        await self._missing(resource_id, index)
        await self._call(self.memory.vector.create_index(index, dimension, "cosine"))
        self.known.add(index)
        return index, True

    async def _missing(self, resource_id: str, index: str) -> None:
        """The resource's index is missing: it is rebuilt from storage when storage holds more of the resource's
        messages than those whose vectors are under way in this process (a new resource's first turns are not a
        loss). The marker is set before the index is made, so that a crash in between leaves a marker, not a gap."""
        storage = self.memory.storage
        stored = await storage.count("messages", {"resource_id": resource_id, "role": is_in(_TEXT_ROLES)})
        with self._lock:
            # `known` again: a write of this process may have made the index while storage was counted
            if stored <= self._inflight.get(resource_id, 0) or index in self.known:
                return
        marker = await storage.get(REBUILD + index)
        if not isinstance(marker, dict) or marker.get("after") is not None:  # lost again mid-rebuild: start over
            await storage.set(REBUILD + index, {"resource_id": resource_id, "after": None})
        with self._lock:
            self._backlog = True
            first = index not in self._rebuilding
            self._rebuilding.add(index)
        if not first:
            return
        message = (
            f"Memory's index `{index}` (resource `{resource_id}`) was missing from {self.memory.vector!r} while "
            f"storage holds {stored} of the resource's messages (was its folder deleted?): it is rebuilt from storage "
            f"in the background, and recall misses those messages until then."
        )
        self._say(message, "VECTOR_INDEX_MISSING", "recall")

    def expect(self, messages: Sequence[MemoryMessage]) -> Counter[str]:
        """Count messages whose vectors are about to be written (until `landed`)."""
        counts = Counter(m.resource_id for m in messages if m.role in _TEXT_ROLES)
        with self._lock:
            self._inflight.update(counts)
        return counts

    def landed(self, counts: Counter[str]) -> None:
        with self._lock:
            self._inflight.subtract(counts)
            self._inflight = +self._inflight  # drops the resources at zero

    # -- writes and searches -----------------------------------------------------------------------------------

    async def write(self, messages: Sequence[MemoryMessage], vectors: Mapping[str, list[float]]) -> None:
        """Upsert the vectors of text `messages` (by id) into their resources' indexes; what the store refuses is
        remembered for re-indexing."""
        for resource in dict.fromkeys(m.resource_id for m in messages):
            mine = [m for m in messages if m.resource_id == resource]
            try:
                await self._upsert(resource, mine, vectors)
            except StoreDown as down:
                await self._missed(resource, mine, down)
            else:
                self._worked("write")

    async def _upsert(
        self, resource: str, messages: Sequence[MemoryMessage], vectors: Mapping[str, list[float]]
    ) -> bool:
        """Upsert; whether the index had to be created (it was missing)."""
        dimension = len(vectors[messages[0].id])
        index, created = await self._ensure(resource, dimension)
        rows = (
            [m.id for m in messages],
            [vectors[m.id] for m in messages],
            [{"thread_id": m.thread_id, "role": m.role, "created_at": m.created_at.timestamp()} for m in messages],
            [m.text for m in messages],
        )
        try:
            await self._call(self.memory.vector.upsert(index, *rows))
        except MastraError as error:
            if not _missing_index(error):
                raise
            self.known.discard(index)  # it vanished since it was known (a folder deleted and made again)
            index, created = await self._ensure(resource, dimension)
            await self._call(self.memory.vector.upsert(index, *rows))
        return created

    async def search(
        self, resource_id: str, vector: Sequence[float], top_k: int, where: dict[str, Any] | None
    ) -> list[VectorMatch]:
        """The resource's matches; none while the store fails or the index is missing (then it is rebuilt)."""
        index = self.memory.index_for(resource_id)
        try:
            if await self._call(self.exists(resource_id)):
                found = await self._call(self.memory.vector.query(index, vector, top_k=top_k, filter=where))
            else:
                found = []
                await self._missing(resource_id, index)
        except StoreDown as down:
            self._degrade("recall", down)
            return []
        except MastraError as error:
            if not _missing_index(error):
                raise
            self.known.discard(index)  # it vanished since it was known
            await self._missing(resource_id, index)
            found = []
        self._worked("recall")
        return found

    # -- failures and recovery ---------------------------------------------------------------------------------

    async def _missed(self, resource: str, messages: Sequence[MemoryMessage], error: Exception) -> None:
        self._degrade("write", error)
        index = self.memory.index_for(resource)
        try:
            await self.memory.storage.mset({f"{UNINDEXED}{index}:{m.id}": {"resource_id": resource} for m in messages})
        except Exception as failure:
            self._logger().error(
                "Could not remember %d messages of resource `%s` for re-indexing (%s): only a rebuild of the "
                "resource's index will find them.", len(messages), resource, failure,
            )  # fmt: skip
        else:
            self._backlog = True

    def _degrade(self, operation: str, error: Exception) -> None:
        """Count a degraded operation; say the outage when it begins (once, not once per turn)."""
        hub = self.memory._hub
        if hub is not None:
            hub.metrics.memory_degraded.labels(operation).inc()
        with self._lock:
            first = not self._failing
            self._failing.add(operation)
        if not first:
            return
        down = error if isinstance(error, StoreDown) else StoreDown(self.memory.vector, error)
        code, detail = down.error_code, down.detail
        message = (
            f"Memory's vector store {self.memory.vector!r} failed ({code}: {detail}). Until it works again, recall "
            f"finds nothing (turns still get their recent messages and working memory) and the vectors of messages "
            f"saved meanwhile are kept for re-indexing when it is back. This is said once, not on every turn."
        )
        self._say(message, code, operation)

    def _say(self, message: str, code: str, operation: str) -> None:
        self._logger().warning("%s", message)
        hub = self.memory._hub
        if hub is not None:
            hub.events.emit(
                WARNING_RAISED,
                {"component": "memory", "operation": operation, "code": code,
                 "store": repr(self.memory.vector), "message": message},
            )  # fmt: skip

    def _worked(self, operation: str) -> None:
        """An operation succeeded: end its part of an outage, and work off a batch of markers if some may wait
        (after a search, only while writes are not known to fail: re-indexing would only fail again)."""
        with self._lock:
            was = bool(self._failing)
            self._failing.discard(operation)
            back = was and not self._failing
            start = self._backlog is not False and not self._catching_up and "write" not in self._failing
            if start:
                self._catching_up = True
        if back:
            self._logger().info(
                "Memory's vector store %r works again; what it missed is re-indexed.", self.memory.vector
            )
        if start:
            self.memory.later(self._catch_up())

    async def _catch_up(self) -> None:
        more = True
        try:
            _, more = await self.step(BATCH)
        except StoreDown as down:
            self._degrade("reindex", down)
        finally:
            with self._lock:
                self._backlog, self._catching_up = more, False

    # -- re-indexing -------------------------------------------------------------------------------------------

    async def step(self, limit: int) -> tuple[int, bool]:
        """Index up to `limit` messages the index missed; how many, and whether more wait.

        Raises:
            StoreDown: `MEMORY_VECTORS_UNAVAILABLE` when the vector store fails; the markers stay.
        """
        storage = self.memory.storage
        prefix = self.memory.index_for("").rsplit("-", 1)[0] + "-"  # this embedder's indexes
        done = 0
        keys = await storage.list(UNINDEXED + prefix)
        if keys:
            batch = keys[:limit]
            ids = [key.rsplit(":", 1)[1] for key in batch]
            rows = await storage.select("messages", where={"id": is_in(ids)})
            await self._index([MemoryMessage.from_row(r) for r in rows])  # deleted messages are just forgotten
            await storage.mdelete(batch)
            done = len(batch)
        rebuilds = await storage.list(REBUILD + prefix)
        left = len(keys) > limit
        for key in rebuilds:
            if done >= limit:
                left = True
                break
            marker = await storage.get(key)
            if not isinstance(marker, dict) or not isinstance(marker.get("resource_id"), str):
                await storage.delete(key)
                continue
            where: dict[str, Any] = {"resource_id": marker["resource_id"], "role": is_in(_TEXT_ROLES)}
            if marker.get("after"):
                where["created_at"] = gte(datetime.fromisoformat(marker["after"]))
            asked = limit - done
            rows = await storage.select("messages", where=where, order_by=["created_at", "id"], limit=asked)
            created = await self._index([MemoryMessage.from_row(r) for r in rows])
            done += len(rows)
            index = key[len(REBUILD) :]
            if index in created and marker.get("after"):
                left = True  # the index vanished again meanwhile: `_missing` started its marker over
            elif len(rows) < asked:
                await storage.delete(key)
                self._rebuilding.discard(index)
                self._announce(marker["resource_id"])
            else:
                await storage.set(key, {**marker, "after": rows[-1]["created_at"].isoformat()})
                left = True
        if done:
            self._logger().info("Re-indexed %d messages the vector index had missed.", done)
        return done, left

    async def _index(self, messages: Sequence[MemoryMessage]) -> set[str]:
        """Embed and upsert the text ones; the indexes that had to be made again."""
        texts = [m for m in messages if m.role in _TEXT_ROLES and m.text]
        if not texts:
            return set()
        vectors = dict(
            zip([m.id for m in texts], await self.memory.embedder.embed([m.text for m in texts]), strict=True)
        )
        created = set()
        for resource in dict.fromkeys(m.resource_id for m in texts):
            mine = [m for m in texts if m.resource_id == resource]
            if await self._upsert(resource, mine, vectors):
                created.add(self.memory.index_for(resource))
        return created

    def _announce(self, resource_id: str) -> None:
        self.memory._announce("reindexed", resource_id=resource_id)
