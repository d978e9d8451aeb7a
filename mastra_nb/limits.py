"""Bounds on JSON-like input: how deep and how large a value a caller or a model may hand in.

Tool arguments, workflow input, resume data and memory metadata are walked once, without recursion, before
anything else is done with them. A value nested deeper than `MAX_DEPTH` or holding more than `MAX_ITEMS` values
is refused with a validation `MastraError` that names the path where the limit was crossed, instead of surfacing
as a `RecursionError` from whichever recursive function (validation, JSON encoding, redaction) met it first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import ErrorKind, MastraError, shown

__all__ = ["MAX_DEPTH", "MAX_ID", "MAX_ITEMS", "check_bounds", "check_id", "field_path"]

MAX_DEPTH = 64  # levels of nesting; real data rarely needs 10, and Python's recursion limit is 1,000 frames
MAX_ITEMS = 1_000_000  # values in all (containers and leaves)
MAX_ID = 256  # characters of an id or a name: a uuid is 32, a person's id rarely 64

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def field_path(parts: Sequence[str | int]) -> str:
    """A path for people: `a.b[0]`, with a key that is not a plain name quoted (`a["x.y"][""]`)."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _NAME.match(part):
            text += f".{part}" if text else part
        else:
            escaped = part.replace("\\", "\\\\").replace('"', '\\"')
            text += f'["{escaped}"]'
    return text or "(root)"


def check_id(value: Any, name: str, code: str) -> str:
    """`value` if it is an id: a str of 1 to `MAX_ID` characters, not only spaces, without control characters.

    Ids reach storage queries as values (storage never reads a mapping as operators); checking them here names
    the argument when something like `{"$ne": ""}` arrives as an id, and the length keeps a 10 MB "id" out.

    Raises:
        MastraError: validation `code`, naming the argument `name`.
    """
    if isinstance(value, str) and value.strip() and len(value) <= MAX_ID and value.isprintable():
        return value
    expected = f"a non-empty str of at most {MAX_ID} printable characters"
    raise MastraError(
        ErrorKind.VALIDATION, code, f"`{name}` must be {expected}, got {shown(value)}.",
        details={"errors": [{"field": name, "expected": expected, "type": "id"}]},
    )  # fmt: skip


def check_bounds(value: Any, *, code: str, subject: str) -> None:
    """Refuse a value nested deeper than `MAX_DEPTH` or larger than `MAX_ITEMS` values.

    Args:
        value: any value; mappings, lists and tuples are walked (their subclasses too), anything else is a leaf.
        code: the code of the error (the caller's own, such as `TOOL_INPUT_INVALID`).
        subject: what the value is, as the message names it (``"the input of tool `add`"``).

    Raises:
        MastraError: validation, naming the path where the limit was crossed.
    """
    # The common case costs a few µs: one pass counting depth and values, with no paths; only a value that is
    # refused is walked again, by `_locate`, to name where. Both passes walk exactly the `_container`s.
    if not _container(value):
        return
    stack: list[tuple[Any, int]] = [(value, 0)]
    seen = 1
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, Mapping) else item
        seen += len(children)
        for child in children:
            if type(child) not in _LEAVES and _container(child):
                if depth + 1 >= MAX_DEPTH:
                    raise _locate(value, code, subject)
                stack.append((child, depth + 1))
        if seen > MAX_ITEMS:
            raise _locate(value, code, subject)


_LEAVES = frozenset({str, int, float, bool, type(None)})  # the common leaves, skipped without an isinstance


def _container(value: Any) -> bool:
    return isinstance(value, (Mapping, list, tuple))


def _locate(value: Any, code: str, subject: str) -> MastraError:
    """The error for a value `check_bounds` refused, naming the path where the limit was crossed first."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    seen = 0
    while stack:
        item, path = stack.pop()
        seen += 1
        if seen > MAX_ITEMS:
            return _refused(code, subject, path, "too large", f"at most {MAX_ITEMS:,} values in all")
        if not _container(item):
            continue
        if len(path) >= MAX_DEPTH:
            return _refused(code, subject, path, "nested too deep", f"at most {MAX_DEPTH} levels of nesting")
        if isinstance(item, Mapping):
            stack.extend((child, (*path, key if isinstance(key, str) else repr(key))) for key, child in item.items())
        else:
            stack.extend((child, (*path, index)) for index, child in enumerate(item))
    raise AssertionError("unreachable: `check_bounds` found the value over a limit")


def _refused(code: str, subject: str, path: tuple[str | int, ...], problem: str, expected: str) -> MastraError:
    where = field_path(path[:8]) + ("..." if len(path) > 8 else "")
    return MastraError(
        ErrorKind.VALIDATION,
        code,
        f"Invalid {subject}: `{where}` is {problem}; expected {expected}. Send a flatter or smaller value.",
        details={"errors": [{"field": where, "expected": expected, "type": "too_large"}]},
    )
