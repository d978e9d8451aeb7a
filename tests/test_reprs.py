"""The static rich displays: an SVG node per step with its status, a table row per step, cards that say what the
object is. The SVG is parsed as XML, so a display that would break a page fails here."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from pydantic import BaseModel

from mastra_nb import (
    Agent,
    InMemoryStore,
    Mastra,
    MastraConfig,
    ScriptedModel,
    ScriptedReply,
    StepContext,
    Workflow,
    step,
    tool,
)
from mastra_nb.display.html import esc, short
from mastra_nb.display.svg import graph_svg, node_statuses

SVG = "{http://www.w3.org/2000/svg}"


class Approval(BaseModel):
    approved: bool


@step
def start(n: int) -> int:
    return n


@step
def left(n: int) -> int:
    return n + 1


@step
def right(n: int) -> int:
    return n + 2


@step
def low(parts: dict) -> int:
    return sum(parts.values())


@step
def high(parts: dict) -> int:
    return -1


@step
def count(n: int) -> int:
    return n + 1


@step
def square(n: int) -> int:
    return n * n


@step(resume=Approval)
def gate(total: int, ctx: StepContext) -> int:
    """Wait for a person's approval of <the total>."""
    if ctx.resume_data is None:
        ctx.suspend({"question": f"approve {total}?"})
    return total


def is_low(parts: dict) -> bool:
    return sum(parts.values()) < 100


def is_high(parts: dict) -> bool:
    return not is_low(parts)


def make() -> tuple[Workflow, int]:
    """A workflow with every kind of node, and how many steps it has (nested ones included)."""
    inner = Workflow("inner", input=int, output=int).then(square).commit()
    workflow = (
        Workflow("everything", input=int, output=int, description="All the builder's constructs.")
        .then(start)
        .parallel([left, right])
        .branch([(is_low, low), (is_high, high)])
        .map(lambda taken: next(iter(taken.values())))
        .dountil(count, lambda n: n >= 9)
        .map(lambda n: [n, n + 1])
        .foreach(Workflow("each", input=int, output=int).then(Workflow("deep", input=int, output=int)
                                                          .then(step(id="twice")(lambda n: 2 * n)).commit()).commit())
        .map(lambda items: sum(items))
        .sleep(0)
        .then(inner)
        .then(gate)
        .commit()
    )  # fmt: skip
    return workflow, 9  # start, left, right, low, high, count, twice, square, gate


def svg_nodes(svg: str) -> list[ET.Element]:
    root = ET.fromstring(svg)
    return [g for g in root.iter(f"{SVG}g") if g.get("class") == "node"]


def hub() -> Mastra:
    return Mastra(storage=InMemoryStore(), config=MastraConfig.load(environ={}))


def test_the_graph_svg_has_a_node_per_step_with_its_path():
    workflow, steps = make()
    nodes = svg_nodes(graph_svg(workflow.graph()))
    step_nodes = [n for n in nodes if n.get("data-kind") == "step"]
    assert len(step_nodes) == steps
    assert [n.get("data-path") for n in step_nodes if n.get("data-step") in ("left", "right")] == ["1.0", "1.1"]
    assert {n.get("data-path") for n in step_nodes if n.get("data-step") in ("count", "twice", "square")} == {
        "4.*", "6.*.0.0", "9.0"}  # fmt: skip
    assert {n.get("data-kind") for n in nodes} == {"step", "map", "sleep"}
    assert all(n.get("data-status") == "" for n in nodes)  # no run: no statuses


def test_edges_and_frames_follow_the_graph():
    workflow, _ = make()
    graph = workflow.graph()
    root = ET.fromstring(graph_svg(graph))
    edges = [p for p in root.iter(f"{SVG}path") if p.get("class") == "edge"]
    assert len(edges) == len(graph.edges) == 15  # into parallel, branch, and back: 1x2 + 2x2 + 2x1, then 7 more
    frames = {g.get("data-kind") for g in root.iter(f"{SVG}g") if g.get("class") == "frame"}
    assert frames == {"parallel", "branch", "loop", "foreach", "workflow"}
    assert len([p for p in root.iter(f"{SVG}path") if p.get("class") == "loop"]) == 1


