"""What tracing costs, and how fast finished spans reach DuckDB.

1. Per span: `with telemetry.span(...)` around nothing, with a small input and output set on it, for tracing off
   (`Telemetry(enabled=False)`), on with spans kept nowhere (no store: mastra_nb's own span alone), on through the
   OpenTelemetry SDK (as when a processor or OTLP reads spans), and on as a hub runs it by default (the span writer
   batching rows into a DuckDB file, on the private loop).
2. Per agent turn: an agent with one tool against an instant in-process model (no litellm, no HTTP: what is left
   is the framework), 10 tool turns and an answer, on a hub with tracing off and on (DuckDB file). Each turn opens
   a model span and a tool span under the agent's span.
3. Spans written per second: 20,000 spans ended as fast as they can be, then the clock stops when the last row
   is in the DuckDB file (end to end); and the span writer alone turning 20,000 ended spans into rows and
   writing them in one batch.

Rounds alternate between the variants and the median of the rounds is reported. Figures, not assertions.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from mastra_nb import Agent, DuckDBStore, Mastra, MastraConfig, Model, tool
from mastra_nb.models import ModelResponse, ToolCall
from mastra_nb.telemetry import Telemetry

ROUNDS = 7
SPANS = 2_000  # per round, for the per-span figures
TOOL_TURNS = 10
TURNS = TOOL_TURNS + 1


class _Instant(Model):
    """Answers from a script without litellm: 10 tool calls, then the answer."""

    def __init__(self) -> None:
        super().__init__("bench/instant")
        self.replies = [
            ModelResponse("", (ToolCall(f"call_{i}", "add_numbers", json.dumps({"a": i, "b": 1})),), "tool_calls")
            for i in range(TOOL_TURNS)
        ] + [ModelResponse("The total is 55.", finish_reason="stop")]
        self.position = 0

    async def complete(self, messages: Any, **_: Any) -> ModelResponse:
        self.position += 1
        return self.replies[(self.position - 1) % TURNS]


async def add_numbers(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


async def _spans_us(telemetry: Telemetry, count: int) -> float:
    started = time.perf_counter()
    for i in range(count):
        with telemetry.span("tool", "execute_tool bench", {"gen_ai.tool.name": "bench"}) as span:
            span.input({"a": i, "b": 1})
            span.output(i + 1)
    return (time.perf_counter() - started) / count * 1e6


async def _per_span(folder: Path) -> list[tuple[str, float, str]]:
    off = Telemetry(enabled=False)
    memory = Telemetry(store=False)
    sdk = Telemetry(store=False, processors=[SimpleSpanProcessor(InMemorySpanExporter())])
    store = DuckDBStore(folder / "spans.duckdb")
    hub = Mastra(storage=store, config=MastraConfig.load(environ={}))
    stored = hub.telemetry
    for telemetry in (off, memory, sdk, stored):  # warm up: imports, the provider, the DuckDB file
        await _spans_us(telemetry, 200)
    await stored.flush()
    results: dict[str, list[float]] = {"off": [], "memory": [], "sdk": [], "stored": []}
    for _ in range(ROUNDS):
        results["off"].append(await _spans_us(off, SPANS))
        results["memory"].append(await _spans_us(memory, SPANS))
        results["sdk"].append(await _spans_us(sdk, SPANS))
        results["stored"].append(await _spans_us(stored, SPANS))
        await stored.flush()  # the writes of this round do not spill into the next one's clock
    await hub.shutdown()
    await store.close()
    off_us = statistics.median(results["off"])
    return [
        ("span, tracing off (no-op)", off_us, "µs"),
        ("span, tracing on, not stored", statistics.median(results["memory"]), "µs"),
        (
            "span, tracing on, through the OpenTelemetry SDK (a processor reads spans)",
            statistics.median(results["sdk"]),
            "µs",
        ),
        ("span, tracing on, stored in DuckDB (default)", statistics.median(results["stored"]), "µs"),
        ("tracing overhead per span (stored - off)", statistics.median(results["stored"]) - off_us, "µs"),
    ]


async def _per_turn(folder: Path, runs: int) -> list[tuple[str, float, str]]:
    agents = {}
    stores = []
    for name, telemetry in (("off", False), ("on", None)):
        agent = Agent(f"bench_{name}", "Add the numbers.", _Instant(), tools=[tool(add_numbers)], max_steps=TURNS)
        stores.append(DuckDBStore(folder / f"agent_{name}.duckdb"))
        hub = Mastra(agents=[agent], storage=stores[-1], config=MastraConfig.load(environ={}), telemetry=telemetry)
        agents[name] = (agent, hub)

    async def per_turn_us(agent: Agent) -> float:
        started = time.perf_counter()
        for _ in range(runs):
            result = await agent.generate("Go.")
            assert result.text == "The total is 55."
        return (time.perf_counter() - started) / (runs * TURNS) * 1e6

    for agent, _ in agents.values():
        await per_turn_us(agent)  # warm up
    results: dict[str, list[float]] = {"off": [], "on": []}
    for _ in range(ROUNDS):
        for name, (agent, hub) in agents.items():
            results[name].append(await per_turn_us(agent))
            await hub.telemetry.flush()
    for (_, hub), store in zip(agents.values(), stores, strict=True):
        await hub.shutdown()
        await store.close()
    off_us, on_us = statistics.median(results["off"]), statistics.median(results["on"])
    return [
        ("agent turn (model + tool), tracing off", off_us, "µs"),
        ("agent turn (model + tool), tracing on, stored", on_us, "µs"),
        ("tracing overhead per agent turn (on - off)", on_us - off_us, "µs"),
    ]


async def _write_rate(folder: Path, count: int) -> list[tuple[str, float, str]]:
    store = DuckDBStore(folder / "rate.duckdb")
    hub = Mastra(storage=store, config=MastraConfig.load(environ={}))
    telemetry = hub.telemetry
    await _spans_us(telemetry, 500)  # warm up, and create the file
    await telemetry.flush()
    before = await hub.storage.count("spans")
    started = time.perf_counter()
    await _spans_us(telemetry, count)
    await telemetry.flush()
    elapsed = time.perf_counter() - started
    assert await hub.storage.count("spans") == before + count
    await hub.shutdown()
    await store.close()

    # The writer alone: spans already ended and waiting (a batch larger than them, an interval far off), then
    # turned into rows and written in one batch.
    store = DuckDBStore(folder / "writer.duckdb")
    waiting = Mastra(storage=store, config=MastraConfig.load(environ={}),
                     telemetry=Telemetry(batch_size=count + 1, flush_interval=3600))  # fmt: skip
    await store.count("spans")  # open the file first
    await _spans_us(waiting.telemetry, count)
    started = time.perf_counter()
    await waiting.telemetry.flush()
    written = time.perf_counter() - started
    assert await store.count("spans") == count
    await waiting.shutdown()
    await store.close()
    return [
        ("spans ended and written to DuckDB (end to end)", count / elapsed, "spans/s"),
        ("  a stored span, amortized (end to end)", elapsed / count * 1e6, "µs"),
        ("ended spans written to DuckDB by the span writer", count / written, "spans/s"),
    ]


async def _measure(runs: int, count: int) -> list[tuple[str, float, str]]:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        return [*await _per_span(folder), *await _per_turn(folder, runs), *await _write_rate(folder, count)]


def run(runs: int = 30, count: int = 20_000) -> list[tuple[str, float, str]]:
    """`runs` agent runs (11 turns each) per variant and round, `count` spans for the write rate."""
    return asyncio.run(_measure(runs, count))


if __name__ == "__main__":
    rows = run()
    width = max(len(label) for label, _, _ in rows)
    print(f"Tracing overhead, median of {ROUNDS} rounds (Python {sys.version.split()[0]})")
    for label, value, unit in rows:
        print(f"  {label:<{width}}  {value:>12,.1f} {unit}")
