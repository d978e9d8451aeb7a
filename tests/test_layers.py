"""The layer rule of the map: the core never imports the notebook layer (or a later outer layer), IPython or
ipywidgets, not even inside a function. Read from the source with `ast`, so a lazy import counts too."""

from __future__ import annotations

import ast
from pathlib import Path

import mastra_nb

PACKAGE = Path(mastra_nb.__file__).parent
OUTER = ("notebook", "server", "mcp", "a2a")  # layers on top of the hub; the core must not reach them
FORBIDDEN = ("mastra_nb.notebook", "mastra_nb.server", "mastra_nb.mcp", "mastra_nb.a2a", "IPython", "ipywidgets",
             "anywidget")  # fmt: skip


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """Every module the source of `module` imports, anywhere in it (functions too), as absolute names."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            base = parts[: len(parts) - node.level + 1] if node.level else []
            name = ".".join([*base, node.module] if node.module else base)
            found += [(node.lineno, name)] + [(node.lineno, f"{name}.{alias.name}") for alias in node.names]
    return found


def test_the_core_never_imports_an_outer_layer_or_ipython():
    # The package's own __init__ is the entry point `%load_ext mastra_nb` looks up: its two extension hooks hand
    # over to the notebook layer, and that is all it does with it.
    core = [
        p
        for p in PACKAGE.rglob("*.py")
        if p.relative_to(PACKAGE).parts[0] not in OUTER and p != PACKAGE / "__init__.py"
    ]
    assert len(core) > 60  # the scan really reads the package
    broken = [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports {name}"
        for path in core
        for line, name in _imports(path.read_text(), _module(path), path.name == "__init__.py")
        if name.startswith(FORBIDDEN)
    ]
    assert broken == []


def test_the_entry_point_touches_the_notebook_layer_only_in_its_extension_hooks():
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    hooks = {"load_ipython_extension", "unload_ipython_extension"}
    outside = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("notebook")
        and not any(isinstance(f, ast.FunctionDef) and f.name in hooks and node in ast.walk(f) for f in tree.body)
    ]  # fmt: skip
    assert outside == []


def test_the_scan_finds_relative_imports_inside_functions():
    source = "import json\n\ndef _repr_html_(self):\n    from ..notebook.reprs import x\n    from . import _journal\n"
    names = {name for _, name in _imports(source, "mastra_nb.workflows.run")}
    assert {"json", "mastra_nb.notebook.reprs", "mastra_nb.workflows._journal"} <= names
    assert "mastra_nb.workflows" in {name for _, name in _imports("from . import x", "mastra_nb.workflows", True)}
