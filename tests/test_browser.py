"""The widgets in a real JupyterLab, driven by a real browser (Playwright with Debian's /usr/bin/chromium).

A JupyterLab server (`jupyterlab_driver.lab_server`) starts on 127.0.0.1 (a free port, a known token, its config, data
and runtime folders under a temporary folder, news and update checks off), on a notebook written here: it defines a
workflow that suspends, runs it, and shows `%mastra resume RUN_ID` (the run's live graph and resume form); then a
scripted agent with a tool and `%mastra chat`; then an agent with the kernel's memory, one `%%ask` turn in a thread, and
`%mastra memory`. The browser fills the form (once wrongly: the field error shows inline, nothing is sent), presses
Resume, and sees the node turn to success; the run's success is then read from the DuckDB file once the kernel has let
go of it. In the memory view it opens the thread, searches by meaning and saves the working memory. Screenshots go to
build/screenshots/.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyterlab_driver import CHROMIUM, SHOTS, TOKEN, api, chromium, lab_server

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium: apt-get install -y chromium"),
]

WORKFLOW = """\
from pydantic import BaseModel, Field
from mastra_nb import StepContext, Workflow, step

class Approval(BaseModel):
    approved: bool
    reviewer: str = Field(min_length=1, description="who decided")

@step
def double(n: int) -> int:
    return n * 2

@step(resume=Approval)
def gate(n: int, ctx: StepContext) -> int:
    if ctx.resume_data is None:
        ctx.suspend({"question": f"keep {n}?"})
    return n if ctx.resume_data.approved else 0

gated = mastra.add_workflow(Workflow("gated", input=int, output=int).then(double).then(gate).commit(), replace=True)
result = await gated.create_run().start(3)
print(result.run_id, result.status)
"""

TOOL = '''%%tool
def add(a: int, b: int) -> int:
    """Add two numbers.

    Args:
        a: the first.
        b: the second.
    """
    return a + b
'''

AGENT_MODEL = """\
from mastra_nb import ScriptedModel, ScriptedReply
model = ScriptedModel([ScriptedReply.call("add", a=2, b=3), lambda m: "The sum is " + m[-1]["content"] + "."])
"""


MEMORY = [
    'keeper_model = ScriptedModel(["Noted: Lisbon on Friday."] * 3)',
    "%%agent keeper --model keeper_model --memory\nYou remember what the user says.",
    "%%ask keeper --thread trip --resource ada\nMy flight to Lisbon leaves on Friday.",
    "%mastra memory keeper --resource ada",
]


def _notebook(path: Path) -> None:
    cells = [
        "%load_ext mastra_nb", WORKFLOW, "%mastra resume {result.run_id}",
        TOOL, AGENT_MODEL, "%%agent calc --model model --tools add\nYou add numbers with the add tool.",
        "%mastra chat calc", *MEMORY,
    ]  # fmt: skip
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, path)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A JupyterLab server on a folder holding `widgets.ipynb`; yields its URL and the folder."""
    home = tmp_path_factory.mktemp("lab")
    root = home / "notebooks"
    root.mkdir()
    _notebook(root / "widgets.ipynb")
    with lab_server(home, root) as url:
        yield url, root


@pytest.fixture(scope="module")
def page(lab: tuple[str, Path]) -> Iterator[Any]:
    """The notebook open in chromium, run from top to bottom."""
    url, _ = lab
    with chromium() as browser:
        tab = browser.new_page(viewport={"width": 1280, "height": 1100})
        tab.set_default_timeout(60_000)
        tab.goto(f"{url}/lab/tree/widgets.ipynb?token={TOKEN}")
        tab.wait_for_selector(".jp-Notebook .jp-Cell")
        tab.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget")
        tab.wait_for_function(
            "() => { const w = window.jupyterapp.shell.currentWidget;"
            " return w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel"
            " && w.sessionContext.session.kernel.status === 'idle'; }"
        )
        tab.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        yield tab


