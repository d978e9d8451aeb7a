"""`MastraMagics`: `%%tool`, `%%agent`, `%%ask` and `%mastra`, and the settings they read (traitlets).

Each cell magic turns a cell into a component of the kernel's hub, replacing what an earlier run of the same cell
made, and returns it, so the cell shows it as a card and `_` holds it. `%mastra` looks at the hub and its stored
runs; its subcommands live in `commands`. Errors a user can fix are shown as one line by `_errors.friendly`.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import hashlib
import os
import re
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from traitlets import Bool, Unicode

from ..config import MastraConfig
from ._errors import MagicError, friendly
from ._live import LiveAnswer
from ._sync import iterate
from .mcp_commands import NotebookMCP

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

    from ..agents import Agent, AgentResult
    from ..mastra import Mastra
    from ..memory import Memory
    from ..models import Model
    from ..tools import Tool
    from .serving import NotebookServer

__all__ = ["MastraMagics", "interpolate"]

_FIELD = re.compile(r"\{\{|\}\}|\{([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\}")


@magics_class
class MastraMagics(Magics):
    """The mastra_nb magics. Settings: `%config MastraMagics.<name> = value` (or an IPython profile)."""

    default_model = Unicode(
        None, allow_none=True,
        help="The litellm model of `%%agent` cells without `--model` (e.g. 'openai/gpt-4o-mini'); "
        "when unset, agents use `MASTRA_DEFAULT_MODEL`.",
    ).tag(config=True)  # fmt: skip
    storage_path = Unicode(
        None, allow_none=True,
        help="The DuckDB file of the kernel's hub; default `MASTRA_STORAGE_PATH`, else one per notebook beside it: "
        "`.mastra/<notebook>/mastra.duckdb` (`.mastra/mastra.duckdb` when the notebook is unknown). Read when the "
        "extension loads and on `%mastra reset`.",
    ).tag(config=True)  # fmt: skip
    storage = Unicode(
        None, allow_none=True,
        help="A store to use instead, which several notebooks (and a server) can share: 'sqlite:///.mastra/shared.db', "
        "'duckdb:///path', 'memory://' or a file path; default `MASTRA_STORAGE_URL`. Read when the extension loads "
        "and on `%mastra reset`.",
    ).tag(config=True)  # fmt: skip
    vectors = Unicode(
        None, allow_none=True,
        help="Where the hub's vectors live instead of a folder per notebook: 'chroma+shared:///.mastra/chroma' (one "
        "Chroma server that several notebooks share, started on first use and stopped with its last user or "
        "`%mastra reset`), 'http://host:port' (a Chroma server you run), a folder (embedded: one process at a time) "
        "or 'memory://'; default `MASTRA_VECTORS_URL`. Read when the extension loads and on `%mastra reset`.",
    ).tag(config=True)  # fmt: skip
    warm_up = Bool(
        True, help="Import litellm in a background thread when the extension loads, so the first `%%ask` waits less."
    ).tag(config=True)
    stream = Bool(True, help="Show `%%ask` replies as they are written, with tool calls as they happen.").tag(
        config=True
    )
    resource_id = Unicode(
        "notebook-user", help="The memory resource (whose threads, working memory and recall) of `%%ask --thread`."
    ).tag(config=True)
    hub_name = Unicode("mastra", help="The notebook variable the kernel's hub is bound to ('' binds none).").tag(
        config=True
    )

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self._hub: Mastra | None = None
        self._kernel_memory: tuple[Mastra, Memory] | None = None
        self.server: NotebookServer | None = None  # `%mastra serve`
        self.mcp = NotebookMCP()  # `%mastra mcp`

    @property
    def ip(self) -> InteractiveShell:
        """The shell these magics are registered in."""
        assert self.shell is not None, "MastraMagics is made by `%load_ext mastra_nb`, with a shell"
        return self.shell

    # -- the hub ----------------------------------------------------------------------------------------------

    @property
    def hub(self) -> Mastra:
        """The kernel's hub, that the magics register into."""
        if self._hub is None:
            self.bind(self.new_hub())
        assert self._hub is not None
        return self._hub

    def new_hub(self) -> Mastra:
        """A new hub with the current settings. Its store is the one `storage` (or `MASTRA_STORAGE_URL`) names, else
        `storage_path` (or `MASTRA_STORAGE_PATH`), else one of this notebook's own beside it, so that two notebooks
        of one folder never contend for one file and a notebook reopened later finds its own runs. Its vectors go
        where `vectors` (or `MASTRA_VECTORS_URL`) says; else, with a shared SQLite store, to one Chroma server for
        the folder `<store>-vectors` beside it (messages several notebooks share are recalled by all of them); else
        to a Chroma folder beside the notebook's own store."""
        from ..mastra import Mastra

        config = MastraConfig.load(storage_url=self.storage or None, vectors_url=self.vectors or None)
        if config.vectors_url is None and "MASTRA_VECTORS_PATH" not in os.environ:
            config = config.model_copy(update={"vectors_url": _shared_vectors(config.storage_url)})
        explicit = self.storage_path or "MASTRA_STORAGE_PATH" in os.environ
        own = None if explicit else notebook_folder(self.shell)
        path = Path(self.storage_path) if self.storage_path else config.storage_path
        vectors = config.vectors_path
        if own is not None:
            path = own / path.name
            vectors = vectors if "MASTRA_VECTORS_PATH" in os.environ else own / vectors.name
        config = config.model_copy(
            update={"storage_path": path.expanduser().resolve(), "vectors_path": vectors.expanduser().resolve()}
        )
        return Mastra(config=config)

    def bind(self, hub: Mastra) -> None:
        """Make `hub` the kernel's hub, and bind it to the notebook variable `hub_name` if that name is free. It is
        also the hub of workflows no cell added to one, so that their runs are stored and listed too."""
        from ..mastra import set_default_hub

        self._hub = hub
        set_default_hub(hub)
        name = self.hub_name
        if name and self.shell is not None:
            from ..mastra import Mastra

            current = self.shell.user_ns.get(name)
            if current is None or isinstance(current, Mastra):
                self.shell.push({name: hub})

    # -- %%tool -----------------------------------------------------------------------------------------------

    @cell_magic("tool")
    @magic_arguments("%tool")
    @argument("--name", "-n", help="The tool's id (default: the function's name).")
    @argument("--timeout", type=float, help="Seconds one call may take (default: the hub's tool timeout).")
    @argument("--retries", type=int, help="Retries after a failed attempt (retryable errors only).")
    @argument("--cache", action="store_true", help="Cache results by input.")
    @argument("--requires-approval", action="store_true", help="Agents pause for approval before calling it.")
    @friendly
    def tool_magic(self, line: str, cell: str) -> Tool:
        """Define a tool: the cell defines one function with type hints and a docstring.

        The function becomes a `Tool` registered in the kernel's hub (its name now refers to the tool, which still
        calls like the function). Re-running the cell replaces the tool. The cell shows the tool's card with its JSON
        schema.

        Example::

            %%tool
            def get_weather(city: str) -> dict:
                '''The current weather in a city.

                Args:
                    city: the city's name.
                '''
                return {"city": city, "temperature_c": 18}
        """
        from ..tools import Tool

        args = _arguments(self.tool_magic, line)
        source = self.ip.transform_cell(cell)
        name = _one_function(source)
        self._run(source, cell)
        function = self.ip.user_ns[name]
        made = Tool(
            args.name or name, None, function, timeout=args.timeout, retries=args.retries, cache=args.cache,
            requires_approval=args.requires_approval,
        )  # fmt: skip
        missing = _undescribed(function)
        if missing:
            print(f"`{made.id}` works, but the model sees too little of it: {missing}.")
        previous = self.hub.list_tools().get(made.id)
        self.hub.add_tool(made, replace=True)
        self.ip.user_ns[name] = made
        stale = [n for n, a in self.hub.list_agents().items() if previous is not None and previous in a.tools.values()]
        if stale:
            listed = ", ".join(f"`{n}`" for n in stale)
            print(f"Agents {listed} still use the previous `{made.id}`: re-run their `%%agent` cells.")
        return made

    # -- %%agent ----------------------------------------------------------------------------------------------

    @cell_magic("agent")
    @magic_arguments("%agent")
    @argument("name", help="The agent's name in the hub.")
    @argument(
        "--model",
        "-m",
        help="A litellm model ('openai/gpt-4o-mini') or a notebook variable holding a model "
        "name, a `Model` or a `ScriptedModel` (default: MastraMagics.default_model, then MASTRA_DEFAULT_MODEL).",
    )
    @argument("--tools", "-t", default="", help="Comma-separated tools: registered tool ids or notebook variables.")
    @argument("--workflows", "-w", default="", help="Comma-separated workflows the agent may start.")
    @argument("--agents", "-a", default="", help="Comma-separated registered agents it may delegate to.")
    @argument("--max-steps", type=int, help="The most model calls in one answer.")
    @argument("--description", "-d", help="What the agent does, for agents that delegate to it.")
    @argument("--mcp", default="", help="Comma-separated MCP servers (`%%mastra mcp add`) whose tools it may use.")
    @argument(
        "--memory", nargs="?", const="", default=None, metavar="VAR",
        help="Keep conversations: the kernel's memory (last messages, semantic recall, working memory; stored beside "
        "the notebook), or the `Memory` in notebook variable VAR. Ask with `%%ask NAME --thread T`.",
    )  # fmt: skip
    @friendly
    def agent_magic(self, line: str, cell: str) -> Agent:
        """Define an agent: the cell body is its instructions.

        The agent is registered in the kernel's hub (re-running the cell replaces it) and shown as a card. Ask it
        with `%%ask NAME`; with `--memory`, `%%ask NAME --thread T` continues the conversation `T`.

        Example::

            %%agent weather --model openai/gpt-4o-mini --tools get_weather
            You answer questions about the weather. Use the get_weather tool.
        """
        from ..agents import Agent

        args = _arguments(self.agent_magic, line)
        hub = self.hub
        tools = [self._component(n, hub.list_tools(), "tool") for n in _names(args.tools)]
        tools += self.mcp.tools_of(_names(args.mcp))
        workflows = [self._component(n, hub.list_workflows(), "workflow") for n in _names(args.workflows)]
        agents = [self._component(n, hub.list_agents(), "agent") for n in _names(args.agents)]
        made = Agent(
            args.name, textwrap.dedent(cell).strip(), self._model(args.model), tools=tools, workflows=workflows,
            agents=agents, max_steps=args.max_steps, description=args.description,
            memory=self._memory(args.memory) if args.memory is not None else None,
        )  # fmt: skip
        return hub.add_agent(made, replace=True)  # type: ignore[no-any-return]

    # -- %%ask ------------------------------------------------------------------------------------------------

    @cell_magic("ask")
    @magic_arguments("%ask")
    @argument("agent", help="The registered agent to ask.")
    @argument("--output", "-o", help="A pydantic model (a notebook variable) the answer must match.")
    @argument("--as", dest="target", help="Also store the answer in this notebook variable.")
    @argument("--max-steps", type=int, help="The most model calls for this answer.")
    @argument("--thread", help="Continue this conversation (the agent needs `%%agent --memory`).")
    @argument("--resource", help="Whose conversation (default: MastraMagics.resource_id, 'notebook-user').")
    @friendly
    def ask_magic(self, line: str, cell: str) -> AgentResult:
        """Ask an agent: the cell body is the prompt; `{name}` is replaced by the notebook variable `name`
        (`{name.attr}` works too; `{{` and `}}` are literal braces).

        The reply streams into the cell with each tool call as it happens; the answer is the cell's result (so `_`
        holds it; `--as NAME` keeps it in a variable too). With `--thread T`, the agent's memory brings the thread's
        history, its working memory and related past messages into the prompt, and keeps the turn.

        Example::

            %%ask weather --as reply
            What's the weather in {city}?
        """
        args = _arguments(self.ask_magic, line)
        agent = self.hub.get_agent(args.agent)
        prompt = interpolate(cell.strip(), self.ip.user_ns)
        if not prompt:
            raise MagicError(f"`%%ask {args.agent}` needs a prompt: write it in the cell below the magic.")
        output = self._output_model(args.output) if args.output else None
        live = LiveAnswer(self.shell, agent.name) if self.stream else None
        result: AgentResult | None = None
        try:
            memory = {"thread_id": args.thread, "resource_id": args.resource or self.resource_id} if args.thread else {}
            for event in iterate(agent.stream(prompt, output=output, max_steps=args.max_steps, **memory)):
                if live is not None:
                    live.show(event)
                if event.kind == "finish":
                    result = event.result
        finally:
            if live is not None:
                live.close()
        assert result is not None  # a stream ends with its finish event or raises
        if args.target:
            self.ip.user_ns[args.target] = result
        return result

    # -- %mastra ----------------------------------------------------------------------------------------------

    @line_magic("mastra")
    @magic_arguments("mastra")
    @argument(
        "command",
        nargs="?",
        default="overview",
        choices=["overview", "runs", "resume", "graph", "chat", "trace", "memory", "config", "reset", "serve"],
        help="What to show or do.",
    )
    @argument(
        "target",
        nargs="?",
        help="RUN_ID for `resume` (a workflow run, or an agent run waiting for tool approval), WORKFLOW for "
        "`graph`, AGENT for `chat` (and optionally `memory`), TRACE_ID (or 'last') for `trace`.",
    )
    @argument("--status", "-s", help="runs: only runs with this status (suspended, success, failed, running, ...).")
    @argument("--workflow", "-w", help="runs: only runs of this workflow.")
    @argument("--limit", "-n", type=int, default=20, help="runs: how many, newest first (default 20).")
    @argument("--data", "-d", help="resume: the resume data: JSON, or a notebook variable holding it.")
    @argument("--step", help="resume: the suspended step (id or path), when several are suspended.")
    @argument("--run", "-r", help="graph: colour the steps by this run's statuses ('last': the newest run).")
    @argument("--resource", help="memory: whose threads (default: MastraMagics.resource_id, 'notebook-user').")
    @argument("--port", "-p", type=int, default=4111, help="serve: the port (default 4111, Mastra's; 0: a free one).")
    @argument("--host", default="127.0.0.1", help="serve: the address to listen on (default 127.0.0.1).")
    @argument("--stop", action="store_true", help="serve: stop serving.")
    @friendly
    def mastra_magic(self, line: str) -> Any:
        """Look at the kernel's hub and its stored runs.

        Commands:
          %mastra                          agents, tools, workflows and recent runs, as tables
          %mastra runs [--status S] [--workflow W] [--limit N]
                                           stored workflow runs, newest first
          %mastra resume RUN_ID            the run's live graph and a resume form per suspended step
                                           (Resume continues the run in the background); for an agent's
                                           run paused for tool approval, its calls with Approve / Decline
          %mastra resume RUN_ID --data D [--step S]
                                           resume a suspended run with data D (JSON or a variable),
                                           showing each step as it completes; works after a kernel restart
          %mastra graph WORKFLOW [--run RUN_ID|last]
                                           the workflow's live graph: follows that run, or the next run
                                           started; click a step for its input, output, error and timing
          %mastra chat AGENT               a chat with the agent: streaming answers, tool calls, stop
          %mastra trace [TRACE_ID|last]    a trace as a waterfall of spans (default: the latest trace)
          %mastra memory [AGENT] [--resource R]
                                           a resource's threads and messages, its working memory (editable)
                                           and a semantic search box (the agent's memory, else the only one)
          %mastra config                   the settings in force and where they come from
          %mastra reset                    close the hub's storage and start an empty hub (stored runs stay)
          %mastra mcp [add NAME [--approve TOOLS] -- COMMAND ARGS... | add NAME --url URL | remove NAME]
                                           MCP servers whose tools agents may use (`%%agent NAME --mcp NAME`)
          %mastra serve [--port N] [--host H]
                                           serve the kernel's hub over HTTP in Mastra's REST dialect, in the
                                           background (Mastra's client and Studio work with it); --stop stops

        `runs`, `resume`, `graph`, `chat`, `trace` and `memory` show widgets (with anywidget installed), which also
        carry a static snapshot for exported notebooks; re-running their cell closes the widget it showed before.
        """
        from . import commands

        if line.split()[:1] == ["mcp"]:  # its own small grammar: `add NAME -- COMMAND ARGS...` passes arguments on
            from . import mcp_commands

            return mcp_commands.run(self, line.split(None, 1)[1] if len(line.split()) > 1 else "")
        names = self.shell.user_ns if self.shell is not None else {}  # no shell: called from code, as in tests
        args = _arguments(self.mastra_magic, expand_names(line, names))
        return commands.run(self, args)

    # -- helpers ----------------------------------------------------------------------------------------------

    def _run(self, source: str, raw: str) -> None:
        """Execute a cell's code in the notebook's namespace, with tracebacks that show the cell."""
        filename = self.ip.compile.cache(source, self.ip.execution_count, raw_code=raw)
        exec(compile(source, filename, "exec"), self.ip.user_global_ns, self.ip.user_ns)

    def _component(self, name: str, registered: Mapping[str, Any], kind: str) -> Any:
        if name in registered:
            return registered[name]
        value = self.ip.user_ns.get(name)
        if value is not None and (kind != "agent" or hasattr(value, "generate")):
            return value
        known = ", ".join(f"`{n}`" for n in registered) or "none"
        raise MagicError(
            f"No {kind} `{name}` in the hub (registered: {known}) nor in the notebook; define it first "
            f"({'`%%tool`' if kind == 'tool' else f'`%%{kind}`' if kind == 'agent' else '`mastra.add_workflow(...)`'})."
        )

    def _model(self, spec: str | None) -> Model | None:
        from ..models import Model

        spec = spec or self.default_model
        if not spec:
            return None
        value = self.ip.user_ns.get(spec, spec) if spec.isidentifier() else spec
        if isinstance(value, Model):
            return value
        if isinstance(value, str):
            return Model(value)
        raise MagicError(f"`--model {spec}` is a {type(value).__name__}; give a litellm model name or a `Model`.")

    def _memory(self, name: str) -> Memory:
        """The `Memory` in notebook variable `name`, or (for "") the kernel's: made on first use, kept per hub."""
        from ..memory import Memory

        if name:
            value = self.ip.user_ns.get(name)
            if not isinstance(value, Memory):
                raise MagicError(f"`--memory {name}` must name a `Memory` defined in the notebook.")
            return value
        hub = self.hub
        if self._kernel_memory is None or self._kernel_memory[0] is not hub:
            self._kernel_memory = (hub, Memory(options={"working_memory": True}))
        return self._kernel_memory[1]

    def _output_model(self, name: str) -> type[Any]:
        from pydantic import BaseModel

        value = self.ip.user_ns.get(name)
        if not (isinstance(value, type) and issubclass(value, BaseModel)):
            raise MagicError(f"`--output {name}` must name a pydantic model class defined in the notebook.")
        return value


