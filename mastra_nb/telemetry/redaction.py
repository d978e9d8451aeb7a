"""Redaction: API keys, bearer tokens, `Authorization` headers and fields marked sensitive never leave in a span, a
log line or a stored score.

A `Redactor` works on three levels, cheapest first:
- keys: a mapping's value is replaced whole when its key names a secret (`api_key`, `authorization`, `password`,
  `*_token`, ...) or a field the user listed (`Telemetry(redact=["ssn"])`);
- known secrets: the values of secret-looking environment variables (`OPENAI_API_KEY`, `*_TOKEN`, ...) and of
  `add_secret(value)` (a `Model`'s own `api_key` is added when it is first traced) are cut out of any text;
- patterns: text that looks like a credential (`Bearer ...`, `sk-...`, `AKIA...`, JWTs, `api_key=...`) is masked
  wherever it appears, which catches a key no one declared, such as one echoed in a provider's error message.

Pydantic models are walked field by field: a field annotated `Annotated[str, Sensitive]` (or declared with
`Field(json_schema_extra={"sensitive": True})`) is replaced; `SecretStr` fields dump as stars already.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["REDACTED", "Redactor", "Sensitive", "sensitive_key"]

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

# Credential-shaped text. Group "keep" (when present) is kept, the rest is masked.
_PATTERNS = (
    r"(?P<keep>\b(?:Bearer|Basic|Token)\s+)[A-Za-z0-9\-._~+/]{8,}=*",
    r"\bsk-[A-Za-z0-9_\-]{16,}",  # OpenAI, Anthropic (sk-ant-...), DeepSeek ...
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


class Redactor:
    """Masks secrets in text and in JSON-like values.

    Args:
        fields: more key names whose values are always masked (case-insensitive), e.g. `["ssn", "card_number"]`.
        secrets: literal secret values to cut out of any text.
        patterns: more regular expressions of text to mask.
        environment: also mask the values of secret-looking environment variables (`*_API_KEY`, `*_TOKEN`, ...).
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
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._literal: re.Pattern[str] | None = None
        if environment:
            secrets = [*secrets, *(v for k, v in os.environ.items() if _ENV_NAME.search(k))]
        for secret in secrets:
            self.add_secret(secret)
        self._sensitive_fields: dict[type, frozenset[str]] = {}

    def add_secret(self, value: str | None) -> None:
        """Mask `value` wherever it appears from now on (values shorter than 8 characters are ignored)."""
        if not isinstance(value, str) or len(value) < _MIN_SECRET or value in self._secrets or value == REDACTED:
            return
        if len(self._secrets) >= _MAX_SECRETS:
            return
        with self._lock:
            self._secrets.add(value)
            ordered = sorted(self._secrets, key=len, reverse=True)  # a longer secret wins over its prefix
            self._literal = re.compile("|".join(map(re.escape, ordered)))

    def text(self, value: str) -> str:
        """`value` with every known secret and credential-shaped part masked."""
        literal = self._literal
        if literal is not None and literal.search(value):
            value = literal.sub(REDACTED, value)
        if self._patterns.search(value):
            value = self._patterns.sub(_mask, value)
        return value

    def value(self, value: Any) -> Any:
        """A copy of a JSON-like value with secret keys and secret text masked; pydantic models are dumped first,
        with their sensitive fields masked."""
        if isinstance(value, str):
            return self.text(value)
        if value is None or isinstance(value, (bool, int, float)):
            return value
        if isinstance(value, Mapping):
            return {
                k: self._hide(v) if isinstance(k, str) and sensitive_key(k, self.fields) else self.value(v)
                for k, v in value.items()
            }
        if isinstance(value, (list, tuple, set, frozenset)):
            return [self.value(v) for v in value]
        from pydantic import BaseModel

        if isinstance(value, BaseModel):
            return self._model(value)
        from pydantic_core import to_jsonable_python

        return self.value(to_jsonable_python(value, fallback=str))

    def _hide(self, value: Any) -> Any:
        """The mask of a sensitive field's value; the value itself is remembered, so that text quoting it later
        (an error message, a model's tool-call arguments) is masked too."""
        if value is None:
            return None
        if isinstance(value, str):
            self.add_secret(value)
        return REDACTED

    def _model(self, model: Any) -> Any:
        dumped = model.model_dump(mode="json", by_alias=True)
        hidden = self._hidden_fields(type(model))
        if isinstance(dumped, dict):
            for name in hidden & dumped.keys():
                dumped[name] = self._hide(dumped[name])
        return self.value(dumped)

    def _hidden_fields(self, cls: type) -> frozenset[str]:
        found = self._sensitive_fields.get(cls)
        if found is None:
            names = set()
            for name, info in getattr(cls, "model_fields", {}).items():
                extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
                if extra.get("sensitive") or any(m is Sensitive or isinstance(m, Sensitive) for m in info.metadata):
                    names.update({name, info.alias or name})
            found = self._sensitive_fields[cls] = frozenset(names)
        return found


def _mask(match: re.Match[str]) -> str:
    kept = next((value for value in match.groupdict().values() if value), "")
    return f"{kept}{REDACTED}"