def _shot(target: Any, name: str) -> None:
    target.screenshot(path=str(SHOTS / name))


def test_a_chat_turn_with_a_tool_call(page):
    chat = page.locator(".mastra-chat").first
    box = chat.locator("textarea")
    box.wait_for()
    box.fill("What is 2 + 3?")
    box.press("Enter")
    chat.locator('.mastra-chat-tool[data-tool="add"]').wait_for()
    page.locator('.mastra-chat[data-busy="false"] .mastra-chat-assistant[data-status="done"]').wait_for()
    answer = chat.locator(".mastra-chat-assistant").last.inner_text()
    assert "The sum is 5." in answer and '"a": 2' in answer
    assert chat.locator(".mastra-chat-user").first.inner_text().endswith("What is 2 + 3?")
    _shot(chat, "04_chat_with_a_tool_call.png")


def test_the_memory_view_reads_a_thread_searches_and_saves_working_memory(page):
    view = page.locator(".mastra-memory").first
    view.locator('.mastra-memory-thread[data-thread-id="trip"]').click()
    view.locator(".mastra-memory-conversation .mastra-memory-assistant").wait_for()
    assert "My flight to Lisbon leaves on Friday." in view.locator(".mastra-memory-conversation").inner_text()
    view.locator("input[name=query]").fill("When do I travel to Portugal?")
    view.locator("input[name=query]").press("Enter")
    view.locator(".mastra-memory-results .mastra-memory-message.matched").first.wait_for()
    editor = view.locator("textarea[name=working]")
    editor.fill("# About the user\n- Name: Ada\n- Travels: Lisbon on Friday\n")
    view.locator("button", has_text="Save").click()
    saved = view.locator(".mastra-memory-saved").element_handle()
    page.wait_for_function("el => el.textContent === 'Saved.'", arg=saved)
    _shot(view, "05_memory_view.png")


def test_the_form_resumes_the_run_and_the_graph_turns_to_success(lab, page):
    url, root = lab
    graph = page.locator(".mastra-graph").first
    graph.locator('g.node[data-path="1"][data-status="suspended"]').wait_for()
    assert graph.locator('g.node[data-path="0"]').get_attribute("data-status") == "success"
    form = page.locator(".mastra-form").first
    form.locator('[data-step-path="1"]').wait_for()
    assert "keep 6?" in form.locator(".mastra-form-payload").inner_text()
    form.locator("input[name=approved]").check()
    cell = page.locator(".jp-Cell").nth(2)
    _shot(cell, "01_graph_and_resume_form.png")

    form.locator("button", has_text="Resume").click()  # reviewer left empty: refused, inline
    error = form.locator('[data-error-for="reviewer"]')
    page.wait_for_function("el => el.textContent.includes('at least 1 character')", arg=error.element_handle())
    _shot(cell, "02_resume_form_field_error.png")
    assert graph.locator('g.node[data-path="1"]').get_attribute("data-status") == "suspended"

    form.locator("input[name=reviewer]").fill("ann")
    form.locator("button", has_text="Resume").click()
    graph.locator('g.node[data-path="1"][data-status="success"]').wait_for()
    page.locator('.mastra-form[data-status="success"]').wait_for()
    assert "The run succeeded." in form.inner_text()
    graph.locator('g.node[data-path="1"]').click()  # the detail of the step: its input, output and resume data
    graph.locator('.mastra-graph-record[data-path="1"]').wait_for()
    assert '"reviewer": "ann"' in graph.locator(".mastra-graph-detail").inner_text()
    _shot(cell, "03_resumed_run_succeeded.png")

    # The kernel holds the DuckDB file: shut it down, then read the run from storage.
    run_id = page.locator(".mastra-form strong").first.inner_text().removeprefix("run ").strip()
    for session in api(url, "/api/sessions"):
        api(url, f"/api/kernels/{session['kernel']['id']}", method="DELETE")
    from mastra_nb import DuckDBStore, run_sync

    store = DuckDBStore(root / ".mastra" / "widgets" / "mastra.duckdb")  # the notebook's own store, beside it
    deadline = time.monotonic() + 20
    while True:
        try:
            rows = run_sync(store.select("workflow_runs", where={"run_id": run_id}))
            break
        except Exception:  # the kernel may still be letting go of the file's lock
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    run_sync(store.close())
    assert rows[0]["status"] == "success" and rows[0]["output"] == 6


