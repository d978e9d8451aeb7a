"""Evals: scorers built from steps (functions or LLM-judge prompts), the built-in ones, scorers attached to agents
and steps, stored scores, and `run_evals` over a dataset."""

from __future__ import annotations

from .builtin import answer_relevancy, completeness, faithfulness, keyword_coverage, tool_call_accuracy
from .evaluation import EvalCase, EvalResult, EvalRow, run_evals
from .scorer import JudgePrompt, Scorer, ScoreResult, ScorerRun, ScorerSample

__all__ = [
    "EvalCase", "EvalResult", "EvalRow", "JudgePrompt", "ScoreResult", "Scorer", "ScorerRun", "ScorerSample",
    "answer_relevancy", "completeness", "faithfulness", "keyword_coverage", "run_evals", "tool_call_accuracy",
]  # fmt: skip
