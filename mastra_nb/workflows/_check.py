"""Commit-time checks: does each node's output fit the next node's input?

Checked where both schemas are known (a pydantic model, a list of one, a TypedDict, or a plain type); where
either is unknown, the data is validated at run time instead. The output of `parallel` and `branch` is a
TypedDict keyed by step id, so the step after them is checked field by field like any other.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel
from typing_extensions import NotRequired, TypedDict, is_typeddict

from ..errors import ErrorKind, MastraError
from .graph import BranchNode, ForeachNode, LoopNode, Node, ParallelNode, SleepNode, StepNode

__all__ = ["check_graph"]


def check_graph(workflow_id: str, nodes: list[Node], input_type: Any, output_type: Any) -> Any:
    """Raise `WORKFLOW_SCHEMA_MISMATCH` where adjacent schemas cannot fit; return the last output's type."""
    producer, produced = f"the input of workflow `{workflow_id}`", input_type
    for node in nodes:
        consumer, needed = _consumes(node)
        _check_fit(producer, produced, consumer, needed)
        if not isinstance(node, SleepNode):  # data passes through a sleep unchanged
            producer, produced = _produces(node)
    _check_fit(producer, produced, f"the output of workflow `{workflow_id}`", output_type)
    return produced


def _consumes(node: Node) -> tuple[str, Any]:
    """The step that reads a node's input, and the schema it needs (None: anything)."""
    if isinstance(node, (StepNode, LoopNode)):
        return f"step `{node.step.id}`", node.step.input.type
    if isinstance(node, ForeachNode):
        needed = node.step.input.type
        return f"step `{node.step.id}` (each item)", None if needed is None else list[needed]  # type: ignore[valid-type]
    if isinstance(node, (ParallelNode, BranchNode)):
        units = node.steps if isinstance(node, ParallelNode) else [u for _, u in node.branches]
        typed = [u for u in units if u.input.type is not None]
        return (f"step `{typed[0].id}`", typed[0].input.type) if typed else ("", None)
    return "", None


def _produces(node: Node) -> tuple[str, Any]:
    """The step that writes a node's output, and its schema (None: unknown)."""
    if isinstance(node, (StepNode, LoopNode)):
        return f"step `{node.step.id}`", node.step.output.type
    if isinstance(node, ForeachNode):
        produced = node.step.output.type
        return f"step `{node.step.id}`", None if produced is None else list[produced]  # type: ignore[valid-type]
    if isinstance(node, (ParallelNode, BranchNode)):
        units = node.steps if isinstance(node, ParallelNode) else [u for _, u in node.branches]
        if any(u.output.type is None for u in units):
            return "the step before", None
        # A branch's output has only the steps that ran: every key is optional.
        wrap = (lambda t: t) if isinstance(node, ParallelNode) else (lambda t: NotRequired[t])
        fields = {u.id: wrap(u.output.type) for u in units}
        names = ", ".join(f"`{u.id}`" for u in units)
        return f"the steps {names}", TypedDict(f"{type(node).__name__}Output", fields)  # type: ignore[operator]
    return "the step before", None


def _fields(type_: Any) -> dict[str, tuple[Any, bool]] | None:
    """`{name: (annotation, required)}` of a pydantic model or a TypedDict; None for other types."""
    if isinstance(type_, type) and issubclass(type_, BaseModel):
        return {name: (f.annotation, f.is_required()) for name, f in type_.model_fields.items()}
    if is_typeddict(type_):
        hints = typing.get_type_hints(type_)
        return {name: (hint, name in type_.__required_keys__) for name, hint in hints.items()}
    return None


def _check_fit(producer: str, produced: Any, consumer: str, needed: Any) -> None:
    if produced is None or needed is None:
        return
    have_fields, want_fields = _fields(produced), _fields(needed)
    if have_fields is None or want_fields is None:
        if _list_of(produced) and _list_of(needed):
            _check_fit(producer, typing.get_args(produced)[0], consumer, typing.get_args(needed)[0])
        elif not _compatible(produced, needed):
            problem = f"gives `{_name(produced)}`, but {consumer} needs `{_name(needed)}`"
            raise _mismatch(producer, consumer, "(root)", problem)
        return
    for name, (want, required) in want_fields.items():
        if name not in have_fields:
            if required:
                raise _mismatch(producer, consumer, name, f"has no field `{name}`, which {consumer} needs")
            continue
        have = have_fields[name][0]
        if not _compatible(have, want):
            problem = f"gives `{_name(have)}` for field `{name}`, but {consumer} needs `{_name(want)}`"
            raise _mismatch(producer, consumer, name, problem)


def _compatible(have: Any, want: Any) -> bool:
    if have == want or want is Any or have is Any:
        return True
    if typing.get_origin(want) in (typing.Union, types.UnionType):
        return any(_compatible(have, option) for option in typing.get_args(want))
    if isinstance(have, type) and isinstance(want, type):
        return issubclass(have, want) or (want is float and have is int)
    return False


def _list_of(type_: Any) -> bool:
    return typing.get_origin(type_) is list and len(typing.get_args(type_)) == 1


def _name(type_: Any) -> str:
    return getattr(type_, "__name__", None) or str(type_).replace("typing.", "")


def _mismatch(producer: str, consumer: str, field: str, problem: str) -> MastraError:
    return MastraError(
        ErrorKind.VALIDATION,
        "WORKFLOW_SCHEMA_MISMATCH",
        f"{producer[0].upper()}{producer[1:]} {problem}. Change one of the schemas, or put a `.map(...)` between them.",
        details={"producer": producer, "consumer": consumer, "field": field},
    )
