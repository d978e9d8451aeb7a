import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mastra_nb import Mastra, MastraConfig, MastraError
from mastra_nb.config import ENV_VARS


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


# (variable, bad value, what the message must say); `{tmp}` is a fresh folder holding one file, `file`.
BAD_SETTINGS = [
    ("MASTRA_STORAGE_PATH", "", "expected a path, got an empty value"),
    ("MASTRA_STORAGE_PATH", " \t", "expected a path, got an empty value"),
    ("MASTRA_VECTORS_PATH", "", "expected a path, got an empty value"),
    ("MASTRA_STORAGE_PATH", "~no-such-user-mastra/x.duckdb", "`~` names a user"),
    ("MASTRA_VECTORS_PATH", "~no-such-user-mastra/chroma", "`~` names a user"),
    ("MASTRA_STORAGE_PATH", "{tmp}", "expected a file, got an existing folder"),
    ("MASTRA_STORAGE_PATH", "{tmp}/file/sub/x.duckdb", "file' is a file"),
    ("MASTRA_STORAGE_PATH", "{tmp}/x\0.duckdb", "without NUL characters"),
    ("MASTRA_STORAGE_PATH", "{tmp}/" + "x" * 300, "File name too long"),
    ("MASTRA_VECTORS_PATH", "{tmp}/file", "expected a folder, got an existing file"),
    ("MASTRA_VECTORS_PATH", "{tmp}/file/chroma", "file' is a file"),
    ("MASTRA_TOOL_TIMEOUT", "inf", "finite number"),
    ("MASTRA_TOOL_TIMEOUT", "NaN", "finite number"),
    ("MASTRA_TOOL_TIMEOUT", "1e400", "finite number"),
    ("MASTRA_TOOL_TIMEOUT", "0", "greater than 0"),
    ("MASTRA_TOOL_TIMEOUT", "none", "valid number"),  # no limit is `MastraConfig(tool_timeout=None)` only
    ("MASTRA_MODEL_TIMEOUT", "-inf", "finite number"),
    ("MASTRA_MODEL_TIMEOUT", "-5", "greater than 0"),
    ("MASTRA_MAX_STEPS", "2.5", "valid integer"),
    ("MASTRA_MAX_STEPS", "ten", "valid integer"),
    ("MASTRA_MAX_STEPS", "-1", "greater than or equal to 1"),
    ("MASTRA_MAX_STEPS", "9" * 40, "less than or equal to 1000"),
    ("MASTRA_ENV", "Production", "'development', 'staging' or 'production'"),
    ("MASTRA_RECORD_MODE", "on", "'off', 'record', 'replay' or 'auto'"),
    ("MASTRA_FEATURES", ",,", "got an empty name"),
    ("MASTRA_FEATURES", "-", "got an empty name"),
    ("MASTRA_FEATURES", "tracing, - ,cache", "got an empty name"),
    ("MASTRA_STORAGE_URL", "postgres://db/mastra", "`sqlite:///path`, `duckdb:///path`, `memory://`"),
    ("MASTRA_STORAGE_URL", "  ", "expected a storage URL or a file path, got an empty value"),
    ("MASTRA_DEFAULT_MODEL", "", "expected a litellm model string"),
    ("MASTRA_DEFAULT_MODEL", "   ", "expected a litellm model string"),
]


@pytest.mark.parametrize(("variable", "value", "expected"), BAD_SETTINGS)
def test_each_bad_variable_is_refused_and_named(variable: str, value: str, expected: str, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(MastraError) as info:
        MastraConfig.load(environ={variable: value.replace("{tmp}", str(tmp_path))})
    error = info.value
    assert error.kind.value == "validation" and error.code == "CONFIG_INVALID"
    assert f"{variable}=" in error.message and expected in error.message
    assert sorted(tmp_path.iterdir()) == [tmp_path / "file"]  # validating created nothing


def test_bad_argument_is_named_as_an_argument(tmp_path: Path) -> None:
    with pytest.raises(MastraError) as info:
        MastraConfig.load(environ={}, tool_timeout=float("inf"), storage_path=tmp_path)
    assert "argument `tool_timeout`=inf: Input should be a finite number" in info.value.message
    assert "argument `storage_path`=" in info.value.message and "got an existing folder" in info.value.message


def test_building_the_hub_validates_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASTRA_STORAGE_PATH", "")
    with pytest.raises(MastraError, match="MASTRA_STORAGE_PATH=''"):
        Mastra()


def test_a_long_bad_value_is_quoted_cut_short() -> None:
    with pytest.raises(MastraError) as info:
        MastraConfig.load(environ={"MASTRA_ENV": "p" * 500, "MASTRA_MAX_STEPS": "9" * 5000})
    message = info.value.message
    assert "MASTRA_ENV='ppp" in message and "p" * 60 not in message
    assert "MASTRA_MAX_STEPS='999" in message and "9" * 60 not in message


def test_usable_paths_are_kept_and_nothing_is_created(tmp_path: Path) -> None:
    store = tmp_path / "new" / "deeper" / "hub.duckdb"
    (tmp_path / "chroma").mkdir()
    config = MastraConfig.load(
        environ={"MASTRA_STORAGE_PATH": str(store), "MASTRA_VECTORS_PATH": str(tmp_path / "chroma")}
    )
    assert config.storage_path == store and config.vectors_path == tmp_path / "chroma"
    assert sorted(tmp_path.iterdir()) == [tmp_path / "chroma"]  # the store creates its folders on first use
    assert MastraConfig.load(environ={"MASTRA_STORAGE_PATH": ":memory:"}).storage_path == Path(":memory:")
    home = MastraConfig.load(environ={"MASTRA_STORAGE_PATH": "~/hub.duckdb", "MASTRA_VECTORS_PATH": "~/chroma"})
    assert home.storage_path == Path.home() / "hub.duckdb" and home.vectors_path == Path.home() / "chroma"


def test_other_values_at_the_edges_are_accepted() -> None:
    config = MastraConfig.load(
        environ={"MASTRA_FEATURES": " ", "MASTRA_TOOL_TIMEOUT": "0.5", "MASTRA_MAX_STEPS": "1000"}
    )
    assert config.features == {} and config.tool_timeout == 0.5 and config.max_steps == 1000
    assert MastraConfig(tool_timeout=None).tool_timeout is None  # no limit, for code that builds settings itself


# Beside arbitrary text (lone surrogates included: the environment carries undecodable bytes as such), values
# that reach each kind of check.
VALUES = st.one_of(
    st.text(st.characters(exclude_categories=())),
    st.sampled_from(
        ["inf", "-0", "1e400", "nan", "1_0", " 7 ", "~", "~root", "~nobody-x/y", "/", ".", "..", "-", ",-,"]
    ),
    st.sampled_from([os.devnull, f"{os.devnull}/x", "\0", "a\udcff", "x" * 300, "9" * 5000, "{0}"]),
)


@pytest.mark.parametrize("variable", sorted(ENV_VARS.values()))
@settings(deadline=None)
@given(value=VALUES)
def test_any_value_gives_settings_or_a_named_config_error(variable: str, value: str) -> None:
    try:
        MastraConfig.load(environ={variable: value})
    except MastraError as error:
        assert error.kind.value == "validation" and error.code == "CONFIG_INVALID"
        assert error.message.startswith(f"Invalid mastra_nb settings: {variable}=")
