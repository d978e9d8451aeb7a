"""Properties of workflow runs over generated shapes, interleavings and crashes (hypothesis).

Shapes come from `fault_app.py`'s small language: then, parallel, branch, dowhile/dountil, foreach (concurrency
1-4), nested workflows, sleeps, and gate steps that suspend until resumed. A plain sequential reference interpreter
of the same shape says what a run must output. On a real store (a DuckDB file under `tmp_path`, or an
`InMemoryStore`) and in every durability mode, a case starts runs and applies a random sequence of operations:
resumes from the same object, a fresh one or a stale one, two resumes at once (two objects, or one object clicked
twice), cancels (of a suspended run, or mid-flight), interrupts (the caller's task canceled, which leaves the run
`running` like a crash) and restarts, time travel. The kill test runs the same shapes in a worker process
(`fault_app.py`) and SIGKILLs it at random moments, then recovers in a fresh process.

After every operation: each run is terminal or suspended and never failed (nothing in these shapes can fail); a
successful run's output is the reference's; the stored run row and journal agree with the result; the stored
status never goes backwards (a poller watches `workflow_runs` while operations run); `list_active_runs` gives
exactly the runs left running; no step ran more often than allowed (once, a gate twice, plus one per crash that
caught it unrecorded; in strict mode a crash can catch at most as many finished-but-unrecorded steps as can run at
once). Of two concurrent resumes of one suspended step exactly one wins; the loser gets `RUN_NOT_SUSPENDED` or
`RUN_CONFLICT` naming the run and its stored status, and the step's side effect runs once.

`pytest --soak=SECONDS` runs the properties with fresh random seeds for about that long; `-s` prints the figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import inspect
import json
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fault_app as fa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import HypothesisException

from mastra_nb import DuckDBStore, InMemoryStore, Mastra, MastraConfig, MastraError, RunResult, Workflow
from mastra_nb.storage.base import Storage
from mastra_nb.workflows import Run

ROOT = Path(__file__).resolve().parents[1]
APP = Path(__file__).with_name("fault_app.py")
TERMINAL = ("success", "failed", "canceled")
LOSER_CODES = ("RUN_NOT_SUSPENDED", "RUN_CONFLICT")
OP_TIMEOUT = 30.0  # seconds any one operation may take; a healthy one takes milliseconds

# The figures a run of this suite reports (`-s` prints them): cases, operations, kills, violations found.
STATS: Counter[str] = Counter()
FAILURES: list[str] = []  # the first line of each distinct violation seen (during generation and shrinking)


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    started = time.monotonic()
    yield
    figures = ", ".join(f"{key}={STATS[key]}" for key in sorted({*STATS, "violations"}))
    print(f"\n[run properties] {figures}; {time.monotonic() - started:.1f} s")
    for line in FAILURES:
        print(f"[run properties] violation: {line}")


@pytest.fixture
def soak(request: pytest.FixtureRequest) -> float:
    """Seconds to soak for (`--soak=SECONDS`), 0 for the default fixed budget."""
    try:
        return float(request.config.getoption("--soak"))
    except ValueError:
        return 0.0


def run_property(test: Callable[..., None], strategies: dict[str, Any], examples: int, soak_seconds: float) -> None:
    """Run `test` over `strategies`: `examples` reproducible examples, or, soaking, fresh seeds until the time is
    up."""
    checks = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture]
    if soak_seconds <= 0:
        chosen = settings(
            max_examples=examples, deadline=None, derandomize=True, database=None, suppress_health_check=checks
        )
        given(**strategies)(chosen(test))()
        return
    ends = time.monotonic() + soak_seconds
    while time.monotonic() < ends:
        chosen = settings(
            max_examples=examples, deadline=None, derandomize=False, database=None, suppress_health_check=checks
        )
        given(**strategies)(chosen(_fresh(test)))()


def _fresh(test: Callable[..., None]) -> Callable[..., None]:
    """A new function object calling `test` (hypothesis decorates a function once)."""

    def call(*args: Any, **kwargs: Any) -> None:
        test(*args, **kwargs)

    call.__signature__ = inspect.signature(test)  # type: ignore[attr-defined]
    return call


def violation(message: str) -> None:
    STATS["violations"] += 1
    first = re.sub(r"\b(r\d-[0-9a-f]{6}|k-[0-9a-f]{8}|[0-9a-f]{32})\b", "<run>", message.splitlines()[0])[:300]
    if first not in FAILURES:
        FAILURES.append(first)
    raise AssertionError(message)


def check(condition: Any, message: str) -> None:
    if not condition:
        violation(message)


class Chooser:
    """The choices a case makes as it goes (which run, which path, how long to wait), taken from numbers drawn up
    front: what hypothesis draws never depends on timing, so a replay draws the same and shrinking works (towards
    the first option of each choice)."""

    def __init__(self, numbers: list[int]) -> None:
        self.numbers = numbers
        self.used = 0

    def pick(self, options: Any) -> Any:
        options = list(options)
        number = self.numbers[self.used] if self.used < len(self.numbers) else 0
        self.used += 1
        return options[number % len(options)]


CHOICES = st.lists(st.integers(0, 63), min_size=0, max_size=48)


# -- shapes ---------------------------------------------------------------------------------------------------

_gate = st.sampled_from([False, True, False, True, False])
_increment = st.sampled_from([1, 4, 7])
_condition = st.sampled_from([[1, 0], [2, 0], [2, 1], [3, 0], [3, 1], [3, 2]])


def _step() -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(lambda c, g: {"t": "step", "c": c, "gate": g}, _increment, _gate)


def _loop_unit(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    """A loop body adds 1 modulo 3: a step, or a nested workflow of one step."""
    if depth <= 0:
        return _step()
    return st.one_of(_step(), _step().map(lambda s: {"t": "wf", "nodes": [{"t": "then", "u": s}]}))


def _unit(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    if depth <= 0:
        return _step()
    return st.one_of(_step(), _step(), _nodes(depth - 1).map(lambda ns: {"t": "wf", "nodes": ns}))


def _node(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    unit = _unit(depth)
    return st.one_of(
        unit.map(lambda u: {"t": "then", "u": u}),
        st.lists(unit, min_size=2, max_size=3).map(lambda us: {"t": "par", "us": us}),
        st.lists(st.tuples(_condition, unit).map(list), min_size=2, max_size=3).map(
            lambda bs: {"t": "branch", "bs": bs}
        ),
        st.builds(lambda until, u: {"t": "loop", "until": until, "u": u}, st.booleans(), _loop_unit(depth)),
        st.builds(
            lambda n, conc, u: {"t": "foreach", "n": n, "conc": conc, "u": u},
            st.integers(1, 3),
            st.integers(1, 4),
            unit,
        ),
        st.sampled_from([0.0, 0.002]).map(lambda s: {"t": "sleep", "s": s}),
    )


def _nodes(depth: int) -> st.SearchStrategy[list[dict[str, Any]]]:
    return st.lists(_node(depth), min_size=1, max_size=4 if depth > 0 else 2)


SHAPES = _nodes(2).map(lambda ns: fa.number(copy.deepcopy(ns)))


# -- reading storage --------------------------------------------------------------------------------------------


async def stored_run(storage: Storage, run_id: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    rows = await storage.select("workflow_runs", where={"run_id": run_id})
    steps = await storage.select("workflow_steps", where={"run_id": run_id}, order_by="position")
    return (rows[0] if rows else None), steps


def journal_agrees(result: RunResult, row: dict[str, Any] | None, steps: list[dict[str, Any]]) -> str | None:
    """Why the stored row and journal disagree with `result`, or None when they agree."""
    if row is None:
        return "no run row is stored"
    if row["status"] != result.status:
        return f"stored status `{row['status']}` but the result says `{result.status}`"
    if result.status == "success" and row["output"] != result.output:
        return f"stored output {row['output']!r} but the result says {result.output!r}"
    mine = {p: (s.step_id, s.status, s.output) for p, s in result.steps.items()}
    theirs = {
        s["position"]: (s["step_id"], s["status"], s["output"]) for s in steps if not s["step_id"].startswith("@")
    }
    if mine != theirs:
        only_result = {p: v for p, v in mine.items() if theirs.get(p) != v}
        only_stored = {p: v for p, v in theirs.items() if mine.get(p) != v}
        return f"journal differs: result has {only_result}, storage has {only_stored}"
    return None


_ALLOWED_NEXT = {
    "running": {"running", "suspended", "success", "failed", "canceled"},
    # a resumed run's row says suspended until its first batch, which may be its last
    "suspended": {"suspended", "running", "canceled", "success", "failed"},
    "success": {"success"},
    "failed": {"failed"},
    "canceled": {"canceled"},
}


class StatusWatch:
    """Every stored status seen per run, in order; a transition that goes backwards is a violation."""

    def __init__(self, context: Callable[[], str]) -> None:
        self.seen: dict[str, list[str]] = {}
        self.context = context

    def see(self, run_id: str, status: str) -> None:
        seq = self.seen.setdefault(run_id, [])
        if seq and seq[-1] != status and status not in _ALLOWED_NEXT.get(seq[-1], set()):
            violation(
                f"stored status went backwards: run {run_id} was `{seq[-1]}`, then `{status}` "
                f"(statuses seen: {[*seq, status]})\n{self.context()}"
            )
        if not seq or seq[-1] != status:
            seq.append(status)

    async def poll(self, storage: Storage, run_ids: Callable[[], list[str]]) -> None:
        while True:
            for row in await storage.select("workflow_runs"):
                if row["run_id"] in run_ids():
                    self.see(row["run_id"], row["status"])
            await asyncio.sleep(0.002)


# -- counting executions -----------------------------------------------------------------------------------------


def read_log(path: Path, start: int = 0) -> list[tuple[str, str, str]]:
    """(step id, path, run id) of each line of a step log from byte `start`."""
    if not path.exists():
        return []
    with open(path) as f:
        f.seek(start)
        return [tuple(line.split()) for line in f.read().splitlines()]  # type: ignore[misc]


def log_size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def count_lines(lines: list[tuple[str, str, str]]) -> Counter[tuple[str, str]]:
    return Counter((run_id, where) for _, where, run_id in lines)


def check_executions(
    log: Path, gates: set[str], extra: dict[str, Counter[str]], context: str, run_ids: set[str] | None = None
) -> None:
    """No (run, path) began more than once (a gate: twice) plus its crash allowance."""
    gate_of: dict[tuple[str, str], bool] = {}
    for step_id, where, run_id in read_log(log):
        gate_of[(run_id, where)] = step_id in gates
    for (run_id, where), n in count_lines(read_log(log)).items():
        if run_ids is not None and run_id not in run_ids:
            continue
        allowed = (2 if gate_of[(run_id, where)] else 1) + extra.get(run_id, Counter())[where]
        if n > allowed:
            violation(
                f"step at `{where}` of run {run_id} ran {n} times, at most {allowed} allowed "
                f"({'a gate' if gate_of[(run_id, where)] else 'a step'}, crash allowance "
                f"{extra.get(run_id, Counter())[where]})\n{context}"
            )


# -- in-process cases ------------------------------------------------------------------------------------------


@dataclass
class Handle:
    """A `Run` object and the count of the run's transitions when it was loaded (older means stale)."""

    run: Run
    at: int


