"""Run notebooks headless in a real Jupyter kernel: what `make demo`, the notebook tests and the Binder test do.

`python -m mastra_nb.notebook.execute NOTEBOOK... --out DIR` executes each notebook with nbclient, in a kernel on
this interpreter (its own ipykernel, whatever kernelspecs are installed elsewhere), with DIR as the kernel's working
folder, so the hub's `.mastra/<notebook>/` lands in DIR and never beside the source notebook. It writes the executed
copy and its HTML into DIR. A cell error stops the notebook and fails the command, after writing what ran.

A notebook may restart its kernel part way, as a person would: before a cell tagged `restart-kernel` the kernel
process is shut down (DuckDB's lock goes with it) and a new one started; the cells after it run in the new process.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["RESTART_TAG", "execute_notebook", "main", "run_notebook", "to_html"]

RESTART_TAG = "restart-kernel"
# The kernel's own log stays quiet below errors: its notice that a kernel on localhost TCP is unencrypted (true, and
# what every local Jupyter does) would be the loudest line of `make demo`. Cell errors are reported all the same.
QUIET_KERNEL = "--IPKernelApp.log_level=ERROR"
_NEEDS = "Running notebooks needs the notebook extra: pip install 'mastra_nb[notebook]'"


async def execute_notebook(
    nb: Any, workdir: Path, *, timeout: int = 120, env: Mapping[str, str] | None = None, name: str | None = None
) -> Any:
    """Execute the cells of `nb` (an `nbformat.NotebookNode`, changed in place) in a new kernel whose working
    folder is `workdir`; restart the kernel before each cell tagged `restart-kernel`. The kernel is told the
    notebook's `name` as Jupyter Server tells it (`JPY_SESSION_NAME`), so its hub keeps runs in the notebook's own
    store, `.mastra/<notebook>/`, as in JupyterLab.

    Raises:
        nbclient.exceptions.CellExecutionError: at the first cell that fails (cells tagged `raises-exception` may).
    """
    try:
        from jupyter_client.kernelspec import KernelSpecManager
        from jupyter_client.manager import AsyncKernelManager
        from nbclient import NotebookClient
    except ImportError as exc:  # pragma: no cover - the test extra installs them
        raise ImportError(_NEEDS) from exc

    # No kernelspec directories: "python3" then resolves to ipykernel's native kernel, i.e. this interpreter.
    specs = KernelSpecManager(kernel_dirs=[])
    manager = AsyncKernelManager(kernel_name="python3", kernel_spec_manager=specs)
    client = NotebookClient(
        nb, km=manager, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(workdir)}},
        extra_arguments=[QUIET_KERNEL],
    )  # fmt: skip
    client.reset_execution_trackers()
    if name is not None:
        env = {**(os.environ if env is None else env), "JPY_SESSION_NAME": str(workdir / name)}
    launch: dict[str, Any] = {"env": dict(env)} if env is not None else {}
    # cleanup_kc: shut the kernel down at the end even though we made its manager, so that the next notebook's
    # kernel finds DuckDB's lock released.
    async with client.async_setup_kernel(cleanup_kc=True, **launch):
        kernel: Any = client.kc  # an AsyncKernelClient: its methods return awaitables
        info = await client.async_wait_for_reply(await _maybe_await(kernel.kernel_info()))
        if info is not None:
            nb.metadata["language_info"] = info["content"].get("language_info", {})
        for index, cell in enumerate(nb.cells):
            if RESTART_TAG in cell.get("metadata", {}).get("tags", []):
                await manager.restart_kernel()
                await _maybe_await(kernel.wait_for_ready(timeout=timeout))
            await client.async_execute_cell(cell, index, execution_count=client.code_cells_executed + 1)
    return nb


def run_notebook(path: Path, workdir: Path, *, timeout: int = 120, env: Mapping[str, str] | None = None) -> Any:
    """Read the notebook at `path`, execute it in `workdir` (see `execute_notebook`) and return it."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    return asyncio.run(execute_notebook(nb, workdir, timeout=timeout, env=env, name=Path(path).name))


# nbconvert's lab template loads require.js, MathJax, mermaid and the widgets' HTML manager from CDNs. The exported
# page leaves them out, so it makes no request outside itself: a widget shows the static snapshot of its mimebundle
# (text/html), markdown's maths stays as written, and JavaScript outputs (which would need require.js) give way to
# the next format of their bundle.
_OFFLINE_TEMPLATE = "mastra_nb_offline.html.j2"
_OFFLINE_BLOCKS = ("html_head_js_requirejs", "html_head_js_mathjax", "html_head_js_mermaidjs", "jupyter_widgets")
_OFFLINE_PRIORITY = [  # nbconvert's HTML priority without the widget view and application/javascript
    "text/html", "text/markdown", "image/svg+xml", "text/vnd.mermaid", "text/latex", "image/png", "image/jpeg",
    "text/plain",
]  # fmt: skip


def to_html(nb: Any) -> str:
    """The notebook as a standalone HTML page that loads nothing from elsewhere (nbconvert's lab template, without
    its CDN scripts)."""
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    template = "{%- extends 'index.html.j2' -%}\n" + "".join(
        f"{{%- block {name} -%}}{{%- endblock {name} -%}}\n" for name in _OFFLINE_BLOCKS
    )
    exporter = HTMLExporter(
        template_name="lab",
        template_file=_OFFLINE_TEMPLATE,
        extra_loaders=[DictLoader({_OFFLINE_TEMPLATE: template})],
        config=Config({"NbConvertBase": {"display_data_priority": _OFFLINE_PRIORITY}}),
    )
    body, _ = exporter.from_notebook_node(nb)
    return str(body)


async def _maybe_await(value: Any) -> Any:
    return await value if asyncio.iscoroutine(value) or asyncio.isfuture(value) else value


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: execute notebooks into `--out`, write `.ipynb` and `.html` copies, print where."""
    import nbformat
    from nbclient.exceptions import CellExecutionError

    parser = argparse.ArgumentParser(prog="python -m mastra_nb.notebook.execute", description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("build/notebooks"), help="where executed copies go")
    parser.add_argument("--clean", action="store_true", help="empty --out first (its .mastra/ storage too)")
    parser.add_argument("--timeout", type=int, default=120, help="seconds a cell may take")
    parser.add_argument("--no-html", action="store_true", help="write the executed notebooks only")
    args = parser.parse_args(argv)
    out: Path = args.out
    if args.clean and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for source in args.notebooks:
        nb = nbformat.read(source, as_version=4)
        started = time.perf_counter()
        failure: CellExecutionError | None = None
        try:
            asyncio.run(execute_notebook(nb, out.resolve(), timeout=args.timeout, name=source.name))
        except CellExecutionError as error:
            failure = error
        target = out / source.name
        nbformat.write(nb, target)
        written.append(target)
        if not args.no_html:
            written.append(target.with_suffix(".html"))
            written[-1].write_text(to_html(nb), encoding="utf-8")
        if failure is not None:
            print(f"FAILED {source} (what ran is in {target}):\n{failure}", file=sys.stderr)
            return 1
        print(f"executed {source} in {time.perf_counter() - started:.1f} s")
    print(f"\nExecuted notebooks and their HTML are in {out}/:")
    for path in written:
        print(f"  {path}")
    print(f"Open the HTML in a browser, or the notebooks with `make lab`. Each notebook's runs are in "
          f"{out}/.mastra/<notebook>/.")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
