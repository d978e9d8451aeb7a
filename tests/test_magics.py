"""The magics in a real `IPython.core.interactiveshell.InteractiveShell`: register, re-run, errors, interpolation.

The shell runs cells as a notebook would (`run_cell`), with the kernel's hub storing into a DuckDB file under the
test's temporary folder. Agents use `ScriptedModel`s; nothing reaches the network. Async calls inside cells go
through `run_sync`, as a script's would: this shell is not a kernel with a running loop.
"""

from __future__ import annotations

import concurrent.futures
import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from traitlets.config import Config

from mastra_nb import Agent, Mastra, Tool
from mastra_nb.notebook import extension
from mastra_nb.notebook._errors import MagicError
from mastra_nb.notebook.magics import interpolate

ADD = '''%%tool
def add(a: int, b: int) -> int:
    """Add two numbers.

    Args:
        a: the first.
        b: the second.
    """
    return a + b
'''

APPROVAL = """
from pydantic import BaseModel
from mastra_nb import StepContext, Workflow, run_sync, step

class Approval(BaseModel):
    approved: bool

@step
def double(n: int) -> int:
    return n * 2

@step(resume=Approval)
def gate(n: int, ctx: StepContext) -> int:
    if ctx.resume_data is None:
        ctx.suspend({"question": f"keep {n}?"})
    return n if ctx.resume_data.approved else 0

gated = Workflow("gated", input=int, output=int).then(double).then(gate).commit()
mastra.add_workflow(gated, replace=True)
"""


@pytest.fixture(scope="module")
def ipython() -> InteractiveShell:
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    config.MastraMagics.warm_up = False  # the warm-up has its own test, in a fresh process
    return InteractiveShell.instance(config=config)


