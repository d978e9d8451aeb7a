"""The hub `bench_server.py` serves: `mastra_nb serve server_app:hub` (from `bench/`).

A trivial tool `add`; an agent `calc` whose scripted model calls `add` once, then answers (two model turns per
request, as many times as asked: the reply depends on the conversation, not on a position in a script); and a
workflow `three` of three trivial steps. `BENCH_STORE=duckdb` keeps runs in a DuckDB file in `BENCH_DIR`, else in
memory. Tracing is on, as by default.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from mastra_nb import Agent, DuckDBStore, InMemoryStore, Mastra, Step, Workflow, tool
from mastra_nb.models import ScriptedModel, ScriptedReply


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


class Count(BaseModel):
    n: int


def _increment(data: Count) -> Count:
    return Count(n=data.n + 1)


def _reply(messages: list[dict[str, Any]]) -> Any:
    """A call of `add` to answer the user, then the answer once the tool has said its result."""
    return "2 + 3 = 5" if messages[-1]["role"] == "tool" else ScriptedReply.call("add", a=2, b=3)


def hub() -> Mastra:
    if os.environ.get("BENCH_STORE") == "duckdb":
        storage: Any = DuckDBStore(Path(os.environ.get("BENCH_DIR", ".")) / "bench-server.duckdb")
    else:
        storage = InMemoryStore()
    made = Mastra(storage=storage)
    made.add_tool(add)
    made.add_agent(Agent("calc", "You add numbers.", ScriptedModel([_reply] * 1_000_000), tools=[add]))
    three = Workflow("three", input=Count, output=Count)
    for n in range(3):
        three.then(Step(f"s{n}", _increment, input=Count, output=Count))
    made.add_workflow(three)
    return made
