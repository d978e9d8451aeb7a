"""One error root for the whole library.

Every failure a user can meet surfaces as a `MastraError` with a kind, a stable code, a message a person
can act on, structured details and whether retrying can help. Errors of third-party libraries (pydantic,
duckdb, litellm, chromadb) are translated at one boundary each; `from_validation` is pydantic's.

An error's message and details are redacted when it is made (see `redaction`): whatever it quotes (a provider's
message echoing a key, a user's exception), no secret reaches the stores, logs and displays it travels to.
"""

from __future__ import annotations

import reprlib
from collections.abc import Collection, Mapping
from enum import Enum
from typing import TYPE_CHECKING, Any

from .redaction import REDACTED, redact, scrub, sensitive_key

if TYPE_CHECKING:
    from pydantic import ValidationError

__all__ = ["ErrorKind", "MastraError", "shown"]


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
        message = redact(message)
        super().__init__(message)
        self.kind = ErrorKind(kind)
        self.code = code
        self.message = message
        self.details: dict[str, Any] = scrub(dict(details or {}))
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
    def from_dict(cls, data: Mapping[str, Any]) -> MastraError:
        """The error whose `to_dict()` gave `data` (a stored or received error); `details` and `retryable` may be
        missing.

        Raises:
            MastraError: `ERROR_DATA_INVALID` (validation) when `data` has no kind, code or message, or a kind
                this version does not know.
        """
        kinds = ", ".join(repr(kind.value) for kind in ErrorKind)
        if not isinstance(data, Mapping) or not all(isinstance(data.get(key), str) for key in ("code", "message")):
            raise MastraError(
                ErrorKind.VALIDATION, "ERROR_DATA_INVALID",
                f"`MastraError.from_dict` takes what `MastraError.to_dict()` gives: a mapping with a `kind` ({kinds}), "
                f"a `code` and a `message`; got {shown(data)}.",
            )  # fmt: skip
        if data.get("kind") not in {kind.value for kind in ErrorKind}:
            raise MastraError(
                ErrorKind.VALIDATION, "ERROR_DATA_INVALID",
                f"`MastraError.from_dict` got the unknown kind {shown(data.get('kind'))} (error `{data['code']}`); "
                f"the kinds are {kinds}.", details={"kind": shown(data.get("kind")), "code": data["code"]},
            )  # fmt: skip
        details, retryable = data.get("details"), data.get("retryable")
        return cls(data["kind"], data["code"], data["message"], details=details, retryable=bool(retryable))

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception pickles `args` only (here, the message) and calls the class with them again, which loses the
        # kind, code, details and retryable, and fails for a class whose arguments differ (`StoreDown`). So an
        # error is rebuilt from its attributes instead: it crosses a process boundary (a `ProcessPoolExecutor`,
        # multiprocessing) whole.
        return _unpickled, (type(self), self.message), self.__dict__

    @classmethod
    def from_validation(
        cls,
        error: ValidationError,
        *,
        code: str,
        subject: str,
        hint: str = "Fix these fields and call again.",
        hidden: Collection[str] = (),
    ) -> MastraError:
        """Translate a pydantic `ValidationError` into a validation `MastraError`.

        Args:
            error: the pydantic error.
            code: the stable code of the new error.
            subject: what was being validated, as the message should name it (``"input of tool `add`"``).
            hint: what the person should do next.
            hidden: more field names whose given values are never quoted (fields marked `Sensitive`); fields named
                like secrets (`password`, `api_key`, `*_token`, ...) are never quoted either.
        """
        fields = [
            {
                "field": ".".join(str(part) for part in item["loc"]) or "(root)",
                "expected": item["msg"],
                "type": item["type"],
                "input": REDACTED if _secret_field(item["loc"], hidden) else shown(item.get("input")),
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


def _unpickled(cls: type[MastraError], message: str) -> MastraError:
    """An error of `cls` made without its `__init__`, for pickle to set its attributes on."""
    return cls.__new__(cls, message)


def _secret_field(loc: tuple[int | str, ...], hidden: Collection[str]) -> bool:
    return any(isinstance(part, str) and (part in hidden or sensitive_key(part)) for part in loc)


def shown(value: Any, limit: int = 60) -> str:
    """A short repr of a caller's value for an error message: never longer than `limit`, and safe for a value
    nested a thousand levels deep (`repr` would raise `RecursionError`) or whose own `__repr__` fails."""
    try:
        text = _REPR.repr(value)
    except Exception:  # a user's class with a broken __repr__ must not hide the error being reported
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother = 4, 80, 80