def _arguments(magic: Any, line: str) -> Any:
    """The magic's parsed arguments; a line that cannot be split into words (an unclosed quote) is a `MagicError`
    that says so, not shlex's bare `ValueError`."""
    try:
        return parse_argstring(magic, line)
    except UsageError as error:
        raise UsageError(f"{error}{_did_you_mean(magic.parser, str(error))}") from None
    except ValueError as error:
        raise MagicError(
            f"Could not read the arguments `{line.strip()}`: {error}. Close each quote; put JSON in single quotes, "
            """e.g. `--data '{"approved": true}'`."""
        ) from None


def _shared_vectors(storage_url: str | None) -> str | None:
    """`chroma+shared:///<file>-vectors` for a SQLite store several kernels share, None for any other store."""
    from ..storage.sqlite_store import SQLiteStore
    from ..storage.url import open_store

    store = open_store(storage_url, setting="storage") if storage_url else None  # nothing is opened yet
    if not isinstance(store, SQLiteStore):
        return None
    return f"chroma+shared:///{store.path.expanduser().resolve().with_suffix('')}-vectors"


def _did_you_mean(parser: argparse.ArgumentParser, message: str) -> str:
    """`; did you mean ...?` for the mistyped subcommand or option argparse's `message` names, or nothing."""
    choice = re.search(r"invalid choice: '([^']*)' \(choose from", message)
    if choice:
        typed = [choice.group(1)]
        known = [str(c) for action in parser._actions if action.choices for c in action.choices]
    elif message.startswith("unrecognized arguments:"):
        typed = [word.split("=")[0] for word in message.split(":", 1)[1].split() if word.startswith("-")]
        known = [option for action in parser._actions for option in action.option_strings]
    else:
        return ""
    guesses = [match for word in typed for match in difflib.get_close_matches(word, known, n=1, cutoff=0.6)]
    return f"; did you mean {' '.join(f'`{g}`' for g in guesses)}?" if guesses else ""


