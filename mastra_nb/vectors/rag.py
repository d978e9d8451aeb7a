"""RAG helpers: `ingest` documents into an index (chunk, embed in batches, upsert) and `vector_query_tool`.

Chunk ids are derived from the document's id (its `metadata["id"]`, else a hash of its text) and the chunk's
number, so ingesting the same document again replaces its chunks instead of adding copies.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ErrorKind, MastraError
from ..tools import Tool, ToolContext
from .base import check_name
from .documents import Chunk, Document, Strategy
from .embedders import Embedder, default_embedder

if TYPE_CHECKING:
    from .base import Metric, VectorStore

__all__ = ["IngestResult", "ingest", "vector_query_tool"]


@dataclass(frozen=True)
class IngestResult:
    """What `ingest` wrote: how many documents and chunks, the chunks' ids, and how long it took."""

    index: str
    documents: int
    chunks: int
    ids: list[str]
    seconds: float


async def ingest(
    documents: Document | str | Iterable[Document | str],
    *,
    store: VectorStore,
    index: str,
    embedder: Embedder | None = None,
    strategy: Strategy | None = None,
    size: int = 512,
    overlap: int = 50,
    metric: Metric = "cosine",
    on_progress: Callable[[int, int], Any] | None = None,
) -> IngestResult:
    """Chunk documents, embed the chunks in batches and upsert them into `index` (created when missing).

    Args:
        documents: `Document`s or plain texts.
        store: the vector store.
        index: the index's name.
        embedder: by default the local embedder.
        strategy, size, overlap: how to chunk (see `Document.chunk`).
        metric: the new index's metric.
        on_progress: called with (chunks done, chunks in all) after each batch.
    """
    started = time.perf_counter()
    check_name(index)  # before any embedding work
    embedder = embedder or default_embedder()
    docs = [documents] if isinstance(documents, Document | str) else list(documents)
    chunks: list[tuple[str, Chunk]] = []
    for doc in docs:
        doc = Document.from_text(doc) if isinstance(doc, str) else doc
        if not isinstance(doc, Document):
            raise MastraError(
                ErrorKind.VALIDATION,
                "DOCUMENT_CHUNK_INVALID",
                f"`ingest` takes `Document`s or str, got {type(doc).__name__}.",
            )
        doc_id = str(doc.metadata.get("id") or hashlib.sha1(doc.text.encode()).hexdigest()[:16])
        chunks.extend((f"{doc_id}:{c.metadata['chunk']}", c) for c in doc.chunk(strategy, size, overlap))
    ready = False
    for start in range(0, len(chunks), embedder.batch_size):
        batch = chunks[start : start + embedder.batch_size]
        vectors = await embedder.embed([c.text for _, c in batch])
        if not ready:  # a provider's embedder knows its dimension only after its first call
            await store.create_index(index, len(vectors[0]), metric)
            ready = True
        await store.upsert(
            index, [i for i, _ in batch], vectors, [_flat(c.metadata) for _, c in batch], [c.text for _, c in batch]
        )
        if on_progress is not None:
            on_progress(start + len(batch), len(chunks))
    return IngestResult(index, len(docs), len(chunks), [i for i, _ in chunks], time.perf_counter() - started)


def vector_query_tool(
    index: str,
    *,
    store: VectorStore | None = None,
    embedder: Embedder | None = None,
    top_k: int = 5,
    filter: Mapping[str, Any] | None = None,
    id: str = "vector_query",
    description: str | None = None,
) -> Tool:
    """A tool an agent calls with a question to get the closest chunks of `index`.

    Args:
        index: the index to search.
        store: the vector store; by default the hub's (`Mastra(vectors=...)`) that the tool is registered with.
        embedder: embeds the question; it must be the one the index was built with (default: the local one).
        top_k: how many chunks to return.
        filter: a metadata filter applied to every search.
        id, description: the tool's name and description for the model.
    """

    async def search(query: str, context: ToolContext) -> list[dict[str, Any]]:
        """Find passages relevant to a question.

        Args:
            query: the question or topic to look up, in plain words.
        """
        target = store
        if target is None:
            if context.mastra is None:
                raise MastraError(
                    ErrorKind.DOMAIN,
                    "VECTORS_NOT_CONFIGURED",
                    f"`{id}` has no vector store: pass `store=` or register it with a hub that has `vectors=`.",
                )
            target = context.mastra.vectors
        vector = await (embedder or default_embedder()).embed_one(query)
        matches = await target.query(index, vector, top_k=top_k, filter=filter)
        return [{"text": m.document, "score": round(m.score, 4), "metadata": m.metadata} for m in matches]

    return Tool(id, description or f"Search the `{index}` knowledge base for passages relevant to a question.", search)


def _flat(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Vector metadata is flat: lists and dicts become their JSON-ish text."""
    return {k: v if isinstance(v, str | int | float | bool) or v is None else str(v) for k, v in metadata.items()}
