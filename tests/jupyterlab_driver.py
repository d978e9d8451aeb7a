"""A real JupyterLab server and Debian's chromium for the browser tests (not a test module).

`lab_server` starts JupyterLab on 127.0.0.1 (a free port, a known token, its config, data, runtime and settings
folders under a temporary folder, news and update checks off) with the setting defaults mastra_nb ships
(`mastra_nb/notebook/lab/mastra_nb.json`: save widget state with the notebook), as `make lab` and Binder install
them. `chromium` launches the browser; `open_notebook`, `run_all`, `wait_executed`, `save` and `shut_down` drive a
notebook through JupyterLab's own application object (`window.jupyterapp`, exposed by `expose_app_in_browser`).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / "build" / "screenshots"
TOKEN = "mastra-nb-browser-test"
LAB_SETTINGS = ROOT / "mastra_nb" / "notebook" / "lab" / "mastra_nb.json"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def api(url: str, path: str, method: str = "GET") -> Any:
    """A call to the Jupyter server's REST API with the test token."""
    request = urllib.request.Request(f"{url}{path}", method=method, headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read()
    return json.loads(body) if body else None


@contextmanager
def lab_server(home: Path, root: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """JupyterLab serving `root`, its own folders under `home`; yields its URL and stops it afterwards."""
    settings = home / "settings" / "overrides.d"
    settings.mkdir(parents=True)
    shutil.copy(LAB_SETTINGS, settings / "mastra_nb.json")
    (settings / "quiet.json").write_text(json.dumps({
        "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
    }))  # fmt: skip
    base = env if env is not None else {k: v for k, v in os.environ.items() if not k.startswith(("MASTRA_", "JUPYTER"))}
    env = dict(base)
    env.update(
        JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"), JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
    )  # fmt: skip
    port = _free_port()
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
        f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
        "--ServerApp.port_retries=0", f"--LabApp.app_settings_dir={home / 'settings'}",
    ]  # fmt: skip
    if os.geteuid() == 0:
        command.append("--allow-root")
    log_path = home / "server.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    api(url, "/api/status")
                    break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"JupyterLab did not start: {log_path.read_text()}") from None
                    time.sleep(0.3)
            yield url
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's chromium under Playwright, headless; yields the browser."""
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"]  # fmt: skip
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
        try:
            yield browser
        finally:
            browser.close()


# The notebook panel showing `path`, found among JupyterLab's main-area widgets.
_PANEL = "(path) => Array.from(window.jupyterapp.shell.widgets('main')).find(w => w.context && w.context.path === path)"


def open_notebook(page: Any, url: str, path: str) -> None:
    """Open `path` in JupyterLab (loading the app first if this tab has none) and wait for its kernel to be idle."""
    if not page.evaluate("() => Boolean(window.jupyterapp && window.jupyterapp.shell)"):
        page.goto(f"{url}/lab/tree/{path}?token={TOKEN}")
        page.wait_for_function("() => Boolean(window.jupyterapp)")
    page.evaluate("async () => { await window.jupyterapp.restored; }")  # every plugin, its commands included
    page.evaluate("(path) => window.jupyterapp.commands.execute('docmanager:open', {path})", path)
    page.wait_for_function(
        f"(path) => {{ const w = ({_PANEL})(path);"
        " const k = w && w.sessionContext.session && w.sessionContext.session.kernel;"
        " return Boolean(k) && k.status === 'idle'; }",
        arg=path,
    )


def activate(page: Any, path: str) -> None:
    """Make `path` the current notebook, as a click on its tab does: notebook commands act on the one with focus."""
    page.evaluate(f"(path) => window.jupyterapp.shell.activateById(({_PANEL})(path).id)", path)
    page.wait_for_function(f"(path) => ({_PANEL})(path).node.contains(document.activeElement)", arg=path)


def run_all(page: Any, path: str) -> None:
    """Run every cell of the open notebook `path` (it becomes the active tab)."""
    activate(page, path)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")


def wait_executed(page: Any, path: str, timeout_ms: int = 240_000) -> list[dict[str, Any]]:
    """Wait until every code cell of `path` has run (or one not tagged `raises-exception` failed); return the code
    cells as nbformat JSON."""
    page.wait_for_function(
        f"(path) => {{ const w = ({_PANEL})(path); if (!w) return false;"
        " const cells = Array.from(w.content.model.cells).filter(c => c.type === 'code');"
        " const failed = cells.some(c => !(c.getMetadata('tags') || []).includes('raises-exception')"
        " && c.outputs.toJSON().some(o => o.output_type === 'error'));"
        " const kernel = w.sessionContext.session && w.sessionContext.session.kernel;"
        " return failed || (cells.every(c => c.executionCount !== null) && kernel && kernel.status === 'idle'); }",
        arg=path,
        timeout=timeout_ms,
    )
    return list(
        page.evaluate(
            f"(path) => Array.from(({_PANEL})(path).content.model.cells)"
            ".filter(c => c.type === 'code').map(c => c.toJSON())",
            path,
        )
    )


def save(page: Any, path: str) -> None:
    """Save `path` as JupyterLab's File → Save does (widget state included when the setting asks for it)."""
    activate(page, path)
    page.evaluate("async () => { await window.jupyterapp.commands.execute('docmanager:save'); }")


def shut_down(page: Any, path: str) -> None:
    """Shut the kernel of `path` down, as Kernel → Shut Down Kernel does."""
    page.evaluate(f"async (path) => {{ await ({_PANEL})(path).sessionContext.shutdown(); }}", path)


def error_outputs(cells: list[dict[str, Any]]) -> list[str]:
    """The error and stderr outputs of a notebook's code cells, as text, but for cells tagged `raises-exception`."""
    found = []
    for cell in cells:
        if "raises-exception" in cell.get("metadata", {}).get("tags", []):
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                found.append(f"{output.get('ename')}: {output.get('evalue')}")
            elif output.get("name") == "stderr":
                found.append(str(output.get("text")))
    return found
