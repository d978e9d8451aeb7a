"""`%mastra serve` in a real kernel, answered over HTTP from this (another) process: the kernel's own objects, one
defined after serving began, while the kernel is idle and while a cell blocks; `%mastra serve --stop` ends it."""

from __future__ import annotations

import re
import time

import httpx
from kernels import execute, notebook_kernels

DEFINE = '''
from mastra_nb import Agent, tool
from mastra_nb.models import ScriptedModel

@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b

mastra.add_tool(add)
'''


def test_mastra_serve_serves_the_kernels_hub_to_another_process(tmp_path):
    with notebook_kernels(tmp_path, "served.ipynb") as [kernel]:
        execute(kernel, "%load_ext mastra_nb")
        execute(kernel, DEFINE)
        said = execute(kernel, "%mastra serve --port 0")
        found = re.search(r"at (http://127\.0\.0\.1:\d+)/api", said)
        assert found, said
        url = found.group(1)
        with httpx.Client(base_url=url, timeout=30, trust_env=False) as http:
            assert http.post("/api/tools/add/execute", json={"data": {"a": 2, "b": 3}}).json() == 5

            execute(kernel, "mastra.add_agent(Agent('echo', 'Echo.', ScriptedModel(['hi there'])))")
            assert "echo" in http.get("/api/agents").json()  # defined after serving began: served at once
            answer = http.post("/api/agents/echo/generate", json={"messages": "hi"}).json()
            assert answer["text"] == "hi there"

            assert f"MCP: {url}/api/mcp/mastra/mcp" in said
            assert [s["id"] for s in http.get("/api/mcp/v0/servers").json()["servers"]] == ["mastra"]

            busy = kernel.execute("import time; time.sleep(4)")  # a cell that blocks the kernel's thread
            time.sleep(0.5)
            started = time.monotonic()
            assert http.get("/api/tools").status_code == 200
            assert time.monotonic() - started < 2  # answered while the cell still runs
            reply = kernel.get_shell_msg(timeout=30)
            assert reply["parent_header"]["msg_id"] == busy and reply["content"]["status"] == "ok"

            assert "Served at http://127.0.0.1" in execute(
                kernel, "print(repr(get_ipython().run_line_magic('mastra', '')))"
            )
            assert "Already serving" in execute(kernel, "%mastra serve")
            assert "Stopped serving" in execute(kernel, "%mastra serve --stop")
            try:
                http.get("/health")
            except httpx.TransportError:
                pass
            else:
                raise AssertionError("the server still answers after `%mastra serve --stop`")


async def test_the_kernels_hub_answers_an_mcp_client_in_another_process(tmp_path):
    from mcp import Client

    with notebook_kernels(tmp_path, "mcp.ipynb") as [kernel]:
        execute(kernel, "%load_ext mastra_nb")
        execute(kernel, DEFINE)
        said = execute(kernel, "%mastra serve --port 0")
        url = re.search(r"MCP: (http://127\.0\.0\.1:\d+/api/mcp/mastra/mcp)", said).group(1)
        async with Client(url) as client:  # the SDK's client, over Streamable HTTP
            assert "add" in {t.name for t in (await client.list_tools()).tools}
            assert (await client.call_tool("add", {"a": 20, "b": 22})).structured_content == {"result": 42}
        execute(kernel, "%mastra serve --stop")
