"""`SQLiteStore`: one SQLite file that several processes and kernels share, with the stdlib `sqlite3` only.

DuckDB lets one process hold a file; SQLite lets many take turns. The file is in WAL mode, so a reader sees the
last commit as of its statement (or its `read_run` transaction) and never waits for a writer. Every write is one
`BEGIN IMMEDIATE` transaction: it takes the file's single write lock before it reads anything, so what a
compare-and-set counts cannot change under it, and a writer that finds the lock taken waits up to the busy
timeout for its turn instead of failing at once (then `STORAGE_LOCKED`).

As in `DuckDBStore`, creating a store touches nothing: the file is opened and migrated on the first operation,
every call runs in a worker thread through `_call`, serialized by a `threading.Lock` on the one connection, and
`_call` is the one boundary where `sqlite3`'s errors become `MastraError`s (see `_sqlite_errors`).

Cells: json as its text, bool as 0/1, timestamps as fixed-width ISO 8601 UTC text
(`2024-06-01T08:00:00.000000+00:00`), whose text order is time order, so ranges and ORDER BY compare right and
the file reads plainly in the `sqlite3` shell.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from ..errors import ErrorKind, MastraError
from ._duckdb_errors import file_kind
from ._file_store import FileStore
from ._sqlite_errors import not_sqlite, translate
from .base import KVDelete, KVPut, RowsDelete, RowsPut, RowsUpdate, Write, conflict, mismatch
from .capabilities import OneQueryReads
from .tables import TABLES, Condition, Table

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "SQLiteStore", "migrate", "schema_version"]

_SQL_TYPES = {"text": "TEXT", "int": "INTEGER", "float": "REAL", "bool": "INTEGER", "json": "TEXT", "timestamp": "TEXT"}
_LIVE = "(expires_at IS NULL OR expires_at > ?)"
_MANY = 200  # an `IN` list longer than this goes in as one JSON array: old SQLite builds allow 999 parameters


def _migration_3(conn: sqlite3.Connection) -> None:
    # SQLite files start at the schema DuckDB files reached in version 3, built whole from `TABLES`: a version means
    # the same tables in either file, and a later change to `TABLES` adds a migration to both stores.
    conn.execute("CREATE TABLE mastra_meta (key TEXT PRIMARY KEY, value TEXT)")
    conn.execute("CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at REAL)")
    _create_tables(conn)


def _migration_4(conn: sqlite3.Connection) -> None:
    # The server's API keys and the audit log (a file made at version 3 lacks them; a new one has them already).
    _create_tables(conn)


def _create_tables(conn: sqlite3.Connection) -> None:
    for table in TABLES.values():
        columns = ", ".join(f'"{c.name}" {_SQL_TYPES[c.type]}' for c in table.columns)
        key = ", ".join(f'"{name}"' for name in table.primary_key)
        conn.execute(f'CREATE TABLE IF NOT EXISTS "{table.name}" ({columns}, PRIMARY KEY ({key}))')


MIGRATIONS: tuple[tuple[int, Callable[[sqlite3.Connection], None]], ...] = ((3, _migration_3), (4, _migration_4))
SCHEMA_VERSION = MIGRATIONS[-1][0]


def schema_version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in the file; 0 for a file mastra_nb has not touched."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'mastra_meta'").fetchone():
        return 0
    row = conn.execute("SELECT value FROM mastra_meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def migrate(conn: sqlite3.Connection, *, path: str = "") -> int:
    """Apply the migrations the file lacks in one `BEGIN IMMEDIATE` transaction; returns the version reached.

    Raises `STORAGE_SCHEMA_TOO_NEW` for a file written by a newer mastra_nb. Two processes opening a new file at
    once take turns here, and the second finds the tables made.
    """
    current = schema_version(conn)
    if current == SCHEMA_VERSION:
        return current  # the common case takes no write lock
    conn.execute("BEGIN IMMEDIATE")
    try:
        current = schema_version(conn)  # again, under the lock: another process may have migrated meanwhile
        if current > SCHEMA_VERSION:
            raise MastraError(
                ErrorKind.SYSTEM,
                "STORAGE_SCHEMA_TOO_NEW",
                f"The storage file {path or '(this connection)'} has schema version {current}, but this mastra_nb "
                f"knows versions up to {SCHEMA_VERSION}. Upgrade mastra_nb, or open another path.",
                details={"path": path, "version": current, "supported": SCHEMA_VERSION},
            )
        for version, apply in MIGRATIONS:
            if current < version:
                apply(conn)
                conn.execute("INSERT OR REPLACE INTO mastra_meta VALUES ('schema_version', ?)", [str(version)])
                current = version
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return current


def _quote(name: str) -> str:
    # Names come from `TABLES`, never from callers (`tables` rejects unknown ones), so quoting suffices.
    return f'"{name}"'


def _param(value: Any) -> Any:
    # Timestamps go in as fixed-width ISO text (module docstring); tuples are `$in` lists.
    if isinstance(value, tuple):
        return tuple(_param(v) for v in value)
    if isinstance(value, datetime):
        return value.isoformat(timespec="microseconds")
    return value


def _in_list(column: str, values: Sequence[Any], params: list[Any]) -> str:
    if len(values) <= _MANY:
        params.extend(values)
        return f"{column} IN ({', '.join('?' * len(values))})"
    params.append(json.dumps([int(v) if isinstance(v, bool) else v for v in values]))
    return f"{column} IN (SELECT value FROM json_each(?))"


def _where_sql(where: tuple[Condition, ...], params: list[Any]) -> str:
    """SQL for conditions with the meaning `Condition` documents (`IS NOT` is SQLite's null-safe "distinct")."""
    terms = []
    for cond in where:
        col, op, value = _quote(cond.column.name), cond.op, _param(cond.value)
        if op in ("$eq", "$ne") and value is None:
            terms.append(f"{col} IS {'' if op == '$eq' else 'NOT '}NULL")
        elif op in ("$eq", "$ne"):
            terms.append(f"{col} {'=' if op == '$eq' else 'IS NOT'} ?")
            params.append(value)
        elif op in ("$in", "$nin"):
            values = [v for v in value if v is not None]
            has_null = len(values) < len(value)
            within = _in_list(col, values, params) if values else "0"
            if op == "$in":
                terms.append(f"({within} OR {col} IS NULL)" if has_null else within)
            else:
                null_check = f"{col} IS NOT NULL AND" if has_null else f"{col} IS NULL OR"
                terms.append(f"({null_check} NOT ({within}))")
        else:
            terms.append(f"{col} {dict(gt='>', gte='>=', lt='<', lte='<=')[op[1:]]} ?")
            params.append(value)
    return " AND ".join(terms) or "1"


def _order_sql(order: Sequence[tuple[str, bool]]) -> str:
    # Nulls last either way, spelled so that SQLite before 3.30 (no NULLS LAST) reads it too.
    return ", ".join(f"{_quote(n)} IS NULL, {_quote(n)}{' DESC' if desc else ''}" for n, desc in order)


def _reader(table: Table) -> Callable[[tuple[Any, ...]], dict[str, Any]]:
    """Turns a row of all `table`'s columns, as SQLite gives it, into the stored cells the other stores keep."""
    names = table.column_names
    kinds = [c.type for c in table.columns]
    if "timestamp" not in kinds and "bool" not in kinds:
        return lambda row: dict(zip(names, row, strict=True))

    def cell(kind: str, raw: Any) -> Any:
        if raw is None:
            return None
        if kind == "timestamp":
            return datetime.fromisoformat(raw)  # aware UTC, from the "+00:00" every stored one ends with
        return bool(raw) if kind == "bool" else raw

    return lambda row: {n: cell(k, raw) for n, k, raw in zip(names, kinds, row, strict=True)}


_READERS = {name: _reader(table) for name, table in TABLES.items()}


def _columns(table: Table, prefix: str = "") -> str:
    return ", ".join(prefix + _quote(n) for n in table.column_names)


class SQLiteStore(FileStore, OneQueryReads):
    """A `Storage` in one SQLite file that several processes (notebooks, kernels, a server) may share at once.

    Args:
        path: the database file; default `.mastra/mastra.db` under the current directory (its folder is created
            on first use). `":memory:"` keeps everything in this process.
        timeout: seconds a write waits for another process's write lock (SQLite's `busy_timeout`) before
            `STORAGE_LOCKED`.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, timeout: float = 5.0) -> None:
        super().__init__(path, "mastra.db")
        self._timeout = timeout

    def _engine_errors(self) -> tuple[type[Exception], ...]:
        return (sqlite3.Error,)

    def _translate(self, error: Exception) -> MastraError:
        return translate(error, self._path, self._timeout)

    def _connect(self) -> sqlite3.Connection:
        if str(self._path) != ":memory:":
            kind = file_kind(self._path)
            if kind not in (None, "empty", "sqlite"):
                # Refused before SQLite sees it: SQLite would fail on it only at the first statement, after
                # creating `-wal` and `-shm` files beside it.
                raise not_sqlite(self._path, kind)
            self._path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: no implicit transactions; `_write_sync` says BEGIN IMMEDIATE itself.
        conn = sqlite3.connect(str(self._path), timeout=self._timeout, isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            # In WAL mode NORMAL cannot corrupt the file; a power cut may lose the last commits, not a crash.
            conn.execute("PRAGMA synchronous = NORMAL")
            migrate(conn, path=str(self._path))
        except BaseException:
            conn.close()  # release the file: a too-new or broken file must not stay open
            raise
        return conn

    # -- key/value ---------------------------------------------------------------------------
    async def _read_keys(self, keys: Sequence[str], now: float) -> dict[str, str]:
        params: list[Any] = []
        sql = f"SELECT key, value FROM kv WHERE {_in_list('key', keys, params)} AND {_LIVE}"
        return await self._run(lambda conn: dict(conn.execute(sql, [*params, now]).fetchall()))

    async def _scan(self, prefix: str, now: float, keep: Callable[[str, str], bool], limit: int | None) -> list[Any]:
        # Keys with `prefix` are contiguous in key order from `prefix` on: stop at the first that lacks it. This
        # is exact for any text (a computed upper bound is not), and `keep` lowercases in Python, as
        # `InMemoryStore` does, where SQLite's `lower` knows ASCII only.
        def read(conn: sqlite3.Connection) -> list[tuple[str, str]]:
            found: list[tuple[str, str]] = []
            for key, text in conn.execute(
                f"SELECT key, value FROM kv WHERE key >= ? AND {_LIVE} ORDER BY key", [prefix, now]
            ):
                if not key.startswith(prefix) or (limit is not None and len(found) >= limit):
                    break
                if keep(key, text):
                    found.append((key, text))
            return found

        return await self._run(read)

    async def _list_keys(self, prefix: str, now: float) -> list[str]:
        return [key for key, _ in await self._scan(prefix, now, lambda key, text: True, None)]

    async def _search_keys(self, query: str, prefix: str, limit: int, now: float) -> list[tuple[str, str]]:
        needle = query.lower()
        return await self._scan(prefix, now, lambda key, text: needle in key.lower() or needle in text.lower(), limit)

    # -- writes ------------------------------------------------------------------------------
    async def _write(self, writes: Sequence[Write], now: float) -> list[Any]:
        return await self._run(self._write_sync, writes, now)

    def _write_sync(self, conn: sqlite3.Connection, writes: Sequence[Write], now: float) -> list[Any]:
        self._writes += 1
        conn.execute("BEGIN IMMEDIATE")  # the write lock first: see the module docstring
        try:
            results = [self._apply(conn, write, now) for write in writes]
            if self._writes % 256 == 0:  # expired keys read as missing; now and then, also drop them
                conn.execute("DELETE FROM kv WHERE expires_at <= ?", [now])
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return results

    @staticmethod
    def _apply(conn: sqlite3.Connection, write: Write, now: float) -> Any:
        # `executemany` reuses one prepared statement, which in SQLite is as fast as a multi-row VALUES.
        if isinstance(write, KVPut):
            rows = [(key, text, expires) for key, (text, expires) in write.entries.items()]
            conn.executemany("INSERT OR REPLACE INTO kv VALUES (?, ?, ?)", rows)
            return None
        if isinstance(write, KVDelete):
            params: list[Any] = []
            where = _in_list("key", write.keys, params)
            live = {k for (k,) in conn.execute(f"SELECT key FROM kv WHERE {where} AND {_LIVE}", [*params, now])}
            conn.execute(f"DELETE FROM kv WHERE {where}", params)  # no RETURNING: SQLite before 3.35 lacks it
            return [k for k in write.keys if k in live]
        table = write.table
        if isinstance(write, RowsPut):
            verb = "INSERT OR REPLACE" if write.replace else "INSERT"
            marks = ", ".join("?" * len(table.columns))
            sql = f"{verb} INTO {_quote(table.name)} ({_columns(table)}) VALUES ({marks})"
            try:
                conn.executemany(sql, [[_param(row[n]) for n in table.column_names] for row in write.rows])
            except sqlite3.IntegrityError as error:
                raise conflict(table, str(error)) from error
            return len(write.rows)
        params = []
        if isinstance(write, RowsUpdate):
            sets = ", ".join(f"{_quote(name)} = ?" for name in write.values)
            params.extend(_param(value) for value in write.values.values())
            where = _where_sql(write.where, params)
            updated = conn.execute(f"UPDATE {_quote(table.name)} SET {sets} WHERE {where}", params).rowcount
            if write.expect is not None and updated != write.expect:
                raise mismatch(write, updated)  # inside the transaction, which `_write_sync` rolls back
            return updated
        assert isinstance(write, RowsDelete)
        where = _where_sql(write.where, params)
        return conn.execute(f"DELETE FROM {_quote(table.name)} WHERE {where}", params).rowcount

    # -- domain tables -----------------------------------------------------------------------
    async def _select_rows(
        self,
        table: Table,
        where: tuple[Condition, ...],
        order: tuple[tuple[str, bool], ...],
        limit: int | None,
        offset: int,
    ) -> Sequence[Mapping[str, Any]]:
        params: list[Any] = []
        sql = (
            f"SELECT {_columns(table)} FROM {_quote(table.name)} WHERE {_where_sql(where, params)} "
            f"ORDER BY {_order_sql(order)}"
        )
        if limit is not None or offset:
            sql += f" LIMIT {-1 if limit is None else int(limit)} OFFSET {int(offset)}"
        reader = _READERS[table.name]
        return await self._run(lambda conn: [reader(row) for row in conn.execute(sql, params)])

    async def _read_run(
        self, run_where: tuple[Condition, ...], step_where: tuple[Condition, ...]
    ) -> tuple[Mapping[str, Any] | None, Sequence[Mapping[str, Any]]]:
        # Both reads in one worker-thread hop and one read transaction, so the journal matches the run row even
        # while another process writes; no ORDER BY (the caller sorts by `seq`).
        runs, steps = TABLES["workflow_runs"], TABLES["workflow_steps"]
        run_params: list[Any] = []
        step_params: list[Any] = []
        run_sql = f"SELECT {_columns(runs)} FROM workflow_runs WHERE {_where_sql(run_where, run_params)} LIMIT 1"
        step_sql = f"SELECT {_columns(steps)} FROM workflow_steps WHERE {_where_sql(step_where, step_params)}"

        def read(conn: sqlite3.Connection) -> tuple[Mapping[str, Any] | None, Sequence[Mapping[str, Any]]]:
            conn.execute("BEGIN")
            try:
                found = conn.execute(run_sql, run_params).fetchone()
                rows = [] if found is None else conn.execute(step_sql, step_params).fetchall()
            finally:
                conn.execute("COMMIT")
            if found is None:
                return None, []
            return _READERS["workflow_runs"](found), [_READERS["workflow_steps"](row) for row in rows]

        return await self._run(read)

    async def _read_around(self, table: Table, ids: list[str], before: int, after: int) -> Sequence[Mapping[str, Any]]:
        # One query, as in DuckDB: number the messages of the anchors' threads, then keep those within reach of an
        # anchor's number.
        params: list[Any] = []
        anchors = _in_list("id", ids, params)
        sql = (
            "WITH numbered AS (SELECT *, row_number() OVER (PARTITION BY thread_id ORDER BY created_at IS NULL, "
            f"created_at, id) AS n FROM messages WHERE thread_id IN (SELECT thread_id FROM messages WHERE {anchors})) "
            f"SELECT DISTINCT {_columns(table, 'm.')} FROM numbered m JOIN numbered a ON a.thread_id = m.thread_id "
            f"AND {_in_list('a.id', ids, params)} AND m.n BETWEEN a.n - ? AND a.n + ?"
        )
        reader = _READERS[table.name]
        return await self._run(lambda conn: [reader(row) for row in conn.execute(sql, [*params, before, after])])

    async def _count_rows(self, table: Table, where: tuple[Condition, ...]) -> int:
        params: list[Any] = []
        sql = f"SELECT count(*) FROM {_quote(table.name)} WHERE {_where_sql(where, params)}"
        return await self._run(lambda conn: int(conn.execute(sql, params).fetchone()[0]))
