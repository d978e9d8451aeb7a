"""The subcommands of `%mastra`: overview, runs, resume, graph, chat, trace, memory, config, reset, serve.

Each takes the magics (for the hub and the notebook's namespace) and the parsed arguments, and returns what the
cell shows. Stored runs are read from the hub's storage, so `%mastra runs` and `%mastra resume` work after a kernel
restart once the workflow has been defined again; `%mastra resume` of an agent's run paused for tool approval opens
its approvals form. `runs`, `graph`, `resume`, `chat`, `trace` and `memory` return widgets
(`widgets/`), each registered under its cell so that re-running the cell closes the widget it showed before; without
anywidget they fall back to the static displays.
"""

from __future__ import annotations

import json
import queue
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._async import run_sync
from ..config import ENV_VARS
from ..display.html import card, code, esc, table
from ..display.reprs import hub_html, runs_table
from ..errors import ErrorKind, MastraError
from ._errors import MagicError
from ._sync import run_with_progress
from .serving import serving_note

if TYPE_CHECKING:
    from argparse import Namespace

    from ..agents import Agent
    from ..agents.results import PendingApproval
    from ..events import Event
    from ..mastra import Mastra
    from ..memory import Memory
    from ..runs import RunInfo
    from ..workflows import Run
    from .magics import MastraMagics

__all__ = ["View", "run"]

_STATUSES = ("pending", "running", "success", "failed", "suspended", "canceled")


class View:
    """What a command shows: HTML for notebooks, text for terminals."""

    def __init__(self, html: str, text: str) -> None:
        self.html = html
        self.text = text

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return self.text


def run(magics: MastraMagics, args: Namespace) -> Any:
    """Carry out one `%mastra` command."""
    commands: dict[str, Callable[[MastraMagics, Namespace], Any]] = {
        "overview": overview, "runs": runs, "resume": resume, "graph": graph, "chat": chat, "trace": trace,
        "memory": memory, "config": config, "reset": reset, "serve": serve,
    }  # fmt: skip
    needs_target = {
        "resume": ("a run id", "RUN_ID"), "graph": ("a workflow", "WORKFLOW"), "chat": ("an agent", "AGENT"),
    }  # fmt: skip
    if args.command in needs_target and not args.target:
        what, placeholder = needs_target[args.command]
        raise MagicError(f"`%mastra {args.command}` needs {what}: `%mastra {args.command} {placeholder}`.")
    return commands[args.command](magics, args)


def overview(magics: MastraMagics, args: Namespace) -> View:
    hub = magics.hub
    rows = [info.summary() for info in run_sync(hub.runs.list(limit=10))]
    where = f"{hub.storage!r}; vectors {_vectors_in_use(hub)}"  # the store really used, whichever setting chose it
    text = (
        f"Mastra hub: agents {sorted(hub.list_agents())}, tools {sorted(hub.list_tools())}, workflows "
        f"{sorted(hub.list_workflows())}; {len(rows)} recent run(s) in {where}"
    )
    served = serving_note(magics.server)
    html = hub_html(hub, rows, storage=where)
    if served:
        text += f"\n{served}"
        html += f"<p>{esc(served)}</p>"
    return View(html, text)


def serve(magics: MastraMagics, args: Namespace) -> None:
    """Start serving the kernel's hub (or say where it is served), or stop with `--stop`."""
    current = magics.server
    if args.stop:
        if current is None or not current.running:
            print("The hub is not being served.")
            return
        current.stop()
        magics.server = None
        print("Stopped serving the hub.")
        return
    if current is not None and current.running:
        print(f"Already serving the hub at {current.describe()}; `%mastra serve --stop` stops it.")
        return
    from .serving import NotebookServer

    server = NotebookServer(magics.hub, args.host, args.port)
    server.start()
    magics.server = server
    print(f"Serving the hub at {server.describe()}; `%mastra serve --stop` stops it.")


def _vectors_in_use(hub: Mastra) -> str:
    """Where the hub's vectors are, as its settings say, without opening (or starting) the store."""
    return hub.config.vectors_url or f"embedded Chroma in {hub.config.vectors_path}"


