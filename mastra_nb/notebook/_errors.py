"""How a magic fails: one clear line (and the error's details), not a wall of traceback.

IPython asks an exception for `_render_traceback_()` before formatting a traceback, so a `MagicError` controls its
whole display while the cell still fails (a notebook run stops there, nbclient reports it). `friendly` turns the
`MastraError`s a magic's work raises into `MagicError`s; any other exception is a bug or the user's own code, and
keeps its full traceback.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, TypeVar

from ..errors import MastraError

__all__ = ["MagicError", "friendly"]

F = TypeVar("F", bound=Callable[..., Any])

_RED, _RESET, _DIM = "\x1b[0;31m", "\x1b[0m", "\x1b[2m"

# What to do next, in a notebook, for errors whose own message speaks of scripts and servers.
_HINTS = {
    "STORAGE_LOCKED": "In a notebook: shut down the other kernel, or give this notebook a store of its own, "
    "`%config MastraMagics.storage_path = '.mastra/other.duckdb'`, or one that kernels share, "
    "`%config MastraMagics.storage = 'sqlite:///.mastra/shared.db'`; then `%mastra reset`.",
    # A file this notebook cannot use: a file of its own is one setting and one reset away.
    **dict.fromkeys(
        ("STORAGE_FILE_DAMAGED", "STORAGE_FILE_NOT_DUCKDB", "STORAGE_NOT_WRITABLE"),
        "In a notebook: `%config MastraMagics.storage_path = '.mastra/other.duckdb'` and then `%mastra reset`.",
    ),
    "AGENT_NOT_FOUND": "In a notebook: define it with `%%agent NAME` (the cell body is its instructions).",
    "AGENT_MEMORY_MISSING": "In a notebook: give the agent the kernel's memory with `%%agent NAME --memory`.",
    "AGENT_MODEL_MISSING": "In a notebook: `%%agent NAME --model openai/gpt-4o-mini` (or a `ScriptedModel` variable), "
    "or `%config MastraMagics.default_model = 'openai/gpt-4o-mini'`.",
}


class MagicError(Exception):
    """A magic's failure, displayed as one line plus the `MastraError`'s details.

    Args:
        message: what went wrong and what to do, or the `MastraError` that says so.
    """

    def __init__(self, message: str | MastraError) -> None:
        self.error = message if isinstance(message, MastraError) else None
        super().__init__(str(message))

    def _render_traceback_(self) -> list[str]:
        error = self.error
        if error is None:
            return [f"{_RED}Error{_RESET}: {self}"]
        lines = [f"{_RED}MastraError{_RESET} [{error.code}] {error.message}"]
        if error.details:
            lines.append(f"{_DIM}  details: {_compact(error.details)}{_RESET}")
        if error.code in _HINTS:
            lines.append(f"  {_HINTS[error.code]}")
        return lines


def friendly(method: F) -> F:
    """Show the `MastraError`s a magic raises as a `MagicError` (one line, the details, a hint)."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except MastraError as error:
            raise MagicError(error) from None

    return wrapper  # type: ignore[return-value]


def _compact(details: dict[str, Any], limit: int = 400) -> str:
    text = json.dumps(details, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"