def notebook_folder(shell: Any) -> Path | None:
    """`.mastra/<notebook>`: the folder of the running notebook's own store, or None when the notebook is unknown.

    Jupyter Server tells each kernel its notebook in `JPY_SESSION_NAME`; VS Code sets `__vsc_ipynb_file__`.
    """
    name = os.environ.get("JPY_SESSION_NAME") or (shell.user_ns.get("__vsc_ipynb_file__") if shell else None)
    if not isinstance(name, str) or not name.strip():
        return None
    stem = Path(name).stem
    folder = re.sub(r"[^\w.-]+", "-", stem).strip(".-")
    if folder != stem:  # `a b` and `a-b` would share `a-b`: a name that had to change gets its own suffix
        folder = f"{folder}-{hashlib.sha256(stem.encode()).hexdigest()[:8]}".lstrip("-")
    return Path(".mastra") / folder


def expand_names(line: str, namespace: Mapping[str, Any]) -> str:
    """`{name}` and `{name.attr}` in a `%mastra` line replaced by their values, where they are defined.

    IPython expands them itself, but not in a line that holds other braces (`--data '{"approved": true}'`); what it
    left is expanded here. JSON and undefined names stay as written (the command then names the unexpanded text).
    """

    def value(match: re.Match[str]) -> str:
        first, *attributes = match.group(1).split(".")
        if first not in namespace:
            return match.group(0)
        found = namespace[first]
        try:
            for attribute in attributes:
                found = getattr(found, attribute)
        except AttributeError:
            return match.group(0)
        return str(found)

    return _NAME.sub(value, line)


