"""Random workflow shapes for the property suite (`test_run_properties.py`): the shape language, the builder that
turns a shape into a real `Workflow`, a plain sequential reference interpreter of the same shape, and a worker CLI
that runs commands on the shape's runs in a process of its own, so that a test can SIGKILL it at any moment.

    python tests/fault_app.py DB_PATH LOG_PATH SHAPE_PATH

The worker reads one JSON command per line on stdin and answers each with one JSON line on stdout:

    {"op": "start", "run_id": ID, "input": N, "durability": MODE}  -> {"result": RESULT} or {"error": ERROR}
    {"op": "resume", "run_id": ID, "path": P, "data": D}           -> the same; the run is loaded afresh
    {"op": "recover"}                                              -> {"found": [ID...], "results": [RESULT...]}
    {"op": "stored", "run_id": ID}                                 -> {"run": ROW, "steps": [ROW...]}

A shape is JSON: a list of nodes, each one of

    {"t": "then", "u": UNIT}                     {"t": "par", "us": [UNIT, ...]}
    {"t": "branch", "bs": [[[k, r], UNIT], ...]}  (the branch is taken when norm(data) % k == r)
    {"t": "loop", "until": BOOL, "u": UNIT}      (dountil norm % 3 == 0 / dowhile norm % 3 != 2)
    {"t": "foreach", "n": N, "conc": C, "u": UNIT}  (a map to [norm + 0, ..., norm + N-1], then foreach)
    {"t": "sleep", "s": SECONDS}

and a UNIT is a step `{"t": "step", "id": "s3", "c": 4, "gate": BOOL}` or a nested workflow
`{"t": "wf", "id": "w1", "nodes": [...]}`. Every step maps its input to `norm(input) + c`; a gate suspends when
it has no resume data and then gives `norm(input) + resume["v"]`. Step increments and resume values are all
1 modulo 3, so every loop ends within three iterations.

Each step function appends `<step id> <path> <run id>` to LOG_PATH when it begins, and the same line to
LOG_PATH + ".done" when it returns, so a test counts executions per run and path across processes.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from mastra_nb import DuckDBStore, Mastra, MastraConfig, MastraError, RunResult, Step, Workflow
from mastra_nb.workflows import StepContext

LOG_PATH: Path | None = None  # where steps log their executions; set by `configure`
STEP_DELAY = 0.0  # seconds each step awaits (a worker process waits longer, so that kills land mid-run)
WORKFLOW_ID = "root"


def configure(log_path: Path | None, step_delay: float = 0.0) -> None:
    global LOG_PATH, STEP_DELAY
    LOG_PATH, STEP_DELAY = log_path, step_delay


def _log(path: Path, line: str) -> None:
    with open(path, "a") as out:  # append mode: one write per line, so lines of several processes never mix
        out.write(line + "\n")


# -- the data: ints, dicts of ints and lists of ints ----------------------------------------------------------


def norm(value: Any) -> int:
    """An int from any value a step of these shapes produces (a parallel's dict, a foreach's list)."""
    if isinstance(value, bool) or value is None:
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, dict):
        return sum(norm(v) for v in value.values())
    if isinstance(value, list):
        return sum(norm(v) for v in value)
    raise TypeError(f"unexpected value {value!r}")


def resume_value(path: str) -> dict[str, int]:
    """The data a test resumes the gate at `path` with: 1, 4 or 7 (1 modulo 3, so loops still end)."""
    return {"v": 1 + 3 * (sum(int(part) for part in path.split(".")) % 3)}


# -- shapes ---------------------------------------------------------------------------------------------------


def number(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give every step (`s0`, `s1`, ...) and nested workflow (`w0`, ...) of a shape its id, in order."""
    counters = {"s": 0, "w": 0}

    def unit(u: dict[str, Any]) -> None:
        prefix = "s" if u["t"] == "step" else "w"
        u["id"] = f"{prefix}{counters[prefix]}"
        counters[prefix] += 1
        if u["t"] == "wf":
            seq(u["nodes"])

    def seq(ns: list[dict[str, Any]]) -> None:
        for n in ns:
            for u in units_of(n):
                unit(u)

    seq(nodes)
    return nodes


def units_of(node: dict[str, Any]) -> list[dict[str, Any]]:
    t = node["t"]
    if t in ("then", "loop", "foreach"):
        return [node["u"]]
    if t == "par":
        return list(node["us"])
    if t == "branch":
        return [u for _, u in node["bs"]]
    return []


