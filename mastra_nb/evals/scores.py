"""`Scores`: a hub's stored scores (the `scores` table) and the background judging of attached scorers.

A score row holds the number and reason, what was judged (`target_kind`, `target_id`), the trace and span it
judged, and in `details` the run id and the steps' results. Reasons and details are redacted with the hub's
telemetry redactor before they are stored.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..redaction import guard
from ..storage.compare import gte
from .scorer import Scorer, ScoreResult, ScorerRun

if TYPE_CHECKING:
    from ..mastra import Mastra

__all__ = ["Scores"]

logger = guard(logging.getLogger("mastra_nb.evals"))


class Scores:
    """The scores of one hub (`hub.scores`)."""

    def __init__(self, hub: Mastra) -> None:
        self._hub = hub
        self._lock = threading.Lock()
        self._pending: set[asyncio.Future[None]] = set()

    # -- judging in the background ----------------------------------------------------------------------------

    def schedule(self, scorers: Iterable[Scorer], target: ScorerRun, details: Mapping[str, Any] | None = None) -> None:
        """Judge `target` with each scorer in a background task on the running loop, and store the scores.
        A failing scorer is logged and stored as a failed score (`ScoreResult.failed`); it never reaches the
        judged run."""
        task = asyncio.ensure_future(self._judge(list(scorers), target, dict(details or {})))
        with self._lock:
            self._pending.add(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Future[None]) -> None:
        with self._lock:
            self._pending.discard(task)

    async def _judge(self, scorers: list[Scorer], target: ScorerRun, details: dict[str, Any]) -> None:
        outcomes = await asyncio.gather(*(s.run(target, hub=self._hub) for s in scorers), return_exceptions=True)
        results = []
        for scorer, outcome in zip(scorers, outcomes, strict=True):
            if isinstance(outcome, Exception):
                logger.warning("Scorer `%s` failed on %s `%s`: %s", scorer.id, target.target_kind, target.target_id,
                               outcome)  # fmt: skip
                results.append(ScoreResult.failure(scorer.id, target, outcome))
            elif isinstance(outcome, BaseException):
                raise outcome  # cancellation passes through
            else:
                results.append(outcome)
        if results:
            await self.save(results, details)

    async def drain(self) -> None:
        """Wait until every background judging started so far has stored its scores."""
        while True:
            with self._lock:
                pending = list(self._pending)
            if not pending:
                return
            here = asyncio.get_running_loop()
            for task in pending:
                if task.get_loop() is here:
                    await asyncio.wait([task])
                else:  # started on another loop (a sync call through the private loop): it cannot be awaited here
                    while not task.done():  # noqa: ASYNC110 - an asyncio.Event would be bound to one loop too
                        await asyncio.sleep(0.005)

    # -- storage -------------------------------------------------------------------------------------------

    async def save(self, results: Iterable[ScoreResult], details: Mapping[str, Any] | None = None) -> int:
        """Store scores (with `details` added to each one's details); returns how many."""
        redactor = self._hub.telemetry.redactor
        rows = [
            {
                "id": r.id, "scorer_id": r.scorer_id, "target_kind": r.target_kind, "target_id": r.target_id,
                "trace_id": r.trace_id, "span_id": r.span_id, "score": r.score,
                "reason": redactor.text(r.reason) if r.reason is not None else None,
                "details": redactor.value({**r.details, **(details or {}), "run_id": r.run_id}),
                "created_at": r.created_at,
            }
            for r in results
        ]  # fmt: skip
        return await self._hub.storage.upsert("scores", rows) if rows else 0

    async def list(
        self,
        *,
        scorer_id: str | None = None,
        target_kind: str | None = None,
        target_id: str | None = None,
        trace_id: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[ScoreResult]:
        """Stored scores matching every given filter, newest first."""
        where: dict[str, Any] = {
            key: value
            for key, value in (("scorer_id", scorer_id), ("target_kind", target_kind), ("target_id", target_id),
                               ("trace_id", trace_id))
            if value is not None
        }  # fmt: skip
        if since is not None:
            where["created_at"] = gte(since)
        rows = await self._hub.storage.select("scores", where=where, order_by="-created_at", limit=limit)
        results = []
        for row in rows:
            details = dict(row["details"] or {})
            run_id = details.pop("run_id", None)
            results.append(ScoreResult(
                row["scorer_id"], row["score"], row["reason"], row["target_kind"], row["target_id"], run_id,
                row["trace_id"], row["span_id"], details, row["id"], row["created_at"],
            ))  # fmt: skip
        return results
