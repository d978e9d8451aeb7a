"""`Runs` (`hub.runs`): the one owner of stored runs, workflow runs and agent runs paused for approval.

A stored run is a row (`workflow_runs` or `agent_runs`) with a `version` that every write raises. Each state
transition is a compare-and-set on the version (and, where it matters, the status) the writer last saw: created,
running, suspended, resumed, success, failed, canceled, claimed for a restart. Two resumes of one suspended run,
two approvals of one tool call, or two processes restarting one orphaned run therefore race on one conditional
UPDATE, and exactly one wins; the loser gets `RUN_NOT_SUSPENDED` or `RUN_CONFLICT` naming the run and its stored
status, and nothing it meant to write is stored. A workflow's journal writes its run row through `update_op`
in the same transaction as its step rows, so a flush of a run someone else has taken over writes nothing.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

from .errors import ErrorKind, MastraError, shown
from .limits import check_id
from .storage.base import DeleteRowsOp, InsertOp, Op, Storage, UpdateRowsOp
from .storage.capabilities import ReadsRun
from .storage.compare import is_in, lt

if TYPE_CHECKING:
    from .mastra import Mastra
    from .workflows import Run

__all__ = ["FINISHED", "RunInfo", "Runs"]

# The statuses a workflow run never leaves (an agent run's are "completed" and "failed").
FINISHED = ("success", "failed", "canceled")
_NEVER = datetime.min.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class RunInfo:
    """A stored run at a glance, workflow or agent."""

    kind: Literal["workflow", "agent"]
    run_id: str
    name: str  # the workflow's id or the agent's name
    status: str
    resource_id: str | None
    created_at: datetime | None
    updated_at: datetime | None
    version: int | None
    # A workflow run's: the path of the step whose `ctx.bail(...)` ended it (its status is then "success"), and the
    # run and step path a time-travel fork started from.
    bailed: str | None = None
    parent: dict[str, str] | None = None

    def summary(self) -> dict[str, Any]:
        """A plain dict of the run: what `Workflow.list_runs` returns and the notebook's runs tables show (`bailed`
        and `parent` only where set)."""
        key = "workflow_id" if self.kind == "workflow" else "agent"
        found = {"run_id": self.run_id, key: self.name, "status": self.status, "resource_id": self.resource_id,
                 "created_at": self.created_at, "updated_at": self.updated_at}  # fmt: skip
        return found | {k: v for k, v in (("bailed", self.bailed), ("parent", self.parent)) if v is not None}


class Runs:
    """The stored runs of one hub (`hub.runs`): reads, transitions and pruning, in one place."""

    def __init__(self, hub: Mastra) -> None:
        self._hub = hub

    @property
    def storage(self) -> Storage:
        return self._hub.storage

    # -- reading ----------------------------------------------------------------------------------------------

    async def get(self, run_id: str) -> RunInfo:
        """The stored run `run_id`, workflow or agent.

        Raises:
            MastraError: `RUN_NOT_FOUND`.
        """
        _check_id(run_id)
        for table in ("workflow_runs", "agent_runs"):
            rows = await self.storage.select(table, where={"run_id": run_id}, limit=1)
            if rows:
                return _info(table, rows[0])
        raise _not_found(run_id)

    async def list(
        self,
        *,
        workflow: str | None = None,
        agent: str | None = None,
        kind: Literal["workflow", "agent"] | None = None,
        status: str | None = None,
        resource_id: str | None = None,
        limit: int | None = None,
    ) -> builtins.list[RunInfo]:
        """Stored runs, newest first: a workflow's (`workflow=`), an agent's (`agent=`), those of one `kind`, or
        all, filtered by `status` and `resource_id`."""
        if kind not in (None, "workflow", "agent"):
            raise _invalid(f"`kind` must be 'workflow' or 'agent', got {shown(kind)}.")
        found: builtins.list[RunInfo] = []
        for table, name_column, name in (("workflow_runs", "workflow_id", workflow), ("agent_runs", "agent", agent)):
            if (workflow is not None or agent is not None) and name is None:
                continue
            if kind is not None and not table.startswith(kind):
                continue
            where: dict[str, Any] = {}
            for column, value in ((name_column, name), ("status", status), ("resource_id", resource_id)):
                if value is not None:
                    where[column] = _text(value, column)
            rows = await self.storage.select(table, where=where, order_by="-created_at", limit=limit)
            found += [_info(table, row) for row in rows]
        found.sort(key=lambda info: info.created_at or _NEVER, reverse=True)
        return found[:limit] if limit is not None else found

    async def load(
        self, run_id: str, workflow_id: str | None = None
    ) -> tuple[dict[str, Any] | None, builtins.list[dict[str, Any]]]:
        """A workflow run's row and its journal rows in journal order (`seq`), read together; `(None, [])` when
        no run `run_id` (of `workflow_id`, when given) is stored."""
        _check_id(run_id)
        where: dict[str, Any] = {"run_id": run_id}
        if workflow_id is not None:
            where["workflow_id"] = workflow_id
        if isinstance(self.storage, ReadsRun):  # one query, one read transaction
            row, steps = await self.storage.read_run(run_id, workflow_id)
        else:
            found = await self.storage.select("workflow_runs", where=where, limit=1)
            row = found[0] if found else None
            steps = await self.storage.select("workflow_steps", where={"run_id": run_id}) if row else []
        steps.sort(key=lambda step: (step["seq"] is None, step["seq"] or 0, step["position"]))
        return row, steps

    async def active(self) -> builtins.list[Run]:
        """Runs of registered workflows left `running` in storage by a process that is no longer running them
        (it crashed or was stopped); continue each with `await run.restart()`, which claims it first."""
        rows = await self.storage.select("workflow_runs", where={"status": "running"}, order_by="created_at")
        workflows = self._hub.list_workflows()
        return [
            await workflows[row["workflow_id"]].get_run(row["run_id"])
            for row in rows
            if row["workflow_id"] in workflows and workflows[row["workflow_id"]].is_orphaned(row)
        ]

    async def prune(self, older_than: datetime | None = None, keep_last: int | None = None) -> int:
        """Delete finished workflow runs (success, failed, canceled) and their journals; returns how many.

        Args:
            older_than: delete only runs last updated before this time (naive means UTC).
            keep_last: always keep this many of the newest finished runs of each workflow.

        Suspended, running and pending runs are never deleted: they still need their journals. A finished run
        never changes again, so what was selected is what is deleted.
        """
        if older_than is None and keep_last is None:
            raise _invalid("`prune` needs `older_than`, `keep_last` or both.")
        if keep_last is not None and (isinstance(keep_last, bool) or not isinstance(keep_last, int) or keep_last < 0):
            raise _invalid(f"`keep_last` must be an int >= 0, got {keep_last!r}.")
        finished: dict[str, Any] = {"status": is_in(list(FINISHED))}
        where = dict(finished)
        if older_than is not None:
            where["updated_at"] = lt(older_than)
        doomed = await self.storage.select("workflow_runs", where=where, order_by="-updated_at")
        if keep_last is not None:
            newest = await self.storage.select("workflow_runs", where=finished, order_by="-updated_at")
            kept: dict[str, builtins.list[str]] = {}
            for row in newest:
                kept.setdefault(row["workflow_id"], []).append(row["run_id"])
            spared = {run_id for ids in kept.values() for run_id in ids[:keep_last]}
            doomed = [row for row in doomed if row["run_id"] not in spared]
        ids = [row["run_id"] for row in doomed]
        if ids:
            await self.storage.transaction([
                DeleteRowsOp("workflow_steps", {"run_id": is_in(ids)}),
                DeleteRowsOp("workflow_runs", {"run_id": is_in(ids), **finished}),
            ])  # fmt: skip
        return len(ids)

    async def delete(self, run_id: str) -> None:
        """Delete a stored workflow run and its journal, or an agent's paused run.

        The delete is a compare-and-set on the row as read: a run that another process claims meanwhile (a
        resume, a restart) is not deleted under it.

        Raises:
            MastraError: `RUN_NOT_FOUND`; `RUN_BUSY` for a run that is running (cancel it first);
                `RUN_CONFLICT` when it changed while being deleted.
        """
        _check_id(run_id)
        for table in ("workflow_runs", "agent_runs"):
            rows = await self.storage.select(table, where={"run_id": run_id}, limit=1)
            if rows:
                break
        else:
            raise _not_found(run_id)
        row = rows[0]
        if row["status"] in ("running", "resuming"):
            raise MastraError(
                ErrorKind.DOMAIN, "RUN_BUSY", f"Run `{run_id}` is {row['status']}; cancel it before deleting it.",
                details={"run_id": run_id, "status": row["status"]},
            )  # fmt: skip
        # Claimed first, in the same transaction: if the row changed since it was read, nothing is deleted.
        claim = self.update_op(table, run_id, row["version"], {"status": "deleting"}, status=row["status"])
        operations: list[Op] = [claim]
        if table == "workflow_runs":
            operations.append(DeleteRowsOp("workflow_steps", {"run_id": run_id}))
        operations.append(DeleteRowsOp(table, {"run_id": run_id}))
        try:
            await self.storage.transaction(operations)
        except MastraError as error:
            if error.code != "STORAGE_CONFLICT":
                raise
            raise await self.conflict(table, run_id, row["version"], row["status"]) from None

    # -- transitions ------------------------------------------------------------------------------------------

    @staticmethod
    def insert_op(table: str, row: Mapping[str, Any]) -> InsertOp:
        """The write that creates a run row, at version 1 (a stored row of that id fails it: `STORAGE_CONFLICT`)."""
        return InsertOp(table, [{**row, "version": 1}])

    @staticmethod
    def update_op(
        table: str, run_id: str, version: int | None, values: Mapping[str, Any], *, status: str | None = None
    ) -> UpdateRowsOp:
        """The compare-and-set write of a run row seen at `version` (and `status`, when given): it sets `values`
        and the next version, or fails the transaction if the row changed since."""
        where: dict[str, Any] = {"run_id": run_id, "version": version}
        if status is not None:
            where["status"] = status
        return UpdateRowsOp(table, where, {**values, "version": (version or 0) + 1}, expect=1)

    async def transition(
        self,
        table: str,
        run_id: str,
        version: int | None,
        values: Mapping[str, Any],
        *,
        status: str | None = None,
        also: Sequence[Op] = (),
    ) -> int:
        """Apply `update_op` (with the operations in `also`, atomically); returns the new version.

        Raises:
            MastraError: `RUN_NOT_SUSPENDED` when `status` was "suspended" and the stored run is not, else
                `RUN_CONFLICT`, both naming the run and its stored status; `RUN_NOT_FOUND`.
        """
        try:
            await self.storage.transaction([self.update_op(table, run_id, version, values, status=status), *also])
        except MastraError as error:
            if error.code != "STORAGE_CONFLICT" or error.details.get("table") != table:
                raise
            raise await self.conflict(table, run_id, version, status) from None
        return (version or 0) + 1

    async def conflict(self, table: str, run_id: str, version: int | None, status: str | None) -> MastraError:
        """The error for a compare-and-set on a run that lost: what is stored now, and what to do."""
        rows = await self.storage.select(table, where={"run_id": run_id}, limit=1)
        if not rows:
            return _not_found(run_id)
        stored = rows[0]["status"]
        details = {"run_id": run_id, "status": stored, "version": rows[0]["version"], "expected_version": version}
        if status == "suspended" and stored != "suspended":
            return MastraError(
                ErrorKind.DOMAIN, "RUN_NOT_SUSPENDED",
                f"Run `{run_id}` is `{stored}` in storage, not suspended: another resume (another object, process "
                "or click) took it first. Load it again to see its result.",
                details=details,
            )  # fmt: skip
        return MastraError(
            ErrorKind.DOMAIN, "RUN_CONFLICT",
            f"Run `{run_id}` changed in storage since this object read it (now `{stored}`, version "
            f"{rows[0]['version']}): another object or process wrote it. Load it again and retry if still needed.",
            details=details,
        )  # fmt: skip

    # -- agent runs -------------------------------------------------------------------------------------------

    async def agent_run(self, run_id: str) -> dict[str, Any] | None:
        """The stored row of an agent's run paused for approval, or None."""
        _check_id(run_id)
        rows = await self.storage.select("agent_runs", where={"run_id": run_id}, limit=1)
        return rows[0] if rows else None

    async def agent_runs(self, agent: str, status: str) -> builtins.list[dict[str, Any]]:
        """The stored rows of an agent's runs in `status`, oldest first."""
        return await self.storage.select("agent_runs", where={"agent": agent, "status": status}, order_by="created_at")


