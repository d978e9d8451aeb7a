"""`DuckDBStore`: the embedded default, one DuckDB file under `.mastra/` beside the notebook.

Creating a store costs nothing: the file is opened (and `duckdb` imported) on the first operation, which
also migrates the schema forward. Every DuckDB call runs in a worker thread through `_call`, serialized by
a `threading.Lock` on the one connection, so a slow query never blocks the notebook's event loop. `_call`
is also the one boundary where DuckDB's exceptions become `MastraError`s.

DuckDB lets one process hold a file read-write; a second process fails at once (no waiting), which
surfaces as `STORAGE_LOCKED` naming the file and what to do.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from datetime import timezone
from typing import TYPE_CHECKING, Any

from ..errors import ErrorKind, MastraError
from ._duckdb_errors import NO_EXTENSION_DOWNLOADS, file_kind, make_way_for_new, translate
from ._file_store import FileStore
from .base import KVDelete, KVPut, RowsDelete, RowsPut, RowsUpdate, Write, conflict, mismatch
from .capabilities import OneQueryReads
from .tables import TABLES, Condition, Table

if TYPE_CHECKING:
    import duckdb

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "DuckDBStore", "migrate", "schema_version"]

_SQL_TYPES = {
    "text": "VARCHAR", "int": "BIGINT", "float": "DOUBLE", "bool": "BOOLEAN", "json": "JSON",
    "timestamp": "TIMESTAMP",  # naive UTC: TIMESTAMPTZ would need pytz to read back
}  # fmt: skip
_LIVE = "(expires_at IS NULL OR expires_at > ?)"


def _migration_1(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute("CREATE TABLE mastra_meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
    conn.execute("CREATE TABLE kv (key VARCHAR PRIMARY KEY, value JSON NOT NULL, expires_at DOUBLE)")


def _migration_2(conn: duckdb.DuckDBPyConnection) -> None:
    # Built from `TABLES` as declared now: a fresh file gets every table whole, and later migrations' own
    # changes (`ALTER TABLE ... ADD COLUMN IF NOT EXISTS`, `CREATE TABLE IF NOT EXISTS`) are then no-ops on it.
    for table in TABLES.values():
        columns = ", ".join(f'"{c.name}" {_SQL_TYPES[c.type]}' for c in table.columns)
        key = ", ".join(f'"{name}"' for name in table.primary_key)
        conn.execute(f'CREATE TABLE IF NOT EXISTS "{table.name}" ({columns}, PRIMARY KEY ({key}))')


def _migration_3(conn: duckdb.DuckDBPyConnection) -> None:
    # Runs gain a version for compare-and-set transitions (NULL on older rows reads as "never versioned"), and
    # runs paused for tool approval move from key/value JSON at `agents:runs:<id>` into typed `agent_runs` rows.
    import json
    from datetime import datetime

    def naive_utc(text: str) -> datetime:
        return datetime.fromisoformat(text).astimezone(timezone.utc).replace(tzinfo=None)

    conn.execute('ALTER TABLE "workflow_runs" ADD COLUMN IF NOT EXISTS "version" BIGINT')
    _migration_2(conn)  # creates `agent_runs` (CREATE TABLE IF NOT EXISTS leaves the others alone)
    moved = conn.execute("SELECT key, value FROM kv WHERE starts_with(key, 'agents:runs:')").fetchall()
    for key, text in moved:
        value = json.loads(text)
        known = ("run_id", "agent", "status", "resource_id", "error", "created_at", "updated_at")
        data = {k: v for k, v in value.items() if k not in known}
        conn.execute(
            'INSERT OR REPLACE INTO "agent_runs" (run_id, agent, status, resource_id, data, error, created_at, '
            "updated_at, version) VALUES (?, ?, ?, ?, ?::JSON, ?::JSON, ?, ?, 1)",
            [value["run_id"], value["agent"], value["status"], None, json.dumps(data), json.dumps(value.get("error")),
             naive_utc(value["created_at"]), naive_utc(value["updated_at"])],
        )  # fmt: skip
        conn.execute("DELETE FROM kv WHERE key = ?", [key])


def _migration_4(conn: duckdb.DuckDBPyConnection) -> None:
    # The server's API keys and the audit log: two new tables (CREATE TABLE IF NOT EXISTS leaves the others alone).
    _migration_2(conn)


MIGRATIONS: tuple[tuple[int, Callable[[duckdb.DuckDBPyConnection], None]], ...] = (
    (1, _migration_1),
    (2, _migration_2),
    (3, _migration_3),
    (4, _migration_4),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]


def schema_version(conn: duckdb.DuckDBPyConnection) -> int:
    """The schema version recorded in the file; 0 for a file mastra_nb has not touched."""
    known = conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'mastra_meta'").fetchone()
    if not known or not known[0]:
        return 0
    row = conn.execute("SELECT value FROM mastra_meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def migrate(conn: duckdb.DuckDBPyConnection, up_to: int | None = None, *, path: str = "") -> int:
    """Apply the migrations the file lacks, up to `up_to` (default: all), each in one transaction.

    Returns the version reached. Raises `STORAGE_SCHEMA_TOO_NEW` for a file written by a newer mastra_nb.
    """
    current = schema_version(conn)
    if current > SCHEMA_VERSION:
        raise MastraError(
            ErrorKind.SYSTEM,
            "STORAGE_SCHEMA_TOO_NEW",
            f"The storage file {path or '(this connection)'} has schema version {current}, but this mastra_nb "
            f"knows versions up to {SCHEMA_VERSION}. Upgrade mastra_nb, or open another path.",
            details={"path": path, "version": current, "supported": SCHEMA_VERSION},
        )
    target = SCHEMA_VERSION if up_to is None else up_to
    for version, apply in MIGRATIONS:
        if current < version <= target:
            conn.execute("BEGIN TRANSACTION")
            try:
                apply(conn)
                conn.execute("INSERT OR REPLACE INTO mastra_meta VALUES ('schema_version', ?)", [str(version)])
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            current = version
    return current


def _may_need_undo(write: Write) -> bool:
    """Whether a compare-and-set could update rows and then fail, needing a transaction to roll back. Not when
    `where` pins one row by its whole primary key and at least one match is expected: a mismatch is then a
    statement that matched nothing, and wrote nothing (a resume's claim of its run row is this case)."""
    if not isinstance(write, RowsUpdate) or write.expect is None:
        return False
    pinned = {c.column.name for c in write.where if c.op == "$eq" and c.value is not None}
    return write.expect < 1 or not set(write.table.primary_key) <= pinned


def _quote(name: str) -> str:
    # Names come from `TABLES`, never from callers (`tables` rejects unknown ones), so quoting suffices.
    return f'"{name}"'


def _in_list(column: str, values: tuple[Any, ...], params: list[Any]) -> str:
    params.extend(values)
    return f"{column} IN ({', '.join('?' * len(values))})"


def _where_sql(where: tuple[Condition, ...], params: list[Any]) -> str:
    """SQL for conditions with the meaning `Condition` documents (which `InMemoryStore` follows)."""
    terms = []
    for cond in where:
        col, op, value = _quote(cond.column.name), cond.op, _param(cond.value)
        if op in ("$eq", "$ne") and value is None:
            terms.append(f"{col} IS {'' if op == '$eq' else 'NOT '}NULL")
        elif op == "$eq":
            terms.append(f"{col} = ?")
            params.append(value)
        elif op == "$ne":
            terms.append(f"{col} IS DISTINCT FROM ?")
            params.append(value)
        elif op in ("$in", "$nin"):
            values = tuple(v for v in value if v is not None)
            has_null = len(values) < len(value)
            within = _in_list(col, values, params) if values else "FALSE"
            if op == "$in":
                terms.append(f"({within} OR {col} IS NULL)" if has_null else within)
            else:
                null_check = f"{col} IS NOT NULL AND" if has_null else f"{col} IS NULL OR"
                terms.append(f"({null_check} NOT ({within}))")
        else:
            terms.append(f"{col} {dict(gt='>', gte='>=', lt='<', lte='<=')[op[1:]]} ?")
            params.append(value)
    return " AND ".join(terms) or "TRUE"


def _param(value: Any) -> Any:
    # Timestamps go in as naive UTC (see _SQL_TYPES); tuples are `$in` lists.
    if isinstance(value, tuple):
        return tuple(_param(v) for v in value)
    if hasattr(value, "tzinfo") and value.tzinfo is not None:
        return value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


class DuckDBStore(FileStore, OneQueryReads):
    """A `Storage` in one DuckDB file; the default store of a notebook.

    Args:
        path: the database file; default `.mastra/mastra.duckdb` under the current directory (its folder
            is created on first use). `":memory:"` keeps everything in this process.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        super().__init__(path, "mastra.duckdb")

    def _engine_errors(self) -> tuple[type[Exception], ...]:
        import duckdb

        return (duckdb.Error,)

    def _translate(self, error: Exception) -> MastraError:
        return translate(error, self._path)

    def _connect(self) -> duckdb.DuckDBPyConnection:
        import duckdb

        config: dict[str, Any] = {}
        if str(self._path) != ":memory:":
            self._path.parent.mkdir(parents=True, exist_ok=True)
            kind = file_kind(self._path)
            if kind == "empty":
                make_way_for_new(self._path)
            elif kind not in (None, "duckdb"):
                # Opening fails either way; this way at once and offline (DuckDB would fetch its `sqlite` extension
                # to open a SQLite file). A DuckDB file is opened with the default options, since DuckDB refuses a
                # second connection with other options to a file open in this process, as when a user opens the
                # store's file with `duckdb.connect(path)` to look inside; the same settings follow as `SET`s.
                config = NO_EXTENSION_DOWNLOADS
        conn = duckdb.connect(str(self._path), config=config)
        try:
            for setting in NO_EXTENSION_DOWNLOADS:  # the store needs no extension: nothing is ever downloaded
                conn.execute(f"SET {setting} = false")
            migrate(conn, path=str(self._path))
        except BaseException:
            conn.close()  # release the file: a too-new or broken file must not stay locked by us
            raise
        return conn

    # -- key/value ---------------------------------------------------------------------------
    async def _read_keys(self, keys: Sequence[str], now: float) -> dict[str, str]:
        def read(conn: duckdb.DuckDBPyConnection) -> dict[str, str]:
            if len(keys) <= 32:  # a few keys: placeholders plan faster than a list parameter (~0.45 vs 0.85 ms)
                params: list[Any] = []
                sql = f"SELECT key, value FROM kv WHERE {_in_list('key', tuple(keys), params)} AND {_LIVE}"
                return dict(conn.execute(sql, [*params, now]).fetchall())
            sql = f"SELECT key, value FROM kv WHERE key IN (SELECT unnest(?::VARCHAR[])) AND {_LIVE}"
            return dict(conn.execute(sql, [list(keys), now]).fetchall())

        return await self._run(read)

    async def _list_keys(self, prefix: str, now: float) -> list[str]:
        def read(conn: duckdb.DuckDBPyConnection) -> list[str]:
            sql = f"SELECT key FROM kv WHERE starts_with(key, ?) AND {_LIVE} ORDER BY key"
            return [k for (k,) in conn.execute(sql, [prefix, now]).fetchall()]

        return await self._run(read)

    async def _search_keys(self, query: str, prefix: str, limit: int, now: float) -> list[tuple[str, str]]:
        def read(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
            sql = (
                f"SELECT key, value FROM kv WHERE starts_with(key, ?) AND {_LIVE} AND (contains(lower(key), "
                "lower(?)) OR contains(lower(CAST(value AS VARCHAR)), lower(?))) ORDER BY key LIMIT ?"
            )
            return conn.execute(sql, [prefix, now, query, query, limit]).fetchall()

        return await self._run(read)

    # -- writes ------------------------------------------------------------------------------
    async def _write(self, writes: Sequence[Write], now: float) -> list[Any]:
        return await self._run(self._write_sync, writes, now)

    def _write_sync(self, conn: duckdb.DuckDBPyConnection, writes: Sequence[Write], now: float) -> list[Any]:
        import duckdb

        self._writes += 1
        purge = self._writes % 256 == 0  # expired keys read as missing; now and then, also drop them
        single = writes[0] if len(writes) == 1 else None
        if single is not None and not purge and not _may_need_undo(single):
            return [self._apply(conn, single, now)]  # one statement is atomic by itself, and ~20% faster
        conn.execute("BEGIN TRANSACTION")
        try:
            results = [self._apply(conn, write, now) for write in writes]
            if purge:
                conn.execute("DELETE FROM kv WHERE expires_at <= ?", [now])
            conn.execute("COMMIT")
        except BaseException:
            try:
                conn.execute("ROLLBACK")
            except duckdb.Error:
                pass  # the transaction is already gone; the original error is the one to report
            raise
        return results

    @staticmethod
    def _apply(conn: duckdb.DuckDBPyConnection, write: Write, now: float) -> Any:
        # Batches go in as one list parameter per column and `unnest`: ~15x faster than multi-row
        # VALUES here, and one statement whatever the batch size.
        if isinstance(write, KVPut) and len(write.entries) <= 32:  # few rows: VALUES plans faster
            values = ", ".join("(?, ?, ?)" for _ in write.entries)
            flat = [p for key, (text, expires) in write.entries.items() for p in (key, text, expires)]
            conn.execute(f"INSERT OR REPLACE INTO kv VALUES {values}", flat)
            return None
        if isinstance(write, KVPut):
            conn.execute(
                "INSERT OR REPLACE INTO kv SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[])::JSON, "
                "unnest(?::DOUBLE[])",
                [list(write.entries), [t for t, _ in write.entries.values()], [e for _, e in write.entries.values()]],
            )
            return None
        if isinstance(write, KVDelete):
            sql = "DELETE FROM kv WHERE key IN (SELECT unnest(?::VARCHAR[])) RETURNING key, expires_at"
            gone = {k for k, exp in conn.execute(sql, [list(write.keys)]).fetchall() if exp is None or exp > now}
            return [k for k in write.keys if k in gone]
        table = write.table
        if isinstance(write, RowsPut):
            return DuckDBStore._put_rows(conn, write)
        if isinstance(write, RowsUpdate):
            params: list[Any] = []
            sets = ", ".join(
                f"{_quote(name)} = ?::JSON" if table.column(name).type == "json" else f"{_quote(name)} = ?"
                for name in write.values
            )
            params.extend(_param(value) for value in write.values.values())
            where = _where_sql(write.where, params)
            row = conn.execute(f'UPDATE "{table.name}" SET {sets} WHERE {where}', params).fetchone()
            updated = int(row[0]) if row else 0
            if write.expect is not None and updated != write.expect:
                raise mismatch(write, updated)  # inside the transaction, which `_write_sync` rolls back
            return updated
        assert isinstance(write, RowsDelete)
        params = []
        where = _where_sql(write.where, params)
        row = conn.execute(f'DELETE FROM "{table.name}" WHERE {where}', params).fetchone()
        return int(row[0]) if row else 0

    @staticmethod
    def _put_rows(conn: duckdb.DuckDBPyConnection, write: RowsPut) -> int:
        # A plain INSERT where the rows are known to be new: DuckDB's INSERT OR REPLACE costs ~3x as much
        # (a delete and an insert with index checks), which is most of a journal write.
        import duckdb

        table = write.table
        verb = "INSERT OR REPLACE" if write.replace else "INSERT"
        names = ", ".join(_quote(c.name) for c in table.columns)
        if len(write.rows) <= 32:  # few rows: VALUES plans faster, as above
            row_sql = "(" + ", ".join("?::JSON" if c.type == "json" else "?" for c in table.columns) + ")"
            sql = f'{verb} INTO "{table.name}" ({names}) VALUES {", ".join([row_sql] * len(write.rows))}'
            params: list[Any] = [_param(row[c.name]) for row in write.rows for c in table.columns]
        else:
            cells = ", ".join(
                "unnest(?::VARCHAR[])::JSON" if c.type == "json" else f"unnest(?::{_SQL_TYPES[c.type]}[])"
                for c in table.columns
            )
            sql = f'{verb} INTO "{table.name}" ({names}) SELECT {cells}'
            params = [[_param(row[c.name]) for row in write.rows] for c in table.columns]
        try:
            conn.execute(sql, params)
        except duckdb.ConstraintException as error:
            raise conflict(table, str(error).splitlines()[0]) from error
        return len(write.rows)

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
        names = [c.name for c in table.columns]
        sql = (
            f'SELECT {", ".join(_quote(n) for n in names)} FROM "{table.name}" '
            f"WHERE {_where_sql(where, params)} ORDER BY "
            + ", ".join(f'"{n}" {"DESC" if desc else "ASC"} NULLS LAST' for n, desc in order)
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        if offset:
            sql += f" OFFSET {int(offset)}"

        def read(conn: duckdb.DuckDBPyConnection) -> Sequence[Mapping[str, Any]]:
            return [dict(zip(names, row, strict=True)) for row in conn.execute(sql, params).fetchall()]

        return await self._run(read)

    async def _read_run(
        self, run_where: tuple[Condition, ...], step_where: tuple[Condition, ...]
    ) -> tuple[Mapping[str, Any] | None, Sequence[Mapping[str, Any]]]:
        # Both reads in one worker-thread hop, and no ORDER BY (the caller sorts by `seq`): a resume starts here.
        runs, steps = TABLES["workflow_runs"], TABLES["workflow_steps"]
        run_params: list[Any] = []
        step_params: list[Any] = []
        run_sql = (
            f'SELECT {", ".join(_quote(c.name) for c in runs.columns)} FROM "workflow_runs" '
            f"WHERE {_where_sql(run_where, run_params)} LIMIT 1"
        )
        step_sql = (
            f'SELECT {", ".join(_quote(c.name) for c in steps.columns)} FROM "workflow_steps" '
            f"WHERE {_where_sql(step_where, step_params)}"
        )

        def read(conn: duckdb.DuckDBPyConnection) -> tuple[Mapping[str, Any] | None, Sequence[Mapping[str, Any]]]:
            found = conn.execute(run_sql, run_params).fetchone()
            if found is None:
                return None, []
            names = steps.column_names
            rows = [dict(zip(names, row, strict=True)) for row in conn.execute(step_sql, step_params).fetchall()]
            return dict(zip(runs.column_names, found, strict=True)), rows

        return await self._run(read)

    async def _read_around(self, table: Table, ids: list[str], before: int, after: int) -> Sequence[Mapping[str, Any]]:
        # One query instead of three per anchor (each DuckDB statement costs ~0.8 ms here): number the messages
        # of the anchors' threads, then keep those within reach of an anchor's number.
        names = table.column_names
        columns = ", ".join(f"m.{_quote(n)}" for n in names)
        sql = (
            "WITH wanted AS (SELECT unnest(?::VARCHAR[]) AS id), numbered AS (SELECT *, row_number() OVER "
            "(PARTITION BY thread_id ORDER BY created_at, id) AS n FROM messages WHERE thread_id IN "
            "(SELECT thread_id FROM messages WHERE id IN (SELECT id FROM wanted))) "
            f"SELECT DISTINCT {columns} FROM numbered m JOIN numbered a ON a.thread_id = m.thread_id "
            "AND a.id IN (SELECT id FROM wanted) AND m.n BETWEEN a.n - ? AND a.n + ?"
        )

        def read(conn: duckdb.DuckDBPyConnection) -> Sequence[Mapping[str, Any]]:
            rows = conn.execute(sql, [ids, before, after]).fetchall()
            return [dict(zip(names, row, strict=True)) for row in rows]

        return await self._run(read)

    async def _count_rows(self, table: Table, where: tuple[Condition, ...]) -> int:
        params: list[Any] = []
        sql = f'SELECT count(*) FROM "{table.name}" WHERE {_where_sql(where, params)}'

        def read(conn: duckdb.DuckDBPyConnection) -> int:
            row = conn.execute(sql, params).fetchone()
            return int(row[0]) if row else 0

        return await self._run(read)
