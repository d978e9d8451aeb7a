"""Settings: from arguments, then the environment (`MASTRA_*`), then defaults.

Invalid settings fail when the hub is built, with the environment variable (or argument) named, instead of
surfacing later as a puzzling failure deep inside a run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import ErrorKind, MastraError

__all__ = ["ENV_VARS", "MastraConfig"]

# Each setting and the environment variable it is read from.
ENV_VARS: dict[str, str] = {
    "env": "MASTRA_ENV",
    "default_model": "MASTRA_DEFAULT_MODEL",
    "storage_path": "MASTRA_STORAGE_PATH",
    "vectors_path": "MASTRA_VECTORS_PATH",
    "features": "MASTRA_FEATURES",
    "max_steps": "MASTRA_MAX_STEPS",
    "tool_timeout": "MASTRA_TOOL_TIMEOUT",
    "model_timeout": "MASTRA_MODEL_TIMEOUT",
    "record_mode": "MASTRA_RECORD_MODE",
}


class MastraConfig(BaseModel):
    """The hub's settings.

    Args:
        env: development, staging or production.
        default_model: the litellm model string agents use when they name none (`openai/gpt-4o-mini`).
        storage_path: the DuckDB file of the default storage.
        vectors_path: the folder of the default (embedded Chroma) vector store.
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
    vectors_path: Path = Path(".mastra/chroma")
    features: dict[str, bool] = Field(default_factory=dict)
    max_steps: int = Field(default=10, ge=1, le=1000)
    tool_timeout: float | None = Field(default=60.0, gt=0)
    model_timeout: float = Field(default=120.0, gt=0)
    record_mode: Literal["off", "record", "replay", "auto"] = "off"

    @field_validator("features", mode="before")
    @classmethod
    def _parse_features(cls, value: Any) -> Any:
        if isinstance(value, str):
            names = [part.strip() for part in value.split(",") if part.strip()]
            return {name.lstrip("-"): not name.startswith("-") for name in names}
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
                f"{sources.get(str(item['loc'][0]), item['loc'][0])}={item.get('input')!r}: {item['msg']}"
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
