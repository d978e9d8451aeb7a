"""`InMemoryStore`: the store for tests and throwaway notebooks; nothing survives the process.

It keeps exactly what `DuckDBStore` keeps (JSON text, aware UTC timestamps) so the two answer alike, and
guards its dicts with a `threading.Lock`, not an `asyncio.Lock`: its coroutines may run on the kernel's
loop and on mastra_nb's private loop at once. No coroutine awaits while holding the lock.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from .base import KVDelete, KVPut, RowsDelete, RowsPut, RowsUpdate, Storage, Write, conflict, mismatch
from .tables import TABLES, Condition, Table

__all__ = ["InMemoryStore"]

_MISSING = object()


def _candidates(
    rows: dict[tuple[Any, ...], dict[str, Any]], table: Table, where: tuple[Condition, ...]
) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    """The rows `where` may match, with their keys: the one row its key names when `where` fixes every primary-key
    column (a run's compare-and-set, a thread by id), else every row; a run's update must not scan every run."""
    fixed = {cond.column.name: cond.value for cond in where if cond.op == "$eq"}
    if all(name in fixed for name in table.primary_key):
        pk = tuple(fixed[name] for name in table.primary_key)
        row = rows.get(pk)
        return [] if row is None else [(pk, row)]
    return list(rows.items())


def _matches(row: Mapping[str, Any], where: tuple[Condition, ...]) -> bool:
    # Python's own None semantics give the meaning `Condition` documents: None == None, None != 3.
    for cond in where:
        cell, value, op = row[cond.column.name], cond.value, cond.op
        if op == "$eq":
            ok = cell == value
        elif op == "$ne":
            ok = cell != value
        elif op == "$in":
            ok = cell in value
        elif op == "$nin":
            ok = cell not in value
        elif cell is None:
            ok = False  # range operators never match null cells, as in SQL
        elif op == "$gt":
            ok = cell > value
        elif op == "$gte":
            ok = cell >= value
        elif op == "$lt":
            ok = cell < value
        else:
            ok = cell <= value
        if not ok:
            return False
    return True


def _sorted(rows: list[dict[str, Any]], order: tuple[tuple[str, bool], ...]) -> list[dict[str, Any]]:
    # Stable sorts from the last key to the first; nulls sort last in both directions, as in the SQL.
    for name, descending in reversed(order):
        if descending:
            rows.sort(key=lambda r: (1, r[name]) if r[name] is not None else (0,), reverse=True)
        else:
            rows.sort(key=lambda r: (0, r[name]) if r[name] is not None else (1,))
    return rows


class InMemoryStore(Storage):
    """A `Storage` held in dicts: fast, isolated per instance, gone when the process ends."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._kv: dict[str, tuple[str, float | None]] = {}
        self._tables: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {name: {} for name in TABLES}

    def _live(self, key: str, now: float) -> str | None:
        entry = self._kv.get(key)
        if entry is None or (entry[1] is not None and entry[1] <= now):
            return None
        return entry[0]

    async def _read_keys(self, keys: Sequence[str], now: float) -> dict[str, str]:
        with self._lock:
            found = {k: self._live(k, now) for k in keys}
        return {k: text for k, text in found.items() if text is not None}

    async def _list_keys(self, prefix: str, now: float) -> list[str]:
        with self._lock:
            expired = [k for k, (_, exp) in self._kv.items() if exp is not None and exp <= now]
            for key in expired:  # this walk visits every key anyway: a good moment to forget expired ones
                del self._kv[key]
            return sorted(k for k in self._kv if k.startswith(prefix))

    async def _search_keys(self, query: str, prefix: str, limit: int, now: float) -> list[tuple[str, str]]:
        needle = query.lower()
        with self._lock:
            found = [
                (k, text)
                for k in self._kv
                if k.startswith(prefix)
                and (text := self._live(k, now)) is not None
                and (needle in k.lower() or needle in text.lower())
            ]
        return sorted(found)[:limit]

    async def _write(self, writes: Sequence[Write], now: float) -> list[Any]:
        # Writes arrive validated, so applying them should not fail; an undo log still guarantees
        # all-or-nothing if it does, at the cost of the entries touched rather than a copy of the store.
        undo: list[tuple[dict[Any, Any], Any, Any]] = []
        results: list[Any] = []

        def put(target: dict[Any, Any], key: Any, value: Any) -> None:
            undo.append((target, key, target.get(key, _MISSING)))
            if value is _MISSING:
                del target[key]
            else:
                target[key] = value

        with self._lock:
            try:
                for write in writes:
                    results.append(self._apply(write, now, put))
            except BaseException:
                for target, key, old in reversed(undo):
                    if old is _MISSING:
                        target.pop(key, None)
                    else:
                        target[key] = old
                raise
        return results

    def _apply(self, write: Write, now: float, put: Any) -> Any:
        if isinstance(write, KVPut):
            for key, entry in write.entries.items():
                put(self._kv, key, entry)
            return None
        if isinstance(write, KVDelete):
            deleted = [k for k in write.keys if self._live(k, now) is not None]
            for key in write.keys:
                if key in self._kv:
                    put(self._kv, key, _MISSING)
            return deleted
        rows = self._tables[write.table.name]
        if isinstance(write, RowsPut):
            for row in write.rows:
                pk = tuple(row[name] for name in write.table.primary_key)
                if not write.replace and pk in rows:
                    raise conflict(write.table, f"key {dict(zip(write.table.primary_key, pk, strict=True))}")
                put(rows, pk, dict(row))
            return len(write.rows)
        if isinstance(write, RowsUpdate):
            changed = [
                (pk, row) for pk, row in _candidates(rows, write.table, write.where) if _matches(row, write.where)
            ]
            if write.expect is not None and len(changed) != write.expect:
                raise mismatch(write, len(changed))  # the undo log restores this transaction's earlier writes
            for pk, row in changed:
                put(rows, pk, {**row, **write.values})
            return len(changed)
        assert isinstance(write, RowsDelete)
        doomed = [pk for pk, row in _candidates(rows, write.table, write.where) if _matches(row, write.where)]
        for pk in doomed:
            put(rows, pk, _MISSING)
        return len(doomed)

    async def _select_rows(
        self,
        table: Table,
        where: tuple[Condition, ...],
        order: tuple[tuple[str, bool], ...],
        limit: int | None,
        offset: int,
    ) -> Sequence[Mapping[str, Any]]:
        with self._lock:
            rows = [dict(r) for _, r in _candidates(self._tables[table.name], table, where) if _matches(r, where)]
        rows = _sorted(rows, order)
        return rows[offset:] if limit is None else rows[offset : offset + limit]

    async def _count_rows(self, table: Table, where: tuple[Condition, ...]) -> int:
        with self._lock:
            return sum(1 for _, r in _candidates(self._tables[table.name], table, where) if _matches(r, where))

    async def _close(self) -> None:
        with self._lock:
            self._kv.clear()
            self._tables = {name: {} for name in TABLES}

    def __repr__(self) -> str:
        return f"InMemoryStore(keys={len(self._kv)}, closed={self._closed})"
