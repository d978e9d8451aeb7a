"""`ChromaVectorStore`: indexes as Chroma collections, embedded in a folder or on a Chroma server.

chromadb costs seconds to import, so it is imported on the first operation, and every call runs in a worker
thread so the event loop (a notebook's kernel) stays free. Collections are always opened with an embedding
function of our own that refuses to embed: Chroma would otherwise substitute its default model (which downloads
an ONNX file at first use) whenever a call lacks vectors. Chroma stores that function's name with the collection and
rebuilds it from its registry when it reads the collection back (in a later process), so the function is registered
there as soon as chromadb is imported; unregistered, every such read warned "Could not reconstruct embedding function".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

from ..errors import ErrorKind, MastraError
from ..redaction import safe_cause
from . import base
from ._chroma_process import heartbeat
from .base import IndexInfo, Metric, VectorMatch, VectorStore
from .filters import to_chroma

__all__ = ["ChromaVectorStore"]

logger = logging.getLogger("mastra_nb.vectors")

_SPACES: dict[str, str] = {"cosine": "cosine", "euclidean": "l2", "dotproduct": "ip"}
_METRICS = {space: metric for metric, space in _SPACES.items()}
T = TypeVar("T")


class ChromaVectorStore(VectorStore):
    """Vector indexes in Chroma.

    Args:
        path: the folder of an embedded Chroma (`chromadb.PersistentClient`), e.g. `.mastra/chroma`. With neither
            `path` nor `host`, a temporary folder that `close()` removes.
        host, port: a Chroma server (`chroma run`) instead of a folder; `ssl` and `headers` go with them.
        shared: serve `path` from one Chroma server that every process naming the folder with `shared=True`
            uses (found or started on first use, stopped with its last user; see `chroma_server`), instead of an
            embedded client, which is not safe in two processes at once. A server that dies (killed, crashed) is
            replaced on the next operation, which then runs on the new one: the folder keeps what was stored.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        host: str | None = None,
        port: int = 8000,
        ssl: bool = False,
        headers: Mapping[str, str] | None = None,
        shared: bool = False,
    ) -> None:
        if path is not None and host is not None:
            raise base.invalid("VECTOR_INPUT_INVALID", "`ChromaVectorStore` takes `path=` or `host=`, not both.")
        if shared and path is None:
            raise base.invalid("VECTOR_INPUT_INVALID", "`ChromaVectorStore(shared=True)` needs `path=`, the folder.")
        self.shared = shared
        self._lease: Any = None  # the shared server's `chroma_server.Lease`, once connected
        self._temporary = path is None and host is None
        self.path: Path | None = Path(path) if path is not None else None
        if self._temporary:
            self.path = Path(tempfile.mkdtemp(prefix="mastra-chroma-"))
        self.host, self.port, self.ssl, self.headers = host, port, ssl, dict(headers or {})
        self._client: Any = None
        self._lock = threading.Lock()
        self._operations = threading.Lock()  # see `_call`
        self._closed = False

    def __repr__(self) -> str:
        where = f"host={self.host!r}, port={self.port}" if self.host else f"path={str(self.path)!r}"
        return f"ChromaVectorStore({where}{', shared=True' if self.shared else ''})"

    # -- the client ----------------------------------------------------------------------------------------

    def _connect(self) -> Any:
        if self._closed:
            raise MastraError(ErrorKind.SYSTEM, "VECTOR_STORE_CLOSED", f"{self!r} was closed; build a new one.")
        with self._lock:
            if self._client is not None and self._vanished():
                self._reopen()
            if self._client is None:
                try:
                    import chromadb
                    from chromadb.config import Settings
                except ImportError as exc:  # pragma: no cover - chromadb is a core dependency
                    raise ImportError("Vector stores need chromadb: pip install 'chromadb>=1.0'") from exc
                _no_embedding()  # registered before Chroma reads back a collection that names it
                settings = Settings(anonymized_telemetry=False)
                if self.host is not None:
                    self._client = chromadb.HttpClient(
                        host=self.host, port=self.port, ssl=self.ssl, headers=self.headers, settings=settings
                    )
                elif self.shared:
                    assert self.path is not None
                    self._client = self._shared_client(chromadb, settings)
                else:
                    assert self.path is not None
                    _refuse_if_served(self.path)
                    self.path.mkdir(parents=True, exist_ok=True)
                    self._client = chromadb.PersistentClient(path=str(self.path), settings=settings)
        return self._client

    def _vanished(self) -> bool:
        """Whether an embedded store's folder was deleted under its open client (which then fails every write)."""
        return self.host is None and not self.shared and self.path is not None and not self.path.is_dir()

    def _reopen(self) -> None:
        """Drop the client of a deleted folder, so that the next operation starts an empty folder at its path:
        memory then finds its indexes missing and rebuilds them from storage."""
        client, self._client = self._client, None
        try:
            with self._operations:
                _close_client(client)
        except Exception:  # a client of a deleted folder may fail to close; it is dropped either way
            pass

    def _shared_client(self, chromadb: Any, settings: Any) -> Any:
        from .chroma_server import acquire

        assert self.path is not None
        lease = acquire(self.path)  # blocks while a server starts: `_connect` runs in a worker thread
        try:
            client = chromadb.HttpClient(host=lease.host, port=lease.port, settings=settings)
        except BaseException:
            lease.release()
            raise
        self._lease = lease
        return client

    async def _call(self, fn: Callable[[Any], T]) -> T:
        def once() -> T:
            client = self._connect()  # inside: a server that does not answer is a store error too
            # One operation at a time per store: an embedded Chroma that queries a collection while another
            # thread's first `upsert` into it is still being written fails with "Error creating hnsw segment
            # reader: Nothing found on disk" (a memory's background vector write meets the next turn's recall).
            with self._operations:
                return fn(client)

        def work() -> T:
            try:
                try:
                    return once()
                except (MastraError, ImportError):
                    raise
                except Exception:
                    if not self._server_died():
                        raise
                    return once()  # on a new server of the folder, which keeps what the dead one stored
            except (MastraError, ImportError):
                raise
            except Exception as exc:
                raise _translate(exc) from safe_cause(exc)

        return await asyncio.to_thread(work)

    def _server_died(self) -> bool:
        """Whether the folder's shared server this store uses stopped answering (killed, crashed); if so, let it
        go, so that the next connection joins (or starts) the folder's server anew."""
        lease = self._lease
        if not self.shared or lease is None or heartbeat(lease.host, lease.port):
            return False
        with self._lock:
            if self._lease is lease:
                client, self._client, self._lease = self._client, None, None
                with contextlib.suppress(Exception):
                    _close_client(client)
                lease.release()
        logger.warning("The Chroma server of %s stopped answering; connecting to the folder's server anew.", self.path)
        return True

    def _collection(self, client: Any, name: str) -> Any:
        try:
            return client.get_collection(name, embedding_function=_no_embedding())
        except Exception as exc:
            if _is_not_found(exc):
                raise MastraError(
                    ErrorKind.DOMAIN,
                    "VECTOR_INDEX_NOT_FOUND",
                    f"There is no index `{name}` in {self!r}; create it with `create_index({name!r}, dimension)`.",
                    details={"index": name},
                ) from None
            raise

    # -- indexes -------------------------------------------------------------------------------------------

    async def create_index(self, name: str, dimension: int, metric: Metric = "cosine") -> IndexInfo:
        base.check_name(name)
        dimension, metric = base.check_index_spec(dimension, metric)

        def create(client: Any) -> IndexInfo:
            collection = client.get_or_create_collection(
                name,
                embedding_function=_no_embedding(),
                metadata={"hnsw:space": _SPACES[metric], "dimension": dimension},
            )
            info = _info(collection)
            if (info.dimension, info.metric) != (dimension, metric):
                raise base.invalid(
                    "VECTOR_INDEX_CONFLICT",
                    f"Index `{name}` exists with dimension {info.dimension} and metric {info.metric}, not "
                    f"{dimension} and {metric}; use another name or `delete_index({name!r})` first.",
                    "dimension",
                )
            return info

        return await self._call(create)

    async def list_indexes(self) -> list[str]:
        return await self._call(lambda client: sorted(c.name for c in client.list_collections()))

    async def describe_index(self, name: str) -> IndexInfo:
        base.check_name(name)
        return await self._call(lambda client: _info(self._collection(client, name)))

    async def delete_index(self, name: str) -> bool:
        base.check_name(name)

        def delete(client: Any) -> bool:
            if name not in {c.name for c in client.list_collections()}:
                return False
            client.delete_collection(name)
            return True

        return await self._call(delete)

    # -- vectors -------------------------------------------------------------------------------------------

    async def upsert(
        self,
        index: str,
        ids: Sequence[str],
        vectors: Sequence[Sequence[float]],
        metadata: Sequence[Mapping[str, Any] | None] | None = None,
        documents: Sequence[str | None] | None = None,
    ) -> int:
        base.check_name(index)
        if isinstance(ids, str) or not isinstance(ids, Sequence):  # a str would be read as one id per character
            raise base.invalid("VECTOR_INPUT_INVALID", "`ids` must be a list of distinct non-empty strings.", "ids")
        ids = list(ids)
        if not all(isinstance(i, str) and i for i in ids) or len(set(ids)) != len(ids):
            raise base.invalid("VECTOR_INPUT_INVALID", "`ids` must be distinct non-empty strings.", "ids")
        for given, what in ((vectors, "vectors"), (metadata, "metadata"), (documents, "documents")):
            if given is not None and len(given) != len(ids):
                raise base.invalid("VECTOR_INPUT_INVALID", f"`{what}` has {len(given)} items for {len(ids)} ids.", what)
        if not ids:
            return 0

        def write(client: Any) -> int:
            collection = self._collection(client, index)
            dimension = _info(collection, count=False).dimension
            rows = [base.check_vector(v, dimension, index, f"vectors[{i}]") for i, v in enumerate(vectors)]
            metas = [base.check_metadata(m, f"metadata[{i}]") for i, m in enumerate(metadata or [None] * len(ids))]
            collection.upsert(
                ids=ids,
                embeddings=rows,
                metadatas=metas if any(m is not None for m in metas) else None,
                documents=[d or "" for d in documents] if documents is not None else None,
            )
            return len(ids)

        return await self._call(write)

    async def query(
        self, index: str, vector: Sequence[float], top_k: int = 10, filter: Mapping[str, Any] | None = None
    ) -> list[VectorMatch]:
        base.check_name(index)
        top_k = base.check_top_k(top_k)
        where = to_chroma(filter)

        def search(client: Any) -> list[VectorMatch]:
            collection = self._collection(client, index)
            info = _info(collection, count=False)
            query = base.check_vector(vector, info.dimension, index)
            found = collection.query(
                query_embeddings=[query], n_results=top_k, where=where, include=["metadatas", "documents", "distances"]
            )
            ids, distances = found["ids"][0], found["distances"][0]
            metadatas = found["metadatas"][0] if found.get("metadatas") else [None] * len(ids)
            documents = found["documents"][0] if found.get("documents") else [None] * len(ids)
            return [
                VectorMatch(id_, base.score(info.metric, distance), dict(meta or {}), doc or None)
                for id_, distance, meta, doc in zip(ids, distances, metadatas, documents, strict=True)
            ]

        return await self._call(search)

    async def delete(
        self, index: str, ids: Sequence[str] | None = None, filter: Mapping[str, Any] | None = None
    ) -> None:
        base.check_name(index)
        if ids is None and not filter:
            raise base.invalid(
                "VECTOR_INPUT_INVALID",
                "`delete` needs `ids=` or `filter=` (use `delete_index` to drop everything).",
                "ids",
            )
        if ids is not None and (
            isinstance(ids, str) or not isinstance(ids, Sequence) or not all(isinstance(i, str) and i for i in ids)
        ):
            raise base.invalid("VECTOR_INPUT_INVALID", "`ids` must be a list of non-empty strings.", "ids")
        where = to_chroma(filter)
        await self._call(
            lambda client: self._collection(client, index).delete(
                ids=list(ids) if ids is not None else None, where=where
            )
        )

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        client, self._client = self._client, None
        if client is not None:

            def close() -> None:
                with self._operations:  # after an operation still under way in a worker thread, never during it
                    _close_client(client)  # releases the folder's files once no client of it is left
                if self._lease is not None:
                    self._lease.release()  # the shared server's last user stops it

            await asyncio.to_thread(close)
        if self._temporary and self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)


