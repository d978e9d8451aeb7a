"""`Scorer`: judges a run's output, in up to four steps: preprocess, analyze, score, reason.

Each step is a function of the `ScorerRun` so far (sync or async) or a `JudgePrompt`: a prompt for a judge model
and the schema its answer must match. Steps run in order and each sees the results before it (`run.preprocess`,
`run.analyze`, `run.score`), so a judge can extract statements, a second judge give a verdict on each, a plain
function turn the verdicts into a number, and a last judge explain it:

    relevancy = Scorer(
        "relevancy", judge="openai/gpt-4o-mini",
        preprocess=JudgePrompt("List the statements in: {output}", output=Statements),
        analyze=JudgePrompt("Is each statement relevant to {input}? {preprocess}", output=Verdicts),
        score=lambda run: sum(v.verdict == "yes" for v in run.analyze.verdicts) / len(run.analyze.verdicts),
    )
    result = await relevancy.run({"input": "...", "output": "..."})

A judge (`evals/judge.py`) asks its model for structured output (one repair round included), as an agent does, and
its calls are traced, recorded and replayed like an agent's. Only `score` is required; it must give a number (or an
object with a `score`).
"""

from __future__ import annotations

import inspect
import json
import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, create_model

from ..errors import ErrorKind, MastraError, shown
from ..telemetry.tracing import active_telemetry
from ..tools import sanitize
from .judge import Judge

if TYPE_CHECKING:
    from ..mastra import Mastra
    from ..models import Model

__all__ = ["JudgePrompt", "ScoreResult", "Scorer", "ScorerRun", "ScorerSample", "StepFn"]

STEPS = ("preprocess", "analyze", "score", "reason")


@dataclass(frozen=True)
class ScorerRun:
    """What a scorer judges, and what its steps have found so far.

    Attributes:
        input: what the judged agent or step was given (for an agent: the user's message or messages).
        output: what it produced (an agent's text, or its `output=` object).
        ground_truth: the expected answer, when a dataset gives one.
        tool_calls: the tool calls of an agent run: `{"name", "arguments", "result", "error"}` each.
        context: texts the answer should be faithful to (retrieved passages; by default the tool results).
        target_kind, target_id: "agent" and the agent's name, "step" and the step's id, "workflow" and its id.
        run_id, trace_id, span_id: the judged run and the span the score is attached to.
        preprocess, analyze, score: the results of the steps that ran before.
    """

    input: Any = None
    output: Any = None
    ground_truth: Any = None
    tool_calls: tuple[dict[str, Any], ...] = ()
    context: tuple[str, ...] = ()
    target_kind: str = "custom"
    target_id: str | None = None
    run_id: str | None = None
    trace_id: str | None = None
    span_id: str | None = None
    preprocess: Any = None
    analyze: Any = None
    score: float | None = None

    @classmethod
    def of(cls, value: ScorerRun | Mapping[str, Any]) -> ScorerRun:
        """A run from a mapping of its fields (`{"input": ..., "output": ...}`)."""
        if isinstance(value, ScorerRun):
            return value
        if not isinstance(value, Mapping):
            raise _invalid(f"`Scorer.run` takes a `ScorerRun` or a mapping of its fields, got {type(value).__name__}.")
        unknown = set(value) - set(cls.__dataclass_fields__)
        if unknown:
            raise _invalid(f"`Scorer.run` got unknown field(s) {sorted(unknown)}; the fields are those of `ScorerRun`.")
        data = dict(value)
        data["tool_calls"] = tuple(data.get("tool_calls") or ())
        data["context"] = tuple(data.get("context") or ())
        return cls(**data)


@dataclass(frozen=True)
class JudgePrompt:
    """A step answered by the scorer's judge model.

    Args:
        prompt: a template filled with the run's fields (`{input}`, `{output}`, `{ground_truth}`, `{context}`,
            `{tool_calls}`, `{preprocess}`, `{analyze}`, `{score}`; non-text values as JSON; write `{{` for a
            brace), or a function of the `ScorerRun` returning the prompt.
        output: the schema of the answer: a pydantic model, or a type such as `float` or `list[str]`.
    """

    prompt: str | Callable[[ScorerRun], str]
    output: Any = str