_NAME = re.compile(r"(?<!\{)\{([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\}(?!\})")


def interpolate(text: str, namespace: Mapping[str, Any]) -> str:
    """Replace `{name}` and `{name.attr}` in `text` by the values in `namespace`; `{{`/`}}` are literal braces.

    Raises:
        MagicError: naming a placeholder that is not defined.
    """

    def value(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        first, *attributes = match.group(1).split(".")
        if first not in namespace:
            raise MagicError(
                f"`{{{first}}}` in the prompt is not defined in the notebook: define `{first}`, "
                f"or write `{{{{{first}}}}}` for the literal text."
            )
        found = namespace[first]
        for attribute in attributes:
            found = getattr(found, attribute)
        return str(found)

    return _FIELD.sub(value, text)


def _undescribed(function: Any) -> str:
    """What a model will miss about a `%%tool` function: parameters without type hints (it sees "any") and a missing
    docstring (it sees no description); "" when nothing is missing."""
    import inspect

    bare = [
        name for name, parameter in inspect.signature(function).parameters.items()
        if parameter.annotation is inspect.Parameter.empty and name not in ("ctx", "context")
    ]  # fmt: skip
    problems = []
    if bare:
        listed = ", ".join(f"`{n}`" for n in bare)
        problems.append(f"{listed} {'has' if len(bare) == 1 else 'have'} no type hint (add one, e.g. `{bare[0]}: str`)")
    if not inspect.getdoc(function):
        problems.append("there is no docstring (add one saying what it does, and its `Args:`)")
    return "; ".join(problems)


def _one_function(source: str) -> str:
    names = [n.name for n in ast.parse(source).body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    if len(names) != 1:
        found = f"defines {len(names)}: {', '.join(f'`{n}`' for n in names)}" if names else "defines none"
        raise MagicError(
            f"`%%tool` needs a cell that defines exactly one function (with type hints and a docstring); this cell "
            f"{found}."
        )
    return names[0]


def _names(listed: str) -> list[str]:
    return [name.strip() for name in listed.split(",") if name.strip()]
