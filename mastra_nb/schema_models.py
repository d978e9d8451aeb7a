"""Pydantic models made from JSON Schemas, for callers that say a shape in JSON Schema rather than in Python: a
server's client asking for structured output (Mastra's `structuredOutput.schema`), and later tools whose schema
comes from elsewhere.

The common subset is understood: objects (`properties`, `required`, `additionalProperties: false`), the scalar
types, `enum` and `const`, arrays with `items`, nullable types (`"type": [..., "null"]`, `anyOf` with null),
`anyOf`/`oneOf` as a union, `$ref` to `#/$defs/...` or `#/definitions/...`, `default`, `description`, and the
bounds `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum`, `minLength`, `maxLength`, `pattern`,
`minItems`, `maxItems`. A property whose name is not a Python identifier keeps it as the field's alias, so the model
reads and writes the schema's names. Anything else is refused with the keyword and where it is named, rather than
silently accepting what the schema forbids.
"""

from __future__ import annotations

import functools
import json
import keyword
import re
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model
from pydantic_core import PydanticCustomError

from .errors import ErrorKind, MastraError, shown

__all__ = ["SchemaModel", "model_from_json_schema"]

_SCALARS: dict[str, Any] = {"string": str, "integer": int, "number": float, "boolean": bool, "null": type(None)}
_BOUNDS = {"minimum": "ge", "maximum": "le", "exclusiveMinimum": "gt", "exclusiveMaximum": "lt",
           "minLength": "min_length", "maxLength": "max_length", "pattern": "pattern", "minItems": "min_length",
           "maxItems": "max_length"}  # fmt: skip
# Keywords that only describe, which a model may ignore without accepting anything the schema forbids.
_NOTES = {"title", "description", "default", "examples", "$schema", "$id", "$comment", "format", "$defs",
          "definitions", "deprecated", "readOnly", "writeOnly"}  # fmt: skip
_MAX_DEPTH = 32


class SchemaModel(BaseModel):
    """The base of the models made here: strict as JSON Schema is (`"5"` is no integer), and dumped as the schema
    says its objects: in its names, without the optional properties that were not given."""

    model_config = ConfigDict(strict=True, populate_by_name=True)

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


def model_from_json_schema(schema: Any, name: str = "Output", *, where: str = "schema") -> type[SchemaModel]:
    """A pydantic model that validates what `schema` (a JSON Schema of an object) accepts.

    Args:
        schema: the JSON Schema, as parsed JSON.
        name: the model's name (a model sees it in a response format).
        where: how errors name the schema (`structuredOutput.schema`, say).

    Raises:
        MastraError: validation `SCHEMA_UNSUPPORTED` naming the keyword and its place, for a schema that is not an
            object's or uses what this subset does not understand.
    """
    try:
        text = json.dumps(schema)  # keys in their order: the model's fields keep the schema's order
    except (TypeError, ValueError):
        raise _unsupported(where, f"must be JSON, got {shown(schema)}") from None
    return _cached(text, name, where)


@functools.lru_cache(maxsize=256)
def _cached(text: str, name: str, where: str) -> type[SchemaModel]:
    schema = json.loads(text)
    if not isinstance(schema, dict) or schema.get("type", "object") != "object":
        raise _unsupported(where, f'must describe an object (`"type": "object"`), got {shown(schema, 80)}')
    return _Builder(schema, where).model(schema, _identifier(name) or "Output", where, 0)


