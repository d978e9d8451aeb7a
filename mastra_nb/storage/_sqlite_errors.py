"""The SQLite error boundary: what a failure of `sqlite3` on the store's file means, and what the person should do.

A write lock held past the busy timeout names the wait; a file that is not SQLite's (DuckDB's, text, a folder) is
refused before SQLite opens it, so it is never changed; a damaged one gets the command that moves it aside; a
read-only file or folder says which.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ErrorKind, MastraError
from ._duckdb_errors import file_kind
from ._file_errors import move_aside, not_writable

__all__ = ["not_sqlite", "translate"]

_ANOTHER_FILE = "pass `SQLiteStore(path)` a file of its own"
# `sqlite_errorname` is Python 3.11+; on 3.10 the message of each result code tells them apart.
_SIGNS = {
    "SQLITE_BUSY": "database is locked",
    "SQLITE_LOCKED": "database table is locked",
    "SQLITE_NOTADB": "file is not a database",
    "SQLITE_CORRUPT": "malformed",
    "SQLITE_READONLY": "readonly database",
    "SQLITE_CANTOPEN": "unable to open database file",
}


def _code(error: Exception) -> str:
    name = getattr(error, "sqlite_errorname", None)
    if name:
        return "_".join(str(name).split("_")[:2])  # SQLITE_BUSY_SNAPSHOT -> SQLITE_BUSY
    text = str(error).lower()
    return next((code for code, sign in _SIGNS.items() if sign in text), "")


def translate(error: Exception, path: Path, timeout: float) -> MastraError:
    """The `MastraError` for a `sqlite3.Error` or `OSError` that the store met on `path`."""
    code = _code(error)
    details: dict[str, Any] = {"path": str(path), "cause": type(error).__name__, "sqlite_error": code or None}
    if code in ("SQLITE_BUSY", "SQLITE_LOCKED"):
        return MastraError(
            ErrorKind.SYSTEM,
            "STORAGE_LOCKED",
            f"The storage file {path} stayed locked: another process holds a write lock on it, and SQLite waited "
            f"`busy_timeout` ({timeout:g} s) for its turn. SQLite lets one process write at a time; a long transaction "
            f"or a stuck process elsewhere holds it. Try again, close the other notebook or kernel (`await "
            f"hub.shutdown()` there), or wait longer with `SQLiteStore(path, timeout=...)`.",
            details={**details, "timeout": timeout},
        )
    if code in ("SQLITE_READONLY", "SQLITE_CANTOPEN") or isinstance(error, PermissionError):
        return _not_writable(path, details)
    if code == "SQLITE_NOTADB":
        kind = file_kind(path)
        if kind not in (None, "sqlite"):
            return not_sqlite(path, kind)
    if code in ("SQLITE_NOTADB", "SQLITE_CORRUPT"):
        return _damaged(path, {**details, "error": str(error)})
    return MastraError(ErrorKind.SYSTEM, "STORAGE_ERROR", f"SQLite failed on {path}: {error}", details=details)


def not_sqlite(path: Path, kind: str) -> MastraError:
    """The refusal of a `path` that holds something other than a SQLite database (see `file_kind`)."""
    what = {"duckdb": "a DuckDB database (open it with `DuckDBStore`)", "text": "a text file", "folder": "a folder"}
    example = f" such as {path / 'mastra.db'}" if kind == "folder" else ""
    return MastraError(
        ErrorKind.VALIDATION,
        "STORAGE_FILE_NOT_SQLITE",
        f"The storage path {path} is {what.get(kind, 'not a SQLite database file')}, so `SQLiteStore` cannot use "
        f"it; mastra_nb left it as it was. Give the store a file of its own{example}: {_ANOTHER_FILE} with a path "
        f"that does not exist yet (it is created on first use).",
        details={"path": str(path), "found": kind},
    )


def _damaged(path: Path, details: dict[str, Any]) -> MastraError:
    move = move_aside(path, ("-wal", "-shm"))  # SQLite's log and index of the file's last writes go with it
    return MastraError(
        ErrorKind.SYSTEM,
        "STORAGE_FILE_DAMAGED",
        f"The storage file {path} is damaged: it starts as a SQLite database, but parts of it cannot be read (it may "
        f"have been cut short or overwritten). mastra_nb left it as it was. To start again, move it aside: `{move}`; "
        f"the next use then creates a new, empty store at {path}. Or {_ANOTHER_FILE}.",
        details={**details, "move_aside": move},
    )


def _not_writable(path: Path, details: dict[str, Any]) -> MastraError:
    return not_writable(path, "SQLite", _ANOTHER_FILE, details)
