"""Scorers attached to agents and workflow steps: which runs they judge, and the judging in the background.

`Agent(scorers=[...])` and `Step(scorers=[...])` take `Scorer`s or `scorer.sample(rate)`. When a run (or a step)
ends, each attached scorer is drawn with its rate; those drawn judge it in a background task of the hub's `scores`
service, which stores the scores with the trace and span they judged. The run's result never waits for them:
`await hub.scores.drain()` does, when a test or a notebook cell wants the scores.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import ErrorKind, MastraError
from ..redaction import guard
from .scorer import Scorer, ScorerRun, ScorerSample

__all__ = ["attached_scorers", "score_agent_run", "score_step"]

logger = guard(logging.getLogger("mastra_nb.evals"))
_warned: set[str] = set()


def attached_scorers(items: Iterable[Any] | None, where: str) -> tuple[ScorerSample, ...]:
    """Scorers given to an agent or a step, each with its sampling rate (1 unless `scorer.sample(rate)`)."""
    if items is None:
        return ()
    if isinstance(items, (Scorer, ScorerSample)):
        items = [items]
    if isinstance(items, Mapping):
        items = list(items.values())
    found = []
    for item in items:
        if isinstance(item, Scorer):
            found.append(ScorerSample(item))
        elif isinstance(item, ScorerSample):
            found.append(item)
        else:
            raise MastraError(
                ErrorKind.VALIDATION, "SCORER_DEFINITION_INVALID",
                f"{where} takes `Scorer`s or `scorer.sample(rate)`, got {type(item).__name__}.",
            )  # fmt: skip
    return tuple(found)


def score_agent_run(agent: Any, messages: Any, result: Any, span: Any) -> None:
    """Judge a finished agent run with the agent's scorers drawn for it (in the background)."""
    if not agent.scorers or result.pending_approvals:
        return
    chosen = [s.scorer for s in agent.scorers if s.chosen()]
    hub = agent.mastra
    if not chosen or not _has_hub(hub, f"agent `{agent.name}`"):
        return
    calls = tuple(
        {"name": r.tool, "arguments": r.arguments, "result": r.result, "error": r.error} for r in result.tool_results
    )
    target = ScorerRun(
        input=messages, output=result.object if result.object is not None else result.text, tool_calls=calls,
        context=tuple(r.content() for r in result.tool_results if not r.is_error), target_kind="agent",
        target_id=agent.name, run_id=result.run_id, trace_id=span.trace_id, span_id=span.span_id,
    )  # fmt: skip
    hub.scores.schedule(chosen, target)


def score_step(execution: Any, step: Any, data: Any, output: Any, span: Any) -> None:
    """Judge a finished workflow step with its scorers drawn for it (in the background)."""
    scorers = getattr(step, "scorers", ())
    if not scorers:
        return
    chosen = [s.scorer for s in scorers if s.chosen()]
    if not chosen:
        return
    hub = execution.run.workflow.mastra
    target = ScorerRun(
        input=data, output=output, target_kind="step", target_id=step.id, run_id=execution.run.run_id,
        trace_id=span.trace_id if span is not None else None, span_id=span.span_id if span is not None else None,
    )  # fmt: skip
    hub.scores.schedule(chosen, target)


def _has_hub(hub: Any, owner: str) -> bool:
    if hub is not None:
        return True
    if owner not in _warned:
        _warned.add(owner)
        logger.warning("The scorers of %s do not run: it is not registered in a hub (`Mastra(agents=[...])`), "
                       "which keeps the scores.", owner)  # fmt: skip
    return False
