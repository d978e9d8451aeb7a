"""Working memory: facts an agent keeps up to date, as markdown it rewrites or a pydantic object it patches.

It lives in the `resources` table (resource scope, shared by the resource's threads and agents) or in the
thread's metadata (thread scope). The agent changes it through the `update_working_memory` tool it is given for
the turn; a schema's update is a deep merge of the fields sent, validated before anything is stored.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError, create_model

from ..errors import ErrorKind, MastraError
from ..tools import Tool
from .options import WorkingMemory

__all__ = ["TOOL_NAME", "instructions", "merge", "validated", "working_memory_tool"]

TOOL_NAME = "update_working_memory"


def merge(stored: Any, patch: Any) -> Any:
    """`patch` merged into `stored`: dicts key by key (a None value deletes the key), anything else replaced."""
    if isinstance(stored, Mapping) and isinstance(patch, Mapping):
        out = dict(stored)
        for key, value in patch.items():
            if value is None:
                out.pop(key, None)
            else:
                out[key] = merge(out.get(key), value)
        return out
    return patch


def validated(settings: WorkingMemory, value: Any) -> str:
    """The text to store for `value`: markdown as given, or a schema's object as JSON after validation."""
    if settings.schema_ is None:
        if not isinstance(value, str):
            raise MastraError(
                ErrorKind.VALIDATION,
                "MEMORY_WORKING_INVALID",
                f"Working memory with a template is markdown text, got {type(value).__name__}.",
            )
        return value
    try:
        obj = settings.schema_.model_validate(value)
    except ValidationError as error:
        raise MastraError.from_validation(
            error, code="MEMORY_WORKING_INVALID", subject=f"working memory ({settings.schema_.__name__})"
        ) from None
    return obj.model_dump_json(exclude_none=True)


def instructions(settings: WorkingMemory, current: str | None) -> str:
    """The system message that shows the agent its working memory and how to change it."""
    if settings.schema_ is None:
        shown = current if current else settings.template
        how = (
            f"Call `{TOOL_NAME}` with the whole updated markdown whenever you learn something worth remembering "
            "(it replaces what is stored). Do not mention this memory to the user."
        )
    else:
        shown = current or "{}"
        schema = json.dumps(settings.schema_.model_json_schema())
        how = (
            f"Its JSON schema: {schema}. Call `{TOOL_NAME}` with only the fields that changed (they are merged "
            "into what is stored; null removes a field). Do not mention this memory to the user."
        )
    return f"<working_memory>\n{shown}\n</working_memory>\nThis is your working memory about the user. {how}"


def working_memory_tool(settings: WorkingMemory, update: Callable[[Any], Awaitable[str]]) -> Tool:
    """The turn's `update_working_memory` tool; `update` stores a markdown text or merges a patch."""
    if settings.schema_ is None:

        async def replace(memory: str) -> str:
            """Replace your working memory.

            Args:
                memory: the whole updated working memory, as markdown.
            """
            return await update(memory)

        return Tool(TOOL_NAME, "Replace your working memory about the user with updated markdown.", replace)
    patch_model = _partial(settings.schema_)

    async def patch(data: BaseModel) -> str:
        return await update(data.model_dump(exclude_unset=True))

    return Tool(
        TOOL_NAME,
        "Update fields of your working memory about the user (merged into what is stored).",
        patch,
        input_schema=patch_model,
    )


def _partial(schema: type[BaseModel]) -> type[BaseModel]:
    """The schema with every field optional: an update sends only what changed."""
    fields: dict[str, Any] = {
        name: (info.annotation | None, None)  # type: ignore[operator]
        for name, info in schema.model_fields.items()
    }
    return create_model(f"{schema.__name__}Update", **fields)
