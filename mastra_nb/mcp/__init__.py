"""The Model Context Protocol, both ways: the hub as an MCP server (`MCPServer`), and other servers' tools as
mastra_nb tools (`MCPClient`). An outer layer: the core never imports it. Needs the `mcp` extra
(`pip install 'mastra_nb[mcp]'`)."""

from __future__ import annotations

from .client import MCPClient
from .server import MCPServer

__all__ = ["MCPClient", "MCPServer"]
