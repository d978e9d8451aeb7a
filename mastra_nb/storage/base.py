"""`Storage`: the async interface every store implements, and everything stores share.

The public methods live here and do the work that must not differ between stores: argument checks,
JSON encoding, column coercion (through `tables`), the closed check, key events for `subscribe` and the
hub's "storage:accessed" event. A store implements a handful of private primitives; every write, from
`set` to `transaction`, reaches it as one list of `Write`s that it must apply all-or-nothing.
"""

from __future__ import annotations

import builtins
import json
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ErrorKind, MastraError, shown
from ..events import STORAGE_ACCESSED, Event, EventBus, Subscription
from . import tables
from .tables import Condition, Table

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["DeleteOp", "DeleteRowsOp", "InsertOp", "Op", "SetOp", "Storage", "UpdateRowsOp", "UpsertOp", "mismatch"]


@dataclass(frozen=True)
class SetOp:
    """Set `key` to `value` (JSON-serializable), expiring after `ttl` seconds when given."""

    key: str
    value: Any
    ttl: float | None = None


@dataclass(frozen=True)
class DeleteOp:
    """Delete `key`; deleting a missing key is not an error."""

    key: str


@dataclass(frozen=True)
class UpsertOp:
    """Insert or replace `rows` of a domain `table` by primary key."""

    table: str
    rows: Sequence[Mapping[str, Any]]


@dataclass(frozen=True)
class InsertOp:
    """Insert new `rows` into a domain `table`. A row whose primary key is already stored fails the whole
    transaction with `STORAGE_CONFLICT`. For rows known to be new (an append-only journal) this is several
    times cheaper than `UpsertOp` in DuckDB, whose replace is a delete and an insert with index checks."""

    table: str
    rows: Sequence[Mapping[str, Any]]


@dataclass(frozen=True)
class DeleteRowsOp:
    """Delete the rows of `table` matching `where` (same filter language as `Storage.select`)."""

    table: str
    where: Mapping[str, Any]


@dataclass(frozen=True)
class UpdateRowsOp:
    """Set the columns in `values` on the rows of `table` matching `where` (same filter language as
    `Storage.select`); other columns keep their values. Primary key columns cannot be set.

    With `expect`, this is a compare-and-set: unless exactly `expect` rows match `where`, the whole transaction
    fails with `STORAGE_CONFLICT` and nothing is written. Putting the values the caller last saw into `where`
    (a run's `version`, its `status`) makes a transition that two writers can never both win."""

    table: str
    where: Mapping[str, Any]
    values: Mapping[str, Any]
    expect: int | None = None


Op = SetOp | DeleteOp | UpsertOp | InsertOp | DeleteRowsOp | UpdateRowsOp


# Validated writes, as stores receive them. Values are already encoded; nothing here can be invalid.
@dataclass(frozen=True)
class KVPut:
    entries: dict[str, tuple[str, float | None]]  # key -> (JSON text, expires_at epoch seconds or None)


@dataclass(frozen=True)
class KVDelete:
    keys: tuple[str, ...]  # result: the keys that existed (and had not expired), in this order


@dataclass(frozen=True)
class RowsPut:
    table: Table
    rows: tuple[dict[str, Any], ...]  # full encoded rows, unique by primary key
    replace: bool = True  # False: the rows are new, and a stored primary key is a `STORAGE_CONFLICT`


@dataclass(frozen=True)
class RowsDelete:
    table: Table
    where: tuple[Condition, ...]  # result: how many rows were deleted


@dataclass(frozen=True)
class RowsUpdate:
    table: Table
    where: tuple[Condition, ...]
    values: dict[str, Any]  # column -> encoded value, never a primary key column; result: rows updated
    expect: int | None = None  # when set, any other number of matching rows fails the transaction (`mismatch`)


Write = KVPut | KVDelete | RowsPut | RowsDelete | RowsUpdate


def _invalid(code: str, message: str, field: str) -> MastraError:
    """A validation error naming the argument `field`, as every refusal of the store does."""
    return MastraError(ErrorKind.VALIDATION, code, message, details={"errors": [{"field": field}]})


def _key(key: Any, api: str) -> str:
    if not isinstance(key, str) or not key:
        raise _invalid("STORAGE_KEY_INVALID", f"`{api}` needs a non-empty str key, got {shown(key)}.", "key")
    return tables.check_text(key, f"the key of `{api}`")