@dataclass
class Tracked:
    run_id: str
    input: int
    expected: Any
    current: Handle | None  # the object that made the last transition (None: unreachable, a `none` fork)
    fork: bool = False
    pool: list[Handle] = field(default_factory=list)  # other objects, maybe stale
    status: str = "pending"
    suspended: list[str] = field(default_factory=list)
    canceled: bool = False  # we asked for it
    left_running: bool = False  # interrupted: the object says running
    transitions: int = 0


class World:
    """One case: a store, a workflow built from a shape, its runs, and the checks."""

    def __init__(self, kind: str, durability: str, shape: list[dict[str, Any]], folder: Path, choose: Chooser) -> None:
        self.kind, self.durability, self.shape, self.choose = kind, durability, shape, choose
        self.log = folder / "steps.log"
        fa.configure(self.log)
        self.storage: Storage = DuckDBStore(folder / "runs.duckdb") if kind == "duckdb" else InMemoryStore()
        self.workflow: Workflow = fa.build(shape)
        self.hub = Mastra(storage=self.storage, config=MastraConfig.load(environ={}), workflows=[self.workflow])
        self.gates = {sid for sid, s in fa.steps_of(shape).items() if s["gate"]}
        self.leaves = set(fa.steps_of(shape))
        self.runs: dict[str, Tracked] = {}
        self.extra: dict[str, Counter[str]] = {}
        self.trace: list[str] = []
        self.watch = StatusWatch(self.context)

    def context(self) -> str:
        return (
            f"store={self.kind} durability={self.durability} shape: {fa.describe(self.shape)}\n"
            f"operations: {'; '.join(self.trace)}"
        )

    @property
    def stored_mode(self) -> bool:
        return self.durability != "none"

    async def close(self) -> None:
        await self.storage.close()
        await self.hub.shutdown()

    # -- running an operation under watch ---------------------------------------------------------------------

    async def watched(self, awaitable: Any, interrupted: bool = False) -> Any:
        """Await an operation while a poller watches the stored statuses. A `CancelledError` out of an operation
        nobody interrupted is a finding (a `cancel()` must end the run canceled, not raise in its caller)."""
        poller = asyncio.ensure_future(self.watch.poll(self.storage, lambda: list(self.runs)))
        try:
            return await asyncio.wait_for(awaitable, OP_TIMEOUT)
        except asyncio.TimeoutError:
            violation(f"an operation hung for {OP_TIMEOUT} s\n{self.context()}")
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if interrupted or (task is not None and task.cancelling()):
                raise
            violation(f"CancelledError escaped from an operation nobody interrupted\n{self.context()}")
        finally:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller

    async def after_op(self) -> None:
        """The checks every operation ends with."""
        STATS["interleavings"] += 1
        rows = await self.storage.select("workflow_runs")
        ours = [row for row in rows if row["run_id"] in self.runs]
        for row in ours:
            self.watch.see(row["run_id"], row["status"])
        # exactly the runs left running are active, and only runs we interrupted are left running
        active = sorted(r.run_id for r in await self.hub.list_active_runs())
        running = sorted(row["run_id"] for row in ours if row["status"] == "running")
        check(active == running, f"list_active_runs gave {active}, stored running: {running}\n{self.context()}")
        stray = [rid for rid in running if not self.runs[rid].left_running]
        check(
            not stray, f"runs {stray} are stored `running` though no operation on them was cut short\n{self.context()}"
        )
        check_executions(self.log, self.gates, self.extra, self.context())

    async def check_result(self, t: Tracked, result: RunResult, via: str) -> None:
        self.trace.append(f"{via} -> {result.status}{result.suspended if result.suspended else ''}")
        check(
            result.status in ("success", "suspended", "canceled"),
            f"{via}: run {t.run_id} ended `{result.status}`: "
            f"{result.error.code + ': ' + result.error.message if result.error else ''}\n{self.context()}",
        )
        if result.status == "canceled":
            check(t.canceled, f"{via}: run {t.run_id} ended canceled but nobody canceled it\n{self.context()}")
        if result.status == "success":
            check(
                result.output == t.expected,
                f"{via}: run {t.run_id} output {result.output!r}, the reference says {t.expected!r}\n{self.context()}",
            )
        if result.status == "suspended":
            check(
                result.suspended and all(result.steps[p].status == "suspended" for p in result.suspended),
                f"{via}: suspended at {result.suspended} but those steps are not suspended\n{self.context()}",
            )
        if self.stored_mode:
            row, steps = await stored_run(self.storage, t.run_id)
            why = journal_agrees(result, row, steps)
            check(why is None, f"{via}: storage disagrees with the result of run {t.run_id}: {why}\n{self.context()}")
        t.status, t.suspended, t.left_running = result.status, list(result.suspended), False
        t.transitions += 1

    def expect_loser(self, error: BaseException, t: Tracked, via: str) -> None:
        if not isinstance(error, MastraError):
            violation(f"{via}: the losing call raised {type(error).__name__}: {error}\n{self.context()}")
        assert isinstance(error, MastraError)
        check(
            error.code in LOSER_CODES,
            f"{via}: the losing call of run {t.run_id} raised `{error.code}` ({error.message}), expected one of "
            f"{LOSER_CODES}\n{self.context()}",
        )
        check(
            error.details.get("run_id") == t.run_id and "status" in error.details,
            f"{via}: the loser's error does not name the run and its stored status: {error.details}\n{self.context()}",
        )

    async def snapshot(self, run_id: str) -> Any:
        row, steps = await stored_run(self.storage, run_id)
        return row, steps

    # -- the operations ------------------------------------------------------------------------------------------

    async def start(self, inputs: list[int], interrupt: float | None) -> None:
        tracked = []
        for i, value in enumerate(inputs):
            run = self.workflow.create_run(run_id=f"r{i}-{os.urandom(3).hex()}", durability=self.durability)
            t = Tracked(run.run_id, value, fa.reference(self.shape, value), Handle(run, 0))
            self.runs[t.run_id] = t
            tracked.append(t)
        self.trace.append(f"start {len(inputs)} run(s){' interrupted' if interrupt is not None else ''}")
        if interrupt is not None and len(tracked) == 1:
            await self.interrupt(tracked[0], tracked[0].current.run.start(inputs[0]), interrupt, "start")  # type: ignore[union-attr]
            return
        results = await self.watched(
            asyncio.gather(*(t.current.run.start(t.input) for t in tracked), return_exceptions=True)  # type: ignore[union-attr]
        )
        for t, result in zip(tracked, results, strict=True):
            if isinstance(result, BaseException):
                violation(f"start of run {t.run_id} raised {type(result).__name__}: {result}\n{self.context()}")
            await self.check_result(t, result, "start")

    def pick_path(self, paths: list[str]) -> str:
        return self.choose.pick(sorted(paths))

    async def resume(self, t: Tracked, how: str) -> None:
        """Resume with the current object ("same") or a freshly loaded one ("fresh")."""
        assert t.current is not None
        path = self.pick_path(t.suspended)
        if how == "fresh":
            try:
                fresh = await self.workflow.get_run(t.run_id)
            except MastraError as error:
                check(
                    not self.stored_mode and error.code == "RUN_NOT_FOUND",
                    f"get_run of run {t.run_id} raised {error.code}: {error.message}\n{self.context()}",
                )
                how = "same"
            else:
                check(self.stored_mode, f"get_run found run {t.run_id} of a `none` run\n{self.context()}")
                t.pool.append(t.current)
                t.current = Handle(fresh, t.transitions)
        result = await self.watched(t.current.run.resume(fa.resume_value(path), step=path))
        await self.check_result(t, result, f"resume {t.run_id[:2]} {path} ({how})")

    async def load(self, t: Tracked) -> None:
        fresh = await self.workflow.get_run(t.run_id)
        t.pool.append(Handle(fresh, t.transitions))
        self.trace.append(f"load {t.run_id[:2]}")

    async def resume_stale(self, t: Tracked, handle: Handle) -> None:
        """Resume with an object from the pool: if storage no longer has that step suspended it must lose and
        change nothing; if the object is up to date it must win; in between, either, as long as it is clean."""
        path = self.pick_path(handle.run.suspended)
        before = await self.snapshot(t.run_id)
        row = before[0]
        still = (
            row is not None and row["status"] == "suspended" and path in (row["snapshot"] or {}).get("suspended", [])
        )
        up_to_date = handle.at == t.transitions
        log_before = log_size(self.log)
        via = f"resume {t.run_id[:2]} {path} (stale object, {t.transitions - handle.at} transition(s) behind)"
        try:
            result = await self.watched(handle.run.resume(fa.resume_value(path), step=path))
        except MastraError as error:
            self.trace.append(f"{via} -> {error.code}")
            check(
                not up_to_date, f"{via}: an up-to-date object lost with {error.code}: {error.message}\n{self.context()}"
            )
            self.expect_loser(error, t, via)
            check(
                await self.snapshot(t.run_id) == before, f"{via}: the losing resume changed storage\n{self.context()}"
            )
            ran = read_log(self.log, log_before)
            check(not ran, f"{via}: the losing resume ran steps: {ran}\n{self.context()}")
            t.pool.remove(handle)
            return
        check(
            still,
            f"{via}: won though storage said {row and row['status']} "
            f"{row and (row['snapshot'] or {}).get('suspended')}\n{self.context()}",
        )
        t.pool.remove(handle)
        if t.current is not None:
            t.pool.append(t.current)
        t.current = Handle(handle.run, t.transitions + 1)
        await self.check_result(t, result, via)
        t.current.at = t.transitions

    async def concurrent(self, t: Tracked, how: str) -> None:
        """Two resumes of the same suspended step at once: two fresh objects, the current object and a fresh one,
        or one object twice (a double click)."""
        assert t.current is not None
        path = self.pick_path(t.suspended)
        if how == "double":
            a = b = t.current.run
        elif how == "current+fresh":
            a, b = t.current.run, await self.workflow.get_run(t.run_id)
        else:
            a, b = await self.workflow.get_run(t.run_id), await self.workflow.get_run(t.run_id)
        log_before = log_size(self.log)
        via = f"concurrent resume {t.run_id[:2]} {path} ({how})"
        STATS["concurrent_duplicates"] += 1
        outcomes = await self.watched(
            asyncio.gather(
                a.resume(fa.resume_value(path), step=path), b.resume(fa.resume_value(path), step=path),
                return_exceptions=True,
            )
        )  # fmt: skip
        wins = [(obj, o) for obj, o in zip((a, b), outcomes, strict=True) if isinstance(o, RunResult)]
        losses = [o for o in outcomes if not isinstance(o, RunResult)]
        described = [o.status if isinstance(o, RunResult) else getattr(o, "code", repr(o)) for o in outcomes]
        self.trace.append(f"{via} -> {described}")
        check(len(wins) == 1, f"{via}: {len(wins)} of the two resumes won: {described}\n{self.context()}")
        self.expect_loser(losses[0], t, via)
        ran = Counter(where for _, where, rid in read_log(self.log, log_before) if rid == t.run_id)
        check(ran[path] == 1, f"{via}: the resumed step ran {ran[path]} times, not once\n{self.context()}")
        winner, result = wins[0]
        if t.current.run is not winner:
            t.pool.append(t.current)
        t.current = Handle(winner, 0)
        await self.check_result(t, result, via)
        t.current.at = t.transitions

    async def cancel(self, t: Tracked, midflight: float | None) -> None:
        assert t.current is not None
        run = t.current.run
        if midflight is None:
            t.canceled = True
            result = await self.watched(run.cancel())
            check(result.status == "canceled", f"cancel gave `{result.status}`\n{self.context()}")
            await self.check_result(t, result, f"cancel {t.run_id[:2]}")
            return
        path = self.pick_path(t.suspended)
        task = asyncio.ensure_future(run.resume(fa.resume_value(path), step=path))
        await asyncio.sleep(midflight)
        t.canceled = True
        try:
            canceled: RunResult | None = await self.watched(run.cancel())
        except MastraError as error:  # the resume finished first
            check(error.code == "RUN_NOT_ACTIVE", f"cancel raised {error.code}: {error.message}\n{self.context()}")
            canceled = None
        try:
            resumed: RunResult | None = await self.watched(task)
        except MastraError as error:  # the cancel came before the resume began (RUN_CANCELED), or claimed first
            check(
                error.code in (*LOSER_CODES, "RUN_CANCELED") and canceled is not None,
                f"the resume canceled mid-flight raised {error.code}: {error.message}\n{self.context()}",
            )
            resumed = None
        via = f"cancel {t.run_id[:2]} {path} after {midflight} s"
        if canceled is None:  # the resume ended the run before the cancel came
            assert resumed is not None
            t.canceled = False
            await self.check_result(t, resumed, via + " (too late)")
            return
        check(
            canceled.status == "canceled",
            f"{via}: cancel() returned a `{canceled.status}` run (the resume says "
            f"`{resumed.status if resumed else 'lost'}`)\n{self.context()}",
        )
        check(
            resumed is None or resumed.status in ("canceled", "suspended"),
            f"{via}: the resume that was canceled says `{resumed and resumed.status}`\n{self.context()}",
        )
        await self.check_result(t, canceled, via)

    async def interrupt(self, t: Tracked, coroutine: Any, delay: float, what: str) -> None:
        """Run `coroutine` (a start, resume or restart of `t`) and cancel the caller's task after `delay`: the
        run is left `running`, as by a crash, with this process as its owner."""
        assert t.current is not None
        log_before = log_size(self.log)
        done_before = log_size(Path(f"{self.log}.done"))
        outer = asyncio.ensure_future(coroutine)
        await asyncio.sleep(delay)
        outer.cancel()
        try:
            result = await self.watched(outer, interrupted=True)
        except asyncio.CancelledError:
            pass
        else:
            await self.check_result(t, result, f"{what} {t.run_id[:2]} (the interrupt came too late)")
            return
        STATS["interrupts"] += 1
        run = t.current.run
        row = (await stored_run(self.storage, t.run_id))[0] if self.stored_mode else None
        self.trace.append(
            f"{what} {t.run_id[:2]} interrupted after {delay} s: the object says {run.status}, storage says "
            f"{row and row['status']}"
        )
        if run.status == "pending" and row is None:  # cut short before anything was stored: start it again
            await self.check_result(t, await self.watched(run.start(t.input)), f"start {t.run_id[:2]} again")
            return
        if run.status in ("suspended", *TERMINAL) and (row is None or row["status"] != "running"):
            # it ended (or never began) before the interrupt landed: the caller just never saw the result
            await self.check_result(t, run.result, f"{what} {t.run_id[:2]} (done before the interrupt landed)")
            return
        # left running, in this object (its status) or in storage (a claim that landed as the caller was canceled)
        t.left_running, t.transitions = True, t.transitions + 1
        await self.crash_window(t, log_before, done_before)

    async def crash_window(self, t: Tracked, log_before: int, done_before: int) -> None:
        """What a crash (an interrupt) may cost: steps it caught unrecorded may run once more; in strict mode, no
        more of them finished unrecorded than can run at once."""
        if self.stored_mode:
            _, steps = await stored_run(self.storage, t.run_id)
            recorded = {s["position"] for s in steps if s["status"] == "success"}
        else:
            recorded = {p for p, s in t.current.run.result.steps.items() if s.status == "success"}  # type: ignore[union-attr]
        began = {where for _, where, rid in read_log(self.log, log_before) if rid == t.run_id}
        extra = self.extra.setdefault(t.run_id, Counter())
        for where in began - recorded:
            extra[where] += 1
        if self.durability == "strict":
            finished = {w for _, w, rid in read_log(Path(f"{self.log}.done"), done_before) if rid == t.run_id}
            unrecorded = finished - recorded
            check(
                len(unrecorded) <= fa.width(self.shape),
                f"strict journal: {len(unrecorded)} finished steps unrecorded at the crash ({sorted(unrecorded)}), "
                f"more than the {fa.width(self.shape)} that run at once\n{self.context()}",
            )

    async def recover(self, t: Tracked, how: str) -> None:
        """Continue a run left running: the same object restarts it, or a fresh one from `list_active_runs` (or,
        when storage still has it suspended because the cut-short resume wrote nothing, a fresh resume)."""
        assert t.current is not None
        row = (await stored_run(self.storage, t.run_id))[0] if self.stored_mode else None
        if how == "same" and t.current.run.status != "running":
            how = "active"
        if how == "active" and row is not None and row["status"] == "running":
            [run] = [r for r in await self.hub.list_active_runs() if r.run_id == t.run_id]
            t.pool.append(t.current)
            t.current = Handle(run, t.transitions)
        elif how == "active" and row is not None and row["status"] == "suspended":
            fresh = await self.workflow.get_run(t.run_id)
            t.pool.append(t.current)
            t.current = Handle(fresh, t.transitions)
            path = self.pick_path(fresh.suspended)
            self.trace.append(f"resume {t.run_id[:2]} {path} (after an interrupt, afresh)")
            result = await self.watched(fresh.resume(fa.resume_value(path), step=path))
            await self.check_result(t, result, f"resume {t.run_id[:2]} {path} (after an interrupt, afresh)")
            return
        self.trace.append(f"restart {t.run_id[:2]} ({how})")
        result = await self.watched(t.current.run.restart())
        await self.check_result(t, result, f"restart {t.run_id[:2]} ({how})")

    async def restart_refused(self, t: Tracked) -> None:
        assert t.current is not None
        before = await self.snapshot(t.run_id) if self.stored_mode else None
        try:
            await self.watched(t.current.run.restart())
        except MastraError as error:
            check(
                error.code == "RUN_NOT_RESTARTABLE",
                f"restart of a `{t.status}` run raised {error.code}\n{self.context()}",
            )
        else:
            violation(f"restart of a `{t.status}` run went ahead\n{self.context()}")
        if self.stored_mode:
            check(await self.snapshot(t.run_id) == before, f"a refused restart changed storage\n{self.context()}")
        self.trace.append(f"restart {t.run_id[:2]} refused")

    async def time_travel(self, t: Tracked) -> None:
        assert t.current is not None
        steps = t.current.run.result.steps
        paths = [p for p, s in steps.items() if s.status in ("success", "suspended")]
        if not paths:
            return
        path = self.pick_path(paths)
        STATS["time_travels"] += 1
        result = await self.watched(t.current.run.time_travel(path))
        fork = Tracked(result.run_id, t.input, t.expected, None, fork=True)
        self.runs[fork.run_id] = fork
        if self.stored_mode:
            fork.current = Handle(await self.workflow.get_run(fork.run_id), 0)
        await self.check_result(fork, result, f"time travel {t.run_id[:2]} to {path} (fork {fork.run_id[:6]})")

    # -- driving a case ------------------------------------------------------------------------------------------

    async def step(self, op: str) -> None:
        candidates = [rid for rid, t in self.runs.items() if t.current is not None]  # in order of creation
        if not candidates:
            return
        t = self.runs[self.choose.pick(candidates)]
        suspended = t.status == "suspended" and not t.left_running
        self.trace.append(f"<{op} on {t.run_id[:2]}>")
        if t.left_running:
            if op == "interrupt" and t.current.run.status == "running":  # type: ignore[union-attr]
                delay = self.delay()
                await self.interrupt(t, t.current.run.restart(), delay, "restart")  # type: ignore[union-attr]
            else:
                await self.recover(t, self.choose.pick(["active", "same"]))
        elif op == "resume_same" and suspended:
            await self.resume(t, "same")
        elif op == "resume_fresh" and suspended:
            await self.resume(t, "fresh")
        elif op == "load" and self.stored_mode:
            await self.load(t)
        elif op == "resume_stale":
            stale = [h for h in t.pool if h.run.status == "suspended" and h.run.suspended]
            if not stale:
                return
            await self.resume_stale(t, self.choose.pick(stale))
        elif op == "concurrent" and suspended:
            hows = ["double", "fresh+fresh", "current+fresh"] if self.stored_mode else ["double"]
            await self.concurrent(t, self.choose.pick(hows))
        elif op == "cancel" and suspended:
            await self.cancel(t, None)
        elif op == "cancel_midflight" and suspended:
            await self.cancel(t, self.delay())
        elif op == "interrupt" and suspended:
            path, delay = self.pick_path(t.suspended), self.delay()  # drawn first: a draw may end the example
            await self.interrupt(t, t.current.run.resume(fa.resume_value(path), step=path), delay, "resume")  # type: ignore[union-attr]
        elif op == "time_travel" and t.status in ("success", "suspended", "canceled"):
            await self.time_travel(t)
        elif op == "restart_refused" and t.status in ("success", "suspended", "canceled"):
            await self.restart_refused(t)
        else:
            return
        STATS[f"op {op}"] += 1
        await self.after_op()

    def delay(self) -> float:
        return self.choose.pick([0.0, 0.0005, 0.002, 0.005, 0.02])

    async def finish(self) -> None:
        """Drive every reachable run to its end and check the outputs and execution counts."""
        for t in list(self.runs.values()):
            for _ in range(200):
                if t.current is None or (t.status in TERMINAL and not t.left_running):
                    break
                if t.left_running:
                    await self.recover(t, "active")
                else:
                    await self.resume(t, "same")
                await self.after_op()
            if t.current is None:
                continue
            check(t.status in TERMINAL, f"run {t.run_id} did not finish: {t.status}\n{self.context()}")
            if t.status == "success" and not t.fork:
                counts = count_lines(read_log(self.log))
                leaf_paths = [p for p, s in t.current.run.result.steps.items() if s.step_id in self.leaves]
                missing = [p for p in leaf_paths if counts[(t.run_id, p)] == 0]
                check(not missing, f"run {t.run_id} succeeded, but steps at {missing} never ran\n{self.context()}")


