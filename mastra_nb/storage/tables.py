"""The domain tables, declared once as data, and the one place where row values are checked.

Every store builds its schema from `TABLES` and passes every value through `encode` on the way in and
`decode` on the way out, so a row written to `InMemoryStore` and to `DuckDBStore` reads back the same:
json columns travel as JSON text (no aliasing of caller objects), timestamps as timezone-aware UTC.
Filters (`where`) and sort orders are validated here too, into `Condition`s whose meaning both stores share.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import Any, Literal, get_args

from pydantic_core import to_json

from ..errors import ErrorKind, MastraError, shown
from ..limits import MAX_DEPTH, field_path
from .compare import OPERATOR_NAMES, Compare

__all__ = ["COLUMN_TYPES", "TABLES", "Column", "ColumnType", "Condition", "Table"]

ColumnType = Literal["text", "int", "float", "bool", "json", "timestamp"]
COLUMN_TYPES: tuple[str, ...] = get_args(ColumnType)
_RANGE_OPERATORS = frozenset({"$gt", "$gte", "$lt", "$lte"})
_INT64 = (-(2**63), 2**63 - 1)  # DuckDB's BIGINT; the in-memory store refuses the same values


@dataclass(frozen=True)
class Column:
    """A column of a domain table: its name and one of `COLUMN_TYPES`."""

    name: str
    type: ColumnType

    def __post_init__(self) -> None:
        if self.type not in COLUMN_TYPES:
            raise ValueError(f"Column {self.name!r}: type {self.type!r} is not one of {COLUMN_TYPES}.")


@dataclass(frozen=True)
class Table:
    """A domain table: name, ordered columns and the columns of its primary key."""

    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    _by_name: dict[str, Column] = field(init=False, repr=False, compare=False)
    _subjects: dict[str, str] = field(init=False, repr=False, compare=False)  # how an error names each column
    _kinds: dict[str, ColumnType] = field(init=False, repr=False, compare=False)  # each column's type, by name

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {c.name: c for c in self.columns})
        object.__setattr__(self, "_subjects", {c.name: f"`{self.name}.{c.name}`" for c in self.columns})
        object.__setattr__(self, "_kinds", {c.name: c.type for c in self.columns})
        missing = [name for name in self.primary_key if name not in self._by_name]
        if not self.primary_key or missing:
            raise ValueError(f"Table {self.name!r}: primary key {self.primary_key} names unknown columns.")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: Any) -> Column:
        """The column called `name`; a validation `MastraError` listing the valid names otherwise."""
        found = self._by_name.get(name) if isinstance(name, str) else None
        if found is None:
            raise _invalid(
                "STORAGE_UNKNOWN_COLUMN",
                f"Table `{self.name}` has no column {name!r}; its columns are {', '.join(self.column_names)}.",
                field=str(name),
            )
        return found


def _table(name: str, primary_key: tuple[str, ...], /, **columns: ColumnType) -> Table:
    return Table(name, tuple(Column(n, t) for n, t in columns.items()), primary_key)


# Later migrations must not silently change these: a new column needs a new DuckDB migration as well.
TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        _table(
            "workflow_runs", ("run_id",),
            run_id="text", workflow_id="text", resource_id="text", status="text", input="json",
            output="json", error="json", snapshot="json", created_at="timestamp", updated_at="timestamp",
            version="int",  # raised by every write of the row: what compare-and-set transitions check (`runs.py`)
        ),
        _table(
            "agent_runs", ("run_id",),
            # an agent's run paused for tool approval; `data` holds the conversation, steps and paused step
            run_id="text", agent="text", status="text", resource_id="text", data="json", error="json",
            created_at="timestamp", updated_at="timestamp", version="int",
        ),
        _table(
            "workflow_steps", ("run_id", "position"),
            # position: the step's path in the graph ("2", "3.0.1" inside nested, parallel or foreach);
            # seq: the journal's order within the run
            run_id="text", position="text", seq="int", step_id="text", status="text", attempt="int", input="json",
            output="json", suspend_payload="json", resume_payload="json", error="json", state="json",
            started_at="timestamp", ended_at="timestamp", suspended_at="timestamp", resumed_at="timestamp",
        ),
        _table(
            "threads", ("id",),
            id="text", resource_id="text", title="text", metadata="json", created_at="timestamp",
            updated_at="timestamp",
        ),
        _table(
            "messages", ("id",),
            id="text", thread_id="text", resource_id="text", role="text", content="json",
            created_at="timestamp",
        ),
        _table("resources", ("id",), id="text", working_memory="text", metadata="json", updated_at="timestamp"),
        _table(
            "spans", ("span_id",),
            span_id="text", trace_id="text", parent_span_id="text", name="text", kind="text", status="text",
            start_time="timestamp", end_time="timestamp", attributes="json", events="json",
            run_id="text", thread_id="text",  # copied out of the attributes, so that traces filter on them
        ),
        _table(
            "scores", ("id",),
            id="text", scorer_id="text", target_kind="text", target_id="text", trace_id="text",
            span_id="text", score="float", reason="text", details="json", created_at="timestamp",
        ),
        _table(
            "model_calls", ("key",),
            key="text", model="text", request="json", response="json", created_at="timestamp",
        ),
        _table(
            "api_keys", ("key_id",),
            # a server's API keys: only a salted hash of each secret is kept (`server/keys.py`)
            key_id="text", owner="text", roles="json", resource_id="text", salt="text", digest="text",
            created_at="timestamp", expires_at="timestamp", revoked_at="timestamp",
        ),
        _table(
            "audit", ("id",),
            # security events: who, from where, on which route, what was decided; never a token or key (`audit.py`)
            id="text", at="timestamp", event="text", user_id="text", address="text", route="text",
            decision="text", request_id="text", details="json",
        ),
    )
}  # fmt: skip


@dataclass(frozen=True)
class Condition:
    """One validated filter term. `value` is encoded; for `$in`/`$nin` it is a tuple of encoded values.

    Meaning, shared by every store: `$eq None` is "is null", `$ne v` matches null cells too (SQL's
    `IS DISTINCT FROM`), range operators never match null cells, `$in`/`$nin` treat a None in the list
    as "null cells match" / "null cells do not match".
    """

    column: Column
    op: str
    value: Any


def _invalid(code: str, message: str, *, field: str, **details: Any) -> MastraError:
    """A validation error naming `field` (a table, a column, `where`, ...), as every refusal of a store does."""
    return MastraError(ErrorKind.VALIDATION, code, message, details={"errors": [{"field": field}], **details})


def get_table(name: Any) -> Table:
    """The declared table called `name`; a validation `MastraError` listing the tables otherwise."""
    table = TABLES.get(name) if isinstance(name, str) else None
    if table is None:
        raise _invalid(
            "STORAGE_UNKNOWN_TABLE", f"Unknown table {name!r}; the tables are {', '.join(TABLES)}.", field="table"
        )
    return table


def _json_default(value: Any) -> Any:
    from pydantic import BaseModel  # pydantic is a core dependency; imported here to keep startup lean

    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"{type(value).__name__} is not JSON-serializable")


# Built once: `json.dumps` with options builds an encoder per call. No circular check: `_unfaithful` has already
# refused anything nested deeper than MAX_DEPTH, which a cycle would be.
_ENCODER = json.JSONEncoder(default=_json_default, ensure_ascii=False, allow_nan=False, check_circular=False)


def dump_json(value: Any, subject: str) -> str:
    """JSON text of `value` (pydantic models dumped in JSON mode); `subject` names it in the error.

    A dict key that is not a str is refused rather than turned into one (JSON would store `{None: 1}` as
    `{"null": 1}` and give back something else), and so are a value nested too deep and text no store can keep
    (see `check_text`).
    """
    if _plain(value, 0):  # the common case: plain JSON already, which pydantic-core encodes several times faster
        try:
            return to_json(value).decode()
        except ValueError:  # a lone surrogate: said below, as `check_text` says it
            pass
    try:
        bad = _unfaithful(value, ())
        if bad is not None:
            path, problem = bad
            raise _invalid(
                "STORAGE_VALUE_INVALID",
                f"The value for {subject} has {problem} at `{field_path(path)}`. Use str keys and flatter values.",
                field=f"{subject} {field_path(path)}",
                subject=subject,
            )
        return check_text(_ENCODER.encode(value), subject)
    except (TypeError, ValueError, RecursionError) as error:
        raise _invalid(
            "STORAGE_VALUE_INVALID",
            f"The value for {subject} must be JSON-serializable (dicts, lists, str, numbers, bools, None or "
            f"pydantic models), got {type(value).__name__}: {error}. Convert it before storing it.",
            field=subject,
            subject=subject,
            type=type(value).__name__,
        ) from None


def _plain(value: Any, depth: int) -> bool:
    """Whether `value` is made of dicts with str keys, lists, tuples, str, int, bool, None and finite floats only,
    no deeper than MAX_DEPTH: JSON gives it back as it is, with no conversion to decide."""
    kind = type(value)
    if kind is dict:
        if depth >= MAX_DEPTH:
            return False
        for key, item in value.items():
            if type(key) is not str:
                return False
            if not (type(item) in _LEAVES or item is None or _plain(item, depth + 1)):
                return False
        return True
    if kind is list or kind is tuple:
        if depth >= MAX_DEPTH:
            return False
        for item in value:
            if not (type(item) in _LEAVES or item is None or _plain(item, depth + 1)):
                return False
        return True
    if kind is float:
        return math.isfinite(value)
    return kind in _LEAVES or value is None


_LEAVES = frozenset((str, int, bool))


def _unfaithful(value: Any, path: tuple[str | int, ...]) -> tuple[tuple[str | int, ...], str] | None:
    """The path to, and what is wrong with, the first part of `value` that JSON would not give back as it is (a dict
    key that is not a str) or that is nested deeper than `limits.MAX_DEPTH`; None when there is none."""
    if len(path) >= MAX_DEPTH:
        return path, f"nesting deeper than {MAX_DEPTH} levels"
    if type(value) is dict:
        for key, item in value.items():
            if not isinstance(key, str):  # a str subclass (a StrEnum) comes back as its plain str value, equal
                return path, f"the non-string key {shown(key, 40)} (JSON keys are strings: it would come back changed)"
            if type(item) in _CONTAINERS:
                found = _unfaithful(item, (*path, key))
                if found is not None:
                    return found
    elif type(value) in (list, tuple):
        for index, item in enumerate(value):
            if type(item) in _CONTAINERS:
                found = _unfaithful(item, (*path, index))
                if found is not None:
                    return found
    return None


_CONTAINERS = (dict, list, tuple)


def check_text(text: str, subject: str) -> str:
    """`text` if every store can keep it. A lone surrogate (half of a UTF-16 pair, as decoding bytes with
    `surrogateescape` leaves behind) is not Unicode text: DuckDB cannot store it, so no store accepts it."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise _invalid(
            "STORAGE_VALUE_INVALID",
            f"{subject} holds the lone surrogate {text[error.start]!r} at character {error.start}, which is not "
            "valid Unicode text and cannot be stored. Decode the bytes it came from with `errors='replace'`.",
            field=subject,
            subject=subject,
        ) from None
    return text