def runs(magics: MastraMagics, args: Namespace) -> Any:
    if args.status and args.status not in _STATUSES:
        raise MagicError(f"`--status {args.status}` is not a run status; use one of {', '.join(_STATUSES)}.")
    hub = magics.hub
    found = run_sync(hub.runs.list(kind="workflow", workflow=args.workflow or None, status=args.status or None,
                                   limit=args.limit))  # fmt: skip
    rows = [info.summary() for info in found]
    text = "\n".join(f"{r['run_id']}  {r['workflow_id']}  {r['status']}" for r in rows) or "no runs"
    return _widget(
        "runs", "", lambda w: w.RunsView(hub, status=args.status or "", workflow=args.workflow or "", limit=args.limit),
        fallback=View(runs_table(rows), text), hint=False,
    )  # fmt: skip


def resume(magics: MastraMagics, args: Namespace) -> Any:
    hub = magics.hub
    stored = _stored(hub, args.target)
    paused = _paused_agent_run(magics, args.target) if stored is not None and stored.kind == "agent" else None
    if paused is not None:  # an agent's run waiting for tool approval: a form of its calls, not resume data
        agent, pending = paused
        if args.data is not None:
            raise MagicError(f"Run `{args.target}` is agent `{agent.name}`'s run waiting for tool approval: decide its "
                             f"calls in the form `%mastra resume {args.target}` shows (no `--data`).")  # fmt: skip
        text = "\n".join(f"{p.call_id}  {p.tool}  {json.dumps(p.arguments, default=str)}" for p in pending)
        return _widget("resume", args.target, lambda w: w.ApprovalsForm(agent, args.target, pending),
                       fallback=View(card("Approvals", f"run {args.target}", code(text)), text))  # fmt: skip
    found = _load_run(magics, args.target)
    if args.data is None:  # the run's live graph and a form per suspended step
        return _widget("resume", found.run_id, lambda w: w.RunPanel(found), fallback=found)
    data = _resume_data(magics, args.data)
    progress: queue.Queue[Event] = queue.Queue()
    subscription = found.watch(progress.put)
    print(f"Resuming run `{found.run_id}` of workflow `{found.workflow.id}`…")
    try:
        run_with_progress(found.resume(data, step=args.step), progress, _show_step)
    finally:
        subscription.unsubscribe()
    return found


def graph(magics: MastraMagics, args: Namespace) -> Any:
    workflow = magics.hub.get_workflow(args.target)
    found: Run | None = None
    if args.run == "last":
        latest = run_sync(workflow.list_runs(limit=1))
        if not latest:
            raise MagicError(f"Workflow `{workflow.id}` has no stored runs yet.")
        found = run_sync(workflow.get_run(latest[0]["run_id"]))
    elif args.run:
        found = run_sync(workflow.get_run(args.run))
    return _widget("graph", workflow.id, lambda w: w.GraphWidget(workflow, found), fallback=found or workflow)


def chat(magics: MastraMagics, args: Namespace) -> Any:
    agent = magics.hub.get_agent(args.target)
    return _widget("chat", agent.name, lambda w: w.ChatWidget(agent), fallback=agent)


def trace(magics: MastraMagics, args: Namespace) -> Any:
    hub = magics.hub
    trace_id = args.target or "last"
    # The latest trace of the user's work: the widget moves on to whichever such trace is written next. Scorers'
    # traces are skipped (judgements written after, often in the background, of the work `last` means).
    follow = trace_id == "last"
    if follow:
        listed = run_sync(hub.traces.list(limit=1, scorers=False))
        if not listed:
            raise MagicError("No trace is stored yet: run an agent or a workflow first.")
        trace_id = listed[0].trace_id
    found = run_sync(hub.traces.get(trace_id))
    return _widget("trace", trace_id, lambda w: w.TraceWidget(found, hub=hub, follow=follow), fallback=found)


