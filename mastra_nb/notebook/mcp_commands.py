"""`%mastra mcp`: MCP servers for the kernel's agents.

    %mastra mcp add NAME -- COMMAND ARGS...           a server launched over stdio
    %mastra mcp add NAME --url URL [--header K=V]...  a server over Streamable HTTP
    %mastra mcp add NAME --approve TOOL,... ...       ... whose tools named (or `all`) wait for a person's approval
    %mastra mcp                                       the servers, their tools and status
    %mastra mcp remove NAME                           disconnect (its process ends)

A server is connected when added (so a wrong command says so at once) and its tools listed; `%%agent NAME --mcp
time,docs` gives an agent those servers' tools (named `<server>_<tool>`). One `MCPClient` holds every server; the
kernel's hub closes it at shutdown (its child processes end with the kernel's hub or the kernel).
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

from .._async import run_sync
from ..display.html import card, code, esc, table
from ._errors import MagicError
from .commands import View

if TYPE_CHECKING:
    from ..tools import Tool
    from .magics import MastraMagics

__all__ = ["NotebookMCP", "run"]


class NotebookMCP:
    """The kernel's MCP servers: their settings and one client for all of them."""

    def __init__(self) -> None:
        self.servers: dict[str, dict[str, Any]] = {}
        self.tools: dict[str, list[Tool]] = {}
        self.client: Any = None

    def _rebuild(self, hub: Any) -> None:
        from ..mcp import MCPClient

        if self.client is not None:
            run_sync(self.client.close())
        self.client = MCPClient(self.servers) if self.servers else None
        if self.client is not None:
            hub.on_shutdown(self.client.close)

    def add(self, hub: Any, name: str, spec: dict[str, Any]) -> list[Tool]:
        previous = self.servers.get(name)
        self.servers[name] = spec
        try:
            self._rebuild(hub)
            self.tools = run_sync(self.client.toolsets())
        except Exception:
            if previous is None:
                self.servers.pop(name)
            else:
                self.servers[name] = previous
            self._rebuild(hub)
            raise
        return self.tools[name]

    def remove(self, hub: Any, name: str) -> None:
        if name not in self.servers:
            raise MagicError(f"No MCP server `{name}`; `%mastra mcp` lists them.")
        del self.servers[name]
        self.tools.pop(name, None)
        self._rebuild(hub)

    def tools_of(self, names: list[str]) -> list[Tool]:
        unknown = [name for name in names if name not in self.tools]
        if unknown:
            known = ", ".join(f"`{n}`" for n in self.tools) or "none"
            raise MagicError(f"No MCP server {', '.join(f'`{n}`' for n in unknown)} (added: {known}); add it with "
                             "`%mastra mcp add NAME -- COMMAND ...`.")  # fmt: skip
        return [tool for name in names for tool in self.tools[name]]


def run(magics: MastraMagics, line: str) -> Any:
    """Carry out `%mastra mcp ...` (the line after `mcp`)."""
    words = shlex.split(line)
    mcp = magics.mcp
    if not words:
        rows = [
            (name, spec.get("url") or " ".join([spec["command"], *spec.get("args", [])]),
             ", ".join(t.id + (" (approval)" if t.requires_approval else "") for t in mcp.tools.get(name, [])))
            for name, spec in mcp.servers.items()
        ]  # fmt: skip
        text = "\n".join("  ".join(row) for row in rows) or "no MCP servers"
        shown = table(["server", "how", "tools"], [[esc(cell) for cell in row] for row in rows]) if rows else code(text)
        return View(card("MCP servers", f"{len(rows)} connected", shown), text)
    action, rest = words[0], words[1:]
    if action == "remove" and len(rest) == 1:
        mcp.remove(magics.hub, rest[0])
        print(f"Removed MCP server `{rest[0]}`.")
        return None
    if action != "add" or not rest:
        raise MagicError("Use `%mastra mcp add NAME -- COMMAND ARGS...`, `%mastra mcp add NAME --url URL`, "
                         "`%mastra mcp remove NAME` or `%mastra mcp`.")  # fmt: skip
    name, options = rest[0], rest[1:]
    approval: bool | list[str] = False
    if options[:1] == ["--approve"]:
        if len(options) < 2 or not options[1] or options[1].startswith("-"):
            raise MagicError("`--approve` takes the server's tool names, comma-separated, or `all`.")
        approval = True if options[1] == "all" else [tool for tool in options[1].split(",") if tool]
        options = options[2:]
    if options[:1] == ["--"] and len(options) > 1:
        spec: dict[str, Any] = {"command": options[1], "args": options[2:]}
    elif options[:1] == ["--url"] and len(options) >= 2:
        headers = {}
        for index in range(2, len(options), 2):
            if options[index] != "--header" or index + 1 >= len(options) or "=" not in options[index + 1]:
                raise MagicError("After `--url URL`, only `--header KEY=VALUE` pairs.")
            key, _, value = options[index + 1].partition("=")
            headers[key] = value
        spec = {"url": options[1], "headers": headers}
    else:
        raise MagicError(f"`%mastra mcp add {name}` needs `-- COMMAND ARGS...` or `--url URL`.")
    if approval:
        spec["require_approval"] = approval
    tools = mcp.add(magics.hub, name, spec)
    waits = [t.id for t in tools if t.requires_approval]
    print(f"MCP server `{name}`: {len(tools)} tool(s): {', '.join(t.id for t in tools)}. "
          f"Give them to an agent with `%%agent NAME --mcp {name}`."
          + (f" Calls of {', '.join(waits)} wait for approval." if waits else ""))  # fmt: skip
    return None
