"""Notebooks side by side: two real kernels of one folder, both with the extension loaded and both storing runs at
once, as JupyterLab users keep several notebooks open. Each kernel is told its notebook the way Jupyter Server does
(`JPY_SESSION_NAME`), so each has a store of its own and neither locks the other out."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from jupyter_client.manager import start_new_kernel

RUN = """
%load_ext mastra_nb
from mastra_nb import Step, Workflow
flow = mastra.add_workflow(Workflow("w").then(Step("s", lambda d: d)), replace=True)
result = await flow.create_run().start({"x": 1})
print("status", result.status, "runs", len(await mastra.runs.list()), mastra.storage.path.parent.name)
"""


def _offline_env(notebook: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MASTRA_") and not k.endswith("_API_KEY")}
    return {**env, "JPY_SESSION_NAME": str(notebook)}


def _run(client: Any, code: str) -> str:
    printed: list[str] = []

    def hook(message: dict[str, Any]) -> None:
        if message["msg_type"] == "stream":
            printed.append(message["content"]["text"])
        elif message["msg_type"] == "error":
            printed.append("\n".join(message["content"]["traceback"]))

    reply = client.execute_interactive(code, timeout=120, output_hook=hook)
    assert reply["content"]["status"] == "ok", "".join(printed)
    return "".join(printed)


def test_two_notebooks_of_one_folder_store_runs_at_once_each_in_its_own_store(tmp_path: Path) -> None:
    kernels = [
        start_new_kernel(kernel_name="python3", cwd=str(tmp_path), env=_offline_env(tmp_path / f"{name}.ipynb"))
        for name in ("01_quickstart", "02_workflows")
    ]
    try:
        # both kernels hold their stores open at the same time: with one shared file the second would be locked out
        first = [_run(client, RUN) for _, client in kernels]
        again = _run(kernels[0][1], RUN)
    finally:
        for manager, client in kernels:
            client.stop_channels()
            manager.shutdown_kernel(now=True)
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
    kernels = [
        start_new_kernel(kernel_name="python3", cwd=str(tmp_path), env=_offline_env(tmp_path / f"{name}.ipynb"))
        for name in ("01_quickstart", "02_workflows")
    ]
    try:
        for _, client in kernels:
            _run(client, shared)
        first = [_run(client, RUN).strip().splitlines()[-1] for _, client in kernels]
    finally:
        for manager, client in kernels:
            client.stop_channels()
            manager.shutdown_kernel(now=True)
    # one file, written by both kernels at once: each sees the other's run too
    assert first == ["status success runs 1 .mastra", "status success runs 2 .mastra"]
    assert (tmp_path / ".mastra" / "shared.db").exists()