StepFn = Callable[[ScorerRun], Any]
Step = StepFn | JudgePrompt


@dataclass(frozen=True)
class ScoreResult:
    """A score: the number, the reason, what was judged, and the steps' results in `details`. A scorer that failed
    gives a score of None with the error in `details["error"]` (`failed` is then true)."""

    scorer_id: str
    score: float | None
    reason: str | None = None
    target_kind: str = "custom"
    target_id: str | None = None
    run_id: str | None = None
    trace_id: str | None = None
    span_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    @property
    def failed(self) -> bool:
        """Whether the scorer failed instead of giving a score."""
        return "error" in self.details

    @classmethod
    def failure(cls, scorer_id: str, target: ScorerRun, error: BaseException) -> ScoreResult:
        """The record of a scorer that failed on `target`: no score, the reason it failed, the error (redacted)."""
        failed = error if isinstance(error, MastraError) else MastraError(
            ErrorKind.EXECUTION, "SCORER_FAILED", f"Scorer `{scorer_id}` failed: {type(error).__name__}: {error}"
        )  # fmt: skip
        return cls(scorer_id, None, f"The scorer failed: {failed.message}", target.target_kind, target.target_id,
                   target.run_id, target.trace_id, target.span_id, {"error": failed.to_dict()})  # fmt: skip


@dataclass(frozen=True)
class ScorerSample:
    """A scorer attached to an agent or a step, judging a `rate` share of the runs (`scorer.sample(0.1)`)."""

    scorer: Scorer
    rate: float = 1.0

    def chosen(self) -> bool:
        return self.rate >= 1.0 or random.random() < self.rate


class Scorer:
    """A scorer (see the module docstring).

    Args:
        id: the scorer's name in the hub and in the `scores` table.
        score: the step that gives the number (required).
        preprocess, analyze: steps before it; reason: a step after it that explains the score in words.
        description: what the scorer measures.
        judge: the judge model of `JudgePrompt` steps: a litellm model string or a `Model`.
        instructions: the judge's system prompt.
    """

    def __init__(
        self,
        id: str,
        *,
        score: Step,
        preprocess: Step | None = None,
        analyze: Step | None = None,
        reason: Step | None = None,
        description: str = "",
        judge: str | Model | None = None,
        instructions: str = "You are a careful, impartial evaluator. Answer exactly in the format asked.",
    ) -> None:
        if not isinstance(id, str) or not id.strip():
            raise _invalid(f"`Scorer` needs a non-empty str id, got {id!r}.")
        self.id = id
        self.description = description
        self.steps: dict[str, Step] = {}
        for name, given in (("preprocess", preprocess), ("analyze", analyze), ("score", score), ("reason", reason)):
            if given is None:
                continue
            if not isinstance(given, JudgePrompt) and not callable(given):
                raise _invalid(f"Scorer `{id}`: `{name}` must be a function of the run or a `JudgePrompt`.")
            self.steps[name] = given
        if "score" not in self.steps:
            raise _invalid(f"Scorer `{id}` needs a `score` step.")
        if judge is None and any(isinstance(s, JudgePrompt) for s in self.steps.values()):
            raise _invalid(f"Scorer `{id}` has `JudgePrompt` steps, so it needs `judge=` (a model string or `Model`).")
        self.judge = judge
        self.instructions = instructions
        self._judge: Judge | None = None
        self._hub: Mastra | None = None

    def bind(self, hub: Mastra) -> Scorer:
        """Attach to a hub (`Mastra(scorers=...)` calls this): judge calls then use its config and recordings."""
        self._hub = hub
        return self

    def sample(self, rate: float) -> ScorerSample:
        """This scorer, judging only a `rate` share (0 to 1) of the runs it is attached to."""
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
            raise _invalid(f"Scorer `{self.id}`: a sampling rate is a number from 0 to 1, got {rate!r}.")
        return ScorerSample(self, float(rate))

    async def run(self, target: ScorerRun | Mapping[str, Any], *, hub: Mastra | None = None) -> ScoreResult:
        """Run the steps on `target` and return the score (it is not stored: `hub.scores.save` does that).

        Raises:
            MastraError: `SCORER_SCORE_INVALID` when the score step gives no number; a judge's errors.
        """
        run = ScorerRun.of(target)
        hub = hub or self._hub
        links = [(run.trace_id, run.span_id)] if run.trace_id and run.span_id else []
        with active_telemetry(hub).span("scorer", f"score {self.id}", {
            "mastra.scorer.id": self.id, "mastra.scored.kind": run.target_kind, "mastra.scored.id": run.target_id,
            "mastra.scored.trace_id": run.trace_id, "mastra.run.id": run.run_id,
        }, root=True, links=links) as span:  # fmt: skip
            reason = None
            for name, step in self.steps.items():
                value = await self._step(name, step, run, hub)
                if name == "reason":
                    reason = _as_reason(value)
                elif name == "score":
                    run = replace(run, score=_as_score(self.id, value))
                else:
                    run = replace(run, **{name: value})  # type: ignore[arg-type]  # preprocess or analyze: Any
            span.set("mastra.score", run.score)
        details: dict[str, Any] = {n: _jsonable(getattr(run, n)) for n in ("preprocess", "analyze") if n in self.steps}
        assert run.score is not None
        return ScoreResult(self.id, run.score, reason, run.target_kind, run.target_id, run.run_id,
                           run.trace_id, run.span_id, details)  # fmt: skip

    async def _step(self, name: str, step: Step, run: ScorerRun, hub: Mastra | None) -> Any:
        if isinstance(step, JudgePrompt):
            return await self._ask(name, step, run, hub)
        value = step(run)
        return await value if inspect.isawaitable(value) else value

    async def _ask(self, name: str, step: JudgePrompt, run: ScorerRun, hub: Mastra | None) -> Any:
        prompt = step.prompt(run) if callable(step.prompt) else step.prompt.format(**_template_fields(run))
        schema, wrapped = _schema(step.output, f"{self.id}_{name}")
        if self._judge is None:
            assert self.judge is not None, "checked in __init__: JudgePrompt steps need a judge"
            self._judge = Judge(sanitize(f"judge_{self.id}"), self.instructions, self.judge)
        answer: Any = await self._judge.ask(prompt, schema, hub)
        return answer.value if wrapped else answer

    def __repr__(self) -> str:
        return f"Scorer({self.id!r}, steps={list(self.steps)})"


