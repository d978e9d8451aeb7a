"""From `%load_ext mastra_nb` to the first answer of `%%ask`, in a fresh kernel.

Every round starts a new kernel process (on this interpreter), so litellm's import is paid again each time, and
times are taken inside the kernel with `time.perf_counter()`: kernel start-up is not counted, the few milliseconds
of messaging between cells are. Two models answer "Hello!" from the same script: a `ScriptedModel` (the demos'
offline model, which answers in-process and never imports litellm), and a litellm-backed model (`Model(
"mastra/scripted", mastra_script=...)`: litellm's custom-provider path, in-process, no network), which pays for
litellm's import as a real provider's model would. Medians of the rounds:

1. `%load_ext mastra_nb` alone.
2. `%load_ext` → the first scripted answer, the cells sent back to back.
3. The same with `MastraMagics.warm_up = False`: what the warm-up thread (importing litellm meanwhile, sharing the
   GIL) costs the scripted answer.
4. `%load_ext` → the first answer of the litellm-backed model, back to back: the warm-up has no head start.
5. That model's `%%ask` cell alone when the cells before it come 3 s after `%load_ext` (a person writing them):
   the warm-up has had that long.
6. The same without the warm-up: the import is paid in the `%%ask` cell.
7. `import litellm` alone, in a fresh interpreter: the floor the warm-up hides.
8. Once the warm-up has finished (a cell waits for it), the first and the second `%%ask` cell of a model on the
   local OpenAI-compatible server (tests/openai_server.py, in a process of its own); the same with the warm-up
   importing litellm only, as it did before #15 F14 (`_litellm.warm_litellm` switched off); and a `ScriptedModel`'s, for
   what the first answer costs whatever the model (the hub's store opening, the first trace).

Figures, not assertions.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

ROUNDS = 3
PAUSE = 3.0  # seconds "a person" takes after `%load_ext` before the next cells arrive
SERVER = Path(__file__).resolve().parent.parent / "tests" / "openai_server.py"

LOAD = "import time\n__t0 = time.perf_counter()\n%load_ext mastra_nb\n__loaded = time.perf_counter() - __t0"
SCRIPTED = "from mastra_nb import ScriptedModel\nmodel = ScriptedModel(['Hello!'] * 10)"
# The same script behind litellm's custom provider `mastra/...`: a model that needs litellm, with no network.
LITELLM = (
    "from mastra_nb import Model, ScriptedModel\n"
    "model = Model('mastra/scripted', mastra_script=ScriptedModel(['Hello!'] * 10), retries=0)"
)
AGENT = "%%agent hello --model model\nSay hello."
BEFORE_ASK = "__t1 = time.perf_counter()"
ASK = "%%ask hello\nHi!"
REPORT = (
    "__t2 = time.perf_counter()\n"
    "print(__import__('json').dumps({'load': __loaded, 'answer': __t2 - __t0, 'ask': __t2 - __t1, 'text': _.text}))"
)


# After the warm-up: wait for it, then time two `%%ask` cells (each between two cells that read the clock).
WAIT_FOR_WARM_UP = "from mastra_nb.notebook import extension\nextension.warm_up().join()"
IMPORT_ONLY = "from mastra_nb import models\nmodels.warm_litellm = lambda: None  # the warm-up before #15 F14"
SERVED = "from mastra_nb import Model\nmodel = Model('openai/bench', api_base={url!r}, api_key='x', retries=0)"
AFTER = "__a{n} = time.perf_counter() - __t1"
REPORT_ASKS = "print(__import__('json').dumps({'first': __a1, 'second': __a2, 'text': _.text}))"


def _round(define: str, warm_up: bool, pause: float) -> dict[str, Any]:
    """One fresh kernel: run the cells, with `define` making the model; return the kernel's own timings."""
    result = _kernel((LOAD, define, AGENT, BEFORE_ASK, ASK, REPORT), warm_up, pause)
    assert result["text"] == "Hello!", result  # the same work in every variant
    return result


def _after_warm_up(define: str, before: Sequence[str] = ()) -> dict[str, Any]:
    """One fresh kernel: `%load_ext`, wait for the warm-up, then the first and second `%%ask` of `define`'s model."""
    asks = (BEFORE_ASK, ASK, AFTER.format(n=1), BEFORE_ASK, ASK, AFTER.format(n=2))
    return _kernel((*before, LOAD, WAIT_FOR_WARM_UP, define, AGENT, *asks, REPORT_ASKS), True, 0.0)


