"""Storage: one async interface over key/value data and the domain tables, with interchangeable stores.

`InMemoryStore` for tests and scratch work, `DuckDBStore` (the default: one file under `.mastra/`) for a
notebook that should remember, `SQLiteStore` (stdlib `sqlite3`) for a file that several processes and kernels
share. Importing this package does not import duckdb: `DuckDBStore` does that on its first operation.
"""

from __future__ import annotations

from .base import DeleteOp, DeleteRowsOp, Op, SetOp, Storage, UpsertOp
from .compare import Compare, gt, gte, is_in, lt, lte, ne, not_in
from .duckdb_store import SCHEMA_VERSION, DuckDBStore
from .memory import InMemoryStore
from .sqlite_store import SQLiteStore
from .tables import TABLES, Column, ColumnType, Table

__all__ = [
    "Storage",
    "InMemoryStore",
    "DuckDBStore",
    "SQLiteStore",
    "SCHEMA_VERSION",
    "Op",
    "SetOp",
    "DeleteOp",
    "UpsertOp",
    "DeleteRowsOp",
    "Table",
    "Column",
    "ColumnType",
    "TABLES",
    "Compare",
    "gt",
    "gte",
    "lt",
    "lte",
    "ne",
    "is_in",
    "not_in",
]