def _info(collection: Any, *, count: bool = True) -> IndexInfo:
    meta = collection.metadata or {}
    metric = _METRICS.get(meta.get("hnsw:space", "l2"), "euclidean")
    return IndexInfo(
        collection.name, int(meta.get("dimension") or 0), cast(Metric, metric), collection.count() if count else -1
    )


def _close_client(client: Any) -> None:
    """Close a Chroma client; for a server's client, also the HTTP connections of it and of the admin client it
    made (each has a session of its own) once no client of their system is left in the process: chromadb stops
    the system then but leaves the `httpx` sessions, sockets and all, to the garbage collector."""
    client.close()
    from chromadb.api.shared_system_client import SharedSystemClient

    for part in (client, getattr(client, "_admin_client", None)):
        session = getattr(getattr(part, "_server", None), "_session", None)
        if session is not None and getattr(part, "_identifier", None) not in SharedSystemClient._identifier_to_system:
            session.close()


def _refuse_if_served(path: Path) -> None:
    """An embedded client beside the folder's shared server would corrupt it: refuse, naming the way in."""
    from .chroma_server import served_by

    record = served_by(path)
    if record is not None:
        raise MastraError(
            ErrorKind.VALIDATION,
            "VECTOR_FOLDER_SHARED",
            f"`{path}` is served by a shared Chroma server (pid {record['pid']}, port {record['port']}); opening it "
            f"embedded as well would corrupt it. Use `ChromaVectorStore({str(path)!r}, shared=True)` (the setting "
            f"`chroma+shared:///{path}`) while other processes use it.",
            details={"folder": str(path), "server_pid": record["pid"]},
        )


