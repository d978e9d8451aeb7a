"""One Mongo-like filter language for vector metadata, checked here and translated to Chroma's `where`.

A filter is `{field: value}` (equality), `{field: {"$gt": 5, ...}}`, or a combination with `$and`, `$or` and
`$not`. Chroma has no `$not`, so a negation is pushed down to the leaves (De Morgan; `$gt` becomes `$lte`, `$in`
becomes `$nin`, ...). Chroma also wants `$and`/`$or` with at least two terms and one field per dict, so a dict
with several fields becomes an `$and`, and a one-term `$and` is unwrapped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import ErrorKind, MastraError, shown

__all__ = ["FIELD_OPERATORS", "LOGICAL_OPERATORS", "to_chroma"]

FIELD_OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin")
LOGICAL_OPERATORS = ("$and", "$or", "$not")
_NEGATED = {
    "$eq": "$ne",
    "$ne": "$eq",
    "$gt": "$lte",
    "$lte": "$gt",
    "$lt": "$gte",
    "$gte": "$lt",
    "$in": "$nin",
    "$nin": "$in",
}
_SCALARS = (str, int, float, bool)


def _unsupported(message: str, path: str) -> MastraError:
    return MastraError(
        ErrorKind.VALIDATION,
        "VECTOR_FILTER_INVALID",
        f"{message} (at `{path or '(root)'}`). Filters use {', '.join(FIELD_OPERATORS + LOGICAL_OPERATORS)}.",
        details={"errors": [{"field": path or "(root)", "expected": message}]},
    )


def to_chroma(where: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Check a filter and translate it into Chroma's `where`; None or `{}` is no filter.

    Raises:
        MastraError: validation `VECTOR_FILTER_INVALID` naming the place of an unknown operator or a bad value.
    """
    if not where:
        return None
    if not isinstance(where, Mapping):
        raise _unsupported(f"a filter must be a dict, got {type(where).__name__}", "")
    terms = _terms(where, "", negate=False)
    return terms[0] if len(terms) == 1 else {"$and": terms}


def _terms(where: Mapping[str, Any], path: str, *, negate: bool) -> list[dict[str, Any]]:
    """The Chroma terms of one filter dict (each holding one key), negated when `negate`."""
    out: list[dict[str, Any]] = []
    for key, value in where.items():
        here = f"{path}.{key}" if path else str(key)
        if key in ("$and", "$or"):
            if not isinstance(value, list | tuple) or not value:
                raise _unsupported(f"`{key}` takes a non-empty list of filters", here)
            parts = [
                _combine(_terms(_mapping(item, f"{here}[{i}]"), f"{here}[{i}]", negate=negate))
                for i, item in enumerate(value)
            ]
            op = key if not negate else ("$or" if key == "$and" else "$and")
            out.append(parts[0] if len(parts) == 1 else {op: parts})
        elif key == "$not":
            out.append(_combine(_terms(_mapping(value, here), here, negate=not negate)))
        elif isinstance(key, str) and key.startswith("$"):
            raise _unsupported(f"unsupported operator `{key}`", here)
        else:
            out.extend(_field(str(key), value, here, negate=negate))
    return out


def _combine(terms: list[dict[str, Any]]) -> dict[str, Any]:
    return terms[0] if len(terms) == 1 else {"$and": terms}


def _mapping(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping) or not value:
        raise _unsupported(f"expected a non-empty filter dict, got {shown(value)}", path)
    return value


def _field(name: str, condition: Any, path: str, *, negate: bool) -> list[dict[str, Any]]:
    if not isinstance(condition, Mapping):
        condition = {"$eq": condition}
    terms: list[dict[str, Any]] = []
    for op, value in condition.items():
        here = f"{path}.{op}"
        if op == "$not":
            terms.extend(_field(name, _mapping(value, here), here, negate=not negate))
            continue
        if op not in FIELD_OPERATORS:
            raise _unsupported(f"unsupported operator `{op}`", here)
        if op in ("$in", "$nin"):
            if not isinstance(value, list | tuple) or not value or not all(isinstance(v, _SCALARS) for v in value):
                raise _unsupported(f"`{op}` takes a non-empty list of str, int, float or bool", here)
            value = list(value)
        elif not isinstance(value, _SCALARS):
            raise _unsupported(f"`{op}` takes a str, int, float or bool, got {shown(value)}", here)
        terms.append({name: {_NEGATED[op] if negate else op: value}})
    if negate and len(terms) > 1:  # not (a and b) == (not a) or (not b)
        return [{"$or": terms}]
    return terms
