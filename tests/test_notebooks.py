"""The demo notebooks: committed clean, and executed top to bottom in a real kernel (a cell error fails the test).

They run as `make demo` runs them (`python -m mastra_nb.notebook.execute`), into a temporary folder that is the
kernel's working folder, so the hub's `.mastra/` is written there and never into the repository. Provider keys and
`MASTRA_*` settings are removed from the kernel's environment: the notebooks must run offline, on `ScriptedModel`.
"""

from __future__ import annotations

import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import nbformat
import pytest
from python_process import ROOT, offline_env

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


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
    for path in NOTEBOOKS:  # each notebook's hub stored in its own store beside the executed notebooks, as in Lab
        assert (out / ".mastra" / path.stem / "mastra.duckdb").exists()
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


def rerun(paths: list[Path], out: Path) -> dict[str, Any]:
    """Execute `paths` again with the runner, in `out` (its `.mastra/` as the last run left it); no HTML."""
    command = [sys.executable, "-m", "mastra_nb.notebook.execute", *map(str, paths), "--out", str(out), "--no-html"]
    done = subprocess.run(command, cwd=out, env=offline_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
    return {p.name: nbformat.read(out / p.name, as_version=4) for p in paths}


def warnings_shown(nb: Any) -> list[str]:
    """What the notebook's cells wrote to stderr that names a warning (the red boxes a reader sees)."""
    return [
        o.text for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
        if o.output_type == "stream" and o.name == "stderr" and "Warning" in o.text
    ]  # fmt: skip


def answers(nb: Any) -> list[str]:
    """What the memory notebook's agent answered and what its memory holds, cell by cell (times left out)."""
    shown = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        text = outputs_text(cell)
        if cell.source.startswith("%%ask"):
            shown.append(re.search(r"AgentResult\((.*?), scripted=True", text).group(1))
        elif "memory.list_" in cell.source or "memory.recall(" in cell.source or "get_working_memory" in cell.source:
            shown.append(text)
        elif cell.source.startswith("for message in prompts"):
            shown.append(re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d", "TIME", text))
    return shown


def test_a_second_run_all_in_the_same_folder_gives_the_same_answers_and_no_warning(executed):
    # The same `.mastra/` store as the first run (`make demo` without --clean, or Restart and Run All in Jupyter):
    # the memory notebook's threads and Chroma vectors are there already.
    notebooks, _, out = executed
    memory = ROOT / "notebooks" / "03_memory_and_rag.ipynb"
    again = rerun([memory], out)[memory.name]
    first = notebooks[memory.name]
    assert answers(again) == answers(first)
    assert any("You told me: My flight to Lisbon" in answer for answer in answers(again))
    assert warnings_shown(again) == []


def test_executed_notebooks_show_no_warnings(executed):
    notebooks, _, _ = executed
    assert {name: warnings_shown(nb) for name, nb in notebooks.items()} == {name: [] for name in notebooks}


class ExternalLoads(HTMLParser):
    """The URLs outside the page that a browser would load: attributes of every element but `<a>` (a link is
    followed only when clicked), and URLs in script and style text."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._tag = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tag = tag
        for name, value in attrs:
            if tag != "a" and name in ("src", "href", "srcset", "data", "poster", "action") and value:
                if re.match(r"\s*(https?:)?//", value):
                    self.found.append(f"<{tag} {name}={value}>")
            if name == "style" and value and re.search(r"url\(\s*['\"]?(https?:)?//", value):
                self.found.append(f"<{tag} style={value}>")

    def handle_endtag(self, tag: str) -> None:
        self._tag = ""

    def handle_data(self, data: str) -> None:
        if self._tag == "script":
            self.found += [f"<script> {u}" for u in re.findall(r"https?://[^\s'\"`]+", data)]
        elif self._tag == "style":
            imports = re.findall(r"(?:url\(|@import)\s*['\"]?((?:https?:)?//[^'\")]+)", data)
            self.found += [f"<style> {u}" for u in imports]


def test_exported_html_loads_nothing_from_outside_the_page(executed):
    _, _, out = executed
    for path in NOTEBOOKS:
        page = (out / path.with_suffix(".html").name).read_text()
        parser = ExternalLoads()
        parser.feed(page)
        assert parser.found == [], path.name
        assert "<svg" in page or path.name != "02_workflows.ipynb"  # widgets show their static snapshots


def test_under_run_all_the_restart_section_says_the_kernel_was_not_restarted(tmp_path):
    # JupyterLab's Run All goes past the restart cell without restarting: the runner does the same once the cell
    # loses its `restart-kernel` tag.
    nb = nbformat.read(ROOT / "notebooks" / "02_workflows.ipynb", as_version=4)
    for cell in nb.cells:
        cell.metadata.pop("tags", None)
    source = tmp_path / "02_workflows.ipynb"
    nbformat.write(nb, source)
    out = tmp_path / "out"
    out.mkdir()
    done = rerun([source], out)["02_workflows.ipynb"]
    pid = re.search(r"Kernel process: (\d+)", outputs_text(done.cells[1])).group(1)
    said = outputs_text(cell_with(done, "A new kernel process"))
    assert f"The same kernel process as above ({pid}): the kernel was not restarted" in said
    assert "A new kernel process" not in said and "already loaded" not in said
    resumed = outputs_text(cell_with(done, "%mastra resume {run_id}"))
    assert "✓ step `publish` at 2: success" in resumed