def _is_not_found(exc: Exception) -> bool:
    return type(exc).__name__ in ("NotFoundError", "InvalidCollectionException") or "does not exist" in str(exc)


def _translate(exc: Exception) -> MastraError:
    if type(exc).__name__ == "InvalidArgumentError":
        return MastraError(ErrorKind.VALIDATION, "VECTOR_INPUT_INVALID", f"Chroma refused the request: {exc}")
    return MastraError(
        ErrorKind.SYSTEM, "VECTOR_STORE_ERROR", f"Chroma failed: {type(exc).__name__}: {exc}", retryable=True
    )


_NO_EMBEDDING: Any = None


def _no_embedding() -> Any:
    """An embedding function that refuses to embed (built once, after chromadb is imported), registered in
    Chroma's registry of embedding functions under its name, `mastra_nb-precomputed`."""
    global _NO_EMBEDDING
    if _NO_EMBEDDING is None:
        from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
        from chromadb.utils.embedding_functions import register_embedding_function

        # Chroma keeps the name and config of a collection's embedding function with the collection; reading the
        # collection back (its schema, on an upsert with metadata or a query in a later process) looks the name up
        # in this registry and rebuilds the function with `build_from_config`.
        @register_embedding_function
        class PrecomputedOnly(EmbeddingFunction[Documents]):
            def __init__(self) -> None:
                pass

            def __call__(self, input: Documents) -> Embeddings:
                raise MastraError(
                    ErrorKind.SYSTEM,
                    "VECTOR_EMBEDDING_MISSING",
                    "mastra_nb passes vectors to Chroma itself; Chroma was asked to embed text.",
                )

            @staticmethod
            def name() -> str:
                return "mastra_nb-precomputed"

            def get_config(self) -> dict[str, Any]:
                return {}

            @staticmethod
            def build_from_config(config: dict[str, Any]) -> PrecomputedOnly:
                return PrecomputedOnly()

        _NO_EMBEDDING = PrecomputedOnly()
    return _NO_EMBEDDING
