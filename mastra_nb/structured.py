"""Structured output: asking a model for a pydantic model's JSON, reading it back, and the one repair round.

The schema goes to the provider as a JSON-schema response format when the model supports it (OpenAI's strict
form when the schema allows it), otherwise into the system prompt. The answer is validated either way, since
neither path guarantees valid output from every provider. An agent's tool loop (`agents/_loop.py`) and a scorer's
judge (`evals/judge.py`) both ask this way, so the module sits below both.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from pydantic import BaseModel, ValidationError

from .errors import ErrorKind, MastraError, shown
from .tools import sanitize, strict_schema

__all__ = ["check_output", "invalid_output", "parse", "repair_prompt", "response_format", "schema_prompt"]

_FENCE = re.compile(r"^```(?:json|JSON)?\s*(.*?)\s*```$", re.DOTALL)


def check_output(output: Any) -> type[BaseModel] | None:
    if output is None or (isinstance(output, type) and issubclass(output, BaseModel)):
        return output
    raise MastraError(
        ErrorKind.VALIDATION,
        "AGENT_OUTPUT_INVALID_SCHEMA",
        f"`output=` takes a pydantic model class, got {shown(output, 80)}.",
    )


@functools.lru_cache(maxsize=128)
def _schema(output: type[BaseModel]) -> str:
    return json.dumps(output.model_json_schema(), ensure_ascii=False)


@functools.lru_cache(maxsize=128)
def response_format(output: type[BaseModel]) -> dict[str, Any]:
    """The provider response format for `output` (strict when OpenAI's strict mode can express it)."""
    schema = output.model_json_schema()
    try:
        return {"type": "json_schema",
                "json_schema": {"name": sanitize(output.__name__), "schema": strict_schema(schema, output.__name__),
                                "strict": True}}  # fmt: skip
    except MastraError:  # free-form dicts: strict mode cannot say them, the plain schema can
        return {"type": "json_schema", "json_schema": {"name": sanitize(output.__name__), "schema": schema}}


def schema_prompt(output: type[BaseModel]) -> str:
    """The system-prompt paragraph that asks for `output` when the provider cannot take a schema."""
    return (
        "When you give your final answer, reply with only a JSON object that matches this JSON Schema, "
        f"with no other text and no code fence:\n{_schema(output)}"
    )


def parse(output: type[BaseModel], text: str) -> tuple[BaseModel | None, str | None]:
    """The validated object from a model's text, or None and a description of what is wrong."""
    candidate = text.strip()
    fenced = _FENCE.match(candidate)
    if fenced:
        candidate = fenced.group(1)
    elif not candidate.startswith("{") and "{" in candidate and "}" in candidate:
        candidate = candidate[candidate.index("{") : candidate.rindex("}") + 1]  # prose around the object
    try:
        return output.model_validate_json(candidate), None
    except ValidationError as error:
        problems = "; ".join(
            f"`{'.'.join(map(str, e['loc'])) or '(root)'}`: {e['msg']}" for e in error.errors(include_url=False)
        )
        return None, problems


def repair_prompt(output: type[BaseModel], problems: str) -> str:
    """The message of the repair round: what was wrong, and the schema again."""
    return (
        f"Your reply does not match the required JSON Schema ({problems}). Reply again with only the corrected "
        f"JSON object, no other text:\n{_schema(output)}"
    )


def invalid_output(output: type[BaseModel], text: str, problems: str, agent: str) -> MastraError:
    """The error after the repair round failed too; it carries the raw text."""
    return MastraError(
        ErrorKind.VALIDATION,
        "AGENT_OUTPUT_INVALID",
        f"Agent `{agent}` did not produce a valid `{output.__name__}` after one repair round: {problems}. The raw "
        "text is in `details['text']`; simplify the schema, describe its fields, or use a stronger model.",
        details={"text": text, "problems": problems, "output": output.__name__},
    )
