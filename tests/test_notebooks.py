"""The demo notebooks: committed clean, and executed top to bottom in a real kernel (a cell error fails the test).

They run as `make demo` runs them (`python -m mastra_nb.notebook.execute`), into a temporary folder that is the
kernel's working folder, so the hub's `.mastra/` is written there and never into the repository. Provider keys and
`MASTRA_*` settings are removed from the kernel's environment: the notebooks must run offline, on `ScriptedModel`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def offline_env() -> dict[str, str]:
    """This environment without provider keys or mastra_nb settings."""
    return {k: v for k, v in os.environ.items() if not (k.endswith("_API_KEY") or k.startswith("MASTRA_"))}


def outputs_text(cell: Any) -> str:
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", ""))
        parts.extend(str(v) for v in output.get("data", {}).values())
        parts.extend(output.get("traceback", []))
    return "\n".join(parts)


def cell_with(nb: Any, source: str) -> Any:
    [cell] = [c for c in nb.cells if c.cell_type == "code" and source in c.source]
    return cell


def test_there_are_demo_notebooks():
    assert [p.name for p in NOTEBOOKS] == [  # `make demo` runs them in this order
        "01_quickstart.ipynb", "02_workflows.ipynb", "03_memory_and_rag.ipynb", "04_traces_and_evals.ipynb",
    ]  # fmt: skip


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebooks_are_clean(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]
    text = path.read_text()
    assert not re.search(r"sk-[A-Za-z0-9]{10,}", text), "a key-like string in a committed notebook"


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str, Path]:
    """The notebooks executed as `make demo` does; returns the executed notebooks, what was printed, the folder."""
    out = tmp_path_factory.mktemp("demo")
    before = sorted(p.name for p in (ROOT / "notebooks").iterdir())
    command = [sys.executable, "-m", "mastra_nb.notebook.execute", *map(str, NOTEBOOKS), "--out", str(out)]
    done = subprocess.run(command, cwd=out, env=offline_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
    assert sorted(p.name for p in (ROOT / "notebooks").iterdir()) == before  # nothing written beside the sources
    return {p.name: nbformat.read(out / p.name, as_version=4) for p in NOTEBOOKS}, done.stdout, out


def test_the_runner_writes_executed_copies_and_html_and_says_where(executed):
    notebooks, printed, out = executed
    for path in NOTEBOOKS:
        assert (out / path.name).exists() and (out / path.with_suffix(".html").name).exists()
        assert str(out / path.name) in printed
        assert all(c.execution_count for c in notebooks[path.name].cells if c.cell_type == "code")
    assert (out / ".mastra" / "mastra.duckdb").exists()  # the hub stored beside the executed notebooks
    html = (out / "02_workflows.html").read_text()
    assert html.count("<svg") >= 4 and 'data-status="suspended"' in html


def test_the_quickstart_runs_offline_on_scripted_replies(executed):
    nb = executed[0]["01_quickstart.ipynb"]
    assert "Model in use: mastra/scripted, offline" in outputs_text(nb.cells[1])
    ask = cell_with(nb, "%%ask weather --as reply")
    [result] = [o for o in ask.outputs if o.output_type == "execute_result"]
    assert (
        "Lisbon: sunny, 21.5 °C (70.7 °F)" in result.data["text/html"] and "ScriptedModel" in result.data["text/html"]
    )
    assert any(o.output_type == "display_data" for o in ask.outputs)  # the live view, emptied once answered
    assert "Forecast(city='Oslo'" in outputs_text(cell_with(nb, "forecast = _.object"))
    assert "[scripted] Lisbon" in outputs_text(cell_with(nb, "generate("))
    failed = cell_with(nb, "%%ask forecaster")
    [error] = [o for o in failed.outputs if o.output_type == "error"]
    assert error.ename == "MagicError" and "[AGENT_NOT_FOUND]" in error.traceback[0]
    assert len(error.traceback) <= 3 and not any("Traceback" in line for line in error.traceback)


def test_the_workflow_notebook_resumes_a_run_in_a_new_kernel_process(executed):
    nb = executed[0]["02_workflows.ipynb"]
    first = re.search(r"Kernel process: (\d+)", outputs_text(nb.cells[1])).group(1)
    second = re.search(r"A new kernel process: (\d+)", outputs_text(cell_with(nb, "A new kernel process"))).group(1)
    assert first != second
    waiting = re.search(r"Suspended: (\w+)", outputs_text(cell_with(nb, "waiting = await"))).group(1)
    resumed = outputs_text(cell_with(nb, "%mastra resume {run_id}"))
    assert f"Resuming run `{waiting}`" in resumed and "✓ step `publish` at 2: success" in resumed
    assert f"Run('publishing', run_id='{waiting}', status='success')" in resumed
    assert "Published &#x27;Resuming after a restart&#x27;." in resumed or "Published 'Resuming" in resumed
    graph = outputs_text(cell_with(nb, "%mastra graph orders --run last"))
    assert 'data-status="failed"' in graph and "STEP_FAILED" in graph


def test_the_readme_deep_links_the_quickstart_on_binder_and_shows_the_graph():
    readme = (ROOT / "README.md").read_text()
    [link] = re.findall(r"\(https://mybinder\.org/v2/gh/[^)\s]+\)", readme)
    assert link.endswith("?urlpath=lab/tree/notebooks/01_quickstart.ipynb)")
    assert (ROOT / "notebooks" / "01_quickstart.ipynb").exists()
    [image] = re.findall(r"!\[[^\]]+\]\((docs/images/[^)]+\.svg)\)", readme)
    assert "<svg" in (ROOT / image).read_text()


def test_the_quickstart_remembers_across_turns(executed):
    nb = executed[0]["01_quickstart.ipynb"]
    assert "You asked: What&#x27;s the weather in Oslo?" in outputs_text(cell_with(nb, "What did I ask you"))


def test_the_memory_notebook_recalls_a_paraphrase_and_answers_from_a_searched_document(executed):
    nb = executed[0]["03_memory_and_rag.ipynb"]
    assert "- Name: Ada\n- Location: Oslo" in outputs_text(cell_with(nb, "get_working_memory"))
    # a new thread: the answer comes from the message recalled from the other thread, by meaning
    recalled = outputs_text(cell_with(nb, "When am I travelling to Portugal?"))
    assert "You told me: My flight to Lisbon leaves on Friday morning." in recalled
    prompt = outputs_text(cell_with(nb, "for message in prompts[-1]"))
    assert "<working_memory>" in prompt and "[related; conversation planning," in prompt
    assert "Name: Ada, Location: Oslo" in outputs_text(cell_with(nb, "What do you know about me?"))
    assert "IndexInfo(name=&#x27;travel-policy&#x27;" in outputs_text(cell_with(nb, "done = await ingest")) or (
        "IndexInfo(name='travel-policy'" in outputs_text(cell_with(nb, "done = await ingest"))
    )
    answer = outputs_text(cell_with(nb, "%%ask policy"))
    assert "From the policy: If a trip is cancelled, the ticket is refunded to the company card" in answer


def test_the_traces_and_evals_notebook_shows_a_trace_scores_and_an_eval_table(executed):
    nb = executed[0]["04_traces_and_evals.ipynb"]
    assert "Model in use: mastra/scripted, offline" in outputs_text(nb.cells[1])
    trace = outputs_text(cell_with(nb, "trace = await mastra.traces.get(reply.trace_id)"))
    assert "invoke_agent support" in trace and trace.count("<tr data-span='tool'>") == 2
    assert trace.count("<tr data-span='model'>") == 2
    tree = outputs_text(cell_with(nb, "print(trace.tree())")).splitlines()
    assert tree[0].startswith("invoke_agent support") and all(line.startswith("  ") for line in tree[1:])
    assert "TraceWidget(" in outputs_text(cell_with(nb, "%mastra trace last"))
    builtin = outputs_text(cell_with(nb, "for scorer in (called_lookup, complete, mentions)"))
    assert "tool-call-accuracy   1.00" in builtin and "completeness" in builtin and "keyword-coverage" in builtin
    custom = outputs_text(cell_with(nb, "grounded = Scorer("))
    assert "(1.0,\n 'The answer reports every status looked up.'" in custom and "'delayed': True" in custom
    table = outputs_text(cell_with(nb, "evaluation = await run_evals("))
    assert "grounded-status" in table and "tool-call-accuracy" in table and table.count("<tr>") == 6  # head, 4, mean
    assert "{'tool-call-accuracy': 0.75," in outputs_text(cell_with(nb, "evaluation.means"))
    stored = outputs_text(cell_with(nb, "stored = [s for s in await mastra.scores.list")).splitlines()
    assert len(stored) == 12 and "case 3  tool-call-accuracy   0.00" in stored[-1]
    worst = outputs_text(cell_with(nb, "worst = min(stored"))
    assert "invoke_agent support" in worst and "<tr data-span='tool'>" not in worst