def memory(magics: MastraMagics, args: Namespace) -> Any:
    hub = magics.hub
    found = _memory_of(magics, args.target)
    resource = args.resource or magics.resource_id
    threads = run_sync(found.list_threads(resource))
    rows = [[code(t.id), esc(t.title or ""), esc(t.updated_at)] for t in threads]
    text = "\n".join(f"{t.id}  {t.title or ''}" for t in threads) or f"no threads of `{resource}`"
    fallback = View(card("Memory", resource, table(["thread", "title", "updated"], rows, kind="threads")), text)
    return _widget("memory", resource, lambda w: w.MemoryView(found, resource, hub=hub), fallback=fallback)


def _memory_of(magics: MastraMagics, agent_name: str | None) -> Memory:
    """The memory of the agent named, else the one memory the hub and its agents use."""
    hub = magics.hub
    if agent_name:
        agent = hub.get_agent(agent_name)
        found = agent.active_memory
        if found is None:
            raise MagicError(f"Agent `{agent.name}` has no memory: define it with `%%agent {agent.name} --memory` "
                             "(or `Agent(..., memory=Memory())`).")  # fmt: skip
        return found
    memories: dict[int, Memory] = {}
    for candidate in (hub.memory, *(a.memory for a in hub.list_agents().values())):
        if candidate is not None:
            memories.setdefault(id(candidate), candidate)
    if len(memories) == 1:
        return next(iter(memories.values()))
    if not memories:
        raise MagicError("No agent of this hub has memory yet: `%%agent NAME --memory` gives one the kernel's memory.")
    with_memory = sorted(n for n, a in hub.list_agents().items() if a.memory is not None)
    raise MagicError(f"Agents use different memories; name one: `%mastra memory AGENT` ({', '.join(with_memory)}).")


def _widget(kind: str, target: str, make: Callable[[Any], Any], fallback: Any, hint: bool = True) -> Any:
    """The widget `make(widgets)` builds, shown in place of what the cell showed before; `fallback` (a static
    display) when anywidget is not installed."""
    from . import widgets

    if not widgets.available():
        if hint:
            print("The interactive widget needs anywidget: pip install 'mastra_nb[notebook]'. A static view instead:")
        return fallback
    from .widgets._base import display_key, shown_for

    return shown_for(display_key(kind, target), make(widgets))


def config(magics: MastraMagics, args: Namespace) -> View:
    import os

    traits = [
        [code(f"MastraMagics.{name}"), esc(json.dumps(getattr(magics, name))), esc(trait.help)]
        for name, trait in sorted(magics.traits(config=True).items())
    ]
    from .magics import notebook_folder

    settings = magics.hub.config
    own = notebook_folder(magics.shell)
    rows = []
    for name in type(settings).model_fields:
        variable = ENV_VARS.get(name)
        source = f"${variable}" if variable and variable in os.environ else "default"
        setting = name.replace("_url", "")  # the magics' own setting of the same thing, if any
        if name in ("storage_path", "storage_url", "vectors_url") and getattr(magics, setting):
            source = f"MastraMagics.{setting}"
        elif name == "vectors_url" and source == "default" and settings.vectors_url:
            source = "shared, as the SQLite store is"
        elif name in ("storage_path", "vectors_path") and source == "default" and own is not None:
            source = f"this notebook's own ({own})"
        rows.append([code(name), esc(getattr(settings, name)), esc(source)])
    hub = magics.hub  # what the kernel really uses, whichever setting chose it
    rows.append([code("store in use"), esc(repr(hub.storage)), esc("storage_url, else storage_path")])
    rows.append([code("vectors in use"), esc(_vectors_in_use(hub)), esc("vectors_url, else vectors_path")])
    html = card(
        "Settings", "",
        "<strong>Magics</strong> (<code>%config MastraMagics.NAME = VALUE</code>)"
        + table(["setting", "value", "meaning"], traits, kind="magics"),
        "<strong>The kernel's hub</strong> (<code>MASTRA_*</code> variables)"
        + table(["setting", "value", "from"], rows, kind="hub"),
    )  # fmt: skip
    text = "\n".join(f"MastraMagics.{name} = {getattr(magics, name)!r}" for name in sorted(magics.traits(config=True)))
    return View(html, f"{text}\n{settings!r}")


