"""Workflow: the builder (`then`, `parallel`, `branch`, loops, `foreach`, `map`, sleeps), its checked and typed
graph, and the runs made from it.

A workflow can itself be a step of another workflow (a nested step), and a `Tool` can be a step. A workflow
registered in a hub (`mastra.add_workflow(wf)`) keeps its runs in the hub's storage; an unregistered one gets
a private in-memory hub, so a workflow can be tried in a script or a cell with no setup.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ..errors import ErrorKind, MastraError
from ..limits import check_id
from ._check import check_graph
from ._journal import Durability
from .graph import (
    BranchNode,
    ForeachNode,
    LoopNode,
    MapNode,
    Node,
    ParallelNode,
    SleepNode,
    StepNode,
    WorkflowGraph,
    describe,
    edges,
)
from .run import LIVE, Run, RunStatus, orphaned
from .schema import Schema
from .step import Step

if TYPE_CHECKING:
    from ..mastra import Mastra
    from ..tools import Tool

__all__ = ["Workflow"]

_DURABILITY = ("batched", "strict", "none")


class Workflow:
    """A typed graph of steps.

    Args:
        id: the workflow's name in the hub: 1-64 letters, digits, `_` or `-`.
        input, output: the schemas of the run's input and final output (pydantic models or other types).
        state: the schema of the workflow state that steps read (`ctx.state`) and replace (`ctx.set_state`).
        description: for the graph, the server and models (when used as a tool).
        durability: how eagerly runs write their journal: "batched" (default), "strict" or "none"; see
            `mastra_nb.workflows._journal` for what a crash can lose in each.
    """

    def __init__(
        self,
        id: str,
        *,
        input: Any = None,
        output: Any = None,
        state: Any = None,
        description: str | None = None,
        durability: Durability = "batched",
    ) -> None:
        Step(id, lambda data: data)  # the same id rules as a step's
        _check_durability(durability)
        self.id = id
        self.description = description
        self.input, self.output, self.state = Schema(input), Schema(output), Schema(state)
        self.durability: Durability = durability
        self.nodes: list[Node] = []
        self.committed = False
        self._ids: set[str] = set()
        self._mastra: Mastra | None = None
        self.private = False  # runs on a private in-memory hub (see `mastra`): a suspended run says how to keep it

    # -- building ---------------------------------------------------------------------------------------------

    def then(self, step: Step | Workflow | Tool) -> Workflow:
        """Run `step` on the previous output."""
        return self._add(StepNode(self._unit(step)))

    def parallel(self, steps: Sequence[Step | Workflow | Tool]) -> Workflow:
        """Run `steps` concurrently on the same input; the output is `{step_id: output}`."""
        units = self._units(steps, "parallel")
        return self._add(ParallelNode(tuple(units)))

    def branch(self, branches: Sequence[tuple[Callable[[Any], Any], Step | Workflow | Tool]]) -> Workflow:
        """Run every step whose condition holds for the input (concurrently); the output is `{step_id: output}`
        for the steps that ran."""
        if not branches or not all(isinstance(b, tuple) and len(b) == 2 and callable(b[0]) for b in branches):
            raise _invalid("WORKFLOW_DEFINITION_INVALID", "`branch` takes a list of `(condition, step)` pairs.")
        units = self._units([s for _, s in branches], "branch")
        return self._add(BranchNode(tuple((c, u) for (c, _), u in zip(branches, units, strict=True))))

    def dowhile(self, step: Step | Workflow | Tool, condition: Callable[[Any], Any]) -> Workflow:
        """Run `step`, then again on its own output while `condition(output)` holds."""
        return self._add(LoopNode(self._unit(step), _callable(condition, "dowhile"), until=False))

    def dountil(self, step: Step | Workflow | Tool, condition: Callable[[Any], Any]) -> Workflow:
        """Run `step`, then again on its own output until `condition(output)` holds."""
        return self._add(LoopNode(self._unit(step), _callable(condition, "dountil"), until=True))

    def foreach(self, step: Step | Workflow | Tool, concurrency: int = 1) -> Workflow:
        """Run `step` on each item of the previous output (a list), `concurrency` at a time; output: the list."""
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise _invalid("WORKFLOW_DEFINITION_INVALID", f"`foreach` needs concurrency >= 1, got {concurrency!r}.")
        return self._add(ForeachNode(self._unit(step), concurrency))

    def map(self, fn_or_mapping: Callable[[Any], Any] | Mapping[str, Mapping[str, Any]]) -> Workflow:
        """Reshape the data between steps: `fn(data)`, or a mapping of output field to source, each one of
        `{"value": constant}`, `{"step": step_or_id, "path": "a.b"}`, `{"init": "a.b"}` (the run's input) or
        `{"path": "a.b"}` (the previous output)."""
        if callable(fn_or_mapping):
            return self._add(MapNode(fn_or_mapping, None))
        if not isinstance(fn_or_mapping, Mapping) or not all(
            isinstance(v, Mapping) and {"value", "step", "init", "path"} & set(v) for v in fn_or_mapping.values()
        ):
            raise _invalid(
                "WORKFLOW_DEFINITION_INVALID",
                "`map` takes a function or a mapping of field to {'value': ...}, {'step': ..., 'path': ...}, "
                "{'init': 'path'} or {'path': ...}.",
            )
        return self._add(MapNode(None, dict(fn_or_mapping)))

    def sleep(self, seconds: float) -> Workflow:
        """Wait `seconds`; the due time is stored, so the wait survives a restart. Data passes through."""
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            raise _invalid("WORKFLOW_DEFINITION_INVALID", f"`sleep` needs seconds >= 0, got {seconds!r}.")
        return self._add(SleepNode(float(seconds), None))

    def sleep_until(self, when: datetime) -> Workflow:
        """Wait until `when` (naive means UTC). Data passes through."""
        if not isinstance(when, datetime):
            raise _invalid("WORKFLOW_DEFINITION_INVALID", f"`sleep_until` needs a datetime, got {when!r}.")
        return self._add(SleepNode(None, when))

    def commit(self) -> Workflow:
        """Freeze the graph and check that adjacent steps' schemas fit together.

        Raises:
            MastraError: `WORKFLOW_SCHEMA_MISMATCH` naming both steps and the field, or `WORKFLOW_EMPTY`.
        """
        if not self.nodes:
            raise _invalid("WORKFLOW_EMPTY", f"Workflow `{self.id}` has no steps; add some with `.then(step)`.")
        produced = check_graph(self.id, self.nodes, self.input.type, self.output.type)
        if self.output.type is None and produced is not None:
            self.output = Schema(produced)  # so that a stored output comes back as the type it left as
        self.committed = True
        return self

    # -- the graph --------------------------------------------------------------------------------------------

    def graph(self) -> WorkflowGraph:
        """The workflow as typed, JSON-serializable data (`.model_dump(mode="json")`)."""
        nodes = [describe(node, str(i)) for i, node in enumerate(self.nodes)]
        return WorkflowGraph(
            workflow_id=self.id, description=self.description, input_schema=self.input.json_schema(),
            output_schema=self.output.json_schema(), nodes=nodes, edges=edges(nodes),
        )  # fmt: skip

    def unit_at(self, path: str) -> Step | Workflow:
        """The step or nested workflow at a run path such as `"2"` or `"3.1.0"`."""
        parts = path.split(".")
        try:
            node = self.nodes[int(parts[0])]
            if isinstance(node, StepNode):
                unit, rest = node.step, parts[1:]
            elif isinstance(node, (LoopNode, ForeachNode)):
                int(parts[1])  # the iteration or item index
                unit, rest = node.step, parts[2:]
            elif isinstance(node, ParallelNode):
                unit, rest = node.steps[int(parts[1])], parts[2:]
            elif isinstance(node, BranchNode):
                unit, rest = node.branches[int(parts[1])][1], parts[2:]
            else:
                raise IndexError(path)
        except (IndexError, ValueError):
            raise _invalid("WORKFLOW_PATH_INVALID", f"Workflow `{self.id}` has no step at path `{path}`.") from None
        if not rest:
            return unit
        if isinstance(unit, Workflow):
            return unit.unit_at(".".join(rest))
        raise _invalid("WORKFLOW_PATH_INVALID", f"Workflow `{self.id}` has no step at path `{path}`.")

    # -- the hub and runs -------------------------------------------------------------------------------------

    def bind(self, mastra: Mastra) -> None:
        """Attach the workflow to a hub; `Mastra.add_workflow` calls this."""
        self._mastra = mastra

    @property
    def mastra(self) -> Mastra:
        """The hub. An unregistered workflow runs on the kernel's hub when `%load_ext mastra_nb` set one (and is
        added to it if its id is free, so `%mastra runs` and `resume` find it); otherwise it gets a private hub
        with in-memory storage, whose runs end with the process."""
        if self._mastra is None:
            from ..mastra import Mastra, default_hub
            from ..storage.memory import InMemoryStore

            hub = default_hub()
            if hub is not None and self.id not in hub.list_workflows():
                hub.add_workflow(self)  # binds it
            else:
                self._mastra, self.private = hub or Mastra(storage=InMemoryStore()), hub is None
        assert self._mastra is not None
        return self._mastra

    def create_run(
        self, run_id: str | None = None, resource_id: str | None = None, durability: Durability | None = None
    ) -> Run:
        """A new run, pending until `await run.start(input)`; commits the workflow if that was not done."""
        if not self.committed:
            self.commit()
        if durability is not None:
            _check_durability(durability)
        if run_id is not None:
            check_id(run_id, "run_id", "RUN_ID_INVALID")
        if resource_id is not None:
            check_id(resource_id, "resource_id", "RUN_RESOURCE_ID_INVALID")
        return Run(self, run_id, resource_id, durability or self.durability)

    async def get_run(self, run_id: str) -> Run:
        """The run with this id, loaded from storage (or the live object, while it executes here).

        Raises:
            MastraError: `RUN_NOT_FOUND`.
        """
        if not self.committed:
            self.commit()  # commit completes the output schema a stored output is restored with
        check_id(run_id, "run_id", "RUN_ID_INVALID")
        live = LIVE.get(run_id)
        if live is not None and live.workflow.id == self.id:
            return live
        row, steps = await self.mastra.runs.load(run_id, self.id)
        if row is None:
            raise MastraError(
                ErrorKind.DOMAIN, "RUN_NOT_FOUND", f"Workflow `{self.id}` has no run `{run_id}` in its storage.",
                details={"run_id": run_id},
            )  # fmt: skip
        return Run.load(self, row, steps)

    def is_orphaned(self, row: dict[str, Any]) -> bool:
        """Whether a run of this workflow stored as `running` has no process executing it (`hub.runs.active`
        asks through the workflow it found in the hub, so `runs.py` imports nothing from `workflows`)."""
        return orphaned(row)

    async def list_runs(
        self, status: RunStatus | None = None, resource_id: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Summaries of this workflow's stored runs, newest first: run id, status, resource id, times
        (`hub.runs.list(workflow=...)` as dicts)."""
        found = await self.mastra.runs.list(workflow=self.id, status=status, resource_id=resource_id, limit=limit)
        return [info.summary() for info in found]

    def as_tool(self) -> Tool:
        """A `Tool` named `workflow_<id>` that starts a run with the tool's input; a suspended run returns its
        run id and suspend payloads, so an agent can report what is awaited."""
        from ..tools import Tool

        async def run_workflow(data: Any) -> dict[str, Any]:
            result = await self.create_run().start(data)
            if result.error is not None:
                raise result.error
            payloads = {p: result.steps[p].suspend_payload for p in result.suspended}
            output = result.output.model_dump(mode="json") if isinstance(result.output, BaseModel) else result.output
            return {"run_id": result.run_id, "status": result.status, "output": output, "suspended": payloads}

        model = self.input.model
        return Tool(
            f"workflow_{self.id}"[:64], self.description or f"Run the workflow `{self.id}`.", run_workflow,
            input_schema=model,
        )  # fmt: skip

    def __repr__(self) -> str:
        return f"Workflow({self.id!r}, steps={len(self.nodes)})"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        from ..display.reprs import workflow_mimebundle  # imported on first display: import mastra_nb stays light

        return workflow_mimebundle(self)

    # -- helpers ----------------------------------------------------------------------------------------------

    def _add(self, node: Node) -> Workflow:
        if self.committed:
            raise _invalid(
                "WORKFLOW_COMMITTED", f"Workflow `{self.id}` is committed; build a new `Workflow` to change it."
            )
        self.nodes.append(node)
        return self

    def _unit(self, unit: Any) -> Step | Workflow:
        if not isinstance(unit, (Step, Workflow)):
            as_step = getattr(unit, "as_step", None)
            if callable(as_step):
                unit = as_step()
            elif _is_tool(unit):
                unit = Step.from_tool(unit)
            else:
                raise _invalid(
                    "WORKFLOW_DEFINITION_INVALID",
                    f"Workflow `{self.id}` takes a `Step`, `Workflow` or `Tool` as a step, got {type(unit).__name__}.",
                )
        if isinstance(unit, Workflow) and not unit.committed:
            unit.commit()
        if unit.id in self._ids:
            raise _invalid(
                "WORKFLOW_DUPLICATE_STEP",
                f"Workflow `{self.id}` already has a step `{unit.id}`; step ids are unique in a workflow "
                "(results are looked up by id). Make another step with a different id.",
            )
        self._ids.add(unit.id)
        return unit

    def _units(self, units: Sequence[Any], construct: str) -> list[Step | Workflow]:
        if isinstance(units, (str, bytes)) or not isinstance(units, Sequence) or not units:
            raise _invalid("WORKFLOW_DEFINITION_INVALID", f"`{construct}` takes a non-empty list of steps.")
        return [self._unit(u) for u in units]


def _invalid(code: str, message: str) -> MastraError:
    return MastraError(ErrorKind.VALIDATION, code, message)


def _check_durability(durability: Any) -> None:
    if durability not in _DURABILITY:
        raise _invalid("WORKFLOW_DEFINITION_INVALID", f"`durability` must be one of {_DURABILITY}, not {durability!r}.")


def _callable(fn: Any, construct: str) -> Callable[[Any], Any]:
    if not callable(fn):
        raise _invalid("WORKFLOW_DEFINITION_INVALID", f"`{construct}` needs a condition function of the output.")
    return fn


def _is_tool(unit: Any) -> bool:
    from ..tools import Tool

    return isinstance(unit, Tool)
