"""The run journal: one record per step result, written to storage in batches.

A run is one `workflow_runs` row; each step result is one `workflow_steps` row keyed by run id and path.
Executing a step reads top to bottom: is there a recorded result? use it; otherwise run it and record it.
Resume, restart after a crash and time travel are all that same lookup, so they cannot drift apart; and the
bytes stored per step stay constant however long the run grows, because nothing is rewritten as a whole.

Rows are written append-only where they can be: a record storage has not seen is a plain INSERT, the run row
after its first write a plain UPDATE, and only a record written before (a suspended step now resumed, a step
that spanned a batch, a sleep's due time) is updated in place, in the same transaction. DuckDB's INSERT OR
REPLACE costs about three plain statements, so this halves what a journal write costs.

Durability modes, and what each can lose when the process dies (parallel branches and foreach items included:
they share their run's journal, whose writes go one at a time, so a record put while another write is in flight
waits for the next one instead of racing it):
- `"batched"` (default): step records are kept in memory and written in one transaction when `BATCH_SIZE`
  have gathered or the oldest is `BATCH_SECONDS` old (checked as each step of any branch or item starts and
  ends), and always when the run starts, suspends, sleeps, fails, is canceled or ends. A crash loses the
  results not yet written: at most `BATCH_SIZE` of them, all of steps that ended less than `BATCH_SECONDS`
  before the last step boundary, in any branch; `run.restart()` runs those steps again (each exactly as often as it
  was lost). A resume claims the run (stored `running`) before its step runs; a crash before the step's record
  is written leaves that step suspended, and the restarted run suspends there again, to be resumed anew.
- `"strict"`: every record is committed before its branch or item goes on; a crash loses only the steps in
  flight (started, or finished with their commit not yet done), which a restart runs again. A resumed step's
  resume data is committed before it runs, so a restart runs it again with the same data.
- `"none"`: nothing is written; the run lives in this process only (no resume from a fresh object).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from ..errors import MastraError
from ..storage.base import DeleteRowsOp, InsertOp, Op, UpdateRowsOp
from ..storage.compare import is_in

if TYPE_CHECKING:
    from ..runs import Runs

__all__ = ["BATCH_SECONDS", "BATCH_SIZE", "Durability", "Journal", "Record", "now", "settled"]

T = TypeVar("T")
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
    """The records of one run, and the rows not yet written.

    Writes are serialized: one transaction in flight per run. Parallel branches and foreach items share the
    journal, and two of them reaching a step boundary together would otherwise both write the same new rows
    (`STORAGE_CONFLICT`) or mark stored what the other's write never held. A write takes the pending rows out
    before it awaits, so records put meanwhile stay pending for the next write; a failed write puts its rows
    back (under anything newer), and storage is left as it was.
    """

    def __init__(self, runs: Runs | None, run_id: str, durability: Durability) -> None:
        self.runs = runs if durability != "none" else None
        self.run_id = run_id
        self.durability = durability
        self.records: dict[str, Record] = {}
        self.version: int | None = None  # the stored run row's version, as this journal last read or wrote it
        self._dirty: dict[str, Record] = {}
        self._stored: set[str] = set()  # the paths whose rows storage holds
        self._run_row: dict[str, Any] | None = None
        self._expect: str | None = None  # the stored status the pending run row's write must find
        self._run_stored = False  # whether storage holds the run row
        self._writing: asyncio.Future[None] | None = None
        self._last_flush = time.monotonic()
        self._next_seq = 0

    @property
    def stored(self) -> bool:
        """Whether storage holds this run's row (as far as this journal knows)."""
        return self.runs is not None and self._run_stored

    def next_seq(self) -> int:
        """The journal order of a new record."""
        seq = self._next_seq
        self._next_seq += 1
        return seq

    def put(self, record: Record) -> None:
        self.records[record.path] = record
        if record.seq >= self._next_seq:
            self._next_seq = record.seq + 1
        if self.runs is not None:
            self._dirty[record.path] = record

    def put_run(self, row: dict[str, Any]) -> None:
        if self.runs is not None:
            self._run_row = row

    async def transition(self, row: dict[str, Any], expect: str | None) -> None:
        """Write the run row now: inserted when storage does not hold it yet (a stored row of that id fails with
        `STORAGE_CONFLICT`), else as a compare-and-set that must find it at the version this journal knows, with
        status `expect` when given (a resume, a restart's claim, a cancel). A loser writes nothing and keeps
        nothing pending.

        Raises:
            MastraError: `RUN_NOT_SUSPENDED` or `RUN_CONFLICT` (see `Runs.conflict`), `STORAGE_CONFLICT`.
        """
        if self.runs is None:
            return
        self._run_row, self._expect = row, expect
        try:
            await self.flush()
        except BaseException:
            self._run_row, self._expect = None, None
            raise

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
        """Write the run row and every pending record in one transaction, after any write in flight."""
        if self.runs is None:
            return
        while self._writing is not None:  # `wait`, not `await`: a waiter's cancellation must not cancel the write
            await asyncio.wait([self._writing])
        if self._run_row is None and not self._dirty:
            return
        run_row, expect, dirty = self._run_row, self._expect, self._dirty
        self._run_row, self._expect, self._dirty = None, None, {}
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._writing = done
        try:
            # Settled even if the caller is cancelled: DuckDB's thread commits regardless, and this journal must
            # know what storage holds (rows it thought unwritten would be inserted twice).
            write, cancelled = await settled(self.runs.storage.transaction(self._operations(run_row, expect, dirty)))
            error = write.exception()
            if error is None:
                self._stored.update(dirty)
                if run_row is not None:
                    self.version = (self.version or 0) + 1 if self._run_stored else 1
                    self._run_stored = True
                self._last_flush = time.monotonic()
            else:
                self._dirty = {**dirty, **self._dirty}  # pending again, under what was put meanwhile
                if self._run_row is None:
                    self._run_row, self._expect = run_row, expect
        finally:
            self._writing = None
            done.set_result(None)
        if cancelled:
            raise asyncio.CancelledError
        if isinstance(error, MastraError) and error.code == "STORAGE_CONFLICT" and run_row is not None:
            if error.details.get("table") == "workflow_runs" and "expected" in error.details:
                raise await self.runs.conflict("workflow_runs", self.run_id, self.version, expect) from None
        if error is not None:
            raise error

    def _operations(self, run_row: dict[str, Any] | None, expect: str | None, dirty: dict[str, Record]) -> list[Op]:
        assert self.runs is not None
        operations: list[Op] = []
        if run_row is not None:
            if self._run_stored:
                changes = {k: run_row[k] for k in _RUN_CHANGES}
                operations.append(
                    self.runs.update_op("workflow_runs", self.run_id, self.version, changes, status=expect)
                )
            else:
                operations.append(self.runs.insert_op("workflow_runs", run_row))
        if dirty:
            rewritten = [r for path, r in dirty.items() if path in self._stored]
            new = list(dirty.values())
            if 0 < len(rewritten) <= _UPDATES:  # the usual case: the one step a resume continued
                new = [r for r in new if r.path not in self._stored]
                for r in rewritten:
                    where: dict[str, Any] = {"run_id": self.run_id, "position": r.path}
                    values = {k: getattr(r, k) for k in _CHANGES}
                    # expect=1: a journal row is only ever updated where it exists; anything else is a bug to see
                    operations.append(UpdateRowsOp("workflow_steps", where, values, expect=1))
            elif rewritten:
                where = {"run_id": self.run_id, "position": is_in([r.path for r in rewritten])}
                operations.append(DeleteRowsOp("workflow_steps", where))
            if new:
                rows = [{"run_id": self.run_id, "position": r.path, **_row(r)} for r in new]
                operations.append(InsertOp("workflow_steps", rows))
        return operations

    def restore(self, rows: list[dict[str, Any]], version: int | None) -> None:
        """Take this run's stored records (journal rows in `seq` order) and its run row's version, for a run
        loaded in a fresh object or process."""
        self.records = {}
        for row in rows:
            record = Record(path=row["position"], **{name: row[name] for name in _COLUMNS})
            self.records[record.path] = record
            self._next_seq = max(self._next_seq, record.seq + 1)
        self._stored = set(self.records)
        self._run_stored = True
        self.version = version


async def settled(work: Awaitable[T]) -> tuple[asyncio.Future[T], bool]:
    """Run `work` to its end even if the caller is cancelled meanwhile; returns it (done: read its result or
    exception) and whether a cancellation arrived, which the caller re-raises once it has recorded the outcome."""
    task = asyncio.ensure_future(work)
    cancelled = False
    while not task.done():
        try:
            await asyncio.wait([task])
        except asyncio.CancelledError:
            cancelled = True
    return task, cancelled


def _row(record: Record) -> dict[str, Any]:
    # Only the cells a record has: an inserted row's missing columns are None, and a step's row leaves most of
    # them empty (no suspension, resume, error or state), which the store then has no need to look at.
    return {name: value for name in _COLUMNS if (value := getattr(record, name)) is not None}