def _keys(keys: Any, api: str) -> list[str]:
    if isinstance(keys, (str, bytes)) or not isinstance(keys, Iterable):
        raise _invalid("STORAGE_ARGUMENT_INVALID", f"`{api}` needs a list of str keys, got {shown(keys)}.", "keys")
    return list(dict.fromkeys(_key(k, api) for k in keys))  # unique, first-seen order


def _expires_at(ttl: Any, now: float) -> float | None:
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not math.isfinite(ttl) or ttl <= 0:
        raise _invalid("STORAGE_ARGUMENT_INVALID", f"`ttl` must be a positive number of seconds, got {ttl!r}.", "ttl")
    return now + ttl


def conflict(table: Table, cause: str) -> MastraError:
    """The error of an `InsertOp` whose row is already stored; both stores raise it alike."""
    return MastraError(
        ErrorKind.DOMAIN,
        "STORAGE_CONFLICT",
        f"`InsertOp` into `{table.name}`: a row with the same primary key is already stored ({cause}); use "
        f"`UpsertOp` (or `upsert`) to replace rows.",
        details={"table": table.name, "cause": cause},
    )


def mismatch(write: RowsUpdate, matched: int) -> MastraError:
    """The error of a compare-and-set `UpdateRowsOp` whose `where` matched another number of rows than it
    expected: what the caller saw is no longer what is stored. Every store raises it alike, before writing."""
    return MastraError(
        ErrorKind.DOMAIN,
        "STORAGE_CONFLICT",
        f"`UpdateRowsOp` on `{write.table.name}` expected {write.expect} matching row(s) and found {matched}: the "
        "stored rows changed since they were read. Read them again and retry if the change still applies.",
        details={"table": write.table.name, "expected": write.expect, "matched": matched},
    )


