"""One error root for the whole library.

Every failure a user can meet surfaces as a `MastraError` with a kind, a stable code, a message a person
can act on, structured details and whether retrying can help. Errors of third-party libraries (pydantic,
duckdb, litellm, chromadb) are translated at one boundary each; `from_validation` is pydantic's.
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import ValidationError

__all__ = ["ErrorKind", "MastraError"]


class ErrorKind(str, Enum):
    """What kind of failure an error is, which tells a caller what can be done about it."""

    VALIDATION = "validation"  # the caller gave bad input: fix it and call again
    EXECUTION = "execution"  # user code (a tool, a step, a model call) failed while running
    SYSTEM = "system"  # the environment failed: a locked file, a closed store, a timeout of our own
    DOMAIN = "domain"  # a rule of the library was broken: unknown name, duplicate registration


class MastraError(Exception):
    """The error every public entry point of mastra_nb raises.

    Args:
        kind: validation, execution, system or domain.
        code: a stable upper-case identifier (`TOOL_INPUT_INVALID`) that tests and callers may match on.
        message: a sentence a person can act on; it names the API in backticks and says what to do next.
        details: structured facts; for validation errors, `details["errors"]` lists each field path and
            what was expected.
        retryable: whether calling again, unchanged, can succeed.
    """

    def __init__(
        self,
        kind: ErrorKind | str,
        code: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.kind = ErrorKind(kind)
        self.code = code
        self.message = message
        self.details: dict[str, Any] = dict(details or {})
        self.retryable = retryable

    def __str__(self) -> str:
        return f"{self.message} [{self.code}]"

    def __repr__(self) -> str:
        return f"MastraError(kind={self.kind.value!r}, code={self.code!r}, message={self.message!r})"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable form, for storage, events and HTTP responses."""
        return {
            "kind": self.kind.value,
            "code": self.code,
            "message": self.message,
            "details": self.details,
            "retryable": self.retryable,
        }

    @classmethod
    def from_validation(
        cls, error: ValidationError, *, code: str, subject: str, hint: str = "Fix these fields and call again."
    ) -> MastraError:
        """Translate a pydantic `ValidationError` into a validation `MastraError`.

        Args:
            error: the pydantic error.
            code: the stable code of the new error.
            subject: what was being validated, as the message should name it (``"input of tool `add`"``).
            hint: what the person should do next.
        """
        fields = [
            {
                "field": ".".join(str(part) for part in item["loc"]) or "(root)",
                "expected": item["msg"],
                "type": item["type"],
                "input": _short_repr(item.get("input")),
            }
            for item in error.errors(include_url=False)
        ]
        listed = "; ".join(f"`{f['field']}`: {f['expected']} (got {f['input']})" for f in fields)
        return cls(
            ErrorKind.VALIDATION,
            code,
            f"Invalid {subject}: {listed}. {hint}",
            details={"errors": fields},
        )


def _short_repr(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
