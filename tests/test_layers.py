"""The layer rules of `docs/architecture.md`, read from the source with `ast`, so a lazy import counts too.

- The core never imports the notebook layer (or a later outer layer), IPython or ipywidgets, not even inside a
  function or only for type checking.
- The package's parts import each other without a cycle. A part is a subpackage (`agents`, `workflows`, ...) or a
  top-level module (`mastra.py`, `errors.py`, `runs.py`, ...). Every import counts, function-level ones included,
  except those under `if TYPE_CHECKING:`: those are never executed, so they carry no dependency at run time (they
  are how a part names another's types without importing it).
- No part imports another part's private module (`tools._schema`) or private name (`_helper`). The package's own
  top-level private modules (`_async.py`) serve every part.

An edge the cycle rule must tolerate would be listed in `EXCEPTIONS` with its reason (and in
`docs/architecture.md`); there is none.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from itertools import pairwise
from pathlib import Path

import mastra_nb

PACKAGE = Path(mastra_nb.__file__).parent
OUTER = ("notebook", "server", "mcp", "a2a")  # layers on top of the hub; the core must not reach them
FORBIDDEN = ("mastra_nb.notebook", "mastra_nb.server", "mastra_nb.mcp", "mastra_nb.a2a", "IPython",
             "ipywidgets", "anywidget")  # fmt: skip

# (importing part, imported part) -> why the cycle it closes is needed. Keep it empty where a refactor can.
EXCEPTIONS: dict[tuple[str, str], str] = {}


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources() -> Iterator[tuple[Path, str]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path, _module(path)


def _type_checking_only(tree: ast.AST) -> set[ast.AST]:
    """The nodes under `if TYPE_CHECKING:` (or `if typing.TYPE_CHECKING:`), which never run."""
    found: set[ast.AST] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and (
            (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
            or (isinstance(node.test, ast.Attribute) and node.test.attr == "TYPE_CHECKING")
        ):
            found.update(inner for statement in node.body for inner in ast.walk(statement))
    return found


def _imports(source: str, module: str, is_package: bool = False, *, typing: bool = True) -> list[tuple[int, str]]:
    """Every module the source of `module` imports, anywhere in it (functions too), as absolute names; each
    `from x import y` also gives `x.y`. With `typing=False`, imports under `if TYPE_CHECKING:` are left out."""
    package = module if is_package else module.rpartition(".")[0]
    tree = ast.parse(source)
    skipped = set() if typing else _type_checking_only(tree)
    found = []
    for node in ast.walk(tree):
        if node in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            base = parts[: len(parts) - node.level + 1] if node.level else []
            name = ".".join([*base, node.module] if node.module else base)
            found += [(node.lineno, name)] + [(node.lineno, f"{name}.{alias.name}") for alias in node.names]
    return found


def _is_module(name: str) -> bool:
    """Whether `mastra_nb.a.b` names a module or package of this package (not a class or function in one)."""
    path = PACKAGE.joinpath(*name.split(".")[1:])
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _part(name: str) -> str | None:
    """The part (subpackage or top-level module) that `name` belongs to; None outside it or for the package."""
    parts = name.split(".")
    if parts[0] != "mastra_nb" or len(parts) < 2 or not _is_module(".".join(parts[:2])):
        return None
    return parts[1]


def _edges() -> dict[tuple[str, str], list[str]]:
    """Run-time imports between parts: (importer, imported) -> where (`path:line name`)."""
    edges: dict[tuple[str, str], list[str]] = {}
    for path, module in _sources():
        source = _part(module)
        if source is None:  # the package's __init__: its public names are resolved lazily, on first access
            continue
        for line, name in _imports(path.read_text(), module, path.name == "__init__.py", typing=False):
            target = _part(name)
            if target is not None and target != source:
                edges.setdefault((source, target), []).append(f"{path.relative_to(PACKAGE.parent)}:{line} {name}")
    return edges


def _cycles(graph: Mapping[str, set[str]]) -> list[tuple[list[str], list[str]]]:
    """Each group of parts that reach each other (a strongly connected component), with one cycle through it as a
    path that returns to its start."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        for after in sorted(graph.get(node, ())):
            if after not in index:
                visit(after)
                low[node] = min(low[node], low[after])
            elif after in stack:
                low[node] = min(low[node], index[after])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph.get(node, ()):
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [(group, _path_within(graph, set(group))) for group in groups]


def _path_within(graph: Mapping[str, set[str]], group: set[str]) -> list[str]:
    """A shortest cycle from the group's first member back to it, through members only (breadth first)."""
    start = min(group)
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for after in sorted(graph.get(node, set()) & group):
                if after == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [start, *reversed(path[:-1]), start] if node != start else [start, start]
                if after not in came_from:
                    came_from[after] = node
                    following.append(after)
        frontier = following
    raise AssertionError(f"no cycle within {sorted(group)}")


def test_the_core_never_imports_an_outer_layer_or_ipython():
    # The package's own __init__ is the entry point `%load_ext mastra_nb` looks up: its two extension hooks hand
    # over to the notebook layer, and that is all it does with it. `__main__` is `python -m mastra_nb`: it gathers
    # the outer layers' commands.
    entry_points = (PACKAGE / "__init__.py", PACKAGE / "__main__.py")
    core = [p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] not in OUTER and p not in entry_points]
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