def _info(table: str, row: Mapping[str, Any]) -> RunInfo:
    workflow = table == "workflow_runs"
    snapshot = (row.get("snapshot") or {}) if workflow else {}
    bailed = snapshot.get("bailed") if row["status"] == "success" else None
    parent = snapshot.get("parent")
    return RunInfo(
        "workflow" if workflow else "agent", row["run_id"], row["workflow_id" if workflow else "agent"], row["status"],
        row["resource_id"], row["created_at"], row["updated_at"], row["version"], bailed,
        {"run_id": parent["run_id"], "path": parent["path"]} if parent else None,
    )  # fmt: skip


def _check_id(run_id: Any) -> None:
    # An id is a value of sane length: the check names `run_id` rather than letting storage refuse a mapping.
    check_id(run_id, "run_id", "RUN_ID_INVALID")


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise _invalid(f"`{name}` must be a str, got {shown(value)}.")
    return value


def _not_found(run_id: str) -> MastraError:
    return MastraError(
        ErrorKind.DOMAIN, "RUN_NOT_FOUND", f"No run `{run_id}` is stored in this hub's storage.",
        details={"run_id": run_id},
    )  # fmt: skip


def _invalid(message: str) -> MastraError:
    return MastraError(ErrorKind.VALIDATION, "RUNS_ARGUMENT_INVALID", message)
