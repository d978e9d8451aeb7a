"""The notebook layer: `%load_ext mastra_nb`, the magics, and the static rich displays.

```
 %load_ext mastra_nb ──> extension.load ──> MastraMagics (magics.py) ──> the kernel's Mastra hub
                                             %%tool %%agent %%ask          (`mastra` in the notebook)
                                             %mastra ──> commands.py
 obj._repr_html_() ──> reprs.py ──> html.py, svg.py      (no IPython: core classes call these lazily)
 make demo / tests ──> execute.py (nbclient, a real kernel on this interpreter)
```

Importing this package imports nothing from IPython; `extension` (and through it `magics`) is imported only when
the extension loads.
"""

from __future__ import annotations

from typing import Any

__all__ = ["load_ipython_extension", "unload_ipython_extension"]


def load_ipython_extension(ipython: Any) -> None:
    """Called by `%load_ext mastra_nb`: register the magics and bind the kernel's hub."""
    from .extension import load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """Called by `%unload_ext mastra_nb` (and `%reload_ext`): remove the magics; the hub is kept."""
    from .extension import unload

    unload(ipython)
