"""Notebooks as a JupyterLab user keeps them: several open at once, and saved ones reopened after their kernel is gone.

One JupyterLab server (tests/jupyterlab_driver.py) serves a folder holding copies of the demo notebooks and a notebook
written here; Debian's chromium drives it. The demo notebooks run offline on their scripted replies (provider keys
and `MASTRA_*` settings are removed from the server's environment).
"""

from __future__ import annotations

import os
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
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, root / "reopen.ipynb")
    env = {k: v for k, v in os.environ.items() if not (k.endswith("_API_KEY") or k.startswith(("MASTRA_", "JUPYTER")))}
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


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name))
