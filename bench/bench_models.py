"""The first litellm call of a process, and what the notebook's warm-up takes off it (#15 F14).

Each round is a fresh interpreter that imports litellm (`load_litellm()`, what the warm-up thread did first) and
then, or not, runs `_litellm.warm_litellm()` (what it does next), before asking the local OpenAI-compatible server
(tests/openai_server.py, in a process of its own) for a reply twice, streamed (as `%%ask` does) or not: the first
call against the second shows what is left of litellm's once-per-process work. `warm()` is timed step by step, which
is also the breakdown of what the first call paid before it. Medians of the rounds; figures, not assertions.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROUNDS = 3
SERVER = Path(__file__).resolve().parent.parent / "tests" / "openai_server.py"
MESSAGES = [{"role": "user", "content": "hi"}]


def _child(url: str, warm: bool, stream: bool) -> dict[str, float]:
    """One round, in its own interpreter: seconds of each phase."""
    from mastra_nb import Model
    from mastra_nb.models import _litellm

    times: dict[str, float] = {}

    def timed(name: str, step: Any, *args: Any) -> None:
        started = time.perf_counter()
        step(*args)
        times[name] = time.perf_counter() - started

    timed("import", _litellm.load_litellm)
    if warm:  # `_litellm.warm_litellm()`, one step at a time
        litellm = _litellm.load_litellm()
        timed("lazy", lambda: [getattr(litellm, name) for name in _litellm._LAZY_NAMES])
        timed("imports", lambda: [importlib.import_module(name) for name in _litellm._FIRST_CALL_IMPORTS])
        timed("models", lambda: [_litellm._build_models(name) for name in _litellm._FIRST_CALL_MODELS])
        timed("tokenizer", lambda: litellm.token_counter(model="gpt-4o-mini", text="warm"))
        timed("platform", platform.platform)
        timed("gc", gc.collect)
        _litellm._warmed = True
    model = Model("openai/bench", api_base=url, api_key="x", retries=0)

    async def call() -> None:
        if stream:
            async for _ in model.stream(MESSAGES):
                pass
        else:
            await model.complete(MESSAGES)

    async def calls() -> None:
        for which in ("first", "second"):
            started = time.perf_counter()
            await call()
            times[which] = time.perf_counter() - started
        await _litellm.aclose_clients()

    asyncio.run(calls())
    return times


def _round(url: str, warm: bool, stream: bool) -> dict[str, float]:
    code = f"import bench_models, json; print(json.dumps(bench_models._child({url!r}, {warm}, {stream})))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=Path(__file__).parent, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def run(rounds: int = ROUNDS) -> list[tuple[str, float, str]]:
    server = subprocess.Popen([sys.executable, str(SERVER)], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()  # the server prints its URL once it listens
        variants = [(warm, stream) for stream in (True, False) for warm in (False, True)]
        rounds_of: dict[tuple[bool, bool], list[dict[str, float]]] = {variant: [] for variant in variants}
        for _ in range(rounds):  # alternated, so that a slow patch of a busy machine hits every variant alike
            for warm, stream in variants:
                rounds_of[warm, stream].append(_round(url, warm, stream))
    finally:
        server.kill()
        server.wait()

    def ms(rows: list[dict[str, float]], key: str) -> float:
        return statistics.median(row[key] for row in rows) * 1000

    every = [row for rows in rounds_of.values() for row in rows]
    warmed = rounds_of[True, True] + rounds_of[True, False]
    rows: list[tuple[str, float, str]] = [("import litellm (_litellm.load_litellm)", ms(every, "import"), "ms")]
    for stream, kind in ((True, "streamed call"), (False, "call without streaming")):
        cold, warm = rounds_of[False, stream], rounds_of[True, stream]
        rows += [
            (f"first {kind}, litellm imported only (the warm-up before)", ms(cold, "first"), "ms"),
            (f"first {kind} after _litellm.warm_litellm()", ms(warm, "first"), "ms"),
            (f"  the second {kind}", ms(cold + warm, "second"), "ms"),
        ]
    rows.append(("_litellm.warm_litellm(), in the warm-up thread:", sum(ms(warmed, key) for key in _WARM_STEPS), "ms"))
    rows += [(f"  {label}", ms(warmed, key), "ms") for key, label in _WARM_STEPS.items()]
    return rows


_WARM_STEPS = {
    "lazy": "litellm's lazy names every call touches",
    "imports": "modules its first call imports (proxy types for file ids, ...)",
    "models": "pydantic models it builds on first use",
    "tokenizer": "its tokenizer (a streamed call counts tokens)",
    "platform": "the platform's name (the openai SDK runs `uname -p`)",
    "gc": "the full garbage collection the import made due",
}


if __name__ == "__main__":
    rows = run()
    width = max(len(label) for label, _, _ in rows)
    print(f"The first litellm call of a process, median of {ROUNDS} fresh interpreters")
    for label, value, unit in rows:
        print(f"  {label:<{width}}  {value:>10,.1f} {unit}")