def encode(column: Column, value: Any, subject: str) -> Any:
    """Check `value` against the column type and return the form every store keeps.

    text, int, float and bool stay Python values; json becomes JSON text; timestamp becomes an aware
    UTC datetime (naive ones are taken as UTC; ISO 8601 strings are parsed). None stays None.
    """
    if value is None:
        return None
    kind = column.type
    if kind == "text" and type(value) is str and value.isascii():  # the common case, first
        return value
    if isinstance(value, Enum) and kind == "text":
        value = value.value
    if kind == "json":
        return dump_json(value, subject)
    if kind == "text" and isinstance(value, str):
        return check_text(str.__str__(value), subject)  # a plain str, even for str subclasses
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        if _INT64[0] <= value <= _INT64[1]:
            return int(value)
    if kind == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
        if math.isfinite(value):
            return float(value)
    if kind == "timestamp":
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                pass
        if isinstance(value, datetime):
            if value.tzinfo is timezone.utc:
                return value
            aware = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value
            return aware.astimezone(timezone.utc)
    expected = {
        "text": "a str",
        "int": "an int within 64 bits",
        "float": "a finite float or int",
        "bool": "a bool",
        "timestamp": "a datetime (naive means UTC) or an ISO 8601 string",
    }[kind]
    raise _invalid(
        "STORAGE_VALUE_INVALID",
        f"{subject} expects {expected}, got {type(value).__name__} {shown(value)}.",
        field=subject,
        subject=subject,
        expected=expected,
    )


