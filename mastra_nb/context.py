"""RuntimeContext: request-scoped values carried through async calls.

A context is a small mapping (a user id, a locale, a tenant) that tools, steps and agents read without it
being threaded through every signature. `with ctx.activate():` makes it current for the code inside and
for every task started there, because it lives in a `contextvars.ContextVar`, which asyncio copies into
each new task.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

__all__ = ["RuntimeContext"]

_current: ContextVar[RuntimeContext | None] = ContextVar("mastra_nb_runtime_context", default=None)


class RuntimeContext(MutableMapping[str, Any]):
    """A mutable mapping of request-scoped values.

    Example:
        >>> ctx = RuntimeContext({"user_id": "u1"})
        >>> with ctx.activate():
        ...     RuntimeContext.current()["user_id"]
        'u1'
    """

    def __init__(self, values: Mapping[str, Any] | None = None) -> None:
        self._values: dict[str, Any] = dict(values or {})

    @classmethod
    def current(cls) -> RuntimeContext:
        """The context activated by the nearest enclosing `activate()`, or a new empty one."""
        return _current.get() or cls()

    @contextmanager
    def activate(self) -> Iterator[RuntimeContext]:
        """Make this context current inside the `with` block (and in tasks started there)."""
        token = _current.set(self)
        try:
            yield self
        finally:
            _current.reset(token)

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._values[key] = value

    def __delitem__(self, key: str) -> None:
        del self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"RuntimeContext({self._values!r})"
