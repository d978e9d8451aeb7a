"""Checking and normalizing what callers hand an agent: messages, context, tool choice, step caps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..context import RuntimeContext
from ..errors import ErrorKind, MastraError, shown
from ..memory import Memory
from ..models.model import Model
from ..models.types import Message
from ._toolset import Toolset

__all__ = ["check_steps", "invalid", "messages", "runtime_context", "tool_choice", "unregistered"]

_ROLES = frozenset({"system", "user", "assistant", "tool"})
_CHOICES = frozenset({"auto", "none", "required"})


def messages(given: Any) -> list[Message]:
    """A new list of OpenAI-format messages from a str, one message dict, or a list of either."""
    items = [given] if isinstance(given, (str, Mapping)) else given
    if not isinstance(items, Sequence) or not items:
        raise MastraError(
            ErrorKind.VALIDATION,
            "AGENT_INPUT_INVALID",
            "`generate` takes a message (str), an OpenAI-format message dict, or a non-empty list of them; "
            f"got {shown(given, 80)}.",
        )
    result: list[Message] = []
    for position, item in enumerate(items):
        if isinstance(item, str):
            result.append({"role": "user", "content": item})
        elif isinstance(item, Mapping) and item.get("role") in _ROLES:
            result.append(dict(item))
        else:
            raise MastraError(
                ErrorKind.VALIDATION, "AGENT_INPUT_INVALID",
                f"Message {position} is {shown(item, 80)}; a message is a str or a dict with a `role` of "
                f"{', '.join(sorted(_ROLES))}.", details={"position": position},
            )  # fmt: skip
    return result


def runtime_context(context: RuntimeContext | Mapping[str, Any] | None) -> RuntimeContext:
    """The given context (a mapping becomes one), or the active one."""
    if context is None:
        return RuntimeContext.current()
    if isinstance(context, RuntimeContext):
        return context
    if isinstance(context, Mapping):
        return RuntimeContext(context)
    raise MastraError(
        ErrorKind.VALIDATION,
        "AGENT_INPUT_INVALID",
        f"`context=` takes a `RuntimeContext` or a mapping, got {type(context).__name__}.",
    )


def tool_choice(choice: str | dict[str, Any] | None, toolset: Toolset) -> str | dict[str, Any] | None:
    """The provider's form of a tool choice; a tool's name forces that tool."""
    if choice is None or isinstance(choice, dict) or choice in _CHOICES:
        return choice
    if isinstance(choice, str) and choice in toolset.tools:
        return {"type": "function", "function": {"name": choice}}
    names = ", ".join(toolset.tools) or "no tools"
    raise invalid(f"`tool_choice` is 'auto', 'none', 'required' or a tool's name ({names}), got {choice!r}.")


def check_definition(name: Any, instructions: Any, model: Any, memory: Any) -> Model | None:
    """Check an `Agent`'s name, instructions and memory; its model as a `Model` (a string names one), or None."""
    if not isinstance(name, str) or not name.strip():
        raise invalid(f"`name` must be a non-empty str, got {name!r}.")
    if not isinstance(instructions, str) and not callable(instructions):
        raise invalid(f"`instructions` must be a str or a function of the runtime context, got {shown(instructions)}.")
    if memory is not None and not isinstance(memory, Memory):
        raise invalid(f"`memory=` takes a `Memory`, got {type(memory).__name__}.")
    made = Model(model) if isinstance(model, str) else model
    if made is not None and not isinstance(made, Model):
        raise invalid(f"`model` must be a litellm model string or a `Model`, got {type(model).__name__}.")
    return made


def check_steps(max_steps: Any) -> int | None:
    if max_steps is not None and (isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1):
        raise invalid(f"`max_steps` must be an int >= 1 or None, got {max_steps!r}.")
    return max_steps


def invalid(message: str) -> MastraError:
    return MastraError(ErrorKind.VALIDATION, "AGENT_DEFINITION_INVALID", f"`Agent`: {message}")


def unregistered(name: str, why: str) -> MastraError:
    return MastraError(
        ErrorKind.DOMAIN, "AGENT_NOT_REGISTERED",
        f"Agent `{name}` is not registered in a hub, but {why} in the hub's storage: register it with "
        f"`Mastra(agents=[agent], storage=...)` or `hub.add_agent(agent)`.",
    )  # fmt: skip