def width(nodes: list[dict[str, Any]]) -> int:
    """How many steps of a shape can be between returning and being recorded at the same time."""

    def unit(u: dict[str, Any]) -> int:
        return 1 if u["t"] == "step" else width(u["nodes"])

    def node(n: dict[str, Any]) -> int:
        t = n["t"]
        if t in ("then", "loop"):
            return unit(n["u"])
        if t == "par":
            return sum(unit(u) for u in n["us"])
        if t == "branch":
            return sum(unit(u) for _, u in n["bs"])
        if t == "foreach":
            return min(n["conc"], n["n"]) * unit(n["u"])
        return 0

    return max([1, *(node(n) for n in nodes)])


def steps_of(nodes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every step of a shape by id."""
    found: dict[str, dict[str, Any]] = {}
    for n in nodes:
        for u in units_of(n):
            if u["t"] == "step":
                found[u["id"]] = u
            else:
                found.update(steps_of(u["nodes"]))
    return found


def describe(nodes: list[dict[str, Any]]) -> str:
    """A shape in one line, for failure messages."""

    def unit(u: dict[str, Any]) -> str:
        if u["t"] == "step":
            return f"{u['id']}{'?' if u['gate'] else ''}+{u['c']}"
        return f"{u['id']}[{describe(u['nodes'])}]"

    def node(n: dict[str, Any]) -> str:
        t = n["t"]
        if t == "then":
            return unit(n["u"])
        if t == "par":
            return "par(" + ", ".join(unit(u) for u in n["us"]) + ")"
        if t == "branch":
            return "branch(" + ", ".join(f"%{k}=={r}:{unit(u)}" for (k, r), u in n["bs"]) + ")"
        if t == "loop":
            return f"{'dountil' if n['until'] else 'dowhile'}({unit(n['u'])})"
        if t == "foreach":
            return f"foreach{n['n']}x{n['conc']}({unit(n['u'])})"
        return f"sleep({n['s']})"

    return " -> ".join(node(n) for n in nodes)


# -- the reference interpreter --------------------------------------------------------------------------------


def reference(nodes: list[dict[str, Any]], data: Any, prefix: str = "") -> Any:
    """What a run of the shape outputs from `data`, every gate resumed with `resume_value(path)`."""
    index = 0
    for n in nodes:
        t = n["t"]
        if t == "foreach":  # the map that makes the list is a node of its own
            data = [norm(data) + i for i in range(n["n"])]
            index += 1
            path = f"{prefix}{index}"
            data = [_reference_unit(n["u"], item, f"{path}.{i}") for i, item in enumerate(data)]
        else:
            path = f"{prefix}{index}"
            if t == "then":
                data = _reference_unit(n["u"], data, path)
            elif t == "par":
                data = {u["id"]: _reference_unit(u, data, f"{path}.{i}") for i, u in enumerate(n["us"])}
            elif t == "branch":
                data = {
                    u["id"]: _reference_unit(u, data, f"{path}.{i}")
                    for i, ((k, r), u) in enumerate(n["bs"])
                    if norm(data) % k == r
                }
            elif t == "loop":
                iteration = 0
                while True:
                    data = _reference_unit(n["u"], data, f"{path}.{iteration}")
                    iteration += 1
                    if norm(data) % 3 == (0 if n["until"] else 2):  # dountil's condition holds, dowhile's not
                        break
        index += 1
    return data


def _reference_unit(u: dict[str, Any], data: Any, path: str) -> Any:
    if u["t"] == "wf":
        return reference(u["nodes"], data, f"{path}.")
    if u["gate"]:
        return norm(data) + resume_value(path)["v"]
    return norm(data) + u["c"]


# -- the builder ----------------------------------------------------------------------------------------------


def build(nodes: list[dict[str, Any]], workflow_id: str = WORKFLOW_ID, durability: str = "batched") -> Workflow:
    """The real workflow of a shape (fresh step objects each time)."""
    workflow = Workflow(workflow_id, durability=durability)  # type: ignore[arg-type]
    for n in nodes:
        t = n["t"]
        if t == "then":
            workflow.then(_unit(n["u"]))
        elif t == "par":
            workflow.parallel([_unit(u) for u in n["us"]])
        elif t == "branch":
            workflow.branch([(_condition(k, r), _unit(u)) for (k, r), u in n["bs"]])
        elif t == "loop":
            if n["until"]:
                workflow.dountil(_unit(n["u"]), lambda data: norm(data) % 3 == 0)
            else:
                workflow.dowhile(_unit(n["u"]), lambda data: norm(data) % 3 != 2)
        elif t == "foreach":
            count = n["n"]
            workflow.map(lambda data, count=count: [norm(data) + i for i in range(count)])
            workflow.foreach(_unit(n["u"]), concurrency=n["conc"])
        else:
            workflow.sleep(n["s"])
    return workflow.commit()


def _condition(k: int, r: int) -> Any:
    return lambda data: norm(data) % k == r


def _unit(u: dict[str, Any]) -> Step | Workflow:
    if u["t"] == "wf":
        return build(u["nodes"], u["id"])
    step_id, increment, gate = u["id"], u["c"], u["gate"]

    async def execute(data: Any, ctx: StepContext) -> int:
        line = f"{step_id} {ctx.path} {ctx.run_id}"
        if LOG_PATH is not None:
            _log(LOG_PATH, line)
        if STEP_DELAY:
            await asyncio.sleep(STEP_DELAY)
        else:
            await asyncio.sleep(0)  # a real await: concurrent branches and runs interleave
        if gate:
            if ctx.resume_data is None:
                ctx.suspend({"path": ctx.path})
            output = norm(data) + ctx.resume_data["v"]
        else:
            output = norm(data) + increment
        if LOG_PATH is not None:
            _log(Path(f"{LOG_PATH}.done"), line)
        return output

    return Step(step_id, execute)


# -- reading the logs ------------------------------------------------------------------------------------------


def executions(log_path: Path, suffix: str = "") -> dict[tuple[str, str], int]:
    """How many times each (run id, path) began (or, with suffix ".done", returned), from the log."""
    path = Path(f"{log_path}{suffix}")
    counts: dict[tuple[str, str], int] = {}
    for line in path.read_text().splitlines() if path.exists() else ():
        _, where, run_id = line.split()
        counts[(run_id, where)] = counts.get((run_id, where), 0) + 1
    return counts


# -- the worker -----------------------------------------------------------------------------------------------


def result_json(result: RunResult) -> dict[str, Any]:
    return {
        "run_id": result.run_id, "status": result.status, "output": result.output, "suspended": result.suspended,
        "error": result.error.to_dict() if result.error is not None else None,
        "steps": {p: {"step_id": s.step_id, "status": s.status, "output": s.output} for p, s in result.steps.items()},
    }  # fmt: skip


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}


async def _answer(hub: Mastra, workflow: Workflow, command: dict[str, Any]) -> dict[str, Any]:
    op = command["op"]
    try:
        if op == "start":
            run = workflow.create_run(run_id=command["run_id"], durability=command["durability"])
            return {"result": result_json(await run.start(command["input"]))}
        if op == "resume":
            run = await workflow.get_run(command["run_id"])
            return {"result": result_json(await run.resume(command["data"], step=command["path"]))}
        if op == "recover":
            runs = await hub.list_active_runs()
            results = [result_json(await run.restart()) for run in runs]
            return {"found": [run.run_id for run in runs], "results": results}
        if op == "stored":
            rows = await hub.storage.select("workflow_runs", where={"run_id": command["run_id"]})
            steps = await hub.storage.select("workflow_steps", where={"run_id": command["run_id"]}, order_by="seq")
            return {"run": _plain(rows[0]) if rows else None, "steps": [_plain(s) for s in steps]}
    except MastraError as error:
        return {"error": error.to_dict()}
    raise ValueError(f"unknown op {op!r}")


async def main(argv: list[str]) -> None:
    db, log, shape_path = argv
    configure(Path(log), float(os.environ.get("FAULT_STEP_DELAY", "0.01")))
    shape = json.loads(Path(shape_path).read_text())
    workflow = build(shape)
    hub = Mastra(storage=DuckDBStore(db), config=MastraConfig.load(environ={}), workflows=[workflow])
    loop = asyncio.get_running_loop()
    try:
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line.strip():
                break
            answer = await _answer(hub, workflow, json.loads(line))
            sys.stdout.write(json.dumps(answer, default=str) + "\n")
            sys.stdout.flush()
    finally:
        await hub.storage.close()
        await hub.shutdown()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
