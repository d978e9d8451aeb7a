"""Loading the hub a command names (`MODULE:ATTR`), for the command-line entry points of the outer layers
(`mastra_nb serve`, `keys`, `mcp`). It imports nothing but the standard library and the hub."""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from typing import Any

from .mastra import Mastra

__all__ = ["CommandError", "hub_of", "load"]


class CommandError(Exception):
    """A command that cannot run as given; its message says why and what to do."""


def load(target: str) -> Any:
    """The object `MODULE:ATTR` names (a module from the working folder too, as `uvicorn app:app` finds it)."""
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise CommandError(f"expected MODULE:ATTR such as `app:hub`, got {target!r}.")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        found: Any = importlib.import_module(module_name)
    except ImportError as error:
        raise CommandError(f"cannot import `{module_name}`: {error}.") from None
    for part in attribute.split("."):
        if not hasattr(found, part):
            raise CommandError(f"`{module_name}` has no `{attribute}`.")
        found = getattr(found, part)
    return found


async def hub_of(target: str) -> Mastra:
    """The hub `target` names: the object itself, or what its function returns (awaited when async)."""
    found = load(target)
    if inspect.isfunction(found) or inspect.ismethod(found):  # a factory (a class is not one: it is no hub)
        found = found()
        if inspect.isawaitable(found):
            found = await found
    if not isinstance(found, Mastra):
        raise CommandError(f"`{target}` is {type(found).__name__}, not a `Mastra` hub or a function returning one.")
    return found
