"""`open_store`: a store from one string, for the settings a person types (`MASTRA_STORAGE_URL`,
`%config MastraMagics.storage = ...`).

`sqlite:///.mastra/shared.db` is a `SQLiteStore` (the store several notebooks, kernels and a server can share),
`duckdb:///path` a `DuckDBStore` (one process at a time), `memory://` an `InMemoryStore`; a plain path picks by its
suffix: `.db`, `.sqlite` and `.sqlite3` are SQLite, anything else DuckDB. The path after `scheme://` is as written:
`sqlite:///rel/x.db` is relative to the working folder, `sqlite:////abs/x.db` absolute.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ErrorKind, MastraError, shown
from .base import Storage

__all__ = ["SQLITE_SUFFIXES", "open_store"]

SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
_SCHEMES = ("sqlite://", "duckdb://", "memory://")


def open_store(spec: str, *, setting: str = "storage") -> Storage:
    """The store `spec` names (see the module docstring); nothing is opened until its first operation.

    Args:
        spec: a URL (`sqlite:///path`, `duckdb:///path`, `memory://`) or a file path.
        setting: how the person set it, named in an error (`MASTRA_STORAGE_URL`).

    Raises:
        MastraError: validation, naming `setting`, for an empty spec or an unknown scheme.
    """
    text = spec.strip() if isinstance(spec, str) else ""
    if not text or ("://" in text and not text.startswith(_SCHEMES)):
        raise MastraError(
            ErrorKind.VALIDATION, "STORAGE_URL_INVALID",
            f"`{setting}` must be `sqlite:///path`, `duckdb:///path`, `memory://` or a file path, got {shown(spec)}.",
            details={"errors": [{"field": setting, "expected": "a storage URL or a file path"}]},
        )  # fmt: skip
    if text.startswith("memory://"):
        from .memory import InMemoryStore

        return InMemoryStore()
    scheme, _, rest = text.partition("://") if "://" in text else ("", "", text)
    path = Path(rest[1:] if scheme and rest.startswith("/") else rest).expanduser()
    if scheme == "sqlite" or (not scheme and path.suffix.lower() in SQLITE_SUFFIXES):
        from .sqlite_store import SQLiteStore

        return SQLiteStore(path)
    from .duckdb_store import DuckDBStore

    return DuckDBStore(path)
