"""`import mastra_nb` stays fast and light, and every public name resolves."""

import json
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import mastra_nb

HEAVY = ("litellm", "duckdb", "chromadb", "openai", "IPython", "ipywidgets")


def run_python(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout


def test_import_loads_no_heavy_dependency():
    code = f"import sys, json, mastra_nb; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    loaded = json.loads(run_python(code))
    assert loaded == []


def test_import_is_fast():
    # Median of several fresh interpreters, measuring only the import itself.
    code = "import time; t = time.perf_counter(); import mastra_nb; print(time.perf_counter() - t)"
    times = sorted(float(run_python(code)) for _ in range(5))
    assert times[2] < 0.3, f"import mastra_nb took {times[2]:.3f} s"


# The public names of ../shared/ARCHITECTURE.md that exist so far; each later issue adds its own here.
ARCHITECTURE_NAMES = {
    "Mastra", "Tool", "tool", "Storage", "DuckDBStore", "InMemoryStore", "RuntimeContext", "EventBus", "MastraError",
    "Step", "step", "Workflow", "Run", "Agent",
}  # fmt: skip


def test_all_lists_the_public_names_and_each_resolves():
    assert ARCHITECTURE_NAMES <= set(mastra_nb.__all__)
    assert sorted(mastra_nb.__all__) == sorted(mastra_nb._EXPORTS)  # every lazy export is listed, and only those
    for name in mastra_nb.__all__:
        assert getattr(mastra_nb, name).__name__ == name


def test_unknown_name_is_an_attribute_error():
    try:
        mastra_nb.Nonexistent  # noqa: B018
    except AttributeError as exc:
        assert "Nonexistent" in str(exc)
    else:
        raise AssertionError("an unknown name resolved")


def test_using_the_hub_and_tools_still_loads_no_model_or_vector_library():
    code = (
        "import sys, json; from mastra_nb import Mastra, InMemoryStore, tool\n"
        "@tool\ndef add(a: int, b: int) -> int:\n    return a + b\n"
        "Mastra(tools=[add], storage=InMemoryStore())\n"
        "print(json.dumps([m for m in ('litellm', 'chromadb', 'duckdb') if m in sys.modules]))"
    )
    assert json.loads(run_python(code)) == []


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[zipfile.ZipFile]:
    """The package's wheel, built once for the tests that read it."""
    out = tmp_path_factory.mktemp("wheel")
    root = Path(__file__).resolve().parent.parent
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(root), "--no-deps", "-q", "-w", str(out)],
                   check=True, capture_output=True)  # fmt: skip
    [path] = out.glob("mastra_nb-*.whl")
    with zipfile.ZipFile(path) as archive:
        yield archive


def test_the_wheel_installs_the_jupyterlab_default_that_saves_widget_state(wheel: zipfile.ZipFile):
    """A reopened notebook shows its widgets only if JupyterLab saved their state: pip puts the default in place."""
    [name] = [n for n in wheel.namelist() if n.endswith("share/jupyter/lab/settings/overrides.d/mastra_nb.json")]
    setting = json.loads(wheel.read(name))
    assert setting == {"@jupyter-widgets/jupyterlab-manager:plugin": {"saveState": True}}


def test_the_wheel_ships_the_pep_561_marker(wheel: zipfile.ZipFile):
    """Type checkers read an installed package's hints only when it carries `py.typed`."""
    assert "mastra_nb/py.typed" in wheel.namelist()
