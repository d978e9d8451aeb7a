"""`run_evals`: run an agent or a workflow over a dataset, score every case, and return a table of the scores.

Cases run `concurrency` at a time; each case's run is traced as usual, then every scorer judges it (concurrently)
and the scores are stored in the hub's `scores` table, tagged with this evaluation's id and the case's index. A
failing case or scorer leaves an empty cell and its error in the row, never stops the others. The returned
`EvalResult` renders as a table in a notebook (`_repr_html_`), prints as text, and gives each scorer's mean.
"""

from __future__ import annotations

import asyncio
import html
import statistics
import sys
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ..errors import ErrorKind, MastraError
from .scorer import Scorer, ScoreResult, ScorerRun, ScorerSample

if TYPE_CHECKING:
    from ..mastra import Mastra

__all__ = ["EvalCase", "EvalResult", "EvalRow", "run_evals"]

Progress = Callable[[int, int], Any]


@dataclass(frozen=True)
class EvalCase:
    """One case of a dataset: the input, and optionally the expected answer and the context to be faithful to."""

    input: Any
    ground_truth: Any = None
    context: Sequence[str] = ()

    @classmethod
    def of(cls, item: Any) -> EvalCase:
        """A case from an `EvalCase`, a mapping with `input` (and `ground_truth`, `context`), or a bare input."""
        if isinstance(item, EvalCase):
            return item
        if isinstance(item, Mapping) and "input" in item:
            return cls(item["input"], item.get("ground_truth"), tuple(item.get("context") or ()))
        return cls(item)


@dataclass(frozen=True)
class EvalRow:
    """The outcome of one case: what the target produced, and each scorer's score, reason and error."""

    index: int
    input: Any
    output: Any
    ground_truth: Any
    scores: dict[str, float | None]
    reasons: dict[str, str | None] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # by scorer id, and "target" for the run itself
    trace_id: str | None = None


@dataclass(frozen=True)
class EvalResult:
    """The table of an evaluation: a row per case, a column per scorer."""

    eval_id: str
    target: str
    scorers: list[str]
    rows: list[EvalRow]

    @property
    def means(self) -> dict[str, float | None]:
        """Each scorer's mean over the cases it scored (None when it scored none)."""
        means: dict[str, float | None] = {}
        for scorer in self.scorers:
            values = [v for row in self.rows if (v := row.scores.get(scorer)) is not None]
            means[scorer] = statistics.fmean(values) if values else None
        return means

    @property
    def failures(self) -> list[EvalRow]:
        """The rows with an error."""
        return [row for row in self.rows if row.errors]

    def to_records(self) -> list[dict[str, Any]]:
        """One dict a row: case, input, output, ground truth, a column per scorer, errors."""
        return [
            {"case": row.index, "input": row.input, "output": row.output, "ground_truth": row.ground_truth,
             **row.scores, "errors": dict(row.errors) or None}
            for row in self.rows
        ]  # fmt: skip

    def __repr__(self) -> str:
        header = ["case", *self.scorers, "output"]
        lines = [header]
        for row in self.rows:
            cells = [str(row.index), *(_cell(row.scores.get(s)) for s in self.scorers)]
            cells.append("ERROR: " + "; ".join(row.errors.values()) if row.errors else _short(row.output, 40))
            lines.append(cells)
        lines.append(["mean", *(_cell(self.means[s]) for s in self.scorers), ""])
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        text = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines]
        return f"EvalResult({self.target}, {len(self.rows)} cases)\n" + "\n".join(text)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(s)}</th>" for s in ["case", "input", "output", *self.scorers])
        body = []
        for row in self.rows:
            output = (f"<span style='color:#c0392b'>{html.escape('; '.join(row.errors.values()))}</span>"
                      if row.errors else html.escape(_short(row.output, 120)))  # fmt: skip
            cells = [str(row.index), html.escape(_short(row.input, 80)), output]
            cells += [_html_score(row.scores.get(s), row.reasons.get(s)) for s in self.scorers]
            body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        means = "".join(f"<td><b>{_cell(self.means[s])}</b></td>" for s in self.scorers)
        body.append(f"<tr><td><b>mean</b></td><td></td><td></td>{means}</tr>")
        title = f"<b>{html.escape(self.target)}</b>: {len(self.rows)} cases, evaluation <code>{self.eval_id}</code>"
        return f"<div>{title}<table><tr>{head}</tr>{''.join(body)}</table></div>"


