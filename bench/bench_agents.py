"""What an agent turn costs on top of the model client, and what litellm costs on top of the openai SDK.

1. Framework overhead per model turn. An agent with one tool against an instant in-process model (a
   `ScriptedModel`'s script, served through litellm's custom-provider path): 10 tool turns, then an answer. The same
   loop written directly against `litellm.acompletion` (same model, same script, same tool function) is the floor; the
   difference, per turn, is what `Agent` adds (tool validation, records, events, the loop itself).
2. litellm's cost per call over the plain `openai` SDK against the same local OpenAI-compatible server (run in its
   own process so the two do not share a GIL), with litellm's defaults and with the settings mastra_nb applies.
3. What a circuit breaker adds to each model or tool call: one permit taken and handed back (`acquire`, `settle`).

Rounds alternate between the variants and the median of the rounds is reported, so slow patches of a busy
machine hit every variant alike. Figures, not assertions.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from mastra_nb import Agent, InMemoryStore, Mastra, Model, ScriptedModel, ScriptedReply, tool
from mastra_nb.models import ModelResponse, ToolCall, _litellm

TOOL_TURNS = 10  # tool-calling turns per run; one more turn answers
TURNS = TOOL_TURNS + 1
ROUNDS = 9
SERVER = Path(__file__).resolve().parent.parent / "tests" / "openai_server.py"
INSTRUCTIONS = "Add the numbers with the add tool, one call per turn."


async def add_numbers(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: the first.
        b: the second.
    """
    return a + b


def _script() -> list[Any]:
    return [ScriptedReply.call("add_numbers", a=i, b=1) for i in range(TOOL_TURNS)] + ["The total is 55."]


async def _median_us(work: Callable[[], Awaitable[object]], per: int, repeat: int) -> list[float]:
    """Per-unit microseconds of `repeat` calls of `work`, once per round (callers interleave rounds)."""
    started = time.perf_counter()
    for _ in range(repeat):
        await work()
    return [(time.perf_counter() - started) / (repeat * per) * 1e6]


async def _agent_overhead(runs: int) -> list[tuple[str, float, str]]:
    litellm = _litellm.load_litellm()
    _litellm.use_scripted_provider()  # the floor calls litellm with `mastra/...` itself
    model = ScriptedModel(_script())
    spec = {"type": "function", "function": {"name": "add_numbers", "description": "Add two integers.",
            "parameters": tool(add_numbers).json_schema()}}  # fmt: skip

    async def direct() -> str:
        """The floor: the loop written by hand against litellm."""
        model.reset()
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": INSTRUCTIONS},
            {"role": "user", "content": "Go."},
        ]
        while True:
            response = await litellm.acompletion(
                model=model.name, messages=messages, tools=[spec], max_retries=0, mastra_script=model
            )
            message = response.choices[0].message
            if not message.tool_calls:
                return str(message.content)
            messages.append({"role": "assistant", "content": message.content,
                             "tool_calls": [c.model_dump() for c in message.tool_calls]})  # fmt: skip
            for call in message.tool_calls:
                result = await add_numbers(**json.loads(call.function.arguments))
                messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)})

    # The same script through litellm's custom-provider path, as the floor: a `ScriptedModel` itself answers
    # without litellm, which would make the difference meaningless.
    through_litellm = Model(model.name, mastra_script=model, retries=0)
    agent = Agent("bench", INSTRUCTIONS, through_litellm, tools=[tool(add_numbers)], max_steps=TURNS)
    Mastra(agents=[agent], storage=InMemoryStore())

    async def framework() -> str:
        model.reset()
        return (await agent.generate("Go.")).text

    instant = _Instant(_script())
    bare = Agent("bare", INSTRUCTIONS, instant, tools=[tool(add_numbers)], max_steps=TURNS)
    Mastra(agents=[bare], storage=InMemoryStore())

    async def framework_alone() -> str:
        instant.position = 0
        return (await bare.generate("Go.")).text

    assert await direct() == await framework() == await framework_alone() == "The total is 55."  # the same work
    floor: list[float] = []
    ours: list[float] = []
    alone: list[float] = []
    for _ in range(ROUNDS):
        floor += await _median_us(direct, TURNS, runs)
        ours += await _median_us(framework, TURNS, runs)
        alone += await _median_us(framework_alone, TURNS, runs)
    floor_us, ours_us = statistics.median(floor), statistics.median(ours)
    return [
        ("direct litellm loop (the floor), per turn", floor_us, "µs"),
        ("Agent.generate, per turn", ours_us, "µs"),
        ("framework overhead per turn (difference)", ours_us - floor_us, "µs"),
        ("Agent.generate, model bypassing litellm, per turn", statistics.median(alone), "µs"),
    ]


