"""Control-flow signals of the workflow engine.

They derive from `BaseException`, like `asyncio.CancelledError`, so that a step's own `except Exception`
(or a tool's error wrapping) can never swallow a suspension or a bail by accident.
"""

from __future__ import annotations

from typing import Any


class Signal(BaseException):
    """Base of the engine's control-flow signals."""


class SuspendSignal(Signal):
    """Raised by `StepContext.suspend(payload)`: the step pauses until resumed."""

    def __init__(self, payload: Any) -> None:
        super().__init__("step suspended")
        self.payload = payload


class BailSignal(Signal):
    """Raised by `StepContext.bail(result)`: the whole run ends now, successfully, with `result`."""

    def __init__(self, result: Any) -> None:
        super().__init__("run bailed")
        self.result = result
        self.path: str | None = None  # the bailing step's path, set by the engine


class Suspended(Signal):
    """Carries the paths of every suspended step up through parallel branches, loops and nested workflows."""

    def __init__(self, paths: list[str]) -> None:
        super().__init__(f"suspended at {', '.join(paths)}")
        self.paths = paths
