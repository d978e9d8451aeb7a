"""The run journal: one record per step result, written to storage in batches.

A run is one `workflow_runs` row; each step result is one `workflow_steps` row keyed by run id and path.
Executing a step reads top to bottom: is there a recorded result? use it; otherwise run it and record it.
Resume, restart after a crash and time travel are all that same lookup, so they cannot drift apart; and the
bytes stored per step stay constant however long the run grows, because nothing is rewritten as a whole.

Rows are written append-only where they can be: a record storage has not seen is a plain INSERT, the run row
after its first write a plain UPDATE, and only a record written before (a suspended step now resumed, a step
that spanned a batch, a sleep's due time) is updated in place, in the same transaction. DuckDB's INSERT OR
REPLACE costs about three plain statements, so this halves what a journal write costs.

Durability modes:
- `"batched"` (default): step records are kept in memory and written in one transaction when `BATCH_SIZE`
  have gathered or the oldest is `BATCH_SECONDS` old (checked as each step starts and ends), and always when
  the run starts, suspends, sleeps, fails, is canceled or ends. A crash loses the results not yet written: at
  most `BATCH_SIZE` of them, all of steps that ended less than `BATCH_SECONDS` before the last step boundary;
  `run.restart()` runs those steps again. A resumed run's row keeps saying suspended until the first batch,
  which is a sound recovery point: a crash before it leaves the run resumable as it was.
- `"strict"`: every record is committed before the next step starts; a crash loses nothing that completed.
- `"none"`: nothing is written; the run lives in this process only (no resume from a fresh object).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from typing import Any, Literal

from ..storage.base import DeleteRowsOp, InsertOp, Op, Storage, UpdateRowsOp

__all__ = ["BATCH_SECONDS", "BATCH_SIZE", "Durability", "Journal", "Record", "now"]

Durability = Literal["batched", "strict", "none"]
BATCH_SIZE = 500
BATCH_SECONDS = 0.2
# Records written before are updated in place, one statement each, up to this many; more are deleted and
# inserted again with the new ones (two statements in all). In DuckDB an UPDATE costs about what an INSERT does.
_UPDATES = 4


def now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Record:
    """One step result; also what `RunResult.steps` shows. Values are in their JSON form."""

    path: str
    step_id: str
    seq: int
    status: str  # running, success, failed, suspended, waiting (a sleep), canceled
    attempt: int = 0
    input: Any = None
    output: Any = None
    suspend_payload: Any = None
    resume_payload: Any = None
    error: dict[str, Any] | None = None
    state: Any = None  # the workflow state after this step, when the step changed it
    started_at: datetime | None = None
    ended_at: datetime | None = None
    suspended_at: datetime | None = None
    resumed_at: datetime | None = None


_COLUMNS = tuple(f.name for f in fields(Record) if f.name != "path")  # "path" is stored as "position"
# What a second write of a record or of the run row can change (an UPDATE costs a little per column).
_CHANGES = tuple(name for name in _COLUMNS if name != "seq")  # a path keeps its seq
_RUN_CHANGES = ("status", "output", "error", "snapshot", "updated_at")


class Journal:
    """The records of one run, and the rows not yet written."""

    def __init__(self, storage: Storage | None, run_id: str, durability: Durability) -> None:
        self.storage = storage if durability != "none" else None
        self.run_id = run_id
        self.durability = durability
        self.records: dict[str, Record] = {}
        self._dirty: dict[str, Record] = {}
        self._stored: set[str] = set()  # the paths whose rows storage holds
        self._run_row: dict[str, Any] | None = None
        self._run_stored = False  # whether storage holds the run row
        self._last_flush = time.monotonic()
        self._next_seq = 0

    def next_seq(self) -> int:
        """The journal order of a new record."""
        seq = self._next_seq
        self._next_seq += 1
        return seq

    def put(self, record: Record) -> None:
        self.records[record.path] = record
        if record.seq >= self._next_seq:
            self._next_seq = record.seq + 1
        if self.storage is not None:
            self._dirty[record.path] = record

    def put_run(self, row: dict[str, Any]) -> None:
        if self.storage is not None:
            self._run_row = row

    async def before_step(self, resumed: bool) -> None:
        """Write what is due before a step starts: anything older than `BATCH_SECONDS`, and in strict mode the
        record of a resumed step, so that the resume data it was given outlives a crash during the step."""
        if self._dirty and (
            (resumed and self.durability == "strict") or time.monotonic() - self._last_flush >= BATCH_SECONDS
        ):
            await self.flush()

    async def step_done(self) -> None:
        """Write what is due after a step, by the durability mode."""
        if self._dirty and (
            self.durability == "strict"
            or len(self._dirty) >= BATCH_SIZE
            or time.monotonic() - self._last_flush >= BATCH_SECONDS
        ):
            await self.flush()

    async def flush(self) -> None:
        """Write the run row and every pending record in one transaction."""
        if self.storage is None or (self._run_row is None and not self._dirty):
            return
        operations: list[Op] = []
        if self._run_row is not None:
            if self._run_stored:
                values = {k: self._run_row[k] for k in _RUN_CHANGES}
                operations.append(UpdateRowsOp("workflow_runs", {"run_id": self.run_id}, values))
            else:
                operations.append(InsertOp("workflow_runs", [self._run_row]))
        if self._dirty:
            rewritten = [r for path, r in self._dirty.items() if path in self._stored]
            new = list(self._dirty.values())
            if 0 < len(rewritten) <= _UPDATES:  # the usual case: the one step a resume continued
                new = [r for r in new if r.path not in self._stored]
                for r in rewritten:
                    where: dict[str, Any] = {"run_id": self.run_id, "position": r.path}
                    operations.append(UpdateRowsOp("workflow_steps", where, {k: getattr(r, k) for k in _CHANGES}))
            elif rewritten:
                where = {"run_id": self.run_id, "position": {"$in": [r.path for r in rewritten]}}
                operations.append(DeleteRowsOp("workflow_steps", where))
            if new:
                rows = [{"run_id": self.run_id, "position": r.path, **_row(r)} for r in new]
                operations.append(InsertOp("workflow_steps", rows))
        # Cleared only after the write: a failed write keeps them pending, and storage is left unchanged.
        await self.storage.transaction(operations)
        self._stored.update(self._dirty)
        self._run_stored = self._run_stored or self._run_row is not None
        self._run_row = None
        self._dirty = {}
        self._last_flush = time.monotonic()

    def restore(self, rows: list[dict[str, Any]]) -> None:
        """Take this run's stored records (journal rows in `seq` order), for a run loaded in a fresh object or
        process; its run row is stored too."""
        self.records = {}
        for row in rows:
            record = Record(path=row["position"], **{name: row[name] for name in _COLUMNS})
            self.records[record.path] = record
            self._next_seq = max(self._next_seq, record.seq + 1)
        self._stored = set(self.records)
        self._run_stored = True


def _row(record: Record) -> dict[str, Any]:
    return {name: getattr(record, name) for name in _COLUMNS}
