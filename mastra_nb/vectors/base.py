"""`VectorStore`: the contract of an index of vectors with metadata, and the checks every store shares.

Vectors always come from an `Embedder` on our side: a store never embeds text itself, so the same text always
gets the same vector whichever store holds it, and a store cannot silently switch models.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from ..errors import ErrorKind, MastraError, shown

__all__ = ["METRICS", "IndexInfo", "Metric", "VectorMatch", "VectorStore"]

Metric = Literal["cosine", "euclidean", "dotproduct"]
METRICS: tuple[str, ...] = get_args(Metric)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,510}[A-Za-z0-9]$")
_SCALARS = (str, int, float, bool)


@dataclass(frozen=True)
class IndexInfo:
    """An index: its name, the length of its vectors, its distance metric and how many vectors it holds."""

    name: str
    dimension: int
    metric: Metric
    count: int


@dataclass(frozen=True)
class VectorMatch:
    """One query result. `score` grows with closeness: cosine similarity, dot product, or 1/(1+distance)."""

    id: str
    score: float
    metadata: dict[str, Any] = field(default_factory=dict)
    document: str | None = None


def invalid(code: str, message: str, field_name: str | None = None) -> MastraError:
    details = {"errors": [{"field": field_name, "expected": message}]} if field_name else {}
    return MastraError(ErrorKind.VALIDATION, code, message, details=details)


class VectorStore(ABC):
    """Indexes of vectors with metadata and documents, queried by similarity with a metadata filter.

    Filters use one Mongo-like language (`$eq $ne $gt $gte $lt $lte $in $nin $and $or $not`); see
    `mastra_nb.vectors.filters`.
    """

    def bind(self, mastra: Any) -> None:  # noqa: B027 - a hook stores may override
        """Called when a hub takes this store; stores need nothing from the hub."""

    @abstractmethod
    async def create_index(self, name: str, dimension: int, metric: Metric = "cosine") -> IndexInfo:
        """Create an index, or return the existing one when its dimension and metric are the same.

        Raises:
            MastraError: validation `VECTOR_INDEX_CONFLICT` when it exists with another dimension or metric.
        """

    @abstractmethod
    async def upsert(
        self,
        index: str,
        ids: Sequence[str],
        vectors: Sequence[Sequence[float]],
        metadata: Sequence[Mapping[str, Any] | None] | None = None,
        documents: Sequence[str | None] | None = None,
    ) -> int:
        """Insert or replace vectors by id; returns how many were written.

        Raises:
            MastraError: `VECTOR_DIMENSION_MISMATCH` when a vector's length is not the index's dimension;
                `VECTOR_INDEX_NOT_FOUND`; `VECTOR_INPUT_INVALID` for lengths that differ or bad metadata.
        """

    @abstractmethod
    async def query(
        self, index: str, vector: Sequence[float], top_k: int = 10, filter: Mapping[str, Any] | None = None
    ) -> list[VectorMatch]:
        """The `top_k` vectors closest to `vector` among those whose metadata matches `filter`, closest first."""

    @abstractmethod
    async def list_indexes(self) -> list[str]:
        """The names of the indexes, sorted."""

    @abstractmethod
    async def describe_index(self, name: str) -> IndexInfo:
        """An index's dimension, metric and count; `VECTOR_INDEX_NOT_FOUND` when there is none of that name."""

    @abstractmethod
    async def delete_index(self, name: str) -> bool:
        """Delete an index; returns whether there was one."""

    @abstractmethod
    async def delete(
        self, index: str, ids: Sequence[str] | None = None, filter: Mapping[str, Any] | None = None
    ) -> None:
        """Delete vectors by id, or those whose metadata matches `filter`."""

    async def close(self) -> None:  # noqa: B027 - a hook stores may override
        """Release what the store holds."""

    async def __aenter__(self) -> VectorStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


# -- checks shared by the stores -------------------------------------------------------------------------------


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
        raise invalid(
            "VECTOR_INDEX_NAME_INVALID",
            f"An index name needs 3-512 characters of letters, digits, '.', '_' or '-', starting and ending with a "
            f"letter or digit; got {name!r}.",
            "name",
        )
    return name


def check_index_spec(dimension: Any, metric: Any) -> tuple[int, Metric]:
    if isinstance(dimension, bool) or not isinstance(dimension, int) or dimension < 1:
        raise invalid("VECTOR_INPUT_INVALID", f"`dimension` must be a positive int, got {dimension!r}.", "dimension")
    if metric not in METRICS:
        raise invalid(
            "VECTOR_INPUT_INVALID", f"`metric` must be one of {', '.join(METRICS)}; got {metric!r}.", "metric"
        )
    return dimension, metric


def check_vector(vector: Any, dimension: int, index: str, where: str = "vector") -> list[float]:
    """A vector as a list of floats of the index's length; errors name the index and both lengths."""
    if isinstance(vector, str | bytes) or not hasattr(vector, "__len__"):
        raise invalid(
            "VECTOR_INPUT_INVALID", f"`{where}` must be a list of numbers, got {type(vector).__name__}.", where
        )
    if len(vector) != dimension:
        raise MastraError(
            ErrorKind.VALIDATION,
            "VECTOR_DIMENSION_MISMATCH",
            f"Index `{index}` holds vectors of dimension {dimension}, but `{where}` has {len(vector)}; embed with "
            f"the model the index was created with, or create another index.",
            details={"index": index, "expected": dimension, "got": len(vector), "field": where},
        )
    try:
        values = [float(x) for x in vector]
    except (TypeError, ValueError):
        raise invalid("VECTOR_INPUT_INVALID", f"`{where}` must hold only numbers.", where) from None
    if not all(math.isfinite(x) for x in values):
        raise invalid("VECTOR_INPUT_INVALID", f"`{where}` holds NaN or infinity.", where)
    return values


def check_metadata(metadata: Mapping[str, Any] | None, where: str) -> dict[str, Any] | None:
    """Metadata as the stores keep it: str keys, scalar values; None values are dropped."""
    if metadata is None:
        return None
    if not isinstance(metadata, Mapping):
        raise invalid("VECTOR_INPUT_INVALID", f"`{where}` must be a dict, got {type(metadata).__name__}.", where)
    out: dict[str, Any] = {}
    for key, value in metadata.items():
        if value is None:
            continue
        if not isinstance(key, str) or not isinstance(value, _SCALARS):
            raise invalid(
                "VECTOR_INPUT_INVALID",
                f"`{where}.{key}` must be a str, int, float or bool (metadata is flat), got {shown(value)}.",
                f"{where}.{key}",
            )
        out[key] = value
    return out or None


def check_top_k(top_k: Any) -> int:
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise invalid("VECTOR_INPUT_INVALID", f"`top_k` must be a positive int, got {top_k!r}.", "top_k")
    return top_k


def score(metric: str, distance: float) -> float:
    """Chroma's distance as a score that grows with closeness (Chroma's `ip` distance is 1 - dot product)."""
    if metric == "euclidean":
        return 1.0 / (1.0 + math.sqrt(max(distance, 0.0)))
    return 1.0 - distance
