"""The built-in scorers: three in code (tool-call accuracy, completeness, keyword coverage) and two with a judge
model (answer relevancy, faithfulness). Each returns a `Scorer`; scores run from 0 (worst) to 1 (best).

The code scorers compare words after a light normalization (lower case, no stop words, common suffixes
stripped), which is crude next to a language model and free, fast and deterministic.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from .scorer import JudgePrompt, Scorer, ScorerRun

if TYPE_CHECKING:
    from ..models import Model

__all__ = ["answer_relevancy", "completeness", "faithfulness", "keyword_coverage", "tool_call_accuracy"]

_WORD = re.compile("[^\\W_]+(?:['\u2019][^\\W_]+)?")  # words, with an inner apostrophe (straight or curly)
_STOP = frozenset("""
a about above after again against all am an and any are as at be because been before being below between both but by
can could did do does doing down during each few for from further had has have having he her here hers herself him
himself his how i if in into is it its itself just me more most my myself no nor not now of off on once only or other
our ours ourselves out over own same she should so some such than that the their theirs them themselves then there
these they this those through to too under until up very was we were what when where which while who whom why will
with would you your yours yourself yourselves please tell give let also get got may might must shall what's it's
""".split())  # fmt: skip
_SUFFIXES = ("ing", "edly", "ed", "es", "s", "ly")


def terms(text: Any) -> list[str]:
    """The distinct content words of `text`, normalized, in order of first appearance."""
    found: dict[str, None] = {}
    for word in _WORD.findall(text if isinstance(text, str) else str(text)):
        word = word.lower()
        if word in _STOP or (len(word) < 3 and not word.isdigit()):
            continue
        found.setdefault(_stem(word), None)
    return list(found)


def _stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def _coverage(expected: list[str], answer: Any) -> dict[str, Any]:
    present = set(terms(answer))
    return {"matched": [t for t in expected if t in present], "missing": [t for t in expected if t not in present]}


def _ratio(run: ScorerRun) -> float:
    found = run.analyze
    total = len(found["matched"]) + len(found["missing"])
    return len(found["matched"]) / total if total else 1.0


def _missing_reason(run: ScorerRun) -> str:
    missing = run.analyze["missing"]
    if not missing:
        return f"All {len(run.analyze['matched'])} expected terms appear in the output."
    return f"Score {run.score:.2f}: the output lacks {', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''}."


# -- code scorers ----------------------------------------------------------------------------------------------


def tool_call_accuracy(
    expected: str | Sequence[str], *, strict: bool = False, ordered: bool = False, id: str = "tool-call-accuracy"
) -> Scorer:
    """1 when the agent called the expected tool(s), else 0.

    Args:
        expected: a tool name, or several that must all be called.
        strict: no other tool may be called (and each expected one exactly once, in `ordered` mode).
        ordered: the expected tools must be called in this order (other calls may come between, unless strict).
    """
    wanted = [expected] if isinstance(expected, str) else list(expected)

    def analyze(run: ScorerRun) -> dict[str, Any]:
        return {"called": [call.get("name") for call in run.tool_calls], "expected": wanted}

    def score(run: ScorerRun) -> float:
        called: list[str] = run.analyze["called"]
        if ordered:
            if strict:
                return float(called == wanted)
            position = 0
            for name in called:
                if position < len(wanted) and name == wanted[position]:
                    position += 1
            return float(position == len(wanted))
        if strict:
            return float(set(called) == set(wanted) and len(called) == len(wanted))
        return float(all(name in called for name in wanted))

    def reason(run: ScorerRun) -> str:
        called = run.analyze["called"]
        listed = ", ".join(called) or "no tool"
        verdict = "as expected" if run.score == 1 else "not as expected"
        return f"The agent called {listed}; expected {', '.join(wanted)}{' (strict)' if strict else ''}: {verdict}."

    return Scorer(id, description="Whether the agent called the expected tools.", analyze=analyze, score=score,
                  reason=reason)  # fmt: skip


def completeness(*, id: str = "completeness") -> Scorer:
    """The share of the expected content words that the output covers: those of the case's `ground_truth` when it
    has one, else those of the input."""

    def preprocess(run: ScorerRun) -> list[str]:
        return terms(run.ground_truth if run.ground_truth is not None else run.input)

    def analyze(run: ScorerRun) -> dict[str, Any]:
        return _coverage(run.preprocess, run.output)

    return Scorer(id, description="How much of the expected content the output covers.", preprocess=preprocess,
                  analyze=analyze, score=_ratio, reason=_missing_reason)  # fmt: skip


def keyword_coverage(keywords: Sequence[str] | None = None, *, id: str = "keyword-coverage") -> Scorer:
    """The share of `keywords` (by default the input's content words) that appear in the output."""

    def preprocess(run: ScorerRun) -> list[str]:
        if keywords is None:
            return terms(run.input)
        return list(dict.fromkeys(t for keyword in keywords for t in terms(keyword)))

    def analyze(run: ScorerRun) -> dict[str, Any]:
        return _coverage(run.preprocess, run.output)

    return Scorer(id, description="How many of the keywords the output mentions.", preprocess=preprocess,
                  analyze=analyze, score=_ratio, reason=_missing_reason)  # fmt: skip


# -- judge scorers ---------------------------------------------------------------------------------------------


class Statements(BaseModel):
    statements: list[str] = Field(description="Each statement the text makes, one short sentence each.")


class Verdict(BaseModel):
    statement: str
    verdict: Literal["yes", "no", "unsure"]
    reason: str = ""


class Verdicts(BaseModel):
    verdicts: list[Verdict]


_STATEMENTS = """Break the text below into the separate statements it makes (claims, facts, answers), one short
sentence each. Leave out greetings and filler.

Text:
{output}"""

_RELEVANT = """For each statement, say whether it is relevant to answering the question: "yes" (it helps answer
it), "no" (it is off the question), or "unsure" (partly). Give a short reason for each.

Question:
{input}

Statements:
{preprocess}"""

_SUPPORTED = """For each claim, say whether the context supports it: "yes" (the context states or implies it), "no"
(the context contradicts it), or "unsure" (the context does not say). Judge by the context alone, not by what you
know. Give a short reason for each.

Context:
{context}

Claims:
{preprocess}"""

_REASON = """A score from 0 to 1 was given: {score}. In one or two sentences, say why, from these verdicts:
{analyze}"""


def _verdict_score(weight: float, empty: float) -> Any:
    def score(run: ScorerRun) -> float:
        verdicts = run.analyze.verdicts
        if not verdicts:
            return empty
        yes = sum(v.verdict == "yes" for v in verdicts)
        unsure = sum(v.verdict == "unsure" for v in verdicts)
        return (yes + weight * unsure) / len(verdicts)

    return score


def answer_relevancy(judge: str | Model, *, uncertainty_weight: float = 0.3, id: str = "answer-relevancy") -> Scorer:
    """How relevant the answer's statements are to the question, as a judge model sees it: (relevant + w x
    partly relevant) / statements, 0 for an answer that makes no statement."""
    return Scorer(
        id, description="How relevant the answer is to the question.", judge=judge,
        preprocess=JudgePrompt(_STATEMENTS, output=Statements), analyze=JudgePrompt(_RELEVANT, output=Verdicts),
        score=_verdict_score(uncertainty_weight, 0.0), reason=JudgePrompt(_REASON, output=str),
    )  # fmt: skip


def faithfulness(judge: str | Model, *, context: Sequence[str] | None = None, id: str = "faithfulness") -> Scorer:
    """The share of the answer's claims that the context supports, as a judge model sees it; 1 for an answer that
    makes no claim.

    Args:
        judge: the judge model.
        context: the texts the answer must be faithful to; by default each run's own `context` (for an agent, the
            results of its tool calls).
    """

    def with_context(run: ScorerRun) -> str:
        texts = list(context) if context is not None else list(run.context)
        run_context = "\n".join(f"- {t}" for t in texts) or "(no context)"
        return _SUPPORTED.format(context=run_context, preprocess=_json(run.preprocess))

    return Scorer(
        id, description="Whether the answer's claims are supported by the context.", judge=judge,
        preprocess=JudgePrompt(_STATEMENTS, output=Statements), analyze=JudgePrompt(with_context, output=Verdicts),
        score=_verdict_score(0.0, 1.0), reason=JudgePrompt(_REASON, output=str),
    )  # fmt: skip


def _json(value: Any) -> str:
    import json

    from pydantic_core import to_jsonable_python

    return json.dumps(to_jsonable_python(value, fallback=str), ensure_ascii=False)
