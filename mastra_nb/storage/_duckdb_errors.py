"""The DuckDB error boundary: what a failure of DuckDB on the store's file means, and what the person should do.

A locked file names the process holding it; a damaged or truncated file gets the exact command that moves it aside;
a file that is not DuckDB's (SQLite, text, a folder) says so, and is opened with extension downloads off, so DuckDB
never fetches its `sqlite` extension from the internet to read it; a read-only file or folder says which. The user's
file is never changed, except an empty (0-byte) one, which holds nothing and which DuckDB refuses.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from ..errors import ErrorKind, MastraError
from ._file_errors import move_aside, not_writable

__all__ = ["NO_EXTENSION_DOWNLOADS", "file_kind", "make_way_for_new", "translate"]

# DuckDB's messages for a file it cannot read as a database: a foreign or empty file, one cut short, a bad checksum.
_DAMAGE_SIGNS = ("not a valid duckdb database file", "could not read enough bytes", "corrupt database file")
# For a file that is not DuckDB's: DuckDB opens a SQLite one through its `sqlite` extension, which it would download.
NO_EXTENSION_DOWNLOADS = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
_ANOTHER_FILE = "set `MASTRA_STORAGE_PATH` or pass `DuckDBStore(path)`"


def translate(error: Exception, path: Path) -> MastraError:
    import duckdb

    text = str(error)
    lower = text.lower()
    details: dict[str, Any] = {"path": str(path), "cause": type(error).__name__}
    if isinstance(error, duckdb.IOException) and re.search(r"\block\b", lower):
        pid = re.search(r"PID (\d+)", text)
        holder = _holder(int(pid.group(1))) if pid else "another process"
        return MastraError(
            ErrorKind.SYSTEM,
            "STORAGE_LOCKED",
            f"The storage file {path} is in use by {holder}: DuckDB lets one process use a file at a time. Close "
            f"the other notebook or kernel holding it (`await hub.shutdown()` there, or shut that kernel down), or "
            f"give this notebook a file of its own: {_ANOTHER_FILE}. To share one store between processes, use a "
            f"SQLite file: `MASTRA_STORAGE_URL=sqlite:///.mastra/shared.db` or `SQLiteStore(path)`.",
            details={"path": str(path), "pid": int(pid.group(1)) if pid else None},
        )
    if isinstance(error, PermissionError) or "permission denied" in lower:
        return _not_writable(path, details)
    file_level = isinstance(error, (duckdb.IOException, OSError)) or any(sign in lower for sign in _DAMAGE_SIGNS)
    kind = file_kind(path) if file_level and str(path) != ":memory:" else None
    if kind in ("sqlite", "text", "folder"):
        return _not_duckdb(path, kind, details)
    if kind in ("other", "empty") or (kind == "duckdb" and any(sign in lower for sign in _DAMAGE_SIGNS)):
        return _damaged(path, kind == "duckdb", {**details, "error": text.splitlines()[0]})
    return MastraError(ErrorKind.SYSTEM, "STORAGE_ERROR", f"DuckDB failed on {path}: {error}", details=details)


def _holder(pid: int) -> str:
    """Who holds the file: the notebook whose kernel it is, when Jupyter told that kernel (`JPY_SESSION_NAME`)."""
    notebook = notebook_of(pid)
    return f"the kernel of notebook `{notebook}` (PID {pid})" if notebook else f"another process (PID {pid})"


def notebook_of(pid: int) -> str | None:
    """The notebook process `pid` is the kernel of, from the environment Jupyter Server started it with; None when
    it is not a kernel, is gone, belongs to another user, or the system has no /proc."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return None
    for entry in environ.split(b"\0"):
        name, _, value = entry.partition(b"=")
        if name == b"JPY_SESSION_NAME" and value.strip():
            return value.decode(errors="replace")
    return None


def file_kind(path: Path) -> str | None:
    """What is at `path`, from its first bytes: duckdb, sqlite, text, empty, other, folder; None if nothing readable."""
    import codecs

    if path.is_dir():
        return "folder"
    try:
        with path.open("rb") as file:
            head = file.read(4096)
    except OSError:
        return None
    if not head:
        return "empty"
    if head.startswith(b"SQLite format 3\x00"):
        return "sqlite"
    if head[8:12] == b"DUCK":  # after the header block's checksum
        return "duckdb"
    try:
        # final=False: the sample may end inside a character
        is_text = b"\x00" not in head and bool(codecs.getincrementaldecoder("utf-8")().decode(head, final=False))
    except UnicodeDecodeError:
        is_text = False
    return "text" if is_text else "other"


def _damaged(path: Path, is_duckdb: bool, details: dict[str, Any]) -> MastraError:
    move = move_aside(path, (".wal",))
    what = (
        "is damaged: it is a DuckDB file, but parts of it cannot be read (it may have been cut short or overwritten)"
        if is_duckdb
        else "is not readable as a DuckDB database: it is damaged, or it is another kind of file"
    )
    return MastraError(
        ErrorKind.SYSTEM,
        "STORAGE_FILE_DAMAGED",
        f"The storage file {path} {what}. mastra_nb left it as it was. To start again, move it aside: `{move}`; "
        f"the next use then creates a new, empty store at {path}. If you have a backup of your own, restore it "
        f"there instead. Or use another file: {_ANOTHER_FILE}.",
        details={**details, "move_aside": move},
    )


def _not_duckdb(path: Path, kind: str, details: dict[str, Any]) -> MastraError:
    what = {"sqlite": "a SQLite database", "text": "a text file", "folder": "a folder"}[kind]
    example = f" such as {path / 'mastra.duckdb'}" if kind == "folder" else ""
    return MastraError(
        ErrorKind.VALIDATION,
        "STORAGE_FILE_NOT_DUCKDB",
        f"The storage path {path} is {what}, not a DuckDB database file, so `DuckDBStore` cannot use it; mastra_nb "
        f"left it as it was. Give the store a file of its own{example}: {_ANOTHER_FILE} with a path that does not "
        f"exist yet (it is created on first use)."
        + (" If it is a mastra_nb SQLite store, open it with `SQLiteStore(path)`." if kind == "sqlite" else ""),
        details={**details, "found": kind},
    )


def _not_writable(path: Path, details: dict[str, Any]) -> MastraError:
    return not_writable(path, "DuckDB", _ANOTHER_FILE, details)


def make_way_for_new(path: Path) -> None:
    """Remove an empty (0-byte) file where a new database goes: DuckDB refuses one, and one holds nothing. A
    `NamedTemporaryFile(suffix=".duckdb")` leaves such a file. Not while another process has the file locked: that
    is DuckDB creating it there, and it is about to hold a database."""
    if os.name != "posix":
        return  # no such lock to take first: DuckDB refuses the file, and the message says to move it aside
    import fcntl

    with path.open("r+b") as file:
        try:
            fcntl.lockf(file, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the lock DuckDB takes
        except OSError:
            return  # DuckDB reports the holder when it opens the file
        if os.fstat(file.fileno()).st_size == 0:
            path.unlink()  # while locked: no DuckDB can have opened it in between
