"""Forms from JSON schemas: the fields a resume schema asks for, and the values typed into them, parsed and
validated by the step's own pydantic schema before anything is sent.

A field is a plain dict the front end draws: `name`, `label`, `kind` (text, number, integer, bool, enum, date,
datetime, json), `required`, `default`, `options` (enum), `description`. An object schema gives one field per
property; any other schema (a bare `int`, `bool`, a list, or no schema at all) gives one field named `""` that
stands for the whole value. Nested objects and lists are typed as JSON text and parsed here, so their errors
come back on the field like any other.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ...errors import MastraError

if TYPE_CHECKING:
    from ...workflows.schema import Schema

__all__ = ["ROOT", "fields", "parse"]

ROOT = ""  # the name of the one field of a schema that is not an object


def fields(schema: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The form fields of a JSON schema (as `Schema.json_schema()` gives it; None means any JSON value)."""
    if schema is None:
        return [_field(ROOT, {}, "Value (JSON)", required=False, defs={})]
    defs = schema.get("$defs", {})
    resolved = _resolve(schema, defs)
    if resolved.get("type") != "object" or "properties" not in resolved:
        return [_field(ROOT, resolved, resolved.get("title") or "Value", required=True, defs=defs)]
    required = set(resolved.get("required", ()))
    return [
        _field(name, spec, spec.get("title") or _title(name), required=name in required, defs=defs)
        for name, spec in resolved["properties"].items()
    ]


def _title(name: str) -> str:
    """A field's label when its schema has no title of its own, as pydantic makes titles (`due_date` reads "Due
    Date"): pydantic leaves it out where a field is a reference (`$ref`), as a field of an `Enum` type is."""
    return name.title().replace("_", " ").strip()


def _field(name: str, spec: dict[str, Any], label: str, *, required: bool, defs: dict[str, Any]) -> dict[str, Any]:
    spec = _resolve(spec, defs)
    nullable = False
    options = spec.get("anyOf") or spec.get("oneOf")
    if options:  # Optional[X] is anyOf [X, null]: the field is X, and may stay empty
        kinds = [_resolve(o, defs) for o in options if o.get("type") != "null"]
        nullable = len(kinds) < len(options)
        spec = {**kinds[0], **{k: v for k, v in spec.items() if k not in ("anyOf", "oneOf")}} if len(kinds) == 1 else {}
    field: dict[str, Any] = {
        "name": name, "label": label, "kind": _kind(spec), "required": required and not nullable,
        "description": spec.get("description", ""),
    }  # fmt: skip
    if "enum" in spec:
        field["options"] = list(spec["enum"])
    if "const" in spec:
        field["kind"], field["options"] = "enum", [spec["const"]]
    if "default" in spec:
        field["default"] = spec["default"]
    return field


def _resolve(spec: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = spec.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target = defs.get(ref.removeprefix("#/$defs/"), {})
        return _resolve({**target, **{k: v for k, v in spec.items() if k != "$ref"}}, defs)
    all_of = spec.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1:
        return _resolve({**all_of[0], **{k: v for k, v in spec.items() if k != "allOf"}}, defs)
    return spec


def _kind(spec: dict[str, Any]) -> str:
    if "enum" in spec or "const" in spec:
        return "enum"
    kind = spec.get("type")
    if kind == "string":
        return {"date": "date", "date-time": "datetime"}.get(spec.get("format", ""), "text")
    if kind in ("number", "integer"):
        return str(kind)
    if kind == "boolean":
        return "bool"
    return "json"  # objects, arrays, unions, anything: typed as JSON


def parse(
    schema: Schema, form: list[dict[str, Any]], values: dict[str, Any], subject: str
) -> tuple[Any, dict[str, str]]:
    """Turn the form's raw `values` into data valid for `schema`: `(data, {})`, or `(None, {field: error})`.

    Text comes as typed; numbers, dates and enums are converted by the schema itself (pydantic's lax mode), JSON
    fields are parsed here. An empty field that is not required is left out, so its default applies.
    """
    data: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for field in form:
        name, raw = field["name"], values.get(field["name"])
        if raw is None or (raw == "" and field["kind"] != "text"):
            if field["required"]:
                errors[name] = "required"
            continue
        if field["kind"] == "json" and isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except ValueError as error:
                errors[name] = f"not valid JSON: {error}"
                continue
        elif field["kind"] == "enum" and "options" in field:
            raw = next((o for o in field["options"] if str(o) == str(raw)), raw)  # the option's own type
        data[name] = raw
    if errors:
        return None, errors
    value = data.get(ROOT) if [f["name"] for f in form] == [ROOT] else data
    try:
        return schema.validate(value, "RESUME_DATA_INVALID", subject), {}
    except MastraError as error:
        found: dict[str, str] = {}
        for item in (error.details or {}).get("errors", []):
            path = str(item["field"])
            top = ROOT if path == "(root)" else path.split(".")[0]
            if top not in {f["name"] for f in form}:
                top = ROOT if ROOT in {f["name"] for f in form} else form[0]["name"]
            own = path == top or (top == ROOT and path == "(root)")
            message = item["expected"] if own else f"{path}: {item['expected']}"
            found[top] = f"{found[top]}; {message}" if top in found else message
        return None, found or {form[0]["name"]: error.message}