async def run_evals(
    target: Any,
    dataset: Iterable[Any],
    scorers: Iterable[Scorer | ScorerSample],
    *,
    concurrency: int = 4,
    progress: bool | Progress = True,
    hub: Mastra | None = None,
) -> EvalResult:
    """Run `target` on every case of `dataset`, score each run with every scorer, and tabulate the scores.

    Args:
        target: an `Agent` (each case's input is its prompt) or a `Workflow` (each input starts a run).
        dataset: cases: `EvalCase`s, mappings with `input` (and `ground_truth`, `context`), or bare inputs.
        scorers: the scorers; a `scorer.sample(rate)` counts as its scorer (every case is scored).
        concurrency: how many cases run at once.
        progress: True prints a progress line to stderr; a function is called with `(done, total)`; False: quiet.
        hub: where scores are stored; by default the target's hub (no hub: the scores are only returned).

    Raises:
        MastraError: `EVAL_TARGET_INVALID`, or `EVAL_ARGUMENT_INVALID` for an empty scorer list or bad concurrency.
    """
    cases = [EvalCase.of(item) for item in dataset]
    chosen = [s.scorer if isinstance(s, ScorerSample) else s for s in scorers]
    if not chosen or not all(isinstance(s, Scorer) for s in chosen):
        raise _invalid("EVAL_ARGUMENT_INVALID", "`run_evals` needs a non-empty list of `Scorer`s.")
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise _invalid("EVAL_ARGUMENT_INVALID", f"`concurrency` must be an int >= 1, got {concurrency!r}.")
    kind, name, run = _runner(target)
    hub = hub if hub is not None else getattr(target, "mastra", None)
    eval_id = uuid.uuid4().hex
    gate = asyncio.Semaphore(concurrency)
    report = _reporter(progress, len(cases), f"{kind} `{name}`")
    done = 0

    async def one(index: int, case: EvalCase) -> EvalRow:
        nonlocal done
        async with gate:
            row = await _case(index, case, kind, name, run, chosen, hub, eval_id)
        done += 1
        report(done)
        return row

    report(0)
    rows = list(await asyncio.gather(*(one(i, case) for i, case in enumerate(cases))))
    return EvalResult(eval_id, f"{kind} `{name}`", [s.id for s in chosen], rows)


async def _case(
    index: int, case: EvalCase, kind: str, name: str, run: Callable[[Any], Any], scorers: list[Scorer],
    hub: Mastra | None, eval_id: str,
) -> EvalRow:  # fmt: skip
    try:
        target: ScorerRun = await run(case)
    except MastraError as error:
        return EvalRow(index, case.input, None, case.ground_truth, {s.id: None for s in scorers},
                       errors={"target": str(error)})  # fmt: skip
    outcomes = await asyncio.gather(*(s.run(target, hub=hub) for s in scorers), return_exceptions=True)
    scores: dict[str, float | None] = {}
    reasons: dict[str, str | None] = {}
    errors: dict[str, str] = {}
    results: list[ScoreResult] = []
    for scorer, outcome in zip(scorers, outcomes, strict=True):
        if isinstance(outcome, ScoreResult):
            scores[scorer.id], reasons[scorer.id] = outcome.score, outcome.reason
            results.append(outcome)
        elif isinstance(outcome, Exception):
            scores[scorer.id], errors[scorer.id] = None, f"{scorer.id}: {outcome}"
            results.append(ScoreResult.failure(scorer.id, target, outcome))
        else:
            raise outcome  # cancellation and other control flow pass through
    if hub is not None and results:
        await hub.scores.save(results, {"eval_id": eval_id, "case": index})
    return EvalRow(index, case.input, target.output, case.ground_truth, scores, reasons, errors, target.trace_id)


def _runner(target: Any) -> tuple[str, str, Callable[[EvalCase], Any]]:
    """What kind the target is, its name, and how to run a case into a `ScorerRun`."""
    if callable(getattr(target, "generate", None)):

        async def ask(case: EvalCase) -> ScorerRun:
            result = await target.generate(case.input)
            calls = tuple({"name": r.tool, "arguments": r.arguments, "result": r.result, "error": r.error}
                          for r in result.tool_results)  # fmt: skip
            context = tuple(case.context) or tuple(r.content() for r in result.tool_results if not r.is_error)
            output = result.object if result.object is not None else result.text
            return ScorerRun(case.input, output, case.ground_truth, calls, context, "agent", target.name,
                             result.run_id, result.trace_id)  # fmt: skip

        return "agent", target.name, ask
    if callable(getattr(target, "create_run", None)):

        async def start(case: EvalCase) -> ScorerRun:
            result = await target.create_run().start(case.input)
            if result.error is not None:
                raise result.error
            output = result.output.model_dump(mode="json") if isinstance(result.output, BaseModel) else result.output
            return ScorerRun(case.input, output, case.ground_truth, (), tuple(case.context), "workflow", target.id,
                             result.run_id, result.trace_id)  # fmt: skip

        return "workflow", target.id, start
    raise _invalid("EVAL_TARGET_INVALID", f"`run_evals` runs an `Agent` or a `Workflow`, got {type(target).__name__}.")


def _reporter(progress: bool | Progress, total: int, label: str) -> Callable[[int], None]:
    if callable(progress):
        return lambda done: progress(done, total)
    if not progress:
        return lambda done: None

    def show(done: int) -> None:
        end = "\n" if done == total else ""
        print(f"\rrun_evals {label}: {done}/{total} cases", end=end, file=sys.stderr, flush=True)

    return show


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _html_score(value: float | None, reason: str | None) -> str:
    title = f" title='{html.escape(reason, quote=True)}'" if reason else ""
    return f"<span{title}>{_cell(value)}</span>"


def _short(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else repr(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _invalid(code: str, message: str) -> MastraError:
    return MastraError(ErrorKind.VALIDATION, code, message)