def decode(column: Column, raw: Any) -> Any:
    """The user-facing value of a stored cell: JSON parsed, timestamps made aware UTC."""
    if raw is None:
        return None
    if column.type == "json":
        return json.loads(raw)
    if column.type == "timestamp" and raw.tzinfo is None:
        return raw.replace(tzinfo=timezone.utc)  # DuckDB keeps naive UTC
    return raw


def decode_row(table: Table, raw: Mapping[str, Any]) -> dict[str, Any]:
    """A full user-facing row (every column, missing ones None) from stored cells."""
    return {c.name: decode(c, raw.get(c.name)) for c in table.columns}


_INT64_MIN, _INT64_MAX = _INT64
_UTC = timezone.utc


def normalize_row(table: Table, row: Any) -> dict[str, Any]:
    """Validate and encode one row for upsert: known columns only, primary key present."""
    if not isinstance(row, Mapping):
        raise _invalid(
            "STORAGE_ROW_INVALID",
            f"Rows for `{table.name}` must be mappings of column to value, got {type(row).__name__}.",
            field="rows[]",
        )
    encoded = dict.fromkeys(table._by_name)
    kinds, subjects = table._kinds, table._subjects
    for name, value in row.items():
        kind = kinds.get(name)  # a key of another type than str is no column name either
        if kind is None:
            table.column(name)  # raises, naming the table's columns
        if value is None:
            continue
        # Most cells are one of these, which `encode` would return as they are: without the call and its checks.
        of = type(value)
        if of is str:
            if kind == "text" and value.isascii():
                encoded[name] = value
                continue
        elif of is int:
            if kind == "int" and _INT64_MIN <= value <= _INT64_MAX:
                encoded[name] = value
                continue
        elif of is datetime and kind == "timestamp" and value.tzinfo is _UTC:
            encoded[name] = value
            continue
        if kind == "json":
            encoded[name] = dump_json(value, subjects[name])
        else:
            encoded[name] = encode(table._by_name[name], value, subjects[name])
    for name in table.primary_key:
        if encoded[name] is None:
            missing = [name for name in table.primary_key if encoded[name] is None]
            raise _invalid(
                "STORAGE_ROW_INVALID",
                f"A row for `{table.name}` lacks its primary key {', '.join(missing)}: {shown(dict(row), 120)}.",
                field=", ".join(missing),
                missing=missing,
            )
    return encoded


