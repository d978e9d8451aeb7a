"""Notebooks as a JupyterLab user keeps them: several open at once, and saved ones reopened after their kernel is gone.

One JupyterLab server (tests/jupyterlab_driver.py) serves a folder holding copies of the demo notebooks and a notebook
written here; Debian's chromium drives it. The demo notebooks run offline on their scripted replies (provider keys
and `MASTRA_*` settings are removed from the server's environment).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyterlab_driver import (
    CHROMIUM,
    ROOT,
    SHOTS,
    activate,
    chromium,
    error_outputs,
    lab_server,
    open_notebook,
    run_all,
    save,
    shut_down,
    wait_executed,
)
from python_process import offline_env

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium: apt-get install -y chromium"),
]

SUSPENDED = """\
from pydantic import BaseModel
from mastra_nb import StepContext, Workflow, step

class Decision(BaseModel):
    approved: bool

@step(resume=Decision)
def review(n: int, ctx: StepContext) -> int:
    if ctx.resume_data is None:
        ctx.suspend({"question": f"keep {n}?"})
    return n

reviewed = mastra.add_workflow(Workflow("reviewed", input=int, output=int).then(review).commit(), replace=True)
result = await reviewed.create_run().start(7)
"""


SHARED = ["%load_ext mastra_nb", '%config MastraMagics.storage = "sqlite:///.mastra/shared.db"', "%mastra reset"]
TELLS = [
    *SHARED,
    'from mastra_nb import ScriptedModel\nkeeper_model = ScriptedModel(["Noted: Lisbon on the 3rd of May."] * 3)',
    "%%agent keeper --model keeper_model --memory\nYou remember what the user says.",
    "%%ask keeper --thread trip --resource ada\nMy flight to Lisbon leaves on the 3rd of May.",
    'await mastra.get_agent("keeper").memory.flush()  # its vectors are written',
]
RECALLS = [
    *SHARED,
    'from mastra_nb import ScriptedModel\nkeeper_model = ScriptedModel(["On the 3rd of May."])',
    "%%agent keeper --model keeper_model --memory\nYou remember what the user says.",
    'found = await mastra.get_agent("keeper").memory.recall(\n'
    '    "When does my plane to Portugal depart?", resource_id="ada", top_k=1)\n'
    "print([m.message.text for m in found if m.matched])",
    "%mastra memory --resource ada",
]


def _write(path: Path, cells: list[str]) -> None:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, path)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    home = tmp_path_factory.mktemp("lab")
    root = home / "notebooks"
    root.mkdir()
    for name in ("01_quickstart.ipynb", "02_workflows.ipynb"):
        shutil.copy(ROOT / "notebooks" / name, root / name)
    cells = [
        "%load_ext mastra_nb",
        SUSPENDED,
        "%mastra graph reviewed",
        "%mastra runs",
        "%mastra resume {result.run_id}",
    ]
    _write(root / "reopen.ipynb", cells)
    _write(root / "tells.ipynb", TELLS)
    _write(root / "recalls.ipynb", RECALLS)
    env = {k: v for k, v in offline_env().items() if not k.startswith("JUPYTER")}  # the server's own folders
    with lab_server(home, root, env) as url:
        yield url, root


@pytest.fixture()
def page(lab: tuple[str, Path]) -> Iterator[Any]:
    with chromium() as browser:
        tab = browser.new_page(viewport={"width": 1280, "height": 1000})
        tab.set_default_timeout(90_000)
        yield tab


def test_two_demo_notebooks_run_to_the_end_side_by_side(lab: tuple[str, Path], page: Any) -> None:
    url, root = lab
    first, second = "01_quickstart.ipynb", "02_workflows.ipynb"
    open_notebook(page, url, first)
    open_notebook(page, url, second)
    run_all(page, first)
    run_all(page, second)  # while the first is still running: two kernels, both busy
    outputs = {name: wait_executed(page, name) for name in (first, second)}
    for name in (first, second):
        activate(page, name)
        _shot(page, f"side_by_side_{name.split('_')[0]}.png")

    for name, cells in outputs.items():
        assert error_outputs(cells) == [], name
        assert all(cell["execution_count"] is not None for cell in cells), name
    shown = " ".join(str(cell["outputs"]) for cells in outputs.values() for cell in cells)
    assert "locked" not in shown and "Could not store" not in shown
    # Each notebook has its own store beside it, named after it.
    assert (root / ".mastra" / "01_quickstart").is_dir() and (root / ".mastra" / "02_workflows").is_dir()


def test_a_saved_notebook_reopened_without_its_kernel_shows_its_widgets(lab: tuple[str, Path], page: Any) -> None:
    url, root = lab
    name = "reopen.ipynb"
    open_notebook(page, url, name)
    run_all(page, name)
    assert error_outputs(wait_executed(page, name)) == []
    page.wait_for_selector(".mastra-graph svg")
    page.wait_for_selector(".mastra-runs")
    page.wait_for_selector(".mastra-form")
    save(page, name)
    shut_down(page, name)
    saved = nbformat.read(root / name, as_version=4)
    assert "application/vnd.jupyter.widget-state+json" in saved.metadata.get("widgets", {})

    page.reload()  # a new page: no widget model of the old kernel is known anywhere
    open_notebook(page, url, name)
    page.wait_for_selector(".mastra-graph svg")
    page.wait_for_selector(".mastra-runs")
    page.wait_for_selector(".mastra-form")
    _shot(page, "reopened.png")
    text = page.inner_text(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook")
    assert "model not found" not in text
    assert "review" in page.inner_text(".mastra-graph")
    assert "suspended" in page.inner_text(".mastra-runs").lower()


def test_a_notebook_recalls_what_another_told_through_one_shared_store(lab: tuple[str, Path], page: Any) -> None:
    url, root = lab
    open_notebook(page, url, "tells.ipynb")
    run_all(page, "tells.ipynb")
    assert error_outputs(wait_executed(page, "tells.ipynb")) == []
    open_notebook(page, url, "recalls.ipynb")  # the first kernel still runs, holding the store and the server
    run_all(page, "recalls.ipynb")
    cells = wait_executed(page, "recalls.ipynb")
    assert error_outputs(cells) == []
    recalled = "".join(str(o.get("text", "")) for cell in cells for o in cell["outputs"])
    assert "['My flight to Lisbon leaves on the 3rd of May.']" in recalled  # by meaning: no word of the question
    page.wait_for_selector(".mastra-memory")
    assert "trip" in page.inner_text(".mastra-memory")  # the other notebook's thread, in this one's memory view
    _shot(page, "shared_recall.png")
    for name in ("tells.ipynb", "recalls.ipynb"):
        shut_down(page, name)
    assert (root / ".mastra" / "shared.db").exists() and (root / ".mastra" / "shared-vectors").is_dir()


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name))