def reset(magics: MastraMagics, args: Namespace) -> None:
    fresh = magics.new_hub()  # first: a bad setting fails here, and the kernel keeps the hub it has
    if magics.server is not None and magics.server.running:  # it serves the hub that is going away
        magics.server.stop()
        magics.server = None
        print("Stopped serving the old hub; `%mastra serve` serves the new one.")
    run_sync(magics.hub.shutdown())
    magics.bind(fresh)
    print(f"A new, empty hub; storage {magics.hub.storage!r}, vectors {_vectors_in_use(magics.hub)} (what was stored "
          "before is still there).")  # fmt: skip


def _stored(hub: Mastra, run_id: str) -> RunInfo | None:
    try:
        return run_sync(hub.runs.get(run_id))  # type: ignore[no-any-return]
    except MastraError as error:
        if error.code == "RUN_NOT_FOUND":
            return None
        raise


def _load_run(magics: MastraMagics, run_id: str) -> Run:
    hub = magics.hub
    stored = _stored(hub, run_id)
    if stored is None and run_id.startswith("{") and run_id.endswith("}"):
        raise MagicError(
            f"`{run_id}` was not expanded: `{run_id[1:-1].split('.')[0]}` is not defined in this notebook. Define it, "
            "or give the run's id itself."
        )
    if stored is None or stored.kind != "workflow":
        raise MastraError(
            ErrorKind.DOMAIN, "RUN_NOT_FOUND",
            f"No run `{run_id}` in this hub's storage ({hub.storage!r}): no workflow run, and no run of "
            "an agent defined in this kernel waits for tool approval with that id; `%mastra runs` lists workflow "
            "runs, `await agent.pending_approvals()` an agent's waiting calls.",
            details={"run_id": run_id},
        )  # fmt: skip
    workflow_id = stored.name
    workflow = hub.list_workflows().get(workflow_id)
    if workflow is None:
        raise MastraError(
            ErrorKind.DOMAIN, "WORKFLOW_NOT_FOUND",
            f"Run `{run_id}` belongs to workflow `{workflow_id}`, which this kernel has not registered: define it and "
            "`mastra.add_workflow(...)` first (a restart forgets code, not runs).",
            details={"run_id": run_id, "workflow_id": workflow_id},
        )  # fmt: skip
    return run_sync(workflow.get_run(run_id))  # type: ignore[no-any-return]


def _paused_agent_run(magics: MastraMagics, run_id: str) -> tuple[Agent, list[PendingApproval]] | None:
    """The agent registered in this kernel whose stored run `run_id` waits for tool approval, and its waiting calls."""
    for agent in magics.hub.list_agents().values():
        pending = [p for p in run_sync(agent.pending_approvals()) if p.run_id == run_id]
        if pending:
            return agent, pending
    return None


def _resume_data(magics: MastraMagics, given: str) -> Any:
    if given.isidentifier() and given in magics.ip.user_ns:
        return magics.ip.user_ns[given]
    if len(given) > 1 and given[0] == given[-1] and given[0] in "'\"":
        given = given[1:-1]  # IPython's argument splitting keeps the quotes
    try:
        return json.loads(given)
    except ValueError as error:
        raise MagicError(
            f"`--data` must be JSON (quote it: --data '{{\"approved\": true}}') or a notebook variable; {error}."
        ) from None


def _show_step(event: Event) -> None:
    payload = event.payload
    where = f"`{payload.get('step_id')}` at {payload.get('path')}"
    if event.name == "step:completed":
        mark = "✓" if payload.get("status") == "success" else "✗"
        ended = " (it ended the run early with ctx.bail)" if payload.get("bailed") else ""
        print(f"  {mark} step {where}: {payload.get('status')}{ended}")
    elif event.name == "step:suspended":
        print(f"  ⏸ step {where} suspended")
