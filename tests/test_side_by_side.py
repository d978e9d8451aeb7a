"""Notebooks side by side: two real kernels of one folder, both with the extension loaded and both storing runs at
once, as JupyterLab users keep several notebooks open. Each kernel is told its notebook the way Jupyter Server does
(`JPY_SESSION_NAME`), so each has a store of its own and neither locks the other out."""

from __future__ import annotations

from pathlib import Path

from kernels import execute, notebook_kernels

NOTEBOOKS = ("01_quickstart.ipynb", "02_workflows.ipynb")

RUN = """
%load_ext mastra_nb
from mastra_nb import Step, Workflow
flow = mastra.add_workflow(Workflow("w").then(Step("s", lambda d: d)), replace=True)
result = await flow.create_run().start({"x": 1})
print("status", result.status, "runs", len(await mastra.runs.list()), mastra.storage.path.parent.name)
"""


def test_two_notebooks_of_one_folder_store_runs_at_once_each_in_its_own_store(tmp_path: Path) -> None:
    with notebook_kernels(tmp_path, *NOTEBOOKS) as clients:
        # both kernels hold their stores open at the same time: with one shared file the second would be locked out
        first = [execute(client, RUN, timeout=120) for client in clients]
        again = execute(clients[0], RUN, timeout=120)
    assert [line.strip() for line in first] == [
        "status success runs 1 01_quickstart",
        "status success runs 1 02_workflows",
    ]
    assert again.strip().splitlines()[-1] == "status success runs 2 01_quickstart"  # its own runs, only its own
    assert sorted(p.name for p in (tmp_path / ".mastra").iterdir()) == ["01_quickstart", "02_workflows"]


def test_two_notebooks_share_one_sqlite_store_with_one_setting(tmp_path: Path) -> None:
    shared = """
%load_ext mastra_nb
%config MastraMagics.storage = "sqlite:///.mastra/shared.db"
%mastra reset
"""
    with notebook_kernels(tmp_path, *NOTEBOOKS) as clients:
        for client in clients:
            execute(client, shared, timeout=120)
        first = [execute(client, RUN, timeout=120).strip().splitlines()[-1] for client in clients]
    # one file, written by both kernels at once: each sees the other's run too
    assert first == ["status success runs 1 .mastra", "status success runs 2 .mastra"]
    assert (tmp_path / ".mastra" / "shared.db").exists()