def test_python_m_mastra_nb_only_gathers_the_outer_layers_commands():
    imported = {name for _, name in _imports((PACKAGE / "__main__.py").read_text(), "mastra_nb.__main__")}
    commands = {"mastra_nb.server.serve_cli", "mastra_nb.server.keys_cli", "mastra_nb.mcp.cli"}
    assert commands <= imported, imported
    core = imported - commands - {"mastra_nb.server", "mastra_nb.mcp"}
    assert all(not name.startswith(FORBIDDEN) for name in core), core


def test_the_parts_import_each_other_without_a_cycle():
    edges = _edges()
    assert {"agents", "evals", "mastra", "workflows"} <= {a for a, _ in edges}  # the scan really reads the package
    assert {"display", "models", "tools"} <= {b for _, b in edges}
    stale = [edge for edge in EXCEPTIONS if edge not in edges]
    assert stale == [], "these exceptions no longer exist: remove them here and in docs/architecture.md"
    graph: dict[str, set[str]] = {}
    for source, target in edges:
        if (source, target) not in EXCEPTIONS:
            graph.setdefault(source, set()).add(target)
    report = []
    for group, cycle in _cycles(graph):
        report.append(f"{len(group)} parts import each other ({', '.join(group)}), e.g. {' -> '.join(cycle)}:")
        report += [f"    {a} -> {b}: {edges[a, b][0]}" for a, b in pairwise(cycle)]
    assert not report, "import cycles between parts of the package:\n" + "\n".join(report)


def test_no_part_imports_another_parts_private_module_or_name():
    broken = []
    for path, module in _sources():
        source = _part(module)
        for line, name in _imports(path.read_text(), module, path.name == "__init__.py"):
            parts = name.split(".")
            private = next((i for i, p in enumerate(parts) if i > 0 and p.startswith("_") and p[:2] != "__"), None)
            if parts[0] != "mastra_nb" or private is None:
                continue
            if private == 1 and _is_module(".".join(parts[:2])):
                continue  # a top-level private module of the package (`_async`) serves every part
            if _part(name) != source:
                broken.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {name}")
    assert broken == []


def test_the_scan_finds_relative_imports_inside_functions():
    source = "import json\n\ndef _repr_html_(self):\n    from ..notebook.reprs import x\n    from . import _journal\n"
    names = {name for _, name in _imports(source, "mastra_nb.workflows.run")}
    assert {"json", "mastra_nb.notebook.reprs", "mastra_nb.workflows._journal"} <= names
    assert "mastra_nb.workflows" in {name for _, name in _imports("from . import x", "mastra_nb.workflows", True)}


def test_the_scan_leaves_out_type_checking_imports_only_when_asked():
    source = (
        "from typing import TYPE_CHECKING\nimport typing\nif TYPE_CHECKING:\n    from ..mastra import Mastra\n"
        "if typing.TYPE_CHECKING:\n    from ..agents import Agent\nelse:\n    from ..tools import Tool\n"
    )
    runtime = {name for _, name in _imports(source, "mastra_nb.evals.scorer", typing=False)}
    assert "mastra_nb.tools.Tool" in runtime
    assert not {"mastra_nb.mastra", "mastra_nb.agents"} & runtime
    assert {"mastra_nb.mastra", "mastra_nb.agents"} <= {name for _, name in _imports(source, "mastra_nb.evals.scorer")}


def test_the_cycle_finder_reports_a_path():
    graph = {"agents": {"evals", "tools"}, "evals": {"agents"}, "tools": set(), "a": {"b"}, "b": {"c"}, "c": {"a"}}
    assert sorted(path for _, path in _cycles(graph)) == [["a", "b", "c", "a"], ["agents", "evals", "agents"]]
    assert _cycles({"x": {"y"}, "y": set()}) == []
    assert _part("mastra_nb.mastra.Mastra") == "mastra" and _part("mastra_nb.tools._schema") == "tools"
    assert _part("mastra_nb") is None and _part("mastra_nb.Agent") is None


def test_the_command_line_starts_and_mcp_runs_without_the_server_extra(tmp_path: Path):
    # A real interpreter where the server extra's packages cannot be imported (as if not installed).
    from python_process import run_python

    (tmp_path / "app.py").write_text(
        "from mastra_nb import InMemoryStore, Mastra\nhub = Mastra(storage=InMemoryStore())\n"
    )
    ran = run_python(
        """
        import sys
        for name in ("starlette", "uvicorn", "jwt", "limits"):
            sys.modules[name] = None  # importing it raises ImportError
        from mastra_nb.__main__ import main
        try:
            main(["--help"])
        except SystemExit as done:
            print("help exit", done.code)
        print("keys exit", main(["keys", "list", "app:hub"]))
        """,
        cwd=tmp_path,
    )
    assert "serve" in ran.stdout and "mcp" in ran.stdout and "help exit 0" in ran.stdout, ran.stderr
    assert "keys exit 2" in ran.stdout and "needs the server extra" in ran.stderr, ran.stderr
