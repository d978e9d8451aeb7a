"""One schema of a step (input, output, resume, suspend) or workflow: validate values, and turn them into
JSON for the journal and back, faithfully or not at all.

A value with a declared schema travels as its JSON form and is validated back into its type when a run is
restored. A value without one must already be plain JSON (dict, list, str, number, bool, None): anything
else (a tuple, a datetime, an instance of a class defined in a kernel that has since died) could not come
back as it left, so it fails at once with the step and the field named, never as a silent change later.
Every value is held to the bounds of `limits` first, so a value nested too deep is a named error, not a
`RecursionError`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import PydanticSerializationError

from ..errors import ErrorKind, MastraError
from ..limits import check_bounds, field_path
from ..redaction import sensitive_fields

__all__ = ["Schema"]


class Schema:
    """A type (usually a pydantic model) or None for "any plain JSON value"."""

    __slots__ = ("_adapter", "model", "type")

    def __init__(self, type_: Any = None) -> None:
        self.type = type_
        self.model = type_ if isinstance(type_, type) and issubclass(type_, BaseModel) else None
        self._adapter: TypeAdapter[Any] | None = None if type_ is None else TypeAdapter(type_)

    @property
    def typed(self) -> bool:
        """Whether values have a declared type, so `dump` makes a new JSON value rather than check and return the
        value itself."""
        return self._adapter is not None

    def validate(self, value: Any, code: str, subject: str) -> Any:
        """The value as the schema's type; a validation `MastraError` naming each bad field otherwise."""
        if self.model is not None and type(value) is self.model:
            return value
        check_bounds(value, code=code, subject=subject)
        if self._adapter is None:
            return value
        if isinstance(value, BaseModel) and self.model is not None:
            value = value.model_dump()  # another model with the fields the next step needs
        try:
            return self._adapter.validate_python(value)
        except ValidationError as error:
            hidden = sensitive_fields(self.model) if self.model is not None else ()
            raise MastraError.from_validation(error, code=code, subject=subject, hidden=hidden) from None

    def dump(self, value: Any, subject: str) -> Any:
        """The JSON form of `value`, or a validation error naming the field that cannot be restored."""
        if value is None:
            return None
        if self._adapter is None:
            check_bounds(value, code="WORKFLOW_VALUE_NOT_RESTORABLE", subject=subject)
            found = _unfaithful(value)
            if found is not None:
                path, what = found
                raise MastraError(
                    ErrorKind.VALIDATION,
                    "WORKFLOW_VALUE_NOT_RESTORABLE",
                    f"{subject} holds {what} at `{path}`, which cannot be stored and restored faithfully. "
                    "Declare a pydantic schema for it, or use plain JSON values with string keys.",
                    details={"field": path},
                )
            return value
        try:
            if self.model is not None and isinstance(value, self.model):
                return value.model_dump(mode="json")
            return self._adapter.dump_python(value, mode="json")
        except RecursionError:
            raise MastraError(
                ErrorKind.VALIDATION,
                "WORKFLOW_VALUE_NOT_RESTORABLE",
                f"{subject} is nested too deep to be stored as JSON. Send a flatter value.",
            ) from None
        except PydanticSerializationError as error:
            raise MastraError(
                ErrorKind.VALIDATION,
                "WORKFLOW_VALUE_NOT_RESTORABLE",
                f"{subject} cannot be stored as JSON ({error}). Use JSON-friendly field types.",
            ) from None

    def json_schema(self) -> dict[str, Any] | None:
        return None if self._adapter is None else self._adapter.json_schema()

    def __repr__(self) -> str:
        return f"Schema({getattr(self.type, '__name__', self.type)!r})"


_PLAIN = (str, int, float, bool)


def _unfaithful(value: Any) -> tuple[str, str] | None:
    """The path (as `limits.field_path` writes it) and a description of the first part JSON would not give back as
    it is, or None. A dict key that is not a str counts: JSON would turn `{None: 1}` into `{"null": 1}`."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        if item is None or type(item) in _PLAIN:
            continue
        if type(item) is dict:
            for key in item:
                if type(key) is not str:
                    return field_path(path), f"the non-string key {key!r}"
            stack.extend((child, (*path, key)) for key, child in reversed(item.items()))
        elif type(item) is list:
            stack.extend((child, (*path, index)) for index, child in reversed(list(enumerate(item))))
        else:
            return field_path(path), f"a {type(item).__name__}"
    return None
