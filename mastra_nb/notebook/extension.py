"""`%load_ext mastra_nb`: register the magics, bind the kernel's hub, start warming litellm up.

Loading stays well under a second: the magics module imports the hub and IPython's magic machinery, nothing heavy
(DuckDB opens on the first storage use, litellm on the first call of a model that needs it; a `ScriptedModel`
never does). Because litellm alone takes 3-4 s to import, a daemon thread imports it right after loading
(`MastraMagics.warm_up`), while the user writes the next cells, then does what litellm would otherwise do on its first
call (`warm_litellm`: lazy imports, model builds, its tokenizer, a garbage collection; ~1 s more). The first `%%ask`
of a litellm-backed model then waits only for what is left of that work, and once it is done costs about what the
second does. The thread shares the GIL with the cells: a scripted answer asked at once costs ~0.25 s more while it
runs (`bench/bench_notebook.py`).

The kernel's hub outlives `%reload_ext mastra_nb` (kept per shell in `_HUBS`), so reloading keeps the tools,
agents and workflows already defined. `%mastra reset` replaces it.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Any

from ..redaction import guard
from .magics import MastraMagics

__all__ = ["load", "unload", "warm_up"]

logger = guard(logging.getLogger("mastra_nb.notebook"))
_HUBS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()  # shell -> its hub
_warm: threading.Thread | None = None


def load(shell: Any) -> None:
    """Register `MastraMagics` in `shell`, bind the kernel's hub, and start the litellm warm-up."""
    if "MastraMagics" in shell.magics_manager.registry:
        return  # already loaded in this shell
    magics = MastraMagics(shell=shell)
    shell.register_magics(magics)
    shell.configurables.append(magics)  # so that `%config MastraMagics...` reaches it
    hub = _HUBS.get(shell)
    magics.bind(hub if hub is not None else magics.new_hub())
    _HUBS[shell] = magics.hub
    if magics.warm_up:
        warm_up()


def unload(shell: Any, keep_hub: bool = True) -> None:
    """Remove the magics from `shell`. The hub stays bound and open for a later load, unless `keep_hub=False`, which
    shuts it down (its DuckDB file is released) and forgets it."""
    from .._async import run_sync

    magics = shell.magics_manager.registry.pop("MastraMagics", None)
    if magics is None:
        return
    if keep_hub:
        _HUBS[shell] = magics.hub
    else:
        from ..mastra import set_default_hub

        _HUBS.pop(shell, None)
        set_default_hub(None)
        run_sync(magics.hub.shutdown())
    for kind, names in magics.magics.items():
        for name in names:
            shell.magics_manager.magics[kind].pop(name, None)
    if magics in shell.configurables:
        shell.configurables.remove(magics)


def warm_up() -> threading.Thread:
    """Import litellm and warm it up in a daemon thread (quick once done); returns the thread."""
    global _warm
    if _warm is not None and _warm.is_alive():
        return _warm
    _warm = threading.Thread(target=_import_litellm, name="mastra_nb-warm-up", daemon=True)
    _warm.start()
    return _warm


def _import_litellm() -> None:
    from ..models import load_litellm, warm_litellm

    try:
        load_litellm()
        warm_litellm()
    except BaseException:  # the first model call will import it again and report the failure itself
        logger.debug("warming litellm up failed", exc_info=True)
