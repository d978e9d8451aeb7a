"""Tools: Python functions that agents, workflows and people call through one validated path.

`@tool` builds a `Tool` from a function's type hints and docstring; a tool that takes a `ToolContext`
reaches the hub and the runtime context through it. `sanitize` and `strict_schema` are what agents and judges
use to name and describe schemas the way providers accept them.
"""

from ._schema import sanitize, strict_schema
from .tool import Tool, ToolContext, tool

__all__ = ["Tool", "ToolContext", "sanitize", "strict_schema", "tool"]