# -- #15: the panel after Resume (output; a bailed run reads bailed), the runs list at 1280 px, forks marked --------

F8_WORKFLOW = """\
from enum import Enum
from pydantic import BaseModel
from mastra_nb import StepContext, Workflow, step

class Decision(str, Enum):
    publish = "publish"
    reject = "reject"

class Review(BaseModel):
    decision: Decision
    note: str = ""

@step
def write(topic: str) -> dict:
    return {"title": topic.capitalize(), "words": 120}

@step(resume=Review)
def review(draft: dict, ctx: StepContext) -> dict:
    if ctx.resume_data is None:
        ctx.suspend({"question": f"Publish {draft['title']!r}?"})
    if ctx.resume_data.decision is Decision.reject:
        ctx.bail(f"Rejected by the editor: {ctx.resume_data.note}")
    return draft

@step
def publish(draft: dict) -> dict:
    return {"published": draft["title"], "words": draft["words"]}

publishing = Workflow("publishing", input=str, output=dict | str).then(write).then(review).then(publish).commit()
mastra.add_workflow(publishing, replace=True)
ok, no, waiting = publishing.create_run(), publishing.create_run(), publishing.create_run()
for run, topic in ((ok, "tea"), (no, "mugs"), (waiting, "kettles")):
    await run.start(topic)
"""


def _f8_shot(target: Any, name: str) -> None:
    """A screenshot for a person to look at, only when asked for (`MASTRA_SHOTS=/tmp/shots`)."""
    folder = os.environ.get("MASTRA_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        target.screenshot(path=str(Path(folder) / name))


@pytest.fixture(scope="module")
def f8(lab: tuple[str, Path], page: Any) -> Iterator[Any]:
    """A second notebook, `f8.ipynb`, in its own tab at 1280 px: three suspended runs of a workflow whose review can
    bail, a panel (`%mastra resume`) for two of them, and `%mastra runs`; run from top to bottom. Yields the
    notebook's panel (its `.page` is the tab)."""
    url, root = lab
    cells = ["%load_ext mastra_nb", F8_WORKFLOW, "%mastra resume {ok.run_id}", "%mastra resume {no.run_id}",
             "%mastra runs"]  # fmt: skip
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, root / "f8.ipynb")
    tab = page.context.browser.new_page(viewport={"width": 1280, "height": 1100})  # the page fixture's chromium
    tab.set_default_timeout(60_000)
    tab.goto(f"{url}/lab/workspaces/f8/tree/f8.ipynb?token={TOKEN}")  # a workspace of its own: only f8 open
    tab.wait_for_function(
        "() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
        " return w && w.context && w.context.path === 'f8.ipynb' && w.sessionContext.session"
        " && w.sessionContext.session.kernel && w.sessionContext.session.kernel.status === 'idle'; }"
    )
    notebook = tab.locator("#" + tab.evaluate("() => window.jupyterapp.shell.currentWidget.id"))
    tab.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    notebook.locator(".jp-Cell").nth(4).locator(".mastra-runs tr[data-run-id]").nth(2).wait_for()
    yield notebook
    tab.close()


def _resume(cell: Any, decision: str, note: str = "") -> Any:
    form = cell.locator(".mastra-form")
    form.locator('[data-step-path="1"]').wait_for()
    form.locator("select[name=decision]").select_option(decision)
    if note:
        form.locator("input[name=note]").fill(note)
    form.locator("button", has_text="Resume").click()
    return form


