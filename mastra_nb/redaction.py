"""Redaction: API keys, bearer tokens, `Authorization` headers and fields marked sensitive never leave in a span, a
log line, a stored error or a displayed message.

This is the one redaction boundary of the library, at the bottom of the layers so that `MastraError` itself uses
it: every error's message and details are masked when the error is made, which covers what is stored (run and step
errors), shown (`%%ask`, tracebacks of our errors) and logged. Spans, log records and stored scores pass a
`Redactor` too.

A `Redactor` works on three levels, cheapest first:
- keys: a mapping's value is replaced whole when its key names a secret (`api_key`, `authorization`, `password`,
  `*_token`, ...) or a field the user listed (`Telemetry(redact=["ssn"])`);
- known secrets, cut out of any text by value: the process-wide registry (`add_secret`: every `api_key` given to a
  `Model` or an embedder, and the values of secret-looking environment variables such as `OPENAI_API_KEY`,
  `*_TOKEN`, `*_SECRET`, `*_PASSWORD`), plus a redactor's own `secrets=`;
- patterns: text that looks like a credential (`Bearer ...`, `sk-...`, `AKIA...`, JWTs, `api_key=...`) is masked
  wherever it appears, which catches a key no one declared, such as one echoed in a provider's error message.

Pydantic models are walked field by field: a field annotated `Annotated[str, Sensitive]` (or declared with
`Field(json_schema_extra={"sensitive": True})`) is replaced; `SecretStr` fields dump as stars already.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "LOG_RECORD_ATTRIBUTES", "REDACTED", "RedactingFilter", "Redactor", "Sensitive", "add_secret", "default_redactor",
    "guard", "hide_known", "redact", "sensitive_fields", "refresh_environment", "safe_cause", "scrub", "sensitive_key",
]  # fmt: skip

REDACTED = "[REDACTED]"

# Keys (lower-case, `-` read as `_`) whose values are secrets whatever they hold.
_SECRET_KEYS = frozenset({
    "api_key", "apikey", "x_api_key", "authorization", "proxy_authorization", "auth", "password", "passwd",
    "secret", "client_secret", "token", "access_token", "refresh_token", "id_token", "bearer", "cookie",
    "set_cookie", "private_key", "secret_key", "access_key", "session_token", "credentials",
})  # fmt: skip
_SECRET_SUFFIXES = ("_api_key", "_apikey", "_token", "_secret", "_password", "_private_key", "_secret_key")
_ENV_NAME = re.compile(r"(API_?KEY|TOKEN|SECRET|PASSWORD|PASSWD|PRIVATE_KEY|ACCESS_KEY|CREDENTIALS?)$", re.IGNORECASE)
_MIN_SECRET = 8  # shorter values would mask ordinary words
_MAX_SECRETS = 1024  # a long-running server must not grow its secret list (and its regex) without end
_MAX_DEPTH = 64  # deeper values are not walked (a span or an error must never die of recursion): they are cut
_TOO_DEEP = "[TOO DEEP]"

# Credential-shaped text. Group "keep" (when present) is kept, the rest is masked.
_PATTERNS = (
    r"(?P<keep>\b(?:Bearer|Basic|Token)\s+)[A-Za-z0-9\-._~+/]{8,}=*",
    r"\bsk-[A-Za-z0-9_\-]{10,}",  # OpenAI, Anthropic (sk-ant-...), DeepSeek, test keys (sk-live-...) ...
    r"\b(?:ghp|gho|ghu|ghs|ghr|github_pat)_[A-Za-z0-9_]{20,}",
    r"\bAKIA[0-9A-Z]{16}\b",
    r"\bAIza[0-9A-Za-z_\-]{35}",
    r"\bxox[abprs]-[A-Za-z0-9\-]{10,}",
    r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",  # JWTs
)
# `name=value`, `name: value`, `"name": "value"` in text, for the secret names and the user's sensitive fields.
_KEY_VALUE = (
    r"(?P<keep>(?i:api[_-]?key|access[_-]?token|token|secret|password|authorization{fields})[\"']?\s*[:=]\s*[\"']?)"
    r"(?!\[REDACTED\])(?:(?:Bearer|Basic|Token)\s+)?[^\s\"'&,;}]{6,}"
)


class Sensitive:
    """Marks a pydantic field as sensitive: `api_key: Annotated[str, Sensitive]` is redacted in traces and logs."""

    def __repr__(self) -> str:
        return "Sensitive"


def sensitive_key(key: str, fields: frozenset[str] = frozenset()) -> bool:
    """Whether a mapping key names a secret (or one of the user's sensitive `fields`)."""
    name = key.lower().replace("-", "_")
    return name in _SECRET_KEYS or name in fields or name.endswith(_SECRET_SUFFIXES)


class _Secrets:
    """A set of literal secrets and the one regex that finds any of them (a longer secret wins over its prefix).

    The regex is rebuilt when it is next used, not on each `add`: a server that sees a new bearer token in every
    request's spans adds many between two uses, and one compile of a thousand alternatives takes milliseconds.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._stale = False

    def add(self, value: object) -> None:
        if not isinstance(value, str) or len(value) < _MIN_SECRET or value in self._values or REDACTED in value:
            return
        with self._lock:
            if len(self._values) < _MAX_SECRETS:
                self._values.add(value)
                self._stale = True

    @property
    def pattern(self) -> re.Pattern[str] | None:
        if self._stale:
            with self._lock:
                ordered = sorted(self._values, key=len, reverse=True)
                self._pattern, self._stale = re.compile("|".join(map(re.escape, ordered))), False
        return self._pattern


# The process-wide registry: keys a `Model` or an embedder was given, and secret-looking environment variables.
# Process-wide on purpose: a key is a secret in every hub, log line and error of the process, not only in the one
# whose model it belongs to.
_KNOWN = _Secrets()


def add_secret(value: str | None) -> None:
    """Mask `value` everywhere in this process from now on: spans, logs and errors of every hub (values shorter
    than 8 characters are ignored, as they would mask ordinary words)."""
    _KNOWN.add(value)


def refresh_environment() -> None:
    """Register the values of secret-looking environment variables (`*_API_KEY`, `*_TOKEN`, `*_SECRET`,
    `*_PASSWORD`, ...). Called whenever the process's redactor is used, since a notebook often sets
    `os.environ["OPENAI_API_KEY"]` after the import; the names are matched again only when they changed, so a call
    costs a microsecond or two."""
    names = tuple(os.environ)
    if names != _environment[0]:
        _environment[:] = [names, *(name for name in names if _ENV_NAME.search(name))]
    for name in _environment[1:]:
        _KNOWN.add(os.environ.get(name))


_environment: list[Any] = [()]  # the variables' names last time, then the secret-looking names among them


class Redactor:
    """Masks secrets in text and in JSON-like values.

    Args:
        fields: more key names whose values are always masked (case-insensitive), e.g. `["ssn", "card_number"]`.
        secrets: literal secret values to cut out of any text.
        patterns: more regular expressions of text to mask.
        environment: also mask the process-wide known secrets (`add_secret`: models' keys and the values of
            secret-looking environment variables such as `OPENAI_API_KEY`).
    """

    def __init__(
        self,
        fields: Iterable[str] = (),
        secrets: Iterable[str] = (),
        patterns: Iterable[str] = (),
        *,
        environment: bool = True,
    ) -> None:
        self.fields = frozenset(f.lower().replace("-", "_") for f in fields)
        named = "".join(f"|{re.escape(f)}" for f in sorted(self.fields))
        every = (*_PATTERNS, _KEY_VALUE.replace("{fields}", named), *patterns)
        # Each pattern's kept prefix gets a group name of its own: one name cannot appear twice in one regex.
        self._patterns = re.compile(
            "|".join(f"(?:{p.replace('(?P<keep>', f'(?P<keep{i}>')})" for i, p in enumerate(every))
        )
        self._own = _Secrets()
        self._shared = environment
        if environment:
            refresh_environment()
        for secret in secrets:
            self.add_secret(secret)
        self._sensitive_fields: dict[type, frozenset[str]] = {}
        self._keys: dict[str, bool] = {}  # see `_secret_key`

    def add_secret(self, value: str | None) -> None:
        """Mask `value` wherever this redactor looks from now on (values shorter than 8 characters are ignored)."""
        self._own.add(value)

    def text(self, value: str, *, patterns: bool = True) -> str:
        """`value` with every known secret masked, and (unless `patterns=False`) every credential-shaped part."""
        for known in (self._own.pattern, _KNOWN.pattern if self._shared else None):
            if known is not None and known.search(value):
                value = known.sub(REDACTED, value)
        if patterns and self._patterns.search(value):
            value = self._patterns.sub(_mask, value)
        return value

    def value(self, value: Any, _depth: int = 0) -> Any:
        """A copy of a JSON-like value with secret keys and secret text masked; pydantic models are dumped first,
        with their sensitive fields masked. Parts nested deeper than 64 levels are cut (`[TOO DEEP]`)."""
        kind = type(value)
        if kind is str:
            return self.text(value)
        if value is None or kind is int or kind is float or kind is bool:
            return value
        if _depth >= _MAX_DEPTH:
            return _TOO_DEEP
        if kind is dict:  # the common case, without the ABC checks below
            return {k: self._hide(v) if type(k) is str and self._secret_key(k) else self.value(v, _depth + 1)
                    for k, v in value.items()}  # fmt: skip
        if isinstance(value, str):  # a subclass (a StrEnum), which the checks of the exact types above let by
            return self.text(value)
        if isinstance(value, (bool, int, float)):
            return value
        if isinstance(value, Mapping):
            return {
                k: self._hide(v) if isinstance(k, str) and sensitive_key(k, self.fields) else self.value(v, _depth + 1)
                for k, v in value.items()
            }
        if isinstance(value, (list, tuple, set, frozenset)):
            return [self.value(v, _depth + 1) for v in value]
        from pydantic import BaseModel

        if isinstance(value, BaseModel):
            return self._model(value, _depth)
        from pydantic_core import to_jsonable_python

        try:
            plain = to_jsonable_python(value, fallback=str)
        except (RecursionError, ValueError):  # a cycle or a structure too deep for pydantic itself
            return _TOO_DEEP
        return self.value(plain, _depth + 1)

    def scrub(self, value: Any, *, patterns: bool = True, _depth: int = 0) -> Any:
        """`value` with its text masked and its types kept: strings inside dicts, lists and tuples are masked,
        secret keys hidden, and any other object passed through as it is (for an error's details, which may hold
        objects a caller reads back). `patterns=False` masks the known secrets only (see `hide_known`). Unlike
        `value`, a hidden value is not remembered as a secret: this runs on the process's redactor, for every error
        and saved message, where a key such as `session_token` would otherwise mark ordinary text everywhere."""
        if isinstance(value, str):
            return self.text(value, patterns=patterns)
        if _depth >= _MAX_DEPTH and isinstance(value, (Mapping, list, tuple)):
            return _TOO_DEEP
        if isinstance(value, Mapping):
            return {
                k: _masked(v)
                if isinstance(k, str) and sensitive_key(k, self.fields)
                else self.scrub(v, patterns=patterns, _depth=_depth + 1)
                for k, v in value.items()
            }
        if type(value) in (list, tuple):  # not a named tuple: its constructor takes fields, not an iterable
            return type(value)(self.scrub(v, patterns=patterns, _depth=_depth + 1) for v in value)
        return value

    def _secret_key(self, key: str) -> bool:
        """`sensitive_key(key, self.fields)`, remembered for the first `_KEYS_KEPT` keys seen (a run's spans and
        steps repeat theirs; `fields` never change after construction)."""
        found = self._keys.get(key)
        if found is None:
            found = sensitive_key(key, self.fields)
            if len(self._keys) < _KEYS_KEPT:
                self._keys[key] = found
        return found

    def _hide(self, value: Any) -> Any:
        """The mask of a sensitive field's value; the value itself is remembered, so that text quoting it later
        (an error message, a model's tool-call arguments) is masked too."""
        if value is None:
            return None
        if isinstance(value, str):
            self.add_secret(value)
        return REDACTED

    def _model(self, model: Any, depth: int) -> Any:
        dumped = model.model_dump(mode="json", by_alias=True)
        hidden = self.hidden_fields(type(model))
        if isinstance(dumped, dict):
            for name in hidden & dumped.keys():
                dumped[name] = self._hide(dumped[name])
        return self.value(dumped, depth + 1)

    def hidden_fields(self, cls: type) -> frozenset[str]:
        """The names (and aliases) of a pydantic model's fields marked sensitive."""
        found = self._sensitive_fields.get(cls)
        if found is None:
            names = set()
            for name, info in getattr(cls, "model_fields", {}).items():
                extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
                if extra.get("sensitive") or any(m is Sensitive or isinstance(m, Sensitive) for m in info.metadata):
                    names.update({name, info.alias or name})
            found = self._sensitive_fields[cls] = frozenset(names)
        return found


def _masked(value: Any) -> Any:
    return None if value is None else REDACTED


def _mask(match: re.Match[str]) -> str:
    kept = next((value for value in match.groupdict().values() if value), "")
    return f"{kept}{REDACTED}"


_KEYS_KEPT = 4096
_default: list[Redactor] = []  # built on first use: compiling the patterns is no work for `import mastra_nb`


def default_redactor() -> Redactor:
    """The process's redactor: the built-in keys and patterns, and the known secrets, with the environment read
    again first (a notebook sets `os.environ["OPENAI_API_KEY"]` whenever it likes)."""
    if not _default:
        _default.append(Redactor())
    else:
        refresh_environment()
    return _default[0]


def redact(text: str) -> str:
    """`text` with every known secret and credential-shaped part masked (the process's `Redactor`)."""
    return default_redactor().text(text)


def scrub(value: Any) -> Any:
    """`value` with its text masked and its types kept (see `Redactor.scrub`)."""
    return default_redactor().scrub(value)


def sensitive_fields(model: type) -> set[str]:
    """The names of the fields marked `Sensitive` in a pydantic `model` and in the models inside it: an error about
    such a field never quotes the value it was given."""
    from typing import get_args

    from pydantic import BaseModel

    names: set[str] = set()
    todo, seen = [model], {model}
    while todo:
        current = todo.pop()
        names |= default_redactor().hidden_fields(current)
        for info in getattr(current, "model_fields", {}).values():
            for inner in (info.annotation, *get_args(info.annotation)):
                if isinstance(inner, type) and issubclass(inner, BaseModel) and inner not in seen:
                    seen.add(inner)
                    todo.append(inner)
    return names


def hide_known(value: Any) -> Any:
    """`value` with the known secrets (models' keys, secret environment variables, `add_secret`) masked and its
    types kept, but no credential-shaped pattern: for conversation content, where a pattern could mangle what a
    person wrote ("Bearer tokens expire"), while a registered key is never worth keeping."""
    return default_redactor().scrub(value, patterns=False)


def safe_cause(exc: BaseException) -> BaseException | None:
    """`exc` to chain to the error that translates it, or None when its text, or that of an exception it was
    raised from or while handling, holds a secret: a traceback prints every chained exception's message as it is."""
    current: BaseException | None = exc
    seen: set[int] = set()
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        text = str(current)
        if redact(text) != text:
            return None
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return exc


class RedactingFilter(logging.Filter):
    """Masks secrets in a record's message, arguments, `extra` values and exception text (see `Redactor`).

    The record leaves with its message formatted and its exception as text (`exc_info` is cleared): that is what
    keeps a handler from printing the secrets they held.
    """

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self._redactor = redactor  # None: the process's, looked up per record (so importing builds no regex)

    @property
    def redactor(self) -> Redactor:
        return self._redactor if self._redactor is not None else default_redactor()

    def filter(self, record: logging.LogRecord) -> bool:
        redact = self.redactor
        try:
            message = record.getMessage()
        except Exception:  # a format string its arguments do not fit: shown as it is, never raised at the caller
            message = f"{record.msg} (arguments that did not fit it: {record.args!r})"
        record.msg, record.args = redact.text(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact.text(record.exc_text)
        record.exc_info = None  # the text above is what handlers print
        for key, value in list(vars(record).items()):
            if key not in LOG_RECORD_ATTRIBUTES and key not in ("trace_id", "span_id"):
                setattr(record, key, redact.value(value))
        return True


# Attributes every LogRecord has: anything else on a record came from `extra=`.
LOG_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName",
}  # fmt: skip


def guard(logger: logging.Logger) -> logging.Logger:
    """`logger` with the process's `RedactingFilter` on it, so that what the library logs is masked before any
    handler (the application's root handlers included) sees it."""
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())
    return logger