@pytest.fixture
def shell(ipython: InteractiveShell, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    """The shell with the extension loaded in a fresh namespace; the hub's `.mastra/` is under `tmp_path`."""
    monkeypatch.chdir(tmp_path)
    ipython.reset(new_session=False)
    ok(ipython, "%load_ext mastra_nb")
    yield ipython
    ipython.extension_manager.loaded.discard("mastra_nb")
    extension.unload(ipython, keep_hub=False)


def run(shell: InteractiveShell, cell: str) -> tuple[object, str]:
    """Run a cell; return its result (or its exception) and everything it printed."""
    with capture_output() as captured:
        outcome = shell.run_cell(cell)
    error = outcome.error_in_exec or outcome.error_before_exec
    printed = re.sub(r"\x1b\[[0-9;]*m", "", captured.stdout + captured.stderr)  # without terminal colours
    return (error if error is not None else outcome.result), printed


def ok(shell: InteractiveShell, cell: str) -> object:
    result, printed = run(shell, cell)
    assert not isinstance(result, BaseException), printed
    return result


def hub(shell: InteractiveShell) -> Mastra:
    return shell.user_ns["mastra"]


# -- the extension ----------------------------------------------------------------------------------------------


def test_loading_is_light_and_the_warm_up_imports_litellm_in_the_background(tmp_path):
    code = """
import json, sys
from IPython.core.interactiveshell import InteractiveShell
from mastra_nb.notebook import extension
from traitlets.config import Config
config = Config()
config.MastraMagics.warm_up = False  # first: what loading itself imports
shell = InteractiveShell.instance(config=config)
shell.run_line_magic("load_ext", "mastra_nb")
loaded = [m for m in ("litellm", "duckdb", "chromadb") if m in sys.modules]
magics = sorted(shell.magics_manager.magics["cell"]) + sorted(shell.magics_manager.magics["line"])
assert extension._warm is None
shell.run_line_magic("config", "MastraMagics.warm_up = True")  # then: a load starts the warm-up thread
shell.run_line_magic("reload_ext", "mastra_nb")
thread = extension._warm
thread.join(120)
print(json.dumps({"heavy": loaded, "magics": [m for m in magics if m in ("tool", "agent", "ask", "mastra")],
                  "hub": type(shell.user_ns["mastra"]).__name__, "warm": "litellm" in sys.modules}))
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"heavy": [], "magics": ["agent", "ask", "tool", "mastra"], "hub": "Mastra", "warm": True}


def test_the_hub_is_bound_in_the_notebook_and_stores_beside_it(shell, tmp_path):
    assert isinstance(hub(shell), Mastra)
    assert hub(shell).config.storage_path == tmp_path / ".mastra" / "mastra.duckdb"


def test_each_notebook_gets_its_own_store_and_a_shared_one_is_one_setting(shell, tmp_path, monkeypatch):
    # Jupyter Server names each kernel's notebook in JPY_SESSION_NAME: two notebooks of one folder never contend
    monkeypatch.setenv("JPY_SESSION_NAME", str(tmp_path / "01 trip planner.ipynb"))
    ok(shell, "%mastra reset")
    first = hub(shell)
    own = first.config.storage_path.parent
    assert own.parent == tmp_path / ".mastra" and own.name.startswith("01-trip-planner-")  # readable, and...
    assert (first.config.storage_path, first.config.vectors_path) == (own / "mastra.duckdb", own / "chroma")
    monkeypatch.setenv("JPY_SESSION_NAME", str(tmp_path / "01-trip-planner.ipynb"))
    ok(shell, "%mastra reset")  # ... a notebook whose name is the same once spaces become dashes has another
    assert hub(shell).config.storage_path == tmp_path / ".mastra" / "01-trip-planner" / "mastra.duckdb"
    monkeypatch.setenv("JPY_SESSION_NAME", str(tmp_path / "02_workflows.ipynb"))
    ok(shell, "%mastra reset")
    assert hub(shell).config.storage_path == tmp_path / ".mastra" / "02_workflows" / "mastra.duckdb"
    html = ok(shell, "%mastra config")._repr_html_()
    assert "this notebook&#x27;s own" in html or "this notebook's own" in html
    assert "store in use" in html and "02_workflows" in html
    ok(shell, "%config MastraMagics.storage = 'memory://'")
    ok(shell, "%mastra reset")
    assert type(hub(shell).storage).__name__ == "InMemoryStore"
    ok(shell, "%config MastraMagics.storage = None")
    _, printed = run(shell, "%config MastraMagics.storage = 'postgres://db/x'\n%mastra reset")
    assert "MASTRA_STORAGE_URL" not in printed and "storage_url" in printed and "sqlite:///path" in printed
    ok(shell, "%config MastraMagics.storage = None")
    ok(shell, "%mastra")  # the refused reset left the kernel its working hub


def test_a_shared_sqlite_store_shares_its_vectors_too_unless_told_otherwise(shell, tmp_path, monkeypatch):
    monkeypatch.setenv("JPY_SESSION_NAME", str(tmp_path / "trip.ipynb"))
    ok(shell, "%config MastraMagics.storage = 'sqlite:///.mastra/shared.db'")
    ok(shell, "%mastra reset")
    # messages several notebooks share are recalled by all of them: one Chroma server for the store's vectors
    assert hub(shell).config.vectors_url == f"chroma+shared:///{tmp_path / '.mastra' / 'shared-vectors'}"
    html = ok(shell, "%mastra config")._repr_html_()
    assert "vectors in use" in html and "shared-vectors" in html and "shared, as the SQLite store is" in html
    overview = ok(shell, "%mastra")  # the overview names the store and the vectors really in use
    assert "SQLiteStore" in repr(overview) and "shared.db" in repr(overview) and "shared-vectors" in repr(overview)
    assert "shared-vectors" in overview._repr_html_()
    ok(shell, "%config MastraMagics.vectors = 'memory://'")  # an explicit choice wins
    ok(shell, "%mastra reset")
    assert hub(shell).config.vectors_url == "memory://"
    assert "MastraMagics.vectors" in ok(shell, "%mastra config")._repr_html_()
    ok(shell, "%config MastraMagics.vectors = None")
    ok(shell, "%config MastraMagics.storage = 'duckdb:///.mastra/one.duckdb'")
    ok(shell, "%mastra reset")  # a store one process uses keeps the notebook's own embedded folder
    assert hub(shell).config.vectors_url is None
    assert hub(shell).config.vectors_path == tmp_path / ".mastra" / "trip" / "chroma"
    ok(shell, "%config MastraMagics.storage = None")
    ok(shell, "%mastra reset")


def test_reload_keeps_the_hub_and_what_it_holds_and_registers_the_magics_once(shell):
    ok(shell, ADD)
    before = hub(shell)
    ok(shell, "%reload_ext mastra_nb")
    assert hub(shell) is before and list(before.list_tools()) == ["add"]
    assert sum(name == "tool" for name in shell.magics_manager.magics["cell"]) == 1
    ok(shell, ADD)  # the magics still work after the reload


def test_unload_removes_the_magics(shell):
    ok(shell, "%unload_ext mastra_nb")
    _, printed = run(shell, ADD)
    assert "Cell magic `%%tool` not found" in printed
    ok(shell, "%load_ext mastra_nb")


# -- %%tool -----------------------------------------------------------------------------------------------------


def test_tool_cell_registers_a_tool_that_still_calls_like_the_function(shell):
    made = ok(shell, ADD)
    assert isinstance(made, Tool) and hub(shell).get_tool("add") is made and shell.user_ns["add"] is made
    assert ok(shell, "add(2, 3)") == 5
    assert made.json_schema()["properties"]["a"]["description"] == "the first."
    assert "add" in made._repr_html_() and "the first." in made._repr_html_()


def test_rerunning_a_tool_cell_replaces_the_tool_and_says_which_agents_kept_the_old_one(shell):
    first = ok(shell, ADD)
    ok(shell, "%%agent calc --tools add\nYou add.")
    second, printed = run(shell, ADD.replace("return a + b", "return a + b + 1"))
    assert second is not first and list(hub(shell).list_tools()) == ["add"]
    assert hub(shell).get_tool("add")(1, 1) == 3
    assert "Agents `calc` still use the previous `add`" in printed


def test_tool_options_name_the_tool_and_set_its_behaviour(shell):
    made = ok(shell, ADD.replace("%%tool", "%%tool --name plus --timeout 5 --retries 2 --cache --requires-approval"))
    assert made.id == "plus" and hub(shell).get_tool("plus") is made
    assert (made.timeout, made.retries.attempts, made.cache_size, made.requires_approval) == (5, 3, 128, True)


@pytest.mark.parametrize(
    ("cell", "expected"),
    [("%%tool\nx = 1\n", "defines none"), ("%%tool\ndef a(): ...\ndef b(): ...\n", "defines 2: `a`, `b`")],
)
def test_a_tool_cell_must_define_exactly_one_function(shell, cell, expected):
    error, printed = run(shell, cell)
    assert isinstance(error, MagicError) and expected in printed
    assert "Traceback" not in printed and len(printed.strip().splitlines()) == 1


def test_an_invalid_tool_is_one_line_with_the_error_code(shell):
    error, printed = run(shell, "%%tool --name 'not a valid id'\ndef f(x: int) -> int:\n    return x\n")
    assert isinstance(error, MagicError) and "[TOOL_DEFINITION_INVALID]" in printed and "Traceback" not in printed


# -- %%agent ----------------------------------------------------------------------------------------------------


def test_agent_cell_registers_an_agent_with_its_instructions_model_and_tools(shell):
    ok(shell, ADD)
    ok(shell, "from mastra_nb import ScriptedModel\nmodel = ScriptedModel(['hi'])")
    ok(shell, "@__import__('mastra_nb').tool\ndef shout(text: str) -> str:\n    return text.upper()")
    agent = ok(
        shell, "%%agent calc --model model --tools add,shout --max-steps 4 -d Adds.\n    You add.\n    Briefly.\n"
    )
    assert isinstance(agent, Agent) and hub(shell).get_agent("calc") is agent
    assert agent.instructions == "You add.\nBriefly." and agent.model is shell.user_ns["model"]
    assert sorted(agent.tools) == ["add", "shout"] and agent.max_steps == 4 and agent.description == "Adds."
    again = ok(shell, "%%agent calc --model openai/gpt-4o-mini\nYou add, again.")
    assert hub(shell).get_agent("calc") is again and again.model.name == "openai/gpt-4o-mini"
    assert "gpt-4o-mini" in again._repr_html_()


def test_agent_cell_takes_sub_agents_and_workflows_from_the_hub(shell):
    ok(shell, APPROVAL)
    ok(shell, "%%agent helper\nHelp.")
    boss = ok(shell, "%%agent boss --agents helper --workflows gated\nDelegate.")
    assert sorted(boss.tools) == ["agent_helper", "workflow_gated"]


def test_an_unknown_tool_is_a_one_line_error_listing_what_exists(shell):
    ok(shell, ADD)
    error, printed = run(shell, "%%agent calc --tools add,multiply\nYou multiply.")
    assert isinstance(error, MagicError) and "No tool `multiply`" in printed and "`add`" in printed
    assert "Traceback" not in printed


def test_the_default_model_comes_from_config(shell):
    ok(shell, "%config MastraMagics.default_model = 'openai/house-model'")
    agent = ok(shell, "%%agent a\nHi.")
    assert agent.model.name == "openai/house-model"
    html = ok(shell, "%mastra config")._repr_html_()
    assert "house-model" in html and "MastraMagics.warm_up" in html


# -- %%ask ------------------------------------------------------------------------------------------------------


def scripted_calc(shell: InteractiveShell, *script: str) -> None:
    ok(shell, ADD)
    replies = ", ".join(script)
    ok(shell, f"from mastra_nb import ScriptedModel, ScriptedReply\nmodel = ScriptedModel([{replies}])")
    ok(shell, "%%agent calc --model model --tools add\nYou add numbers with the add tool.")


def test_ask_streams_tool_calls_and_text_and_returns_the_answer(shell):
    scripted_calc(shell, "ScriptedReply.call('add', a=2, b=3)", "lambda m: 'The sum is ' + m[-1]['content'] + '.'")
    answer, printed = run(shell, "%%ask calc --as reply\nWhat is 2 + 3?")
    assert answer.text == "The sum is 5." and answer.scripted
    assert shell.user_ns["reply"] is answer and shell.user_ns["_"] is answer
    lines = printed.strip().splitlines()
    assert lines[:3] == ['→ add({"a": 2, "b": 3})', "← add: 5", "The sum is 5."]
    html = answer._repr_html_()
    assert html.count("<tr data-row>") == 1 and "The sum is 5." in html and "ScriptedModel" in html


def test_ask_fills_in_notebook_names_and_attributes(shell):
    ok(shell, "from mastra_nb import ScriptedModel\nmodel = ScriptedModel([lambda m: m[-1]['content']])")
    ok(shell, "%%agent echo --model model\nRepeat the question.")
    ok(shell, "city = 'Lisbon'\nclass Trip:\n    days = 3\ntrip = Trip()")
    answer = ok(shell, '%%ask echo\n{city} for {trip.days} days? Keep {{braces}} and {"a": 1}.')
    assert answer.text == 'Lisbon for 3 days? Keep {braces} and {"a": 1}.'


def test_an_agent_with_memory_continues_a_thread_across_asks(shell):
    # The scripted model answers with what it was shown: the conversation's earlier user messages.
    ok(
        shell,
        "from mastra_nb import ScriptedModel\n"
        "model = ScriptedModel([lambda m: ' | '.join(x['content'] for x in m if x['role'] == 'user')] * 5)",
    )
    ok(shell, "%%agent keeper --model model --memory\nYou remember.")
    ok(shell, "%%ask keeper --thread trip\nI fly to Lisbon on Friday.")
    answer = ok(shell, "%%ask keeper --thread trip\nWhen do I fly?")
    assert answer.text == "I fly to Lisbon on Friday. | When do I fly?"
    fresh = ok(shell, "%%ask keeper --thread other --resource someone-else\nWhen do I fly?")
    assert fresh.text == "When do I fly?"  # another resource's thread: no history, nothing recalled
    memory = hub(shell).get_agent("keeper").memory
    stored = run_sync_in(shell, "await mastra.get_agent('keeper').memory.list_messages('trip')")
    assert [m.text for m in stored][::2] == ["I fly to Lisbon on Friday.", "When do I fly?"]
    assert memory.options.working_memory is not None  # the kernel's memory keeps working memory too


def test_memory_from_a_notebook_variable_and_a_thread_without_memory(shell):
    ok(
        shell,
        "from mastra_nb import ScriptedModel\nfrom mastra_nb.memory import Memory\n"
        "mem = Memory(options={'semantic_recall': False})\nmodel = ScriptedModel(['ok'] * 3)",
    )
    agent = ok(shell, "%%agent short --model model --memory mem\nBe brief.")
    assert agent.memory is shell.user_ns["mem"]
    error, printed = run(shell, "%%agent bad --model model --memory nothing\nx")
    assert isinstance(error, MagicError) and "`--memory nothing` must name a `Memory`" in printed
    ok(shell, "%%agent forgetful --model model\nx")
    error, printed = run(shell, "%%ask forgetful --thread t\nhi")
    assert "AGENT_MEMORY_MISSING" in printed and "memory=Memory()" in printed
    assert "`%%agent NAME --memory`" in printed  # the fix as a notebook user writes it


def test_ask_shows_a_failure_without_the_key_it_quoted(shell, monkeypatch):
    monkeypatch.setenv("ACME_API_KEY", "acme-env-secret-Ask3d9")
    ok(
        shell,
        "from mastra_nb import ScriptedModel\n"
        "def leaky(messages):\n"
        "    raise RuntimeError('Incorrect API key provided: sk-live-AskShown9Key4Zq8XvN3 '\n"
        "                       '(ACME acme-env-secret-Ask3d9)')\n"
        "model = ScriptedModel([leaky])",
    )
    ok(shell, "%%agent keyed --model model\nBe brief.")
    error, printed = run(shell, "%%ask keyed\nhi")
    assert isinstance(error, MagicError) and "Incorrect API key provided: [REDACTED]" in printed
    assert "sk-live-AskShown9Key4Zq8XvN3" not in printed + str(error) and "acme-env-secret-Ask3d9" not in printed


def run_sync_in(shell: InteractiveShell, expression: str):
    """Evaluate an awaitable expression in the shell through `run_sync`, as a script would."""
    return ok(
        shell, f"from mastra_nb import run_sync\nasync def _probe():\n    return {expression}\nrun_sync(_probe())"
    )


def test_an_undefined_name_in_the_prompt_is_named(shell):
    scripted_calc(shell, "'unused'")
    error, printed = run(shell, "%%ask calc\nWhat about {nowhere}?")
    assert isinstance(error, MagicError) and "`{nowhere}` in the prompt is not defined" in printed


def test_interpolate_alone():
    assert interpolate("{a}+{a}={{sum}}", {"a": 1}) == "1+1={sum}"
    with pytest.raises(MagicError, match="`b`"):
        interpolate("{b}", {})


def test_ask_with_an_output_model_returns_the_validated_object(shell):
    ok(shell, "from pydantic import BaseModel\nclass Sum(BaseModel):\n    total: int")
    scripted_calc(shell, "'{\"total\": 5}'")
    answer = ok(shell, "%%ask calc --output Sum\n2 + 3?")
    assert answer.object == shell.user_ns["Sum"](total=5)
    _, printed = run(shell, "%%ask calc --output nothing_here\n2 + 3?")
    assert "must name a pydantic model" in printed


def test_errors_are_one_line_with_the_code_and_details_not_a_traceback(shell):
    scripted_calc(shell, "'unused'")
    error, printed = run(shell, "%%ask nobody\nHello?")
    assert isinstance(error, MagicError) and error.error.code == "AGENT_NOT_FOUND"
    assert "MastraError [AGENT_NOT_FOUND] No agent named `nobody`" in printed and '"registered": ["calc"]' in printed
    assert "%%agent NAME" in printed and "Traceback" not in printed
    error, printed = run(shell, "%%ask calc\n  \n")
    assert "needs a prompt" in printed
    error, printed = run(shell, "%%ask calc --bogus\nHi")
    assert "UsageError" in printed and "Traceback" not in printed


def test_a_failing_model_call_surfaces_as_one_line(shell):
    scripted_calc(shell, "'one'")
    ok(shell, "%%ask calc\nFirst.")
    error, printed = run(shell, "%%ask calc\nSecond.")  # the script has no reply left
    assert isinstance(error, MagicError) and "[SCRIPT_EXHAUSTED]" in printed and "Traceback" not in printed


@pytest.fixture
def interruptible() -> Iterator[None]:
    """SIGINT raises `KeyboardInterrupt` in this thread meanwhile, as in a kernel running a cell. A test run started
    as a background job (`make test &` in a script, some CI runners) inherits SIGINT ignored: there the stop button
    did nothing, the tool slept on and the agent finished."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_an_interrupt_stops_the_answer_cancels_its_work_and_leaves_the_agent_usable(shell, interruptible):
    ok(
        shell,
        """
import asyncio, os, signal
from mastra_nb import ScriptedModel, ScriptedReply, tool
cancelled = []

@tool
async def hang(seconds: float) -> str:
    "Wait, after pressing the kernel's stop button."
    os.kill(os.getpid(), signal.SIGINT)  # what the stop button does to a kernel, once the work is under way
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        await asyncio.sleep(1)  # winding down takes a while: longer than IPython takes to show the interrupt
        cancelled.append(True)
        raise
    return "done"

model = ScriptedModel([ScriptedReply.call("hang", seconds=60), "after the interrupt"])
""",
    )
    ok(shell, "%%agent waiter --model model --tools hang\nWait.")
    error, printed = run(shell, "%%ask waiter\nWait a minute.")
    assert isinstance(error, KeyboardInterrupt), f"not interrupted: {error!r}"
    assert "→ hang" in printed
    assert shell.user_ns["cancelled"] == [True]  # the cell ended once the cancelled tool had wound down
    assert ok(shell, "%%ask waiter\nAnd now?").text == "after the interrupt"


def test_work_interrupted_before_it_began_never_begins():
    # The interrupt lands after the work was scheduled but before it began (the private loop busy elsewhere): it
    # must not run on unseen once the loop is free.
    from mastra_nb._async import Work as _Work
    from mastra_nb._async import submit

    began: list[bool] = []
    release = threading.Event()

    async def work() -> None:
        began.append(True)

    async def busy() -> None:
        release.wait(10)  # holds the loop on purpose

    blocked = submit(busy())
    interrupted = _Work(work())
    interrupted.start()
    interrupted.stop()
    release.set()
    blocked.result(10)
    assert interrupted.future is not None
    with pytest.raises(concurrent.futures.CancelledError):
        interrupted.future.result(10)
    assert began == []


# -- %mastra ----------------------------------------------------------------------------------------------------


def test_overview_lists_components_and_recent_runs(shell):
    scripted_calc(shell, "'unused'")
    ok(shell, APPROVAL)
    ok(shell, "run_sync(gated.create_run().start(2))")
    view = ok(shell, "%mastra")
    html = view._repr_html_()
    for name in ("calc", "add", "gated", "suspended"):
        assert name in html
    assert html.count("<tr data-row>") == 4  # an agent, a tool, a workflow, a run
    assert "gated" in repr(view)


def test_runs_resume_and_graph_work_on_stored_runs(shell):
    ok(shell, APPROVAL)
    ok(shell, "first = run_sync(gated.create_run().start(2))\nsecond = run_sync(gated.create_run().start(5))")
    run_id = shell.user_ns["first"].run_id
    listed = ok(shell, "%mastra runs --status suspended --workflow gated")
    assert listed._repr_html_().count("<tr data-row>") == 2 and run_id in repr(listed)
    shown = ok(shell, f"%mastra resume {run_id}")  # the run's live graph above its resume form
    assert shown.run.status == "suspended" and "keep 4?" in shown._repr_html_()
    assert [step["path"] for step in shown.form.steps] == ["1"] and shown.graph.statuses["1"] == ["suspended", 1]
    assert "application/vnd.jupyter.widget-view+json" in shown._repr_mimebundle_()
    resumed, printed = run(shell, f"%mastra resume {run_id} --data '{{\"approved\": true}}'")
    assert resumed.status == "success" and resumed.output == 4
    assert f"Resuming run `{run_id}`" in printed and "✓ step `gate` at 1: success" in printed
    ok(shell, "decision = {'approved': False}")
    rejected = ok(shell, f"%mastra resume {shell.user_ns['second'].run_id} --data decision")
    assert rejected.output == 0
    graph = ok(shell, "%mastra graph gated --run last")
    assert graph.following == "run" and 'data-status="success"' in graph._repr_html_()
    latest = ok(shell, "%mastra graph gated")  # the same cell again: the widget it showed before is closed
    assert graph.closed and latest.following == "latest"
    bundle, _ = latest._repr_mimebundle_()
    assert "<svg" in bundle["text/html"] and "application/vnd.jupyter.widget-view+json" in bundle
    latest.close()
    shown.close()


def test_a_suspended_run_resumes_from_storage_in_a_new_hub(shell, tmp_path):
    ok(shell, APPROVAL)
    ok(shell, "waiting = run_sync(gated.create_run().start(3))")
    run_id = shell.user_ns["waiting"].run_id
    old = hub(shell)
    printed = run(shell, "%mastra reset")[1]
    assert "new, empty hub" in printed and hub(shell) is not old and not hub(shell).list_workflows()
    _, printed = run(shell, f"%mastra resume {run_id} --data '{{\"approved\": true}}'")
    assert "[WORKFLOW_NOT_FOUND]" in printed and "a restart forgets code, not runs" in printed
    ok(shell, APPROVAL)  # define it again, as after a restart
    resumed = ok(shell, f"%mastra resume {run_id} --data '{{\"approved\": true}}'")
    assert resumed.status == "success" and resumed.output == 6


def test_mastra_usage_errors(shell):
    for line, expected in [
        ("%mastra resume", "needs a run id: `%mastra resume RUN_ID`"),
        ("%mastra chat", "needs an agent: `%mastra chat AGENT`"),
        ("%mastra resume nope", "[RUN_NOT_FOUND]"),
        ("%mastra runs --status weird", "not a run status"),
        ("%mastra dance", "invalid choice"),
        ("%mastra rusn", "did you mean `runs`?"),
        ("%mastra runs --stauts failed", "did you mean `--status`?"),
        ("%mastra graph gated --rn last", "did you mean `--run`?"),
        ("%mastra graph missing", "[WORKFLOW_NOT_FOUND]"),
    ]:
        _, printed = run(shell, line)
        assert expected in printed and "Traceback" not in printed, (line, printed)


def test_chat_opens_the_chat_widget(shell):
    scripted_calc(shell, "'unused'")
    chat = ok(shell, "%mastra chat calc")
    assert chat.agent is hub(shell).get_agent("calc") and chat.messages == []
    chat.close()


def test_trace_opens_the_waterfall_of_the_latest_trace(shell):
    ok(shell, APPROVAL)
    ok(shell, "first = run_sync(gated.create_run().start(2))")
    waterfall = ok(shell, "%mastra trace last")
    assert waterfall.trace_id == shell.user_ns["first"].trace_id
    assert waterfall.spans[0]["kind"] == "workflow" and [r["name"] for r in waterfall.spans if r["kind"] == "step"]
    assert "<table" in waterfall._repr_html_()
    waterfall.close()


def test_help_text_describes_each_magic(shell):
    docs = {name: shell.find_magic(name, kind).__doc__ for name, kind in
            [("tool", "cell"), ("agent", "cell"), ("ask", "cell"), ("mastra", "line")]}  # fmt: skip
    assert "%%tool [--name NAME]" in docs["tool"] and "exactly" not in docs["tool"]
    assert "%%agent" in docs["agent"] and "--model" in docs["agent"] and "--tools" in docs["agent"]
    assert "{name}" in docs["ask"] and "--output" in docs["ask"] and "--as" in docs["ask"]
    assert "%mastra resume RUN_ID" in docs["mastra"] and "%mastra trace" in docs["mastra"]
    assert "widgets" in docs["mastra"]


def test_an_ask_is_one_trace_with_the_model_and_tool_spans_under_the_agent_span(shell):
    # The stream runs as one task, so the agent's open span is the parent of everything its steps do.
    scripted_calc(shell, "ScriptedReply.call('add', a=2, b=3)", "lambda m: 'The sum is ' + m[-1]['content'] + '.'")
    answer = ok(shell, "%%ask calc\nWhat is 2 + 3?")
    assert answer.trace_id is not None
    trace = run_sync_in(shell, f"await mastra.traces.get({answer.trace_id!r})")
    assert len(trace.roots) == 1
    root = trace.root
    assert (root.kind, root.name) == ("agent", "invoke_agent calc")
    assert [(child.kind, child.name) for child in root.children] == [
        ("model", "chat mastra/scripted"), ("tool", "execute_tool add"), ("model", "chat mastra/scripted"),
    ]  # fmt: skip
    assert {span.trace_id for span in trace.spans} == {answer.trace_id}
    waterfall = ok(shell, "%mastra trace last")
    assert waterfall.trace_id == answer.trace_id and [r["kind"] for r in waterfall.spans][:2] == ["agent", "model"]
    waterfall.close()


def test_iterate_runs_a_stream_as_one_task_pulled_item_by_item_and_cancels_it_when_left():
    import asyncio
    import contextvars

    from mastra_nb.notebook._sync import iterate

    var: contextvars.ContextVar[str] = contextvars.ContextVar("probe", default="unset")
    pulled: list[int] = []

    async def numbers():
        var.set("set by the stream")  # lost between items if each one were awaited in a task of its own
        for n in range(5):
            pulled.append(n)
            await asyncio.sleep(0)
            yield n, var.get()

    seen = []
    for item in iterate(numbers()):
        seen.append(item)
        if len(seen) == 2:
            assert pulled == [0, 1]  # the stream waits for the loop body: it never runs ahead
            break
    assert seen == [(0, "set by the stream"), (1, "set by the stream")]
    time.sleep(0.1)
    assert pulled == [0, 1]  # leaving the loop cancelled the task: nothing more was pulled

    async def failing():
        yield 1
        raise ValueError("broken")

    got = []
    with pytest.raises(ValueError, match="broken"):
        for item in iterate(failing()):
            got.append(item)
    assert got == [1]


# -- fuzzing the magics' arguments ------------------------------------------------------------------------------

_WORDS = st.sampled_from([
    "runs", "resume", "graph", "trace", "memory", "config", "chat", "last", "--status", "--workflow", "--limit",
    "--data", "--step", "--run", "--resource", "-1", "0", "1e9", "{", "}", '{"a": 1}', "'", '"', "$ne", "nothing",
])  # fmt: skip
_LINE_CHARS = st.characters(codec="utf-8", exclude_categories=("Cc", "Zl", "Zp"))  # one line, as a magic gets it
_TOKENS = st.one_of(_WORDS, st.text(_LINE_CHARS, max_size=8))


@settings(max_examples=120, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
@given(words=st.lists(_TOKENS, max_size=5))
def test_any_mastra_line_is_answered_or_refused_in_one_clear_line(shell: InteractiveShell, words: list[str]) -> None:
    line = " ".join(words)
    if line.split()[:1] == ["reset"]:
        return  # the one command that changes the hub; it has its own test
    error, printed = run(shell, f"%mastra {line}")
    if isinstance(error, BaseException):
        assert isinstance(error, (MagicError, UsageError)), (line, repr(error), printed)
        assert "Traceback" not in printed, (line, printed)


def test_a_workflow_no_cell_registered_runs_on_the_kernels_hub_and_is_listed(shell):
    ok(
        shell,
        "from mastra_nb import Step, Workflow\n"
        "loose = Workflow('loose').then(Step('ask', lambda d, ctx: ctx.suspend({'q': 1})))\n"
        "run = loose.create_run()\nresult = await run.start({})",
    )
    assert shell.user_ns["result"].status == "suspended"
    assert hub(shell).get_workflow("loose") is shell.user_ns["loose"]  # so `%mastra resume` can find it
    assert ok(shell, "[r.run_id for r in await mastra.runs.list(workflow='loose')]") == [shell.user_ns["run"].run_id]


def test_names_in_a_mastra_line_are_expanded_even_beside_json(shell):
    # IPython leaves `{run.run_id}` alone in a line that also holds JSON braces; the magic expands it itself
    ok(
        shell,
        "from mastra_nb import Step, Workflow\n"
        "def ask(d, ctx):\n"
        "    return {'ok': ctx.resume_data['approved']} if ctx.resume_data else ctx.suspend({'q': 1})\n"
        "gate = mastra.add_workflow(Workflow('gate').then(Step('ask', ask)))\n"
        "run3 = gate.create_run()\nawait run3.start({})",
    )
    result = ok(shell, """%mastra resume {run3.run_id} --data '{"approved": true}'""")
    assert result.status == "success" and result.output == {"ok": True}
    error, printed = run(shell, """%mastra resume {nothing.run_id} --data '{"approved": true}'""")
    assert (
        isinstance(error, MagicError) and "`{nothing.run_id}` was not expanded" in printed and "storage" not in printed
    )


def test_a_tool_without_hints_or_docstring_works_and_says_what_the_model_misses(shell):
    made, printed = run(shell, "%%tool\ndef add(a, b):\n    return a + b")
    assert isinstance(made, Tool) and made.id == "add"
    assert "`a`, `b` have no type hint" in printed and "no docstring" in printed
    _, printed = run(shell, ADD)  # hints and a docstring: nothing to say
    assert "model sees too little" not in printed


def test_trace_last_is_the_latest_trace_of_the_users_work_not_a_scorers(shell):
    # A scorer's judgement is a trace of its own written after the run it judged (as `run_evals` and attached
    # scorers do): `trace last` opens the run's trace, and the widget following the latest trace skips scorers'.
    scripted_calc(shell, "'4'", "'5'")
    answer = ok(shell, "%%ask calc\nWhat is 2 + 2?")
    score = "await sure.run({'input': 'q', 'output': '4'}, hub=mastra)\nawait mastra.telemetry.flush()"
    ok(shell, f"from mastra_nb.evals import Scorer\nsure = Scorer('sure', score=lambda run: 1.0)\n{score}")
    assert run_sync_in(shell, "(await mastra.traces.list(limit=1))[0].kind") == "scorer"
    waterfall = ok(shell, "%mastra trace last")
    assert waterfall.trace_id == answer.trace_id and waterfall.spans[0]["kind"] == "agent"
    ok(shell, f"{score}\nawait mastra.events.drain()")
    assert waterfall._wanted == answer.trace_id  # the scorer's trace written next is not followed
    second = ok(shell, "%%ask calc\nWhat is 2 + 3?")
    ok(shell, "await mastra.telemetry.flush()\nawait mastra.events.drain()")
    assert waterfall._wanted == second.trace_id  # the user's next run is
    waterfall.close()


def test_mcp_add_with_approve_marks_those_tools_and_refuses_a_tool_the_server_lacks(shell):
    from test_mcp import TIME_SERVER, _children

    command = " ".join([TIME_SERVER["command"], *TIME_SERVER["args"]])
    _, printed = run(shell, f"%mastra mcp add time --approve get_current_time -- {command}")
    assert "Calls of time_get_current_time wait for approval." in printed
    listed = repr(ok(shell, "%mastra mcp"))
    assert "time_get_current_time (approval)" in listed and "time_convert_time (approval)" not in listed
    error, _ = run(shell, f"%mastra mcp add clock --approve get_time -- {command}")  # a misspelt tool name
    assert isinstance(error, Exception) and "no tool `get_time`" in str(error) and "get_current_time" in str(error)
    assert "clock" not in repr(ok(shell, "%mastra mcp"))  # not added: nothing would have waited for a person
    ok(shell, "%mastra mcp remove time")
    assert _children("mcp-server-time") == []