def test_after_resume_the_panel_shows_the_output_and_a_bailed_run_reads_bailed(f8):
    cell = f8.locator(".jp-Cell").nth(2)
    form = cell.locator(".mastra-form")
    form.locator('[data-step-path="1"]').wait_for()
    labels = form.locator(".mastra-form-field label").all_inner_texts()
    assert labels == ["Decision *", "Note"]  # the enum field reads like the others
    _resume(cell, "publish")
    cell.locator('.mastra-form[data-status="success"] .mastra-form-outcome[data-status="success"]').wait_for()
    assert "The run succeeded." in form.locator(".mastra-form-outcome").inner_text()
    assert json.loads(form.locator(".mastra-form-output").inner_text()) == {"published": "Tea", "words": 120}
    assert "No step is waiting" not in form.inner_text()
    _f8_shot(cell, "f8_success.png")

    cell = f8.locator(".jp-Cell").nth(3)
    form = _resume(cell, "reject", "off topic")
    cell.locator('.mastra-form[data-status="bailed"] .mastra-form-outcome[data-status="bailed"]').wait_for()
    outcome = form.locator(".mastra-form-outcome").inner_text()
    assert "The run bailed at step review" in outcome and "succeeded" not in form.inner_text()
    assert form.locator(".mastra-form-output").inner_text() == "Rejected by the editor: off topic"
    pill = form.locator(".mastra-status").first
    assert pill.inner_text() == "bailed"
    assert pill.evaluate("el => getComputedStyle(el).color") == "rgb(109, 76, 65)"  # brown, not success's green
    graph = cell.locator(".mastra-graph")
    graph.locator('.mastra-graph-header .mastra-status[data-status="bailed"]').wait_for()
    graph.locator('g.node[data-path="1"]').click()  # the step that bailed
    record = graph.locator('.mastra-graph-record[data-path="1"]')
    record.wait_for()
    assert "This step ended the run early with ctx.bail" in record.inner_text()
    first = record.locator(".mastra-row > *").first  # the record starts with its status, no bare path number
    assert first.get_attribute("class") == "mastra-status" and first.inner_text() == "success"
    _f8_shot(cell, "f8_bailed.png")


def test_the_runs_list_fits_its_card_at_1280_px_and_marks_a_fork(f8):
    assert f8.page.viewport_size["width"] == 1280
    view = f8.locator(".jp-Cell").nth(4).locator(".mastra-runs")
    waiting = view.locator("tr[data-run-id]", has=f8.page.locator("button", has_text="Resume…")).first
    waiting.wait_for()
    # Measured in one pass in the page: the list re-renders on run events, so row handles taken one by one from
    # here could be gone by the time each is measured.
    layout = view.evaluate("""el => ({
        right: el.getBoundingClientRect().right,
        buttons: [...el.querySelectorAll('tr[data-run-id] button')].map(b => b.getBoundingClientRect().right),
        stamps: [...el.querySelectorAll('tr[data-run-id] .mastra-runs-time')].map(
            s => [s.getClientRects().length, s.innerText]),
        fits: el.scrollWidth <= el.clientWidth,
    })""")
    assert layout["buttons"] and all(right <= layout["right"] for right in layout["buttons"]), "a button runs past"
    for lines, text in layout["stamps"]:
        assert lines == 1 and text.count(":") == 2, f"{text!r} wraps"
    assert layout["fits"]

    parent = waiting.get_attribute("data-run-id")
    waiting.locator("button").click()  # open the run, then fork it from its first step
    view.locator(".mastra-runs-travel select[name=travel-step]").select_option("0")
    view.locator(".mastra-runs-travel button", has_text="Time travel").click()
    fork = view.locator("tr[data-run-id]", has=f8.page.locator(".mastra-runs-fork")).first
    fork.wait_for()
    assert fork.locator(".mastra-runs-fork").inner_text() == f"fork of {parent[:8]} at write"
    assert view.locator(".mastra-runs-fork").count() == 1  # only the fork is marked
    _f8_shot(view, "f8_runs.png")
