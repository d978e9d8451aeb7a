"""Named fast paths: reads a store may answer in one query where the primitives of `Storage` need several.

A store implements the primitives only. What is built on them is computed by its owner from `select`: a run with
its journal by `hub.runs`, recall's matches in context by memory. A database that answers such a read in one round
trip (for a run, in one read transaction too, so the journal matches the run row while another process writes)
offers it as a capability: a public method named by a protocol here. The owner checks with
`isinstance(store, ReadsRun)` and otherwise reads through the primitives; both answer alike (tested on every store).
"""

from __future__ import annotations

import builtins
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from . import tables
from .base import Storage, _int_arg, _keys
from .tables import Condition, Table

__all__ = ["ReadsMessagesAround", "ReadsRun", "OneQueryReads"]


@runtime_checkable
class ReadsRun(Protocol):
    """A store that reads a workflow run and its journal together."""

    async def read_run(self, run_id: str, workflow_id: str | None = None) -> tuple[dict[str, Any] | None, list[dict]]:
        """The `workflow_runs` row `run_id` (of `workflow_id`, when given) and, if there is one, its
        `workflow_steps` rows in any order, read in one transaction; `(None, [])` when there is no such run."""
        ...


@runtime_checkable
class ReadsMessagesAround(Protocol):
    """A store that reads messages with their neighbours in one query."""

    async def messages_around(self, ids: Sequence[str], before: int, after: int) -> list[dict[str, Any]]:
        """The stored messages `ids`, each with up to `before` and `after` messages on either side in its own
        thread (by `created_at`, then `id`), every message once, in any order. Ids not stored are skipped."""
        ...


class OneQueryReads(Storage):
    """Both capabilities, for a database store: it implements `_read_run` and `_read_around` as one query each;
    this class checks the arguments, decodes the cells and counts the access as every public read does."""

    async def read_run(
        self, run_id: str, workflow_id: str | None = None
    ) -> tuple[dict[str, Any] | None, builtins.list[dict[str, Any]]]:
        runs, steps = tables.get_table("workflow_runs"), tables.get_table("workflow_steps")
        where = {"run_id": run_id} if workflow_id is None else {"run_id": run_id, "workflow_id": workflow_id}
        run_where = tables.normalize_where(runs, where)  # an id is a value, never an operator: refused here
        step_where = tables.normalize_where(steps, {"run_id": run_id})
        self._check_open()
        raw_run, raw_steps = await self._read_run(run_where, step_where)
        self._accessed("select", len(raw_steps) + (raw_run is not None))
        if raw_run is None:
            return None, []
        return tables.decode_row(runs, raw_run), [tables.decode_row(steps, raw) for raw in raw_steps]

    async def messages_around(self, ids: Sequence[str], before: int, after: int) -> builtins.list[dict[str, Any]]:
        table = tables.get_table("messages")
        before, after = _int_arg(before, "before", minimum=0), _int_arg(after, "after", minimum=0)
        wanted = _keys(ids, "messages_around")
        self._check_open()
        raw = await self._read_around(table, wanted, before, after) if wanted else []
        self._accessed("select", len(raw))
        return [tables.decode_row(table, row) for row in raw]

    @abstractmethod
    async def _read_run(
        self, run_where: tuple[Condition, ...], step_where: tuple[Condition, ...]
    ) -> tuple[Mapping[str, Any] | None, Sequence[Mapping[str, Any]]]:
        """Stored cells of the run row matching `run_where` (or None) and, if there is one, of the journal rows
        matching `step_where`, in any order, in one read transaction."""

    @abstractmethod
    async def _read_around(
        self, table: Table, ids: builtins.list[str], before: int, after: int
    ) -> Sequence[Mapping[str, Any]]:
        """Stored cells of `messages_around`, in any order."""
