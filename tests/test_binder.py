"""What Binder does, done here: a fresh venv on the Python that `binder/runtime.txt` pins gets exactly what
`binder/requirements.txt` declares, `binder/postBuild` runs, and the quickstart executes in a kernel of that venv,
with every HTTP proxy pointed at a closed port so that a download at run time would fail.

Downloads are kept in a wheelhouse under the user's cache folder, so only the first run on a machine (or a change of
dependencies) fetches packages; later runs install from it with `--no-index`. Marked `binder`: `make test` runs it;
`pytest -m "not binder"` leaves it out.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from python_process import ROOT, offline_env

BINDER = ROOT / "binder"
WHEELS = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mastra_nb" / "binder-wheels"

pytestmark = pytest.mark.binder


def pinned_python() -> str:
    """An interpreter of the version `binder/runtime.txt` pins (`python-3.11`)."""
    wanted = (BINDER / "runtime.txt").read_text().strip().removeprefix("python-")
    found = shutil.which(f"python{wanted}")
    if found is None and f"{sys.version_info.major}.{sys.version_info.minor}" == wanted:
        found = sys.executable
    if found is None:
        pytest.skip(f"binder/runtime.txt pins Python {wanted}, which this machine does not have")
    return found


def run(command: list[str], **options: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=900, **options)  # type: ignore[call-overload]


def install(python: str) -> None:
    """`pip install -r binder/requirements.txt`, from the wheelhouse; refill it from the index when it falls short."""
    offline = [python, "-m", "pip", "install", "--no-compile", "--no-index", "--find-links", str(WHEELS),
               "-r", str(BINDER / "requirements.txt")]  # fmt: skip
    if WHEELS.exists() and run(offline, cwd=ROOT).returncode == 0:
        return
    # `pip download` takes no editable lines: the same requirements, with the project as a plain path.
    lines = (BINDER / "requirements.txt").read_text().splitlines()
    plain = [line.removeprefix("-e ").strip() for line in lines if line.strip() and not line.startswith("#")]
    fetch = run([python, "-m", "pip", "download", "-d", str(WHEELS), "setuptools>=68", *plain], cwd=ROOT)
    assert fetch.returncode == 0, fetch.stderr[-4000:]
    done = run(offline, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-4000:]


def test_binder_builds_and_runs_the_quickstart_offline(tmp_path):
    python = pinned_python()
    venv = tmp_path / "venv"
    assert run([python, "-m", "venv", str(venv)]).returncode == 0
    venv_python = str(venv / "bin" / "python")
    install(venv_python)

    env = offline_env()
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env['PATH']}", NB_PYTHON_PREFIX=str(venv))
    built = run(["bash", str(BINDER / "postBuild")], cwd=ROOT, env=env)
    assert built.returncode == 0, built.stderr[-4000:]
    overrides = json.loads((venv / "share/jupyter/lab/settings/overrides.json").read_text())
    assert overrides["@jupyterlab/apputils-extension:notification"]["checkForUpdates"] is False
    ours = json.loads((venv / "share/jupyter/lab/settings/overrides.d/mastra_nb.json").read_text())
    assert ours["@jupyter-widgets/jupyterlab-manager:plugin"]["saveState"] is True  # widgets shown after a restart

    closed = "http://127.0.0.1:9"  # the discard port: nothing listens, a download fails at once
    env.update(HTTP_PROXY=closed, HTTPS_PROXY=closed, ALL_PROXY=closed, http_proxy=closed, https_proxy=closed)
    out = tmp_path / "out"
    notebook = ROOT / "notebooks" / "01_quickstart.ipynb"
    done = run(
        [venv_python, "-m", "mastra_nb.notebook.execute", str(notebook), "--out", str(out)], cwd=tmp_path, env=env
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
    nb = nbformat.read(out / notebook.name, as_version=4)
    assert nb.metadata.language_info.version.startswith("3.11")  # the kernel ran on the pinned Python
    assert "Model in use: mastra/scripted" in nb.cells[1].outputs[0].text
