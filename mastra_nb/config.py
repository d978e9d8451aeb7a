"""Settings: from arguments, then the environment (`MASTRA_*`), then defaults.

Invalid settings fail when the hub is built, with the environment variable (or argument) named, instead of
surfacing later as a puzzling failure deep inside a run. Paths are judged by what exists now and nothing is
created: the stores create their missing folders on first use.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from .errors import ErrorKind, MastraError

__all__ = ["ENV_VARS", "VECTORS_SCHEMES", "VECTORS_URL_FORMS", "MastraConfig"]

# Each setting and the environment variable it is read from.
ENV_VARS: dict[str, str] = {
    "env": "MASTRA_ENV",
    "default_model": "MASTRA_DEFAULT_MODEL",
    "storage_path": "MASTRA_STORAGE_PATH",
    "storage_url": "MASTRA_STORAGE_URL",
    "vectors_path": "MASTRA_VECTORS_PATH",
    "vectors_url": "MASTRA_VECTORS_URL",
    "features": "MASTRA_FEATURES",
    "max_steps": "MASTRA_MAX_STEPS",
    "tool_timeout": "MASTRA_TOOL_TIMEOUT",
    "model_timeout": "MASTRA_MODEL_TIMEOUT",
    "record_mode": "MASTRA_RECORD_MODE",
}

# The forms of `vectors_url` (`vectors.url` opens them).
VECTORS_SCHEMES = ("chroma+shared://", "chroma://", "http://", "https://", "memory://")
VECTORS_URL_FORMS = (
    "`chroma+shared:///folder` (one Chroma server that several processes share), a folder or `chroma:///folder` "
    "(embedded: one process at a time), `http://host:port` (a Chroma server) or `memory://`"
)

# Characters of a bad value quoted back in an error: enough to recognise it, while a pasted document cannot swamp
# the message (secrets in it are redacted by `MastraError` besides).
_ECHO_CHARS = 60


class MastraConfig(BaseModel):
    """The hub's settings.

    Args:
        env: development, staging or production.
        default_model: the litellm model string agents use when they name none (`openai/gpt-4o-mini`).
        storage_path: the DuckDB file of the default storage.
        storage_url: another store for the hub, which wins over `storage_path`: `sqlite:///.mastra/shared.db` (a
            file several notebooks, kernels and a server share), `duckdb:///path`, `memory://`, or a file path
            (`.db`/`.sqlite` files are SQLite); see `storage.open_store`.
        vectors_path: the folder of the default (embedded Chroma) vector store.
        vectors_url: another vector store for the hub, which wins over `vectors_path`:
            `chroma+shared:///.mastra/chroma` (one Chroma server for the folder, which several notebooks, kernels and a
            server share; started on first use, stopped with its last user), `http://host:port` (a Chroma server you
            run), a folder or `chroma:///folder` (embedded), `memory://`; see `vectors.url`.
        features: feature flags by name; `MASTRA_FEATURES="a,b,-c"` turns a and b on and c off.
        max_steps: the default cap on an agent's model/tool loop.
        tool_timeout: default seconds a tool may run; None for no limit.
        model_timeout: default seconds a model call may take.
        record_mode: record/replay of agents' model calls: off, record, replay or auto (see `models.recording`);
            an agent's own `record=` wins.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    env: Literal["development", "staging", "production"] = "development"
    default_model: str | None = None
    storage_path: Path = Path(".mastra/mastra.duckdb")
    storage_url: str | None = None
    vectors_path: Path = Path(".mastra/chroma")
    vectors_url: str | None = None
    features: dict[str, bool] = Field(default_factory=dict)
    max_steps: int = Field(default=10, ge=1, le=1000)
    tool_timeout: float | None = Field(default=60.0, gt=0, allow_inf_nan=False)
    model_timeout: float = Field(default=120.0, gt=0, allow_inf_nan=False)
    record_mode: Literal["off", "record", "replay", "auto"] = "off"

    @field_validator("default_model")
    @classmethod
    def _check_default_model(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise _refuse("expected a litellm model string such as `openai/gpt-4o-mini`, got an empty value")
        return value

    @field_validator("storage_url")
    @classmethod
    def _check_storage_url(cls, value: str | None) -> str | None:
        # Only the form is checked here (the store is opened by the hub): a typo fails at start, naming the variable.
        if value is None:
            return None
        if not value.strip():
            raise _refuse("expected a storage URL or a file path, got an empty value")
        if "://" in value and not value.strip().startswith(("sqlite://", "duckdb://", "memory://")):
            raise _refuse("expected `sqlite:///path`, `duckdb:///path`, `memory://` or a file path")
        return value.strip()

    @field_validator("vectors_url")
    @classmethod
    def _check_vectors_url(cls, value: str | None) -> str | None:
        # The form only, as for `storage_url`; the hub checks the rest (`vectors.url.parse_vectors_url`) when built.
        if value is None:
            return None
        if not value.strip():
            raise _refuse("expected a vector store URL or a folder, got an empty value")
        if "://" in value and not value.strip().startswith(VECTORS_SCHEMES):
            raise _refuse(f"expected {VECTORS_URL_FORMS}")
        return value.strip()

    @field_validator("storage_path", "vectors_path", mode="before")
    @classmethod
    def _check_path(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, str | os.PathLike):
            return value  # pydantic's own error says a path was expected
        text = os.fsdecode(value)
        if not text.strip():
            raise _refuse("expected a path, got an empty value")
        if "\0" in text:
            raise _refuse("expected a path without NUL characters")
        try:
            path = Path(text).expanduser()
            problem = _unusable(path, folder=info.field_name == "vectors_path")
        except RuntimeError:  # from `expanduser`: `~name` of no user here, or no home folder at all
            raise _refuse("expected a path whose `~` names a user with a home folder on this machine") from None
        except OSError as error:  # the path cannot even be looked at: a name too long, no permission, a loop
            raise _refuse(f"expected a path this process can look at ({error.strerror})") from None
        except ValueError:  # a lone surrogate (a Python argument; the environment holds only encodable ones)
            raise _refuse("expected a path the file system can encode") from None
        if problem is not None:
            raise _refuse(problem)
        return path

    @field_validator("features", mode="before")
    @classmethod
    def _parse_features(cls, value: Any) -> Any:
        if isinstance(value, str):
            if not value.strip():
                return {}  # an empty variable sets no flag
            names = [part.strip() for part in value.split(",")]
            return {name.lstrip("-").strip(): not name.startswith("-") for name in names}
        return value

    @field_validator("features")
    @classmethod
    def _check_feature_names(cls, value: dict[str, bool]) -> dict[str, bool]:
        # An empty name (`a,,b`, a lone `-`) is a typo, and a flag no `feature(name)` call can mean.
        if any(not name.strip() for name in value):
            raise _refuse("expected comma-separated flag names such as `a,b,-c`, got an empty name")
        return value

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> MastraConfig:
        """Build settings from `overrides` (arguments), then `environ` (default `os.environ`), then defaults.

        Raises:
            MastraError: a validation error naming each bad setting and where it came from.
        """
        environ = os.environ if environ is None else environ
        unknown = sorted(set(overrides) - set(cls.model_fields))
        if unknown:
            raise MastraError(
                ErrorKind.VALIDATION,
                "CONFIG_UNKNOWN_SETTING",
                f"Unknown setting(s) {', '.join(map(repr, unknown))} for `MastraConfig`; "
                f"known: {', '.join(cls.model_fields)}.",
            )
        values: dict[str, Any] = {f: environ[v] for f, v in ENV_VARS.items() if v in environ}
        sources = {field: ENV_VARS[field] for field in values}
        given = {k: v for k, v in overrides.items() if v is not None}
        values.update(given)
        sources.update({k: f"argument `{k}`" for k in given})
        try:
            return cls(**values)
        except ValidationError as error:
            problems = [
                f"{sources.get(str(item['loc'][0]), item['loc'][0])}={_echo(item.get('input'))}: {item['msg']}"
                for item in error.errors(include_url=False)
            ]
            raise MastraError(
                ErrorKind.VALIDATION,
                "CONFIG_INVALID",
                f"Invalid mastra_nb settings: {'; '.join(problems)}. Fix the variable or argument and start again.",
                details={"errors": problems},
            ) from None

    def feature(self, name: str) -> bool:
        """Whether feature flag `name` is on (off when never set)."""
        return self.features.get(name, False)


def _refuse(reason: str) -> PydanticCustomError:
    # The reason goes in as context, not as the template: braces in a quoted value are then left alone.
    return PydanticCustomError("config_invalid", "{reason}", {"reason": reason})


def _echo(value: Any, *, keep_end: bool = False) -> str:
    # A path keeps its end, where the telling names are.
    text = repr(value)
    if len(text) <= _ECHO_CHARS:
        return text
    return repr("…" + str(value)[3 - _ECHO_CHARS :]) if keep_end else text[: _ECHO_CHARS - 1] + "…"


def _unusable(path: Path, *, folder: bool) -> str | None:
    """Why `path` cannot be the store's file (with `folder`, its folder) given what exists now, or None."""
    for candidate in (path, *path.parents):
        try:
            is_folder = stat.S_ISDIR(candidate.stat().st_mode)
        except (FileNotFoundError, NotADirectoryError):
            continue  # missing is fine (created later); under a file, that file is met further up
        if candidate is path and is_folder != folder:
            return "expected a folder, got an existing file" if folder else "expected a file, got an existing folder"
        if candidate is not path and not is_folder:
            return f"expected folders above it, but {_echo(str(candidate), keep_end=True)} is a file"
        return None
    return None
