from pathlib import Path

import pytest

from mastra_nb import MastraConfig, MastraError


def test_defaults_without_environment():
    config = MastraConfig.load(environ={})
    assert config.env == "development"
    assert config.storage_path == Path(".mastra/mastra.duckdb")
    assert config.max_steps == 10


def test_environment_is_read_and_arguments_win():
    environ = {"MASTRA_ENV": "production", "MASTRA_MAX_STEPS": "25", "MASTRA_FEATURES": "tracing, -cache"}
    config = MastraConfig.load(environ=environ, max_steps=5)
    assert config.env == "production"
    assert config.max_steps == 5
    assert config.feature("tracing") and not config.feature("cache") and not config.feature("never-set")


def test_invalid_environment_variable_is_named():
    with pytest.raises(MastraError) as info:
        MastraConfig.load(environ={"MASTRA_ENV": "prod", "MASTRA_TOOL_TIMEOUT": "-1"})
    error = info.value
    assert error.code == "CONFIG_INVALID" and error.kind.value == "validation"
    assert "MASTRA_ENV='prod'" in str(error) and "MASTRA_TOOL_TIMEOUT='-1'" in str(error)
    assert "'development', 'staging' or 'production'" in str(error)


def test_invalid_argument_is_named_as_an_argument():
    with pytest.raises(MastraError, match="argument `max_steps`=0"):
        MastraConfig.load(environ={}, max_steps=0)


def test_unknown_setting_is_refused():
    with pytest.raises(MastraError, match="max_stepz"):
        MastraConfig.load(environ={}, max_stepz=3)