class _Builder:
    def __init__(self, root: dict[str, Any], where: str) -> None:
        self.root, self.where = root, where

    def model(self, schema: dict[str, Any], name: str, at: str, depth: int) -> type[SchemaModel]:
        self._check(schema, at, {"type", "properties", "required", "additionalProperties"})
        properties = schema.get("properties") or {}
        required = set(schema.get("required") or ())
        if not isinstance(properties, dict) or not all(isinstance(key, str) for key in required):
            raise _unsupported(at, "has `properties` that is not an object or `required` that is not names")
        extra = schema.get("additionalProperties", True)
        if extra not in (True, False, {}):
            raise _unsupported(f"{at}.additionalProperties", "may only be true or false here")
        fields: dict[str, Any] = {}
        for position, (key, sub) in enumerate(properties.items()):
            if not isinstance(sub, dict):
                raise _unsupported(f"{at}.properties.{key}", f"must be a schema object, got {shown(sub, 60)}")
            kind = self.type(sub, f"{name}_{_identifier(key) or position}", f"{at}.properties.{key}", depth + 1)
            options = self._field(sub)
            if key not in required:  # may be absent, but is never null unless its schema says so
                options.setdefault("default", None)
            python = _identifier(key)
            if python is None or hasattr(BaseModel, python):  # `json`, `copy`, `-id`: kept as the alias
                options["alias"] = key
                python = f"field_{position}"
            fields[python] = (kind, Field(**options))
        try:
            model: type[SchemaModel] = create_model(name, __base__=SchemaModel, **fields)
            model.model_config["extra"] = "forbid" if extra is False else "allow"
            model.model_rebuild(force=True)
            return model
        except Exception as error:  # a bound pydantic cannot take (a pattern its regex engine refuses, say)
            raise _unsupported(at, f"cannot be checked: {error}") from None

    def type(self, schema: dict[str, Any], name: str, at: str, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            raise _unsupported(at, f"nests deeper than {_MAX_DEPTH} levels (a recursive `$ref`?)")
        if "$ref" in schema:
            return self.type(self._resolve(schema["$ref"], at), name, at, depth + 1)
        if "const" in schema or "enum" in schema:
            values = [schema["const"]] if "const" in schema else schema["enum"]
            if not isinstance(values, list) or not values or not all(_scalar(v) for v in values):
                raise _unsupported(f"{at}.{'const' if 'const' in schema else 'enum'}", "must list scalar values")
            return Annotated[Literal[tuple(values)], BeforeValidator(functools.partial(_listed, values))]
        for union in ("anyOf", "oneOf"):
            if union in schema:
                options = schema[union]
                if not isinstance(options, list) or not options:
                    raise _unsupported(f"{at}.{union}", "must be a non-empty list of schemas")
                kinds = tuple(
                    self.type(o, f"{name}_{n}", f"{at}.{union}.{n}", depth + 1) for n, o in enumerate(options)
                )
                return Union[kinds] if len(kinds) > 1 else kinds[0]  # noqa: UP007 - built at run time
        kind = schema.get("type")
        if isinstance(kind, list):
            kinds = tuple(self.type({**schema, "type": k}, name, at, depth + 1) for k in kind)
            return Union[kinds] if len(kinds) > 1 else kinds[0]  # noqa: UP007 - built at run time
        if kind == "object" or (kind is None and "properties" in schema):
            if "properties" not in schema and schema.get("additionalProperties", True) is not False:
                return dict[str, Any]  # a free-form object
            return self.model(schema, name, at, depth)
        if kind == "array":
            self._check(schema, at, {"type", "items", "minItems", "maxItems"})
            items = schema.get("items", {})
            if not isinstance(items, dict):
                raise _unsupported(f"{at}.items", "must be one schema (tuple forms are not understood)")
            item: Any = self.type(items, f"{name}_item", f"{at}.items", depth + 1) if items else Any
            listed: Any = list[item]  # type: ignore[valid-type]
            return _bounded(listed, schema, ("minItems", "maxItems"))
        if kind in _SCALARS:
            self._check(schema, at, {"type", *_BOUNDS})
            return _bounded(_SCALARS[kind], schema, _SCALAR_BOUNDS)
        if kind is None:
            self._check(schema, at, set())
            return Any
        raise _unsupported(f"{at}.type", f"is not a JSON Schema type: {shown(kind)}")

    def _field(self, schema: dict[str, Any]) -> dict[str, Any]:
        # Bounds travel with the type (`_bounded`), so that they hold inside unions and arrays too.
        options: dict[str, Any] = {}
        if isinstance(schema.get("description"), str):
            options["description"] = schema["description"]
        if "default" in schema:
            options["default"] = schema["default"]
        return options

    def _resolve(self, ref: Any, at: str) -> dict[str, Any]:
        match = re.fullmatch(r"#/(\$defs|definitions)/([^/]+)", ref) if isinstance(ref, str) else None
        found = self.root.get(match.group(1), {}).get(match.group(2)) if match else None
        if not isinstance(found, dict):
            raise _unsupported(f"{at}.$ref", f"must point into the schema's `$defs`, got {shown(ref)}")
        return found

    def _check(self, schema: dict[str, Any], at: str, allowed: set[str]) -> None:
        unknown = sorted(set(schema) - allowed - _NOTES)
        if unknown:
            raise _unsupported(at, f"uses {', '.join(f'`{k}`' for k in unknown)}, which mastra_nb does not check")


_SCALAR_BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "pattern")


def _bounded(kind: Any, schema: dict[str, Any], keywords: tuple[str, ...]) -> Any:
    """`kind` with the bounds among `keywords` that `schema` sets, as constraints of the type itself."""
    bounds = {_BOUNDS[keyword_]: schema[keyword_] for keyword_ in keywords if keyword_ in schema}
    return Annotated[kind, Field(**bounds)] if bounds else kind


def _listed(values: list[Any], given: Any) -> Any:
    """`given` if an enum value equals it as JSON compares: Python's `False == 0` and `True == 1` are not JSON's
    (JSON Schema tells booleans from numbers), so the `Literal` alone would take them.

    Raises:
        PydanticCustomError: `literal_error`, as the `Literal` says it.
    """
    kind = _json_kind(given)
    if any(_json_kind(value) == kind and value == given for value in values):
        return given
    shown = [repr(value) for value in values]
    expected = shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"
    raise PydanticCustomError("literal_error", "Input should be {expected}", {"expected": expected})


def _json_kind(value: Any) -> str:
    return (
        "boolean" if isinstance(value, bool) else "number" if isinstance(value, (int, float)) else type(value).__name__
    )


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _identifier(text: str) -> str | None:
    return text if text.isidentifier() and not keyword.iskeyword(text) and not text.startswith("_") else None


def _unsupported(where: str, problem: str) -> MastraError:
    return MastraError(
        ErrorKind.VALIDATION, "SCHEMA_UNSUPPORTED", f"`{where}` {problem}.",
        details={"errors": [{"field": where, "expected": "a JSON Schema of the supported subset"}]},
    )  # fmt: skip
