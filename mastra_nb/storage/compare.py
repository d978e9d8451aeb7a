"""Comparisons in `where`: `{"score": gt(0.5)}`, `{"run_id": is_in(ids)}`, `{"start_time": gte(a) & lt(b)}`.

A plain value in `where` means equality, and it is only ever a value: a mapping where a value belongs (an id
`{"$ne": ""}` passed on from a request) is refused, never read as an operator. Comparisons exist only as these
objects, which only code can build, so no value that arrives as data can turn into a filter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ErrorKind, MastraError, shown

__all__ = ["OPERATOR_NAMES", "Compare", "gt", "gte", "is_in", "lt", "lte", "ne", "not_in"]


@dataclass(frozen=True)
class Compare:
    """One or more comparisons of a column, all of which must hold; combine them with `&`."""

    terms: tuple[tuple[str, Any], ...]  # (operator, value), the operator as `tables.Condition` names it: "$gt", ...

    def __post_init__(self) -> None:
        # Built by hand, a `Compare` must still say something: no terms would match every row.
        if not self.terms or any(
            not isinstance(t, tuple) or len(t) != 2 or t[0] not in OPERATOR_NAMES for t in self.terms
        ):
            raise MastraError(
                ErrorKind.VALIDATION, "STORAGE_ARGUMENT_INVALID",
                f"A comparison needs at least one (operator, value) term with an operator of "
                f"{', '.join(OPERATOR_NAMES)}; build it with `gt(...)`, `is_in([...])` and friends. "
                f"Got {shown(self.terms, 80)}.",
                details={"errors": [{"field": "where", "expected": "a comparison built by `mastra_nb.storage`"}]},
            )  # fmt: skip

    def __and__(self, other: Compare) -> Compare:
        if not isinstance(other, Compare):
            return NotImplemented
        return Compare(self.terms + other.terms)

    def __repr__(self) -> str:
        return " & ".join(f"{OPERATOR_NAMES[op]}({value!r})" for op, value in self.terms)


def ne(value: Any) -> Compare:
    """Not equal to `value` (a null cell is not equal to a value, and `ne(None)` matches every non-null cell)."""
    return Compare((("$ne", value),))


def gt(value: Any) -> Compare:
    """Greater than `value` (a null cell never matches a range)."""
    return Compare((("$gt", value),))


def gte(value: Any) -> Compare:
    """Greater than or equal to `value`."""
    return Compare((("$gte", value),))


def lt(value: Any) -> Compare:
    """Less than `value`."""
    return Compare((("$lt", value),))


def lte(value: Any) -> Compare:
    """Less than or equal to `value`."""
    return Compare((("$lte", value),))


def is_in(values: Iterable[Any]) -> Compare:
    """Equal to one of `values` (None among them matches null cells)."""
    return Compare((("$in", _listed(values)),))


def not_in(values: Iterable[Any]) -> Compare:
    """Equal to none of `values`."""
    return Compare((("$nin", _listed(values)),))


def _listed(values: Iterable[Any]) -> Any:
    # A generator is read once, here; a str or a mapping is left for the check that refuses it by name.
    return values if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable) else tuple(values)


# The function that builds each operator, as messages name it.
OPERATOR_NAMES = {"$ne": "ne", "$gt": "gt", "$gte": "gte", "$lt": "lt", "$lte": "lte", "$in": "is_in", "$nin": "not_in"}
