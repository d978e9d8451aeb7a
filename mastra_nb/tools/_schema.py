"""How a Python function becomes a tool schema, and how that schema is exported.

`build_input_spec` reads a function's signature, type hints and Google-style docstring and returns an
`InputSpec`: the pydantic model that validates the tool's input, and a list of slots saying which
function parameter receives a field, the whole model instance, or the `ToolContext`. `strict_schema`
rewrites a JSON Schema into the subset OpenAI's strict mode accepts, and `sanitize` a name into one that providers
accept for a function (both public as `mastra_nb.tools.strict_schema` and `mastra_nb.tools.sanitize`).
"""

from __future__ import annotations

import copy
import inspect
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model
from pydantic.errors import PydanticSchemaGenerationError

from ..errors import ErrorKind, MastraError

__all__ = [
    "InputSpec", "Slot", "build_input_spec", "output_adapter", "parse_docstring", "sanitize", "strict_schema",
]  # fmt: skip

_SECTIONS = {
    "args", "arguments", "parameters", "params", "keyword args", "keyword arguments", "other parameters",
    "returns", "return", "yields", "raises", "example", "examples", "note", "notes", "attributes",
    "warning", "warnings", "see also", "todo", "references",
}  # fmt: skip
_ARG_SECTIONS = {"args", "arguments", "parameters", "params", "keyword args", "keyword arguments"}
_ENTRY = re.compile(r"^\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_INVALID_NAME = re.compile(r"[^a-zA-Z0-9_-]+")


def sanitize(name: str) -> str:
    """`name` reduced to what OpenAI, Anthropic and Gemini accept as a function name."""
    return _INVALID_NAME.sub("_", name).strip("_")[:64] or "tool"


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into its summary and its `Args:` descriptions.

    Returns:
        The first paragraph joined into one line, and a mapping of parameter name to description.
    """
    if not doc:
        return "", {}
    lines = inspect.cleandoc(doc).splitlines()

    def header(line: str) -> str | None:
        text = line.strip()
        is_header = line == line.lstrip() and text.endswith(":") and text[:-1].lower() in _SECTIONS
        return text[:-1].lower() if is_header else None

    summary: list[str] = []
    for line in lines:
        if not line.strip() or header(line):
            break
        summary.append(line.strip())

    params: dict[str, str] = {}
    in_args, entry_indent, current = False, None, None
    for line in lines:
        section = header(line)
        if section is not None:
            in_args, entry_indent, current = section in _ARG_SECTIONS, None, None
            continue
        if not in_args or not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if indent == 0:  # unindented prose ends the section
            in_args = False
            continue
        entry_indent = indent if entry_indent is None else entry_indent
        match = _ENTRY.match(line.strip())
        if indent == entry_indent and match:
            current = match.group(1)
            params[current] = match.group(2).strip()
        elif indent > entry_indent and current is not None:
            params[current] = f"{params[current]} {line.strip()}".strip()
    return " ".join(summary), params


@dataclass(frozen=True)
class Slot:
    """One function parameter and what it receives: a field of the input, the whole input, or the context."""

    name: str
    kind: Literal["field", "model", "context"]
    field: str = ""  # the model's attribute name, for kind == "field"
    positional: bool = False  # positional-only parameters cannot be passed by keyword


@dataclass(frozen=True)
class InputSpec:
    """The validated shape of a tool's input and how it maps onto the function's parameters."""

    model: type[BaseModel]
    slots: tuple[Slot, ...]
    nulls_to_drop: frozenset[str]  # keys whose explicit None means "use the default" (strict-mode callers)

    def arguments(self, data: BaseModel, context: Any) -> tuple[list[Any], dict[str, Any]]:
        """The positional and keyword arguments to call the function with."""
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for slot in self.slots:
            value = getattr(data, slot.field) if slot.kind == "field" else data if slot.kind == "model" else context
            if slot.positional:
                args.append(value)
            else:
                kwargs[slot.name] = value
        return args, kwargs


def _is_model(hint: Any) -> bool:
    return isinstance(hint, type) and issubclass(hint, BaseModel)


def _definition_error(tool_id: str, problem: str) -> MastraError:
    return MastraError(ErrorKind.VALIDATION, "TOOL_DEFINITION_INVALID", f"Tool `{tool_id}`: {problem}")


def resolve_hints(fn: Callable[..., Any], tool_id: str) -> dict[str, Any]:
    """The function's type hints with string annotations resolved (`from __future__ import annotations`)."""
    try:
        return typing.get_type_hints(fn, include_extras=True)
    except Exception as exc:  # NameError for a name only defined locally, TypeError for odd callables
        raise _definition_error(
            tool_id, f"could not resolve the type hints of `{getattr(fn, '__qualname__', fn)}` ({exc}). "
            "Define the types it names at module level, or pass `input_schema=`.",
        ) from exc  # fmt: skip


def build_input_spec(
    fn: Callable[..., Any],
    tool_id: str,
    context_type: type,
    explicit: type[BaseModel] | None = None,
) -> InputSpec:
    """Read `fn`'s signature into an `InputSpec`.

    Args:
        fn: the tool function.
        tool_id: the tool's id, for error messages and the model's name.
        context_type: `ToolContext`; a parameter annotated with it (or an unannotated `context`) gets it.
        explicit: an input model given by the caller; the one non-context parameter receives its instance.
    """
    hints = resolve_hints(fn, tool_id)
    _, descriptions = parse_docstring(inspect.getdoc(fn))
    params = list(inspect.signature(fn).parameters.values())
    slots: list[Slot] = []
    inputs: list[inspect.Parameter] = []
    for param in params:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise _definition_error(
                tool_id, f"`{param}` is not allowed: a tool's input is a fixed set of named fields. "
                "List each parameter explicitly or take one pydantic model.",
            )  # fmt: skip
        hint = hints.get(param.name, inspect.Parameter.empty)
        # `ToolContext`, `ToolContext | None` and `Annotated[ToolContext, ...]` all ask for the context.
        wants_context = hint is context_type or context_type in typing.get_args(hint)
        if wants_context or (param.name == "context" and hint is inspect.Parameter.empty):
            if any(slot.kind == "context" for slot in slots):
                raise _definition_error(tool_id, "only one parameter may receive the `ToolContext`.")
            slots.append(Slot(param.name, "context", positional=param.kind == param.POSITIONAL_ONLY))
        elif param.name == "context":
            # Silently dropping a `context: str` field, or silently passing it the ToolContext, would both surprise.
            raise _definition_error(
                tool_id, f"the parameter name `context` is reserved for the `ToolContext`, but it is annotated "
                f"`{hint}`. Annotate it `ToolContext`, or rename it if it is an input field.",
            )  # fmt: skip
        else:
            inputs.append(param)

    single_model = len(inputs) == 1 and _is_model(hints.get(inputs[0].name))
    if explicit is not None or single_model:
        model = explicit if explicit is not None else hints[inputs[0].name]
        if not _is_model(model):
            raise _definition_error(tool_id, f"`input_schema` must be a pydantic model class, got {model!r}.")
        if len(inputs) != 1:
            raise _definition_error(
                tool_id, f"with `input_schema={model.__name__}` the function must take exactly one parameter "
                f"(besides the context), which receives the validated `{model.__name__}`; it takes {len(inputs)}.",
            )  # fmt: skip
        slots.append(Slot(inputs[0].name, "model", positional=inputs[0].kind == inputs[0].POSITIONAL_ONLY))
        order = [param.name for param in params]
        slots.sort(key=lambda slot: order.index(slot.name))  # positional arguments must keep their order
    else:
        fields: dict[str, Any] = {}
        for param in inputs:
            hint = hints.get(param.name, Any)
            default = ... if param.default is param.empty else param.default
            # Names pydantic reserves (`json`, `schema`, `_private`) are stored under another attribute name
            # and keep the parameter's name as their alias, which is what the schema and callers see.
            field_name = f"field_{param.name.lstrip('_')}" if _reserved(param.name) else param.name
            alias = param.name if field_name != param.name else None
            # A description in `Annotated[..., Field(description=...)]` is closer to the field than the docstring's.
            described = any(getattr(meta, "description", None) for meta in getattr(hint, "__metadata__", ()))
            description = None if described else descriptions.get(param.name)
            info = Field(default, alias=alias, description=description) if description else Field(default, alias=alias)
            fields[field_name] = (hint, info)
            slots.append(Slot(param.name, "field", field_name, positional=param.kind == param.POSITIONAL_ONLY))
        name = "".join(part.capitalize() for part in re.split(r"[_-]+", tool_id) if part) + "Input"
        try:
            # extra="forbid": a model that invents an argument is told so, instead of it being dropped unseen.
            model = create_model(name, __config__=ConfigDict(extra="forbid"), **fields)
        except PydanticSchemaGenerationError as exc:
            raise _definition_error(
                tool_id, f"pydantic cannot validate one of its parameter types ({exc.message.splitlines()[0]}). "
                "Tool inputs arrive as JSON: use JSON-friendly types or a pydantic model.",
            ) from exc  # fmt: skip
    return InputSpec(model, tuple(slots), _nulls_to_drop(model))


def _reserved(name: str) -> bool:
    return name.startswith("_") or hasattr(BaseModel, name)


def _nulls_to_drop(model: type[BaseModel]) -> frozenset[str]:
    keys: set[str] = set()
    for name, info in model.model_fields.items():
        if info.is_required():
            continue
        try:
            TypeAdapter(Any if info.annotation is None else info.annotation).validate_python(None)
        except (ValidationError, PydanticSchemaGenerationError):
            keys.update({name, info.alias or name})
    return frozenset(keys)


def output_adapter(schema: Any) -> TypeAdapter[Any]:
    """A TypeAdapter for an output type; types pydantic does not know are checked with `isinstance`."""
    try:
        return TypeAdapter(schema)
    except PydanticSchemaGenerationError:
        return TypeAdapter(schema, config=ConfigDict(arbitrary_types_allowed=True))


def strict_schema(schema: dict[str, Any], tool_id: str) -> dict[str, Any]:
    """Rewrite a JSON Schema for OpenAI's strict mode (returns a new dict).

    Every object gets `additionalProperties: false` and lists all its properties in `required`; properties
    that were optional become nullable, so a model that means "the default" sends null (`Tool.execute`
    turns a top-level null back into the default); `default` keys go, and a `$ref` with sibling keys is
    inlined, because strict mode accepts neither.
    """
    root = copy.deepcopy(schema)

    def walk(node: Any, inlined: frozenset[str]) -> Any:
        if isinstance(node, list):
            return [walk(item, inlined) for item in node]
        if not isinstance(node, dict):
            return node
        node = dict(node)  # `root` stays as it was: a `$ref` inlined below copies the original definition
        if "$defs" in node:
            node["$defs"] = {name: walk(sub, inlined) for name, sub in node["$defs"].items()}
        node.pop("default", None)
        if len(node.get("allOf", ())) == 1:  # pydantic's older `{"allOf": [{"$ref"}], "description"}` shape
            node = {**node.pop("allOf")[0], **node}
        if "$ref" in node and len(node) > 1:
            ref = node.pop("$ref")
            if ref in inlined:  # a recursive model: inlining again would never end, so the ref loses its notes
                return {"$ref": ref}
            target: Any = root
            for part in ref.removeprefix("#/").split("/"):
                target = target[part]
            node = {**copy.deepcopy(target), **node}
            inlined = inlined | {ref}
        if node.get("type") == "object":
            if node.get("additionalProperties", False) is not False:
                raise MastraError(
                    ErrorKind.VALIDATION, "TOOL_SCHEMA_NOT_STRICT",
                    f"Tool `{tool_id}` has a free-form object ({node.get('title', 'a dict field')}) that OpenAI's "
                    "strict mode cannot express. Describe it with a pydantic model, or call "
                    "`to_openai(strict=False)`.",
                )  # fmt: skip
            node["additionalProperties"] = False
            required = set(node.get("required", ()))
            properties = {key: walk(prop, inlined) for key, prop in node.get("properties", {}).items()}
            node["properties"] = {key: prop if key in required else _nullable(prop) for key, prop in properties.items()}
            node["required"] = list(properties)
        for key in ("items", "anyOf", "oneOf", "allOf", "prefixItems"):
            if key in node:
                node[key] = walk(node[key], inlined)
        return node

    result: dict[str, Any] = walk(root, frozenset())
    return result


def _nullable(prop: dict[str, Any]) -> dict[str, Any]:
    def accepts_null(schema: dict[str, Any]) -> bool:
        kind = schema.get("type")
        return kind == "null" or (isinstance(kind, list) and "null" in kind)

    if accepts_null(prop) or any(accepts_null(option) for option in prop.get("anyOf", ())):
        return prop
    # The title and description stay outside, where a model reads them.
    outer: dict[str, Any] = {key: prop.pop(key) for key in ("title", "description") if key in prop}
    return {"anyOf": [prop, {"type": "null"}], **outer}
