"""The Model Context Protocol, both ways: the hub as an MCP server (`MCPServer`). An outer layer: the core never
imports it. Needs the `mcp` extra (`pip install 'mastra_nb[mcp]'`)."""

from __future__ import annotations

from .server import MCPServer

__all__ = ["MCPServer"]