def _int_arg(value: Any, name: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _invalid("STORAGE_ARGUMENT_INVALID", f"`{name}` must be an int >= {minimum}, got {value!r}.", name)
    return value


# Inside `Storage`, annotations say `builtins.list`: the `list` method shadows the builtin in the class body.
class Storage(ABC):
    """Key/value storage plus the domain tables of `tables.TABLES`, behind one async API.

    Stores are cheap to create (they connect on first use), safe to share between tasks, threads and
    event loops, and closed with `await store.close()` or `async with store:`.
    """

    def __init__(self) -> None:
        self._closed = False
        self._key_events = EventBus()  # private: key patterns must not mix with the hub's event names
        self._hub_events: EventBus | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    def bind(self, mastra: Any) -> None:
        """Report each operation as a "storage:accessed" event on `mastra.events` (the hub's bus)."""
        events = getattr(mastra, "events", None)
        if not isinstance(events, EventBus):
            raise _invalid(
                "STORAGE_ARGUMENT_INVALID",
                f"`{type(self).__name__}.bind` needs a hub with an `events` EventBus, got {type(mastra).__name__}.",
                "mastra",
            )
        self._hub_events = events

    async def close(self) -> None:
        """Release the store's resources; later operations raise `STORAGE_CLOSED`. Closing twice is fine."""
        if not self._closed:
            self._closed = True
            await self._close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise MastraError(
                ErrorKind.SYSTEM,
                "STORAGE_CLOSED",
                f"This `{type(self).__name__}` is closed; create a new store to keep using storage.",
            )

    def _accessed(self, op: str, count: int) -> None:
        if self._hub_events is not None:
            self._hub_events.emit(STORAGE_ACCESSED, {"op": op, "count": count})

    # -- key/value -----------------------------------------------------------------------------
    async def get(self, key: str) -> Any | None:
        """The value stored at `key`, or None when it is missing or expired."""
        key = _key(key, "get")
        return (await self._get_many([key], "get")).get(key)

    async def mget(self, keys: Iterable[str]) -> dict[str, Any]:
        """The values of those `keys` that are present, by key."""
        return await self._get_many(_keys(keys, "mget"), "mget")

    async def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        """Store `value` (JSON-serializable; pydantic models are dumped) at `key`, for `ttl` seconds if given."""
        await self._set_many({_key(key, "set"): value}, ttl, "set")

    async def mset(self, items: Mapping[str, Any], ttl: float | None = None) -> None:
        """Store several values in one batched write; all are stored or none."""
        if not isinstance(items, Mapping):
            raise _invalid(
                "STORAGE_ARGUMENT_INVALID", f"`mset` needs a mapping of key to value, got {shown(items)}.", "items"
            )
        await self._set_many(items, ttl, "mset")

    async def delete(self, key: str) -> bool:
        """Delete `key`; True when it existed."""
        return await self._delete_many([_key(key, "delete")], "delete") == 1

    async def mdelete(self, keys: Iterable[str]) -> int:
        """Delete several keys in one write; returns how many existed."""
        return await self._delete_many(_keys(keys, "mdelete"), "mdelete")

    async def _get_many(self, keys: builtins.list[str], op: str) -> dict[str, Any]:
        self._check_open()
        found = await self._read_keys(keys, time.time()) if keys else {}
        self._accessed(op, len(found))
        return {k: json.loads(found[k]) for k in keys if k in found}

    async def _set_many(self, items: Mapping[str, Any], ttl: float | None, op: str) -> None:
        expires_at = _expires_at(ttl, time.time())
        entries = {_key(k, op): (tables.dump_json(v, f"key {k!r}"), expires_at) for k, v in items.items()}
        if entries:
            await self._commit(op, [KVPut(entries)], len(entries))

    async def _delete_many(self, keys: builtins.list[str], op: str) -> int:
        if not keys:
            return 0
        [deleted] = await self._commit(op, [KVDelete(tuple(keys))], None)
        return len(deleted)

    async def list(self, prefix: str = "") -> builtins.list[str]:
        """The live keys starting with `prefix`, sorted."""
        if not isinstance(prefix, str):
            raise _invalid("STORAGE_ARGUMENT_INVALID", f"`list` needs a str prefix, got {shown(prefix)}.", "prefix")
        tables.check_text(prefix, "the prefix of `list`")
        self._check_open()
        keys = await self._list_keys(prefix, time.time())
        self._accessed("list", len(keys))
        return keys

    async def search(self, query: str, prefix: str = "", limit: int = 100) -> builtins.list[tuple[str, Any]]:
        """`(key, value)` pairs, sorted by key, whose key or value JSON contains `query` (any case)."""
        if not isinstance(query, str) or not isinstance(prefix, str):
            raise _invalid("STORAGE_ARGUMENT_INVALID", "`search` needs a str `query` and a str `prefix`.", "query")
        tables.check_text(query + prefix, "the query and prefix of `search`")
        limit = _int_arg(limit, "limit", minimum=1)
        self._check_open()
        found = await self._search_keys(query, prefix, limit, time.time())
        self._accessed("search", len(found))
        return [(k, json.loads(text)) for k, text in found]

    def subscribe(self, pattern: str, callback: Callable[[Event], Any]) -> Subscription:
        """Call `callback(event)` after each set or delete of a key matching the glob `pattern`.

        The event's name is the key; its payload is `{"op": "set" | "delete", "key": ..., "value": ...}`.
        Delivery happens soon after the write, on the writer's event loop; `subscription.unsubscribe()`
        stops it.
        """
        return self._key_events.subscribe(pattern, callback)

    # -- domain tables -------------------------------------------------------------------------
    async def upsert(self, table: str, rows: Sequence[Mapping[str, Any]]) -> int:
        """Insert or replace `rows` by primary key in one batched write; returns how many rows were written.

        A row replaces the whole stored row: columns it leaves out become None. Within one call, the last
        row with a given primary key wins.
        """
        write = self._rows_put(tables.get_table(table), rows)
        if not write.rows:
            return 0
        await self._commit("upsert", [write], len(write.rows))
        return len(write.rows)

    async def select(
        self,
        table: str,
        where: Mapping[str, Any] | None = None,
        order_by: str | Sequence[str] | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> builtins.list[dict[str, Any]]:
        """Rows of `table` matching `where`, as dicts with every column.

        Args:
            table: a name from `TABLES`.
            where: `{column: value}` for equality, or `{column: comparison}` built with `ne`, `gt`, `gte`, `lt`,
                `lte`, `is_in`, `not_in` (combined with `&`); all terms must hold. A mapping is never a comparison.
            order_by: column names, "-name" for descending; ties (and no order) go by primary key.
            limit: at most this many rows.
            offset: skip this many rows first.
        """
        spec = tables.get_table(table)
        conditions = tables.normalize_where(spec, where)
        order = tables.normalize_order(spec, order_by)
        if limit is not None:
            limit = _int_arg(limit, "limit", minimum=0)
        offset = _int_arg(offset, "offset", minimum=0)
        self._check_open()
        raw = await self._select_rows(spec, conditions, order, limit, offset)
        self._accessed("select", len(raw))
        return [tables.decode_row(spec, row) for row in raw]

    async def count(self, table: str, where: Mapping[str, Any] | None = None) -> int:
        """How many rows of `table` match `where`."""
        spec = tables.get_table(table)
        conditions = tables.normalize_where(spec, where)
        self._check_open()
        n = await self._count_rows(spec, conditions)
        self._accessed("count", n)
        return n

    async def delete_rows(self, table: str, where: Mapping[str, Any]) -> int:
        """Delete the rows of `table` matching `where` (`{}` deletes them all); returns how many."""
        [deleted] = await self._commit("delete_rows", [self._rows_delete(table, where)], None)
        return deleted

    async def transaction(self, operations: Sequence[Op | RowsPut]) -> None:
        """Apply `SetOp`, `DeleteOp`, `UpsertOp`, `InsertOp`, `DeleteRowsOp` and `UpdateRowsOp`s in order, all or
        nothing. Inside the package, a `RowsPut` of rows already in stored form (as `tables.normalize_row` makes
        them, unique by primary key) is taken as it is: the span writer makes its rows so, without the per-cell
        checks."""
        if isinstance(operations, (str, bytes, Mapping)) or not isinstance(operations, Iterable):
            raise _invalid("STORAGE_ARGUMENT_INVALID", "`transaction` needs a list of operations.", "ops")
        writes: builtins.list[Write] = []
        now = time.time()
        for index, op in enumerate(operations):
            try:
                writes.append(self._to_write(op, now))
            except MastraError as error:
                error.message = f"`transaction` operation {index} ({type(op).__name__}): {error.message}"
                error.details["operation"] = index
                raise error from None
        merged: builtins.list[Write] = []
        for write in writes:  # consecutive key writes of one kind become one batched statement
            last = merged[-1] if merged else None
            if isinstance(write, KVPut) and isinstance(last, KVPut):
                merged[-1] = KVPut({**last.entries, **write.entries})
            elif isinstance(write, KVDelete) and isinstance(last, KVDelete):
                merged[-1] = KVDelete(tuple(dict.fromkeys(last.keys + write.keys)))
            else:
                merged.append(write)
        if merged:
            await self._commit("transaction", merged, len(writes))

    def _to_write(self, op: Any, now: float) -> Write:
        if isinstance(op, SetOp):
            key = _key(op.key, "SetOp")
            return KVPut({key: (tables.dump_json(op.value, f"key {key!r}"), _expires_at(op.ttl, now))})
        if isinstance(op, DeleteOp):
            return KVDelete((_key(op.key, "DeleteOp"),))
        if isinstance(op, UpsertOp):
            return self._rows_put(tables.get_table(op.table), op.rows)
        if isinstance(op, InsertOp):
            return self._rows_put(tables.get_table(op.table), op.rows, replace=False)
        if isinstance(op, RowsPut):
            return op
        if isinstance(op, DeleteRowsOp):
            return self._rows_delete(op.table, op.where)
        if isinstance(op, UpdateRowsOp):
            return self._rows_update(op.table, op.where, op.values, op.expect)
        raise _invalid(
            "STORAGE_ARGUMENT_INVALID",
            f"expected SetOp, DeleteOp, UpsertOp, InsertOp, DeleteRowsOp or UpdateRowsOp, got {type(op).__name__}.",
            "ops[]",
        )

    @staticmethod
    def _rows_put(table: Table, rows: Any, replace: bool = True) -> RowsPut:
        if isinstance(rows, (str, bytes, Mapping)) or not isinstance(rows, Iterable):
            raise _invalid(
                "STORAGE_ARGUMENT_INVALID",
                f"`upsert` into `{table.name}` needs a list of row mappings, got {type(rows).__name__}.",
                "rows",
            )
        unique: dict[tuple[Any, ...], dict[str, Any]] = {}
        for row in rows:
            encoded = tables.normalize_row(table, row)
            key = tuple(encoded[name] for name in table.primary_key)
            unique.pop(key, None)  # last wins, and takes the last position
            unique[key] = encoded
        return RowsPut(table, tuple(unique.values()), replace)

    @staticmethod
    def _rows_delete(table: str, where: Any) -> RowsDelete:
        spec = tables.get_table(table)
        if where is None:
            raise _invalid(
                "STORAGE_ARGUMENT_INVALID", "`delete_rows` needs `where`; pass {} to delete all rows.", "where"
            )
        return RowsDelete(spec, tables.normalize_where(spec, where))

    @staticmethod
    def _rows_update(table: str, where: Any, values: Any, expect: Any = None) -> RowsUpdate:
        spec = tables.get_table(table)
        if expect is not None:
            expect = _int_arg(expect, "expect", minimum=0)
        if where is None:
            raise _invalid(
                "STORAGE_ARGUMENT_INVALID", "`UpdateRowsOp` needs `where`; pass {} to update all rows.", "where"
            )
        if not isinstance(values, Mapping) or not values:
            raise _invalid(
                "STORAGE_ARGUMENT_INVALID",
                f"`UpdateRowsOp` on `{spec.name}` needs a non-empty mapping of `values`.",
                "values",
            )
        encoded = {}
        for name, value in values.items():
            column = spec.column(name)
            if column.name in spec.primary_key:
                raise _invalid(
                    "STORAGE_ARGUMENT_INVALID",
                    f"`UpdateRowsOp` cannot set `{spec.name}.{name}`, a primary key column; delete and insert instead.",
                    f"values.{name}",
                )
            encoded[column.name] = tables.encode(column, value, f"`{spec.name}.{name}`")
        return RowsUpdate(spec, tables.normalize_where(spec, where), encoded, expect)

    async def _commit(self, op: str, writes: builtins.list[Write], count: int | None) -> builtins.list[Any]:
        self._check_open()
        results = await self._write(writes, time.time())
        deleted = 0
        for write, result in zip(writes, results, strict=True):
            if isinstance(write, KVDelete):
                deleted += len(result)
            elif isinstance(write, RowsDelete):
                deleted += result
            self._announce(write, result)
        self._accessed(op, deleted if count is None else count)
        return results

    def _announce(self, write: Write, result: Any) -> None:
        if not self._key_events.subscriptions:  # skip decoding values nobody listens for
            return
        if isinstance(write, KVPut):
            for key, (text, _) in write.entries.items():
                self._key_events.emit(key, {"op": "set", "key": key, "value": json.loads(text)})
        elif isinstance(write, KVDelete):
            for key in result:
                self._key_events.emit(key, {"op": "delete", "key": key, "value": None})

    # -- what a store implements ---------------------------------------------------------------
    @abstractmethod
    async def _read_keys(self, keys: Sequence[str], now: float) -> dict[str, str]:
        """JSON text of the live `keys` that exist."""

    @abstractmethod
    async def _list_keys(self, prefix: str, now: float) -> builtins.list[str]:
        """Live keys starting with `prefix`, sorted by code point."""

    @abstractmethod
    async def _search_keys(self, query: str, prefix: str, limit: int, now: float) -> builtins.list[tuple[str, str]]:
        """Up to `limit` live `(key, JSON text)` pairs by key, whose key or text contains `query`, any case."""

    @abstractmethod
    async def _write(self, writes: Sequence[Write], now: float) -> builtins.list[Any]:
        """Apply `writes` in order, all or nothing; one result per write (see the `Write` classes)."""

    @abstractmethod
    async def _select_rows(
        self,
        table: Table,
        where: tuple[Condition, ...],
        order: tuple[tuple[str, bool], ...],
        limit: int | None,
        offset: int,
    ) -> Sequence[Mapping[str, Any]]:
        """Stored cells of matching rows in `order` (nulls last either way), after `offset`, up to `limit`."""

    @abstractmethod
    async def _count_rows(self, table: Table, where: tuple[Condition, ...]) -> int:
        """How many rows match."""

    @abstractmethod
    async def _close(self) -> None:
        """Release resources (called once)."""
