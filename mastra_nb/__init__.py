"""mastra_nb: the Mastra agent framework, Jupyter-native.

The public names below load on first access, so `import mastra_nb` stays fast and pulls in none of
litellm, chromadb or duckdb. In a notebook, start with `%load_ext mastra_nb`.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "Mastra": "mastra_nb.mastra",
    "MastraConfig": "mastra_nb.config",
    "MastraError": "mastra_nb.errors",
    "ErrorKind": "mastra_nb.errors",
    "EventBus": "mastra_nb.events",
    "Event": "mastra_nb.events",
    "RuntimeContext": "mastra_nb.context",
    "RetryPolicy": "mastra_nb.retry",
    "CircuitBreaker": "mastra_nb.circuit",
    "Tool": "mastra_nb.tools",
    "tool": "mastra_nb.tools",
    "ToolContext": "mastra_nb.tools",
    "Storage": "mastra_nb.storage",
    "DuckDBStore": "mastra_nb.storage",
    "InMemoryStore": "mastra_nb.storage",
    "SQLiteStore": "mastra_nb.storage",
    "run_sync": "mastra_nb._async",
    "Step": "mastra_nb.workflows",
    "step": "mastra_nb.workflows",
    "StepContext": "mastra_nb.workflows",
    "Workflow": "mastra_nb.workflows",
    "Run": "mastra_nb.workflows",
    "RunResult": "mastra_nb.workflows",
    "Runs": "mastra_nb.runs",
    "RunInfo": "mastra_nb.runs",
    "Agent": "mastra_nb.agents",
    "AgentResult": "mastra_nb.agents",
    "Model": "mastra_nb.models",
    "ScriptedModel": "mastra_nb.models",
    "ScriptedReply": "mastra_nb.models",
    "Telemetry": "mastra_nb.telemetry",
    "configure_logging": "mastra_nb.telemetry",
    "Memory": "mastra_nb.memory",
    "MemoryOptions": "mastra_nb.memory",
    "VectorStore": "mastra_nb.vectors",
    "ChromaVectorStore": "mastra_nb.vectors",
    "Embedder": "mastra_nb.vectors",
    "LocalEmbedder": "mastra_nb.vectors",
    "LiteLLMEmbedder": "mastra_nb.vectors",
    "Document": "mastra_nb.vectors",
    "Scorer": "mastra_nb.evals",
    "JudgePrompt": "mastra_nb.evals",
    "run_evals": "mastra_nb.evals",
}

__all__ = [
    "Mastra", "MastraConfig", "MastraError", "ErrorKind", "EventBus", "Event", "RuntimeContext", "RetryPolicy",
    "CircuitBreaker", "Tool", "tool", "ToolContext", "Storage", "DuckDBStore", "InMemoryStore", "SQLiteStore",
    "run_sync", "Step", "step", "StepContext", "Workflow", "Run", "RunResult", "Runs", "RunInfo",
    "Agent", "AgentResult", "Model", "ScriptedModel", "ScriptedReply",
    "Memory", "MemoryOptions", "VectorStore", "ChromaVectorStore", "Embedder", "LocalEmbedder", "LiteLLMEmbedder",
    "Document",
    "Telemetry", "configure_logging", "Scorer", "JudgePrompt", "run_evals",
]  # fmt: skip


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mastra_nb' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext mastra_nb`: register the magics and bind the kernel's hub (see `mastra_nb.notebook`)."""
    from .notebook import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """`%unload_ext mastra_nb`: remove the magics; the kernel's hub is kept for a later load."""
    from .notebook import unload_ipython_extension as unload

    unload(ipython)


# `tool` and `step` come from their modules: mypy, inside an import cycle, may bind the packages' submodules of
# those names first and then report the functions as redefined.
if TYPE_CHECKING:
    from ._async import run_sync
    from .agents import Agent, AgentResult
    from .circuit import CircuitBreaker
    from .config import MastraConfig
    from .context import RuntimeContext
    from .errors import ErrorKind, MastraError
    from .evals import JudgePrompt, Scorer, run_evals
    from .events import Event, EventBus
    from .mastra import Mastra
    from .memory import Memory, MemoryOptions
    from .models import Model, ScriptedModel, ScriptedReply
    from .retry import RetryPolicy
    from .runs import RunInfo, Runs
    from .storage import DuckDBStore, InMemoryStore, Storage
    from .telemetry import Telemetry, configure_logging
    from .tools.tool import Tool, ToolContext, tool
    from .vectors import ChromaVectorStore, Document, Embedder, LiteLLMEmbedder, LocalEmbedder, VectorStore
    from .workflows import Run, RunResult, Workflow
    from .workflows.step import Step, StepContext, step
