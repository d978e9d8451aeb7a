"""What an MCP tool call costs: our client to our server over stdio and over Streamable HTTP (uvicorn on
127.0.0.1), and the overhead our client adds over the SDK's bare `call_tool` on the same session. Median of 200
calls after 20 uncounted ones, in µs. Figures, not assertions.
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import sys
import tempfile
import textwrap
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

CALLS, WARMUP = 200, 20

APP = textwrap.dedent('''
    from mastra_nb import InMemoryStore, Mastra, tool

    @tool
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    hub = Mastra(storage=InMemoryStore(), tools=[add])
''')


async def _median(call: Callable[[], Awaitable[Any]]) -> float:
    for _ in range(WARMUP):
        await call()
    times = []
    for _ in range(CALLS):
        started = time.perf_counter()
        await call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e6


async def _rows() -> list[tuple[str, float, str]]:
    import uvicorn

    from mastra_nb import InMemoryStore, Mastra
    from mastra_nb.mcp import MCPClient, MCPServer
    from mastra_nb.server import create_app

    rows: list[tuple[str, float, str]] = []
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "benchapp.py").write_text(APP)
        stdio = MCPClient({"s": {"command": sys.executable, "args": ["-m", "mastra_nb", "mcp", "benchapp:hub"],
                                 "cwd": folder}})  # fmt: skip
        [tool] = await stdio.tools()
        rows.append(("stdio: our client's tool call", await _median(lambda: tool.execute({"a": 1, "b": 2})), "us"))
        session = stdio._sessions["s"].client  # the same session, called bare: what our tool adds on top
        rows.append(("stdio: the SDK's call_tool", await _median(lambda: session.call_tool("add", {"a": 1, "b": 2})),
                     "us"))  # fmt: skip
        await stdio.close()

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    from mastra_nb import tool as make_tool

    hub = Mastra(storage=InMemoryStore(), tools=[make_tool(lambda a, b: a + b, id="add", description="Add.")])
    app = create_app(hub, mcp_servers=[MCPServer(hub)])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn has no event to wait on, only this flag
        await asyncio.sleep(0.01)
    http = MCPClient({"h": {"url": f"http://127.0.0.1:{port}/api/mcp/mastra/mcp"}})
    [tool] = await http.tools()
    rows.append(("HTTP: our client's tool call", await _median(lambda: tool.execute({"a": 1, "b": 2})), "us"))
    session = http._sessions["h"].client
    rows.append(("HTTP: the SDK's call_tool", await _median(lambda: session.call_tool("add", {"a": 1, "b": 2})), "us"))
    await http.close()
    server.should_exit = True
    await task
    await hub.shutdown()
    return rows


def run() -> list[tuple[str, float, str]]:
    return asyncio.run(_rows())


if __name__ == "__main__":
    for label, value, unit in run():
        print(f"  {label:<35} {value:>10,.1f} {unit}")