def _kernel(cells: Sequence[str], warm_up: bool, pause: float) -> dict[str, Any]:
    """Run `cells` in a fresh kernel (pausing `pause` s after the first); return what the last one printed."""
    with tempfile.TemporaryDirectory() as folder:
        specs = KernelSpecManager(kernel_dirs=[])  # "python3" is then this interpreter's own ipykernel
        manager = KernelManager(kernel_name="python3", kernel_spec_manager=specs)
        quiet = "--IPKernelApp.log_level=ERROR"
        manager.start_kernel(cwd=folder, extra_arguments=[quiet, f"--MastraMagics.warm_up={warm_up}"])
        client = manager.client()
        client.start_channels()
        printed: list[str] = []
        try:
            client.wait_for_ready(timeout=60)
            for index, cell in enumerate(cells):
                if index == 1 and pause:
                    time.sleep(pause)
                reply = client.execute_interactive(cell, timeout=120, output_hook=lambda m: _collect(m, printed))
                if reply["content"]["status"] != "ok":
                    raise RuntimeError(f"cell {index} failed: {reply['content']}")
        finally:
            client.stop_channels()
            manager.shutdown_kernel(now=False)
    result: dict[str, Any] = json.loads(printed[-1])
    return result


def _collect(message: dict[str, Any], printed: list[str]) -> None:
    if message["msg_type"] == "stream" and message["content"]["name"] == "stdout":
        printed.extend(line for line in message["content"]["text"].splitlines() if line.startswith("{"))


def _litellm_import() -> float:
    code = (
        "import os, time; os.environ.setdefault('LITELLM_LOCAL_MODEL_COST_MAP', 'True'); t = time.perf_counter(); "
        "import litellm; print(time.perf_counter() - t)"
    )
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def run() -> list[tuple[str, float, str]]:
    scripted = [_round(SCRIPTED, True, 0.0) for _ in range(ROUNDS)]
    scripted_cold = [_round(SCRIPTED, False, 0.0) for _ in range(ROUNDS)]
    backed = [_round(LITELLM, True, 0.0) for _ in range(ROUNDS)]
    paused = [_round(LITELLM, True, PAUSE) for _ in range(ROUNDS)]
    paused_cold = [_round(LITELLM, False, PAUSE) for _ in range(ROUNDS)]
    imports = [_litellm_import() for _ in range(ROUNDS)]
    server = subprocess.Popen([sys.executable, str(SERVER)], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        served = SERVED.format(url=server.stdout.readline().strip())  # the server prints its URL once it listens
        warmed, import_only, scripted_warm = [], [], []
        for _ in range(ROUNDS):
            warmed.append(_after_warm_up(served))
            import_only.append(_after_warm_up(served, before=(IMPORT_ONLY,)))
            scripted_warm.append(_after_warm_up(SCRIPTED))
    finally:
        server.kill()
        server.wait()
    assert all(r["text"] == "ok" for r in warmed + import_only), (warmed, import_only)

    def median(rounds: list[dict[str, Any]], key: str) -> float:
        return statistics.median(r[key] for r in rounds)

    every = scripted + scripted_cold + backed + paused + paused_cold
    return [
        ("%load_ext mastra_nb", median(every, "load") * 1000, "ms"),
        ("%load_ext -> first scripted %%ask answer, cells back to back", median(scripted, "answer"), "s"),
        ("  the same without the litellm warm-up thread", median(scripted_cold, "answer"), "s"),
        ("%load_ext -> first litellm-backed answer, cells back to back", median(backed, "answer"), "s"),
        (f"litellm-backed %%ask cell alone, cells {PAUSE:.0f} s after %load_ext", median(paused, "ask"), "s"),
        ("  the same without the litellm warm-up thread", median(paused_cold, "ask"), "s"),
        ("import litellm alone (fresh interpreter)", statistics.median(imports), "s"),
        ("after the warm-up: first %%ask of a model on a local server", median(warmed, "first"), "s"),
        ("  the second %%ask", median(warmed, "second"), "s"),
        ("  the same, warm-up importing litellm only (before #15 F14)", median(import_only, "first"), "s"),
        ("after the warm-up: first scripted %%ask", median(scripted_warm, "first"), "s"),
        ("  the second scripted %%ask", median(scripted_warm, "second"), "s"),
    ]


if __name__ == "__main__":
    for label, value, unit in run():
        print(f"{label:<64} {value:>10,.2f} {unit}")
