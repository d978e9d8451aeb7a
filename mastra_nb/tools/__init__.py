"""Tools: Python functions that agents, workflows and people call through one validated path.

`@tool` builds a `Tool` from a function's type hints and docstring; a tool that takes a `ToolContext`
reaches the hub and the runtime context through it.
"""

from .tool import Tool, ToolContext, tool

__all__ = ["Tool", "ToolContext", "tool"]
