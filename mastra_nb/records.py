"""Stored records to JSON and back: the one place that converts them, through pydantic `TypeAdapter`s.

A record is a small dataclass kept in storage as JSON: a model's response that record/replay saved, the steps and
the paused step of an agent run waiting for tool approval. `dump(record)` gives the JSON-able dict that is stored;
`load(Type, data)` reads one back, and data that does not fit raises a `MastraError` (`RECORD_INVALID`) naming the
record type and each field. Each type's adapter is built on its first use and kept.

The record types live in their own parts (`models.types`, `agents.results`, `agents._loop`) and this module
imports none of them, so imports point down to it. A type says how records written by earlier versions load with
`defaults(...)`, set as its pydantic schema hook:

    __get_pydantic_core_schema__ = records.defaults(text="", model="")
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pydantic import GetCoreSchemaHandler, TypeAdapter, ValidationError
from pydantic_core import CoreSchema, core_schema

from .errors import MastraError

__all__ = ["defaults", "dump", "load"]

T = TypeVar("T")

_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def _adapter(type_: Any) -> TypeAdapter[Any]:
    adapter = _ADAPTERS.get(type_)
    if adapter is None:  # two threads may both build it: the same adapter, kept once
        adapter = _ADAPTERS.setdefault(type_, TypeAdapter(type_))
    return adapter


def dump(record: Any) -> dict[str, Any]:
    """`record` as the JSON-able dict stored for it. A value of an `Any` field that JSON cannot hold (a date, a
    user's object) is stored the way pydantic dumps it, or as its `str`."""
    data: dict[str, Any] = _adapter(type(record)).dump_python(record, mode="json", fallback=str)
    return data


def load(type_: type[T], data: Any) -> T:
    """The `type_` record stored as `data`.

    Raises:
        MastraError: `RECORD_INVALID` (validation) when `data` does not fit `type_`, naming each field.
    """
    try:
        record: T = _adapter(type_).validate_python(data)
    except ValidationError as error:
        raise MastraError.from_validation(
            error,
            code="RECORD_INVALID",
            subject=f"stored `{type_.__name__}` record",
            hint="It was not written by mastra_nb or was changed since: restore it, or delete it and run again.",
        ) from None
    return record


def defaults(**values: Any) -> Any:
    """The pydantic schema hook of a record type that says how records of earlier versions load: a field named
    here that the stored record lacks, or holds as null, reads as the value given (a callable computes it from the
    record's data; when it cannot, the field's own default stays). A null record reads as an empty one.

    Set it in the class body: `__get_pydantic_core_schema__ = records.defaults(arguments="")`.
    """

    def filled(data: Any) -> Any:
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            return data  # pydantic says what it expected
        data = dict(data)
        for name, value in values.items():
            if data.get(name) is None:
                _fill(data, name, value)
        return data

    def hook(cls: type, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_before_validator_function(filled, handler(source))

    return classmethod(hook)


def _fill(data: dict[str, Any], name: str, value: Any | Callable[[dict[str, Any]], Any]) -> None:
    if not callable(value):
        data[name] = value
        return
    try:
        data[name] = value(data)
    except (TypeError, ValueError):  # the fields it is computed from are invalid: pydantic names those
        data.pop(name, None)