class _Instant(Model):
    """A model answering from the same script without litellm: what is left per turn is the framework's own cost."""

    def __init__(self, script: list[Any]) -> None:
        super().__init__("bench/instant")
        self.replies = [ModelResponse(r, finish_reason="stop") if isinstance(r, str) else ModelResponse(
            "", tuple(ToolCall(f"call_{i}", n, json.dumps(a)) for n, a in r.tool_calls), "tool_calls")
            for i, r in enumerate(script)]  # fmt: skip
        self.position = 0

    async def complete(self, messages: Any, **_: Any) -> ModelResponse:
        self.position += 1
        return self.replies[self.position - 1]


async def _litellm_overhead(url: str, calls: int) -> list[tuple[str, float, str]]:
    import openai

    litellm = _litellm.load_litellm()
    messages = [{"role": "user", "content": "hi"}]
    client = openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0)
    defaults = {"suppress_debug_info": False}  # litellm's own values of the settings mastra_nb changes

    def use(settings: dict[str, Any]) -> None:
        for name, value in settings.items():
            setattr(litellm, name, value)

    async def sdk() -> object:
        return await client.chat.completions.create(model="bench", messages=messages)  # type: ignore[arg-type]

    async def lite() -> object:
        return await litellm.acompletion(model="openai/bench", api_base=url, api_key="x", messages=messages)

    for work in (sdk, lite):  # warm up connections and caches
        for _ in range(20):
            await work()
    results: dict[str, list[float]] = {"sdk": [], "defaults": [], "ours": []}
    for _ in range(ROUNDS):
        results["sdk"] += await _median_us(sdk, 1, calls)
        use(defaults)
        results["defaults"] += await _median_us(lite, 1, calls)
        use(_litellm.SETTINGS)
        results["ours"] += await _median_us(lite, 1, calls)
    await client.close()
    await _litellm.aclose_clients()
    sdk_us = statistics.median(results["sdk"])
    return [
        ("openai SDK call to the local server", sdk_us, "µs"),
        ("litellm over the SDK, litellm's defaults", statistics.median(results["defaults"]) - sdk_us, "µs"),
        ("litellm over the SDK, mastra_nb's settings", statistics.median(results["ours"]) - sdk_us, "µs"),
    ]


async def _breaker_overhead(calls: int = 20_000) -> list[tuple[str, float, str]]:
    from mastra_nb.circuit import CircuitBreaker

    breaker = CircuitBreaker()
    rounds = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(calls):
            breaker.settle(await breaker.acquire("bench"), None)
        rounds.append((time.perf_counter() - started) / calls * 1e6)
    return [("circuit breaker per call (acquire + settle)", statistics.median(rounds), "µs")]


async def _measure(url: str, runs: int, calls: int) -> list[tuple[str, float, str]]:
    return [*await _agent_overhead(runs), *await _litellm_overhead(url, calls), *await _breaker_overhead()]


def run(runs: int = 20, calls: int = 100) -> list[tuple[str, float, str]]:
    """`runs` agent runs (11 turns each) and `calls` HTTP calls per variant and round; (label, value, unit) rows."""
    server = subprocess.Popen([sys.executable, str(SERVER)], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()  # the server prints its URL once it listens
        return asyncio.run(_measure(url, runs, calls))
    finally:
        server.kill()
        server.wait()


if __name__ == "__main__":
    rows = run()
    width = max(len(label) for label, _, _ in rows)
    print(f"Agent and model-layer overhead, median of {ROUNDS} rounds (Python {sys.version.split()[0]})")
    for label, value, unit in rows:
        print(f"  {label:<{width}}  {value:>10,.1f} {unit}")