OPS = [
    "resume_same", "resume_fresh", "load", "resume_stale", "concurrent", "cancel", "cancel_midflight",
    "interrupt", "time_travel", "restart_refused",
]  # fmt: skip


async def play(kind: str, folder: Path, shape: list[dict[str, Any]], durability: str, inputs: list[int],
               interrupt_start: bool, ops: list[str], choices: list[int]) -> None:  # fmt: skip
    world = World(kind, durability, shape, folder, Chooser(choices))
    STATS["cases"] += 1
    try:
        await world.start(inputs, world.delay() if interrupt_start and len(inputs) == 1 else None)
        await world.after_op()
        for op in ops:
            await world.step(op)
        await world.finish()
    finally:
        await world.close()


def _in_process(kind: str, tmp_path: Path, soak_seconds: float, examples: int) -> None:
    def test(
        shape: Any, durability: str, inputs: list[int], interrupt_start: bool, ops: list[str], choices: list[int]
    ) -> None:
        folder = Path(tempfile.mkdtemp(dir=tmp_path))
        try:
            asyncio.run(play(kind, folder, shape, durability, inputs, interrupt_start, ops, choices))
        except (AssertionError, HypothesisException):
            raise
        except Exception as error:  # an exception out of the engine is a finding too
            violation(f"{type(error).__name__}: {error}")

    strategies = {
        "shape": SHAPES, "durability": st.sampled_from(["strict", "batched", "none"]),
        "inputs": st.lists(st.integers(0, 5), min_size=1, max_size=3), "interrupt_start": st.booleans(),
        "ops": st.lists(st.sampled_from(OPS), min_size=1, max_size=10), "choices": CHOICES,
    }  # fmt: skip
    run_property(test, strategies, examples, soak_seconds * (0.4 if kind == "duckdb" else 0.25))