def normalize_where(table: Table, where: Any) -> tuple[Condition, ...]:
    """Validate `{column: value}` (equality) or `{column: gt(value) & ...}` (see `compare`) into conditions, all
    of which must hold. A value is always a value: a mapping is refused, never read as operators."""
    if where is None:
        return ()
    if not isinstance(where, Mapping):
        raise _invalid(
            "STORAGE_ARGUMENT_INVALID", f"`where` must be a mapping, got {type(where).__name__}.", field="where"
        )
    conditions = []
    for name, spec in where.items():
        column = table.column(name)
        if isinstance(spec, Mapping):
            raise _invalid(
                "STORAGE_ARGUMENT_INVALID",
                f"`where` compares `{table.name}.{column.name}` with the mapping {shown(spec)}: a value in `where` is "
                "compared for equality and is never read as operators. Build comparisons with "
                "`mastra_nb.storage.gt(...)`, `is_in([...])`, `ne(...)` and friends.",
                field=f"where.{column.name}",
            )
        terms = spec.terms if isinstance(spec, Compare) else (("$eq", spec),)
        conditions += [_condition(table, column, op, value) for op, value in terms]
    return tuple(conditions)


def _condition(table: Table, column: Column, op: str, value: Any) -> Condition:
    subject = f"`{table.name}.{column.name}` in `where`"
    if column.type == "json" and not (op in ("$eq", "$ne") and value is None):
        # JSON text equality depends on key order and spacing: filter such values in Python instead.
        raise _invalid(
            "STORAGE_OPERATOR_INVALID",
            f"json column {subject} can only be tested for None (`None` or `ne(None)`).",
            field=f"where.{column.name}",
        )
    if op in ("$in", "$nin"):
        if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (Sequence, set, frozenset)):
            raise _invalid(
                "STORAGE_ARGUMENT_INVALID",
                f"`{OPERATOR_NAMES[op]}` for {subject} needs a list of values, got {shown(value)}.",
                field=f"where.{column.name}",
            )
        return Condition(column, op, tuple(encode(column, v, subject) for v in value))
    if op in _RANGE_OPERATORS and value is None:
        raise _invalid(
            "STORAGE_ARGUMENT_INVALID",
            f"`{OPERATOR_NAMES[op]}` for {subject} cannot compare with None.",
            field=f"where.{column.name}",
        )
    return Condition(column, op, encode(column, value, subject))


def normalize_order(table: Table, order_by: Any) -> tuple[tuple[str, bool], ...]:
    """`(column, descending)` pairs, ending with the primary key so every store returns one order."""
    names = [order_by] if isinstance(order_by, str) else list(order_by or ())
    order: list[tuple[str, bool]] = []
    for spec in names:
        if not isinstance(spec, str):
            raise _invalid(
                "STORAGE_ARGUMENT_INVALID", f"`order_by` takes column names, got {spec!r}.", field="order_by"
            )
        descending = spec.startswith("-")
        column = table.column(spec[1:] if descending else spec)
        if column.type == "json":
            raise _invalid(
                "STORAGE_ARGUMENT_INVALID", f"Cannot order by json column `{column.name}`.", field="order_by"
            )
        order.append((column.name, descending))
    seen = {name for name, _ in order}
    return (*order, *((name, False) for name in table.primary_key if name not in seen))
