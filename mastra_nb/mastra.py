"""The Mastra hub: where agents, workflows, tools and scorers are registered and find their services.

Components never import globals to reach storage, events or logging: the hub hands itself to each one as it
is registered (`component.bind(hub)`), and the component asks the hub. Nothing heavy happens when a hub is
built: the default DuckDB store is created on first use of `hub.storage` and opens its file on its first
operation.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from .config import MastraConfig
from .errors import ErrorKind, MastraError
from .events import AGENT_CREATED, AGENT_DESTROYED, EventBus
from .redaction import guard
from .runs import Runs
from .storage.base import Storage
from .telemetry.tracing import Telemetry

if TYPE_CHECKING:  # components are typed here only: the hub imports none of them at run time
    from .agents import Agent
    from .audit import Audit
    from .evals import Scorer
    from .evals.scores import Scores
    from .memory import Memory
    from .telemetry.metrics import Metrics
    from .telemetry.traces import Traces
    from .tools import Tool
    from .vectors import VectorStore
    from .workflows import Run, Workflow

__all__ = ["Mastra"]

C = TypeVar("C")
Components = Iterable[C] | Mapping[str, C]


@dataclass(frozen=True)
class _Kind:
    """A kind of registered component: how it is named and what is announced when it comes and goes."""

    singular: str
    plural: str
    key: str  # the attribute that names a component of this kind
    added_event: str | None = None
    removed_event: str | None = None


_AGENT = _Kind("agent", "agents", "name", AGENT_CREATED, AGENT_DESTROYED)
_WORKFLOW = _Kind("workflow", "workflows", "id")
_TOOL = _Kind("tool", "tools", "id")
_SCORER = _Kind("scorer", "scorers", "id")


class Mastra:
    """The hub of one application (or one notebook kernel).

    Args:
        agents, workflows, tools, scorers: components to register, as a list (each under its own name or id)
            or a mapping (each under its key).
        storage: a `Storage`; by default a `DuckDBStore` at `config.storage_path`, created on first use.
        memory: the default memory for agents that name none.
        vectors: the default vector store.
        logger: the parent logger of the hub's components (default `logging.getLogger("mastra_nb")`); False
            silences the library's logging (`telemetry.silence()`).
        config: settings; by default `MastraConfig.load()` (arguments, then `MASTRA_*` variables).
        events: the event bus; by default a new one.
        telemetry: tracing, metrics and redaction settings (`Telemetry(...)`); by default traces are on and
            stored in `storage`; False turns tracing off.
    """

    def __init__(
        self,
        *,
        agents: Components[Agent] = (),
        workflows: Components[Workflow] = (),
        tools: Components[Tool] = (),
        scorers: Components[Scorer] = (),
        storage: Storage | None = None,
        memory: Memory | None = None,
        vectors: VectorStore | None = None,
        logger: logging.Logger | Literal[False] | None = None,
        config: MastraConfig | None = None,
        events: EventBus | None = None,
        telemetry: Telemetry | bool | None = None,
    ) -> None:
        if storage is not None and not isinstance(storage, Storage):
            raise MastraError(
                ErrorKind.VALIDATION,
                "COMPONENT_INVALID",
                f"`Mastra(storage=...)` needs a `Storage` such as `DuckDBStore(path)` or `InMemoryStore()`, "
                f"got {type(storage).__name__}.",
            )
        self.config = config if config is not None else MastraConfig.load()
        if vectors is None and self.config.vectors_url:
            from .vectors.url import parse_vectors_url

            parse_vectors_url(self.config.vectors_url, setting="vectors_url")  # a bad form fails here, not mid-run
        self.events = events if events is not None else EventBus()
        if logger is False:
            from .telemetry.logs import silence

            logger = silence()
        self.logger = logger if logger is not None else guard(logging.getLogger("mastra_nb"))
        self._telemetry = _telemetry(telemetry).bind(self)
        self._scores: Scores | None = None
        self._audit: Audit | None = None
        self._closers: list[Callable[[], Awaitable[None]]] = []  # `on_shutdown`: what others opened for the hub
        self._runs = Runs(self)  # cheap: it opens nothing until a run is read or written
        self._agents: dict[str, Agent] = {}
        self._workflows: dict[str, Workflow] = {}
        self._tools: dict[str, Tool] = {}
        self._scorers: dict[str, Scorer] = {}
        self._storage = storage
        self._owns_storage = False
        self._memory = memory
        self._vectors = vectors
        self._owns_vectors = False
        self._closed = False
        for service in (storage, memory, vectors):
            _bind(service, self)
        for name, tool in _named(tools):
            self.add_tool(tool, name=name)
        for name, workflow in _named(workflows):
            self.add_workflow(workflow, name=name)
        for name, agent in _named(agents):
            self.add_agent(agent, name=name)
        for name, scorer in _named(scorers):
            self.add_scorer(scorer, name=name)

    # --- services -------------------------------------------------------------------------------------

    @property
    def storage(self) -> Storage:
        """The hub's storage, created on first access when none was given: `config.storage_url`'s store if set,
        else a `DuckDBStore` in `config.storage_path`."""
        self._check_open()
        if self._storage is None:
            from .storage.url import open_store

            url = self.config.storage_url
            self._storage = open_store(url or f"duckdb:///{self.config.storage_path}", setting="storage_url")
            self._owns_storage = True
            _bind(self._storage, self)
        return self._storage

    @property
    def memory(self) -> Memory | None:
        """The memory of agents that name none (`Mastra(memory=...)`), or None."""
        return self._memory

    @property
    def vectors(self) -> VectorStore:
        """The hub's vector store, created on first access: `config.vectors_url`'s store if set (such as
        `chroma+shared:///.mastra/chroma`, one Chroma server several processes share), else a `ChromaVectorStore`
        in `config.vectors_path` (`.mastra/chroma`, also with a `storage_url`), or in `chroma` beside the file of a
        store given as storage, or in a temporary folder when the storage keeps no file."""
        self._check_open()
        if self._vectors is None and self.config.vectors_url:
            from .vectors.url import open_vectors

            self._vectors = open_vectors(self.config.vectors_url, setting="vectors_url")
            self._owns_vectors = True
        if self._vectors is None:
            from .vectors import ChromaVectorStore

            # A store from `storage_url` may be shared by several processes, which one Chroma folder is not safe
            # for: its vectors stay in `vectors_path` (per notebook in a kernel) unless `vectors_url` shares them.
            if self._storage is None or self.config.storage_url:
                folder: Path | None = self.config.vectors_path
            else:
                path = getattr(self._storage, "path", None)
                folder = Path(path).parent / "chroma" if path is not None and str(path) != ":memory:" else None
            self._vectors = ChromaVectorStore(folder)
            self._owns_vectors = True
        return self._vectors

    @property
    def vectors_opened(self) -> VectorStore | None:
        """The hub's vector store if it was made or given, else None (reading this never creates one)."""
        return self._vectors

    @property
    def runs(self) -> Runs:
        """The stored runs, workflow and agent: `get`, `list`, `active`, `prune`; every run's state transition
        goes through it as a compare-and-set."""
        return self._runs

    @property
    def telemetry(self) -> Telemetry:
        """Tracing, redaction and metrics (see `Telemetry`)."""
        return self._telemetry

    @property
    def traces(self) -> Traces:
        """The stored traces: `await hub.traces.get(trace_id)`, `await hub.traces.list(agent=...)`."""
        return self._telemetry.traces

    @property
    def metrics(self) -> Metrics:
        """Prometheus metrics of runs, steps, tool and model calls, tokens, cost and errors."""
        return self._telemetry.metrics

    @property
    def audit(self) -> Audit:
        """The security events of the served hub: `await hub.audit.list(event="auth.failed")`, `prune(...)`."""
        if self._audit is None:
            from .audit import Audit

            self._audit = Audit(self)
        return self._audit

    @property
    def scores(self) -> Scores:
        """The stored scores of scorers: `await hub.scores.list(scorer_id=...)`."""
        if self._scores is None:
            from .evals.scores import Scores

            self._scores = Scores(self)
        return self._scores

    def get_logger(self, component: str) -> logging.Logger:
        """A child of the hub's logger for one component (`tools.add` logs as `mastra_nb.tools.add`)."""
        return guard(self.logger.getChild(component))

    # --- registries -----------------------------------------------------------------------------------

    def add_agent(self, agent: Agent, *, name: str | None = None, replace: bool = False) -> Agent:
        """Register an agent under its `name` (or `name=`); emits `agent:created`. Returns the agent."""
        return self._add(_AGENT, self._agents, agent, name=name, replace=replace)

    def get_agent(self, name: str) -> Agent:
        return self._get(_AGENT, self._agents, name)

    def list_agents(self) -> dict[str, Agent]:
        return dict(self._agents)

    def remove_agent(self, name: str) -> Agent:
        """Unregister an agent; emits `agent:destroyed`. Returns the agent."""
        return self._remove(_AGENT, self._agents, name)

    def add_workflow(self, workflow: Workflow, *, name: str | None = None, replace: bool = False) -> Workflow:
        return self._add(_WORKFLOW, self._workflows, workflow, name=name, replace=replace)

    def get_workflow(self, name: str) -> Workflow:
        return self._get(_WORKFLOW, self._workflows, name)

    def list_workflows(self) -> dict[str, Workflow]:
        return dict(self._workflows)

    def remove_workflow(self, name: str) -> Workflow:
        return self._remove(_WORKFLOW, self._workflows, name)

    def add_tool(self, tool: Tool, *, name: str | None = None, replace: bool = False) -> Tool:
        return self._add(_TOOL, self._tools, tool, name=name, replace=replace)

    def get_tool(self, name: str) -> Tool:
        return self._get(_TOOL, self._tools, name)

    def list_tools(self) -> dict[str, Tool]:
        return dict(self._tools)

    def remove_tool(self, name: str) -> Tool:
        return self._remove(_TOOL, self._tools, name)

    def add_scorer(self, scorer: Scorer, *, name: str | None = None, replace: bool = False) -> Scorer:
        return self._add(_SCORER, self._scorers, scorer, name=name, replace=replace)

    def get_scorer(self, name: str) -> Scorer:
        return self._get(_SCORER, self._scorers, name)

    def list_scorers(self) -> dict[str, Scorer]:
        return dict(self._scorers)

    def remove_scorer(self, name: str) -> Scorer:
        return self._remove(_SCORER, self._scorers, name)

    def _add(self, kind: _Kind, registry: dict[str, C], component: C, *, name: str | None, replace: bool) -> C:
        self._check_open()
        name = name if name is not None else getattr(component, kind.key, None)
        if not isinstance(name, str) or not name:
            raise MastraError(
                ErrorKind.VALIDATION,
                "COMPONENT_INVALID",
                f"`Mastra.add_{kind.singular}` needs a {kind.singular} with a non-empty `{kind.key}` "
                f"(or pass `name=`), got {type(component).__name__}.",
            )
        if name in registry and not replace:
            raise MastraError(
                ErrorKind.DOMAIN,
                f"{kind.singular.upper()}_ALREADY_REGISTERED",
                f"A {kind.singular} named `{name}` is already registered; pass `replace=True` to replace it "
                f"(as re-running a notebook cell does) or choose another name.",
                details={"name": name},
            )
        _bind(component, self)
        registry[name] = component
        if kind.added_event:
            self.events.emit(kind.added_event, {"name": name})
        return component

    def _get(self, kind: _Kind, registry: dict[str, C], name: str) -> C:
        try:
            return registry[name]
        except (KeyError, TypeError):
            known = ", ".join(f"`{n}`" for n in registry) or "none"
            raise MastraError(
                ErrorKind.DOMAIN,
                f"{kind.singular.upper()}_NOT_FOUND",
                f"No {kind.singular} named `{name}` is registered (registered: {known}); "
                f"register it with `mastra.add_{kind.singular}(...)`.",
                details={"name": name, "registered": list(registry)},
            ) from None

    def _remove(self, kind: _Kind, registry: dict[str, C], name: str) -> C:
        component = self._get(kind, registry, name)
        del registry[name]
        if kind.removed_event:
            self.events.emit(kind.removed_event, {"name": name})
        return component

    async def list_active_runs(self) -> list[Run]:
        """Runs of registered workflows left `running` in storage by a process that is no longer running them
        (it crashed or was stopped); continue each with `await run.restart()`. Same as `hub.runs.active()`."""
        return await self.runs.active()

    # --- lifecycle ------------------------------------------------------------------------------------

    def on_shutdown(self, close: Callable[[], Awaitable[None]]) -> None:
        """Have `shutdown()` await `close()` first: for what a component opened that outlives a call (an MCP
        client's sessions and child processes, say). The same callable is kept once."""
        if close not in self._closers:
            self._closers.append(close)

    async def shutdown(self) -> None:
        """Deliver pending events and close what the hub opened itself (its default storage), after what
        components asked to close (`on_shutdown`)."""
        if self._closed:
            return
        for close in self._closers:
            try:
                await close()
            except Exception as error:  # one failing closer must not keep the rest (and the stores) open
                self.get_logger("hub").warning("Closing %r at shutdown failed: %s", close, error)
        await self.events.drain()
        if self._scores is not None:
            await self._scores.drain()
        await self._telemetry.shutdown()
        # Every memory in use finishes its background writes (vectors, titles) while the hub's stores are open:
        # the hub's, and the agents' own.
        memories = {id(m): m for m in (self._memory, *(a.memory for a in self._agents.values())) if m is not None}
        for memory in memories.values():
            await memory.flush()
        if self._owns_vectors and self._vectors is not None:
            await self._vectors.close()
        if self._owns_storage and self._storage is not None:
            await self._storage.close()
        self._closed = True

    async def __aenter__(self) -> Mastra:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()

    def _check_open(self) -> None:
        if self._closed:
            raise MastraError(
                ErrorKind.SYSTEM, "HUB_CLOSED", "This `Mastra` hub was shut down; build a new `Mastra()` to go on."
            )

    def __repr__(self) -> str:
        registries = ((_AGENT, self._agents), (_WORKFLOW, self._workflows), (_TOOL, self._tools),
                      (_SCORER, self._scorers))  # fmt: skip
        parts = [f"{kind.plural}={sorted(registry)}" for kind, registry in registries if registry]
        parts.append(f"storage={self._storage!r}" if self._storage is not None else "storage=<default, unopened>")
        return f"Mastra({', '.join(parts)})"

    def _repr_html_(self) -> str:
        from .display.reprs import hub_html  # imported on first display: import mastra_nb stays light

        return hub_html(self)