def test_random_shapes_and_interleavings_on_duckdb(tmp_path: Path, soak: float) -> None:
    _in_process("duckdb", tmp_path, soak, examples=80)


def test_random_shapes_and_interleavings_in_memory(tmp_path: Path, soak: float) -> None:
    _in_process("memory", tmp_path, soak, examples=400)


# -- regression tests: the minimal failing examples the properties found -----------------------------------------

GATE = [{"t": "then", "u": {"t": "step", "c": 1, "gate": True, "id": "s0"}}]


@pytest.fixture
def steps_log(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "steps.log"
    fa.configure(path)
    yield path
    fa.configure(None)


def _hub(storage: Storage, shape: list[dict[str, Any]]) -> tuple[Mastra, Workflow]:
    workflow = fa.build(shape)
    return Mastra(storage=storage, config=MastraConfig.load(environ={}), workflows=[workflow]), workflow


@pytest.mark.parametrize("kind", ["duckdb", "memory"])
@pytest.mark.parametrize("durability", ["strict", "batched"])
async def test_cancel_just_after_a_resume_begins_ends_the_run_canceled(
    tmp_path: Path, steps_log: Path, kind: str, durability: str
) -> None:
    """Found as: DuckDB, strict, shape `s0?` (one gate); start -> suspended; resume in a task, then at once
    `cancel()`. The cancel lands while the resume claims the run: the resume must end canceled (or lose cleanly),
    not raise `CancelledError` into its caller, and `cancel()` must not return a run that is still suspended."""
    storage: Storage = DuckDBStore(tmp_path / "runs.duckdb") if kind == "duckdb" else InMemoryStore()
    hub, workflow = _hub(storage, GATE)
    try:
        run = workflow.create_run(durability=durability)
        assert (await run.start(0)).status == "suspended"
        resuming = asyncio.ensure_future(run.resume({"v": 1}, step="0"))
        await asyncio.sleep(0)
        canceled = await run.cancel()
        try:
            result = await resuming
        except asyncio.CancelledError:
            pytest.fail(f"the resume raised CancelledError into its caller; cancel() returned `{canceled.status}`")
        except MastraError as error:  # the cancel won before the resume began
            assert error.code == "RUN_CANCELED" and error.details["run_id"] == run.run_id
            result = canceled
        assert canceled.status == result.status == "canceled"
        row, _ = await stored_run(storage, run.run_id)
        assert row is not None and row["status"] == "canceled"
        assert await hub.list_active_runs() == []
    finally:
        await storage.close()
        await hub.shutdown()


def _gate_runs(log: Path, run_id: str) -> int:
    return sum(1 for step_id, _, rid in read_log(log) if rid == run_id and step_id == "s0")


@pytest.mark.parametrize("kind", ["duckdb", "memory"])
@pytest.mark.parametrize("durability", ["strict", "batched", "none"])
async def test_a_double_click_on_resume_runs_the_step_once(
    tmp_path: Path, steps_log: Path, kind: str, durability: str
) -> None:
    """Found as: shape `s0?` (one gate), any store and mode; start -> suspended; two `resume` calls on the same
    object at once (a double click). Before the fix both won and the step ran twice."""
    storage: Storage = DuckDBStore(tmp_path / "runs.duckdb") if kind == "duckdb" else InMemoryStore()
    hub, workflow = _hub(storage, GATE)
    try:
        run = workflow.create_run(durability=durability)
        assert (await run.start(0)).status == "suspended"
        outcomes = await asyncio.gather(
            run.resume({"v": 1}, step="0"), run.resume({"v": 1}, step="0"), return_exceptions=True
        )
        wins = [o for o in outcomes if isinstance(o, RunResult)]
        losses = [o for o in outcomes if not isinstance(o, RunResult)]
        assert len(wins) == 1, outcomes
        assert wins[0].status == "success" and wins[0].output == 1
        [loss] = losses
        assert isinstance(loss, MastraError) and loss.code in LOSER_CODES, loss
        assert loss.details["run_id"] == run.run_id and "status" in loss.details
        assert _gate_runs(steps_log, run.run_id) == 2  # once to suspend, once resumed
    finally:
        await storage.close()
        await hub.shutdown()


@pytest.mark.parametrize("kind", ["duckdb", "memory"])
@pytest.mark.parametrize("durability", ["strict", "batched"])
@pytest.mark.parametrize("pair", ["fresh+fresh", "current+fresh"])
async def test_two_objects_resuming_one_step_at_once_exactly_one_wins(
    tmp_path: Path, steps_log: Path, kind: str, durability: str, pair: str
) -> None:
    """Found as: shape `s0?`; start -> suspended; `gather` of two resumes of step `0` from two objects (two fresh
    loads, or the starting object and a fresh load). Before the fix both won (the step ran twice), or the loser
    failed late with `STORAGE_CONFLICT` after running the step."""
    storage: Storage = DuckDBStore(tmp_path / "runs.duckdb") if kind == "duckdb" else InMemoryStore()
    hub, workflow = _hub(storage, GATE)
    try:
        run = workflow.create_run(durability=durability)
        assert (await run.start(0)).status == "suspended"
        first = run if pair == "current+fresh" else await workflow.get_run(run.run_id)
        second = await workflow.get_run(run.run_id)
        outcomes = await asyncio.gather(
            first.resume({"v": 1}, step="0"), second.resume({"v": 1}, step="0"), return_exceptions=True
        )
        wins = [o for o in outcomes if isinstance(o, RunResult)]
        losses = [o for o in outcomes if not isinstance(o, RunResult)]
        assert len(wins) == 1, outcomes
        [loss] = losses
        assert isinstance(loss, MastraError) and loss.code in LOSER_CODES, loss
        assert loss.details["run_id"] == run.run_id and "status" in loss.details
        assert _gate_runs(steps_log, run.run_id) == 2
        row, steps = await stored_run(storage, run.run_id)
        assert journal_agrees(wins[0], row, steps) is None
    finally:
        await storage.close()
        await hub.shutdown()


@pytest.mark.parametrize("kind", ["duckdb", "memory"])
@pytest.mark.parametrize("durability", ["strict", "batched"])
async def test_a_stale_object_cannot_resume_a_run_another_object_finished(
    tmp_path: Path, steps_log: Path, kind: str, durability: str
) -> None:
    """Found as: shape `s0?`; start -> suspended; resume from a fresh object -> success; then resume from the
    starting object, which still says suspended. Before the fix the stale resume won: the step ran again and the
    stored `success` went back to `running`."""
    storage: Storage = DuckDBStore(tmp_path / "runs.duckdb") if kind == "duckdb" else InMemoryStore()
    hub, workflow = _hub(storage, GATE)
    try:
        stale = workflow.create_run(durability=durability)
        assert (await stale.start(0)).status == "suspended"
        fresh = await workflow.get_run(stale.run_id)
        assert (await fresh.resume({"v": 1}, step="0")).status == "success"
        before = await stored_run(storage, stale.run_id)
        with pytest.raises(MastraError) as caught:
            await stale.resume({"v": 4}, step="0")
        assert caught.value.code in LOSER_CODES
        assert caught.value.details["run_id"] == stale.run_id and "status" in caught.value.details
        assert await stored_run(storage, stale.run_id) == before
        assert _gate_runs(steps_log, stale.run_id) == 2
    finally:
        await storage.close()
        await hub.shutdown()


PAR = [
    {
        "t": "par",
        "us": [{"t": "step", "c": 1, "gate": False, "id": "s0"}, {"t": "step", "c": 1, "gate": False, "id": "s1"}],
    }
]
FOREACH = [{"t": "foreach", "n": 3, "conc": 2, "u": {"t": "step", "c": 1, "gate": False, "id": "s0"}}]


@pytest.mark.parametrize("durability", ["strict", "batched"])
@pytest.mark.parametrize("shape", [PAR, FOREACH], ids=["parallel", "foreach"])
async def test_parallel_and_foreach_runs_succeed_on_duckdb(
    tmp_path: Path, steps_log: Path, durability: str, shape: list[dict[str, Any]]
) -> None:
    """Found as: DuckDB, strict, shape `par(s0+1, s1+1)`; start. Before the fix the run failed with
    `STORAGE_CONFLICT`: two branches' journal writes inserted the same rows."""
    storage = DuckDBStore(tmp_path / "runs.duckdb")
    hub, workflow = _hub(storage, shape)
    try:
        run = workflow.create_run(durability=durability)
        result = await run.start(0)
        assert (result.status, result.error) == ("success", None)
        assert result.output == fa.reference(shape, 0)
        row, steps = await stored_run(storage, run.run_id)
        assert journal_agrees(result, row, steps) is None
        assert all(n == 1 for n in count_lines(read_log(steps_log)).values())
    finally:
        await storage.close()
        await hub.shutdown()


@pytest.mark.parametrize("durability", ["strict", "batched"])
async def test_a_start_cut_short_by_its_caller_restarts_cleanly(
    tmp_path: Path, steps_log: Path, durability: str
) -> None:
    """Found as: DuckDB, strict, shape `sleep(0)`; the task awaiting `start` is canceled after 0.5 ms (as by
    `asyncio.wait_for`), leaving the run `running`; then `restart()` of the same object. Before the fix the
    restart failed with `STORAGE_CONFLICT`: the run row's insert had landed, but the journal thought it had not.
    The moment the cancel lands is a race, so a range of delays is tried."""
    storage = DuckDBStore(tmp_path / "runs.duckdb")
    shape = [{"t": "sleep", "s": 0.0}, {"t": "then", "u": {"t": "step", "c": 1, "gate": False, "id": "s0"}}]
    hub, workflow = _hub(storage, shape)
    try:
        for attempt in range(30):
            run = workflow.create_run(durability=durability)
            outer = asyncio.ensure_future(run.start(0))
            await asyncio.sleep(attempt * 0.0002)
            outer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await outer
            row, _ = await stored_run(storage, run.run_id)
            if run.status == "running":
                result = await run.restart()
            elif row is not None and row["status"] == "running":
                [found] = [r for r in await hub.list_active_runs() if r.run_id == run.run_id]
                result = await found.restart()
            elif row is None:
                result = await run.start(0)
            else:
                result = run.result
            assert (result.status, result.error) == ("success", None), (attempt, result.error)
            assert result.output == 1
            row, steps = await stored_run(storage, run.run_id)
            assert journal_agrees(result, row, steps) is None, attempt
        assert await hub.list_active_runs() == []
    finally:
        await storage.close()
        await hub.shutdown()


# -- SIGKILL at random moments ------------------------------------------------------------------------------------

KILL_TIMEOUT = 60.0  # seconds any one command of a worker may take


class Worker:
    """A `fault_app.py` worker process on a DuckDB file: commands in, JSON answers out, SIGKILL at will."""

    def __init__(self, folder: Path, db: Path, log: Path, shape_path: Path) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        env["FAULT_STEP_DELAY"] = "0.01"
        self.err_path = folder / "worker.err"
        with open(self.err_path, "a") as err:
            self.proc = subprocess.Popen(
                [sys.executable, str(APP), str(db), str(log), str(shape_path)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True, env=env,
            )  # fmt: skip
        self.answers: queue.Queue[str | None] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.answers.put(line)
        self.answers.put(None)

    def ask(
        self, command: dict[str, Any], kill: tuple[int, float] | None, run_id: str, log: Path
    ) -> dict[str, Any] | None:
        """Send `command`; its answer, or None when `kill` = (lines, delay) killed the worker first: once the
        run's steps have begun `lines` times since the command, after `delay` more seconds."""
        assert self.proc.stdin is not None
        start = log_size(log)
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        deadline = time.monotonic() + KILL_TIMEOUT
        while True:
            try:
                line = self.answers.get(timeout=0.002)
            except queue.Empty:
                pass
            else:
                if line is None:
                    violation(f"the worker died on {command}: {self.err_path.read_text()[-3000:]}")
                return json.loads(line)  # type: ignore[arg-type]
            if kill is not None and sum(1 for *_, rid in read_log(log, start) if rid == run_id) >= kill[0]:
                time.sleep(kill[1])
                self.kill()
                return None
            if time.monotonic() > deadline:
                self.kill()
                violation(f"the worker took over {KILL_TIMEOUT} s on {command}")

    def kill(self) -> None:
        """SIGKILL: no `finally`, no flush, no atexit; the process just stops."""
        self.proc.send_signal(signal.SIGKILL)
        self._reap()

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self._reap()

    def _reap(self) -> None:
        self.proc.wait(timeout=KILL_TIMEOUT)
        self.reader.join(timeout=KILL_TIMEOUT)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None and not pipe.closed:
                with contextlib.suppress(OSError):  # a killed reader's pipe may refuse the final flush
                    pipe.close()


async def _read_stored(db: Path, run_id: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    store = DuckDBStore(db)
    try:
        return await stored_run(store, run_id)
    finally:
        await store.close()


def kill_case(
    folder: Path, shape: list[dict[str, Any]], durability: str, value: int, plan: list[Any], choices: list[int]
) -> None:
    choose = Chooser(choices)
    STATS["kill_cases"] += 1
    db, log, shape_path = folder / "runs.duckdb", folder / "steps.log", folder / "shape.json"
    shape_path.write_text(json.dumps(shape))
    run_id = f"k-{os.urandom(4).hex()}"
    expected = fa.reference(shape, value)
    gates = {sid for sid, s in fa.steps_of(shape).items() if s["gate"]}
    extra: Counter[str] = Counter()
    kills: list[tuple[int, set[str]]] = []  # (log size at the kill, paths recorded as succeeded then)
    trace: list[str] = []

    def context() -> str:
        return (
            f"kill case, durability={durability} input={value} shape: {fa.describe(shape)}\n"
            f"operations: {'; '.join(trace)}"
        )

    watch = StatusWatch(context)
    command: dict[str, Any] | None = {"op": "start", "run_id": run_id, "input": value, "durability": durability}
    worker: Worker | None = None
    try:
        for index in range(200):
            if command is None:
                break
            if worker is None:
                worker = Worker(folder, db, log, shape_path)
                if command["op"] != "recover":  # a fresh process finds no orphan when the kill left none
                    found = worker.ask({"op": "recover"}, None, run_id, log)
                    assert found is not None
                    check(
                        found.get("found") == [],
                        f"list_active_runs found {found.get('found')}, expected none\n{context()}",
                    )
            kill = plan[index] if index < len(plan) else None
            log_start, done_start = log_size(log), log_size(Path(f"{log}.done"))
            killing = f" (kill after {kill[0]} lines + {kill[1]} s)" if kill else ""
            trace.append(f"{command['op']} {command.get('path', '')}{killing}")
            answer = worker.ask(command, kill, run_id, log)
            STATS["interleavings"] += 1
            if answer is None:
                STATS["kills"] += 1
                worker = None
                row, steps = asyncio.run(_read_stored(db, run_id))
                trace.append(f"killed; storage says {row and row['status']}")
                if row is not None:
                    watch.see(run_id, row["status"])
                recorded = {s["position"] for s in steps if s["status"] == "success"}
                began = {w for _, w, rid in read_log(log, log_start) if rid == run_id}
                for where in began - recorded:
                    extra[where] += 1
                kills.append((log_size(log), recorded))
                if durability == "strict":
                    finished = {w for _, w, rid in read_log(Path(f"{log}.done"), done_start) if rid == run_id}
                    check(
                        len(finished - recorded) <= fa.width(shape),
                        f"strict journal: {sorted(finished - recorded)} finished but unrecorded at the kill, "
                        f"more than the {fa.width(shape)} steps that run at once\n{context()}",
                    )
                if row is None:
                    command = {"op": "start", "run_id": run_id, "input": value, "durability": durability}
                elif row["status"] == "running":
                    command = {"op": "recover"}  # the next process finds it and continues it
                elif row["status"] == "suspended":
                    path = choose.pick(sorted(row["snapshot"]["suspended"]))
                    command = {"op": "resume", "run_id": run_id, "path": path, "data": fa.resume_value(path)}
                else:
                    check(row["status"] == "success", f"the run ended `{row['status']}`: {row['error']}\n{context()}")
                    check(
                        row["output"] == expected,
                        f"stored output {row['output']!r}, reference {expected!r}\n{context()}",
                    )
                    break
                continue
            if command["op"] == "recover":
                trace.append(f"-> found {answer.get('found')}")
                check(
                    answer.get("found") == [run_id],
                    f"list_active_runs found {answer.get('found')}, expected [{run_id}]\n{context()}",
                )
                answer = {"result": answer["results"][0]}
            assert answer is not None
            check("error" not in answer, f"the worker answered {answer.get('error')}\n{context()}")
            result = answer["result"]
            trace.append(f"-> {result['status']} {result['suspended']}")
            check(
                result["status"] in ("success", "suspended"),
                f"the run ended `{result['status']}`: {result['error']}\n{context()}",
            )
            if result["status"] == "success":
                check(result["output"] == expected, f"output {result['output']!r}, reference {expected!r}\n{context()}")
            stored = worker.ask({"op": "stored", "run_id": run_id}, None, run_id, log)
            assert stored is not None
            watch.see(run_id, stored["run"]["status"])
            mine = {p: (s["step_id"], s["status"], s["output"]) for p, s in result["steps"].items()}
            theirs = {
                s["position"]: (s["step_id"], s["status"], s["output"])
                for s in stored["steps"]
                if not s["step_id"].startswith("@")
            }
            check(
                stored["run"]["status"] == result["status"] and mine == theirs,
                f"storage disagrees with the result: stored {stored['run']['status']}, "
                f"{ {p: v for p, v in theirs.items() if mine.get(p) != v} } vs "
                f"{ {p: v for p, v in mine.items() if theirs.get(p) != v} }\n{context()}",
            )
            if result["status"] == "suspended":
                path = choose.pick(sorted(result["suspended"]))
                command = {"op": "resume", "run_id": run_id, "path": path, "data": fa.resume_value(path)}
            else:
                command = None
        else:
            violation(f"the run did not finish in 200 commands\n{context()}")
    finally:
        if worker is not None:
            worker.close()
    check_executions(log, gates, {run_id: extra}, context())
    for size, recorded in kills:  # what storage had recorded as succeeded at a kill never ran again
        again = sorted({w for _, w, rid in read_log(log, size) if rid == run_id} & recorded)
        check(not again, f"steps recorded as succeeded before a kill ran again after it: {again}\n{context()}")


def test_sigkill_at_random_moments_then_recover_in_a_fresh_process(tmp_path: Path, soak: float) -> None:
    def test(shape: Any, durability: str, value: int, plan: list[Any], choices: list[int]) -> None:
        kill_case(Path(tempfile.mkdtemp(dir=tmp_path)), shape, durability, value, plan, choices)

    kill_at = st.tuples(st.integers(1, 6), st.sampled_from([0.0, 0.002, 0.01, 0.03]))
    strategies = {
        "shape": SHAPES, "durability": st.sampled_from(["strict", "batched"]), "value": st.integers(0, 5),
        "plan": st.lists(st.one_of(kill_at, kill_at, kill_at, st.none()), min_size=2, max_size=6), "choices": CHOICES,
    }  # fmt: skip
    run_property(test, strategies, 20, soak * 0.35)