async def test_a_runs_graph_colours_each_step_by_its_status():
    workflow, _ = make()
    hub().add_workflow(workflow)
    run = workflow.create_run()
    result = await run.start(1)
    assert result.status == "suspended" and result.suspended == ["10"]
    nodes = {n.get("data-path"): n for n in svg_nodes(graph_svg(workflow.graph(), result.steps))}
    assert nodes["0"].get("data-status") == "success" and nodes["10"].get("data-status") == "suspended"
    assert nodes["2.1"].get("data-status") == ""  # the branch not taken
    counted = node_statuses(workflow.graph(), result.steps)
    assert counted["4.*"][0] == "success" and counted["4.*"][1] > 1  # iterations of the loop share a node
    assert "\u00d7" in nodes["4.*"].find(f"{SVG}text").text  # the loop ran several times
    html = run._repr_html_()
    assert "approve" in html and "resume schema" in html and f"%mastra resume {run.run_id}" in html
    assert ET.fromstring(re.search(r"<svg.*?</svg>", html, re.S).group(0)) is not None


async def test_the_run_table_has_a_row_per_step():
    workflow, _ = make()
    hub().add_workflow(workflow)
    result = await workflow.create_run().start(1)
    html = result._repr_html_()
    rows = re.search(r'<table data-table="steps".*?</table>', html, re.S).group(0)
    assert rows.count("<tr data-row>") == len(result.steps) > 9
    assert all("<code" in rows and path in rows for path in result.steps)


async def test_a_failed_run_shows_the_error_and_a_successful_one_its_output():
    @step
    def boom(n: int) -> int:
        raise ValueError("no <good>")

    failing = Workflow("failing", input=int, output=int).then(boom).commit()
    hub().add_workflow(failing)
    result = await failing.create_run().start(1)
    html = result._repr_html_()
    assert "STEP_FAILED" in html and "no &lt;good&gt;" in html and "<good>" not in html
    fine = Workflow("fine", input=int, output=int).then(start).commit()
    hub().add_workflow(fine)
    assert "output" in (await fine.create_run().start(7))._repr_html_()


def test_the_workflow_mimebundle_has_html_and_a_standalone_svg():
    workflow, steps = make()
    bundle = workflow._repr_mimebundle_()
    assert set(bundle) == {"text/html", "image/svg+xml", "text/plain"}
    assert len([n for n in svg_nodes(bundle["image/svg+xml"]) if n.get("data-kind") == "step"]) == steps
    assert "All the builder" in bundle["text/html"] and f"{steps} step(s)" in bundle["text/html"]


def test_a_tool_card_shows_parameters_and_schema():
    @tool
    def lookup(city: str, days: int = 1) -> dict:
        """Look a city up.

        Args:
            city: the <city>.
            days: how many days.
        """
        return {}

    html = lookup._repr_html_()
    rows = re.search(r'<table data-table="parameters".*?</table>', html, re.S).group(0)
    assert rows.count("<tr data-row>") == 2 and "the &lt;city&gt;." in rows and "integer" in rows
    assert "JSON schema" in html and "Look a city up." in html


async def test_an_agent_card_and_an_answer_card_say_what_they_are():
    @tool
    def add(a: int, b: int) -> int:
        """Add."""
        return a + b

    model = ScriptedModel([ScriptedReply.call("add", a=1, b=2), "It is <3>."])
    agent = Agent("calc", "You add.", model, tools=[add])
    html = agent._repr_html_()
    assert "calc" in html and "mastra/scripted" in html and "You add." in html and "ScriptedModel" in html
    assert re.search(r'<table data-table="tools".*?</table>', html, re.S).group(0).count("<tr data-row>") == 1
    answer = await agent.generate("1 + 2?")
    html = answer._repr_html_()
    assert "It is &lt;3&gt;." in html and "ScriptedModel" in html
    calls = re.search(r'<table data-table="tool-calls".*?</table>', html, re.S).group(0)
    assert calls.count("<tr data-row>") == 1 and "add" in calls and ">3<" in calls


def test_the_hub_card_lists_its_components():
    h = Mastra(storage=InMemoryStore(), agents=[Agent("a", "A.")], tools=[tool(lambda x: x, id="ident")])
    html = h._repr_html_()
    assert "ident" in html and "Agents" in html and "Recent runs" not in html


@pytest.mark.parametrize(("value", "expected"), [("a\n  b", "a b"), (0.1 + 0.2, "0.3"), ({"k": [1]}, '{"k": [1]}')])
def test_short_values(value, expected):
    assert short(value) == expected
    assert len(short("x" * 500, 50)) == 50 and esc("<&>") == "&lt;&amp;&gt;"


def test_rendering_imports_no_ipython():
    code = """
import asyncio, json, sys
sys.path.insert(0, "tests")
from test_reprs import make, hub
workflow, _ = make()
hub().add_workflow(workflow)
result = asyncio.run(workflow.create_run().start(1))
html = workflow._repr_mimebundle_()["text/html"] + result._repr_html_()
print(json.dumps([m for m in ("IPython", "ipywidgets") if m in sys.modules]))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
