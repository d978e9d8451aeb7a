"""The README's example runs as written (top-level `await`, as in a notebook cell)."""

import ast
import re
from pathlib import Path

import pytest

from mastra_nb import MastraError

README = Path(__file__).parent.parent / "README.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


async def test_readme_example_runs_and_its_claims_hold():
    [block] = python_blocks(README.read_text())
    namespace: dict = {}
    code = compile(block, "README.md", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    await eval(code, namespace)  # our own README
    hub = namespace["hub"]
    assert await hub.get_tool("add").execute({"a": 2, "b": 3}) == 5
    with pytest.raises(MastraError, match="`a`"):
        await hub.get_tool("add").execute({"a": "x", "b": 3})