def _schema(output: Any, name: str) -> tuple[type[BaseModel], bool]:
    """A pydantic model for the judge's answer, and whether it wraps a plain type in a `value` field."""
    if isinstance(output, type) and issubclass(output, BaseModel):
        return output, False
    model: type[BaseModel] = create_model(name.replace("-", "_").title().replace("_", ""), value=(output, ...))
    return model, True


def _template_fields(run: ScorerRun) -> dict[str, str]:
    names = ("input", "output", "ground_truth", "context", "tool_calls", "preprocess", "analyze", "score")
    return {name: _text(getattr(run, name)) for name in names}


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(_jsonable(value), ensure_ascii=False)


def _jsonable(value: Any) -> Any:
    from pydantic_core import to_jsonable_python

    return to_jsonable_python(value, fallback=str)


def _as_score(scorer_id: str, value: Any) -> float:
    found = value
    if isinstance(value, BaseModel) and hasattr(value, "score"):
        found = value.score
    elif isinstance(value, Mapping) and "score" in value:
        found = value["score"]
    if isinstance(found, (int, float)):
        return float(found)
    raise MastraError(
        ErrorKind.EXECUTION, "SCORER_SCORE_INVALID",
        f"The `score` step of scorer `{scorer_id}` gave {shown(value, 80)}, "
        "not a number (or an object with a `score`).",
        details={"scorer_id": scorer_id},
    )  # fmt: skip


def _as_reason(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, BaseModel) and hasattr(value, "reason"):
        return str(value.reason)
    if isinstance(value, Mapping) and "reason" in value:
        return str(value["reason"])
    return str(value)


def _invalid(message: str) -> MastraError:
    return MastraError(ErrorKind.VALIDATION, "SCORER_DEFINITION_INVALID", message)