def _telemetry(given: Telemetry | bool | None) -> Telemetry:
    if given is None or given is True:
        return Telemetry()
    if given is False:
        return Telemetry(enabled=False)
    if not isinstance(given, Telemetry):
        raise MastraError(
            ErrorKind.VALIDATION,
            "COMPONENT_INVALID",
            f"`Mastra(telemetry=...)` takes a `Telemetry`, True or False, got {type(given).__name__}.",
        )
    return given


def _named(given: Components[C]) -> Iterable[tuple[str | None, C]]:
    """`(name, component)` pairs: a mapping's keys, or None (each component under its own name or id)."""
    return given.items() if isinstance(given, Mapping) else ((None, c) for c in given)


def _bind(component: Any, hub: Mastra) -> None:
    bind = getattr(component, "bind", None)
    if callable(bind):
        bind(hub)


# The hub that components not added to any hub fall back to: the kernel's, set by `%load_ext mastra_nb`. Without
# it, a workflow run from a cell that never called `add_workflow` would run on a private in-memory hub, and its
# runs would vanish from `%mastra runs` and at a restart.
_fallback: list[Mastra] = []


def set_default_hub(hub: Mastra | None) -> None:
    """Make `hub` the one unregistered workflows run on (None: each gets a private in-memory hub again)."""
    _fallback[:] = [hub] if hub is not None else []


def default_hub() -> Mastra | None:
    """The hub set by `set_default_hub`, while it is open."""
    hub = _fallback[0] if _fallback else None
    return hub if hub is not None and not hub._closed else None
