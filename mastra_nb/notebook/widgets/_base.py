"""What every widget shares: its front end shipped in `static/`, a static HTML snapshot, throttled updates, and
closing that leaves nothing subscribed.

A widget is an `anywidget.AnyWidget` whose ES module and CSS are files beside this one (no bundler, no CDN). What
the widgets share comes first in each: `css(name)` puts `static/common.css` before the widget's style sheet, and
`esm(name)` puts `static/common.js` (the DOM helpers `el`, `statusPill`, `shown`, `listen`) before its script. The
script cannot import the helpers instead: anywidget loads `_esm` from a string, where no relative import resolves. A
widget class sets `_esm = esm("graph.js")`, so `_esm` is one self-contained module text, as the front end and a
notebook's saved widget state both hold it (the price: anywidget's hot reload of a changed file, `ANYWIDGET_HMR=1`,
does not reach these widgets). Its mimebundle carries the widget view and a `text/html` snapshot, so a notebook
saved without widget state (GitHub, nbviewer, nbconvert) still shows the graph, the form or the transcript as they
were last drawn.

Event handlers run on whichever loop emitted the event (the kernel's, or `_async`'s private one). They only change
Python-side state and call `Throttle.touch()`; the throttle pushes that state to the front end at most once per
interval, so a 1,000-item `foreach` costs the browser a handful of messages, not thousands.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

import anywidget

__all__ = ["STATIC", "MastraWidget", "Throttle", "css", "display_key", "esm", "forget", "shown_for", "spawn"]

STATIC = Path(__file__).parent / "static"


def css(name: str) -> str:
    """The style sheet of a widget: the shared `common.css`, then its own `static/<name>`."""
    return (STATIC / "common.css").read_text(encoding="utf-8") + "\n" + (STATIC / name).read_text(encoding="utf-8")


def esm(name: str | Path) -> str:
    """The ES module of a widget: the shared helpers of `common.js`, then its own `static/<name>` (or the file at
    an absolute `name`)."""
    script = STATIC / name
    common = (STATIC / "common.js").read_text(encoding="utf-8")
    return f"{common}\n// {script.name}\n{script.read_text(encoding='utf-8')}"


# The widget shown for each display key (a notebook cell, or a command and its target): showing a new one closes
# the one it replaces, so re-running a cell leaks no event subscription. Process state, like a kernel's comms.
_SHOWN: dict[Hashable, Any] = {}
_SHOWN_LOCK = threading.Lock()


class WithSnapshot:
    """A widget's static HTML (`snapshot()`) as its `text/html`, also in its mimebundle beside the widget view, so
    saved notebooks show it where widget state is missing."""

    def snapshot(self) -> str:
        """The static HTML of what the widget shows now."""
        raise NotImplementedError

    def _repr_html_(self) -> str:
        return self.snapshot()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = super()._repr_mimebundle_(**kwargs)  # type: ignore[misc]
        if bundle is None:
            return None
        if isinstance(bundle, tuple):  # (data, metadata), as anywidget answers
            return {**bundle[0], "text/html": self.snapshot()}, bundle[1]
        return {**bundle, "text/html": self.snapshot()}


class MastraWidget(WithSnapshot, anywidget.AnyWidget):  # type: ignore[misc]
    """The base of mastra_nb's widgets: a static snapshot in the mimebundle, and cleanup on `close()`."""

    _cleanups: list[Callable[[], None]]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._cleanups = []

    def on_close(self, cleanup: Callable[[], None]) -> None:
        """Call `cleanup()` (unsubscribe, cancel) when the widget closes."""
        self._cleanups.append(cleanup)

    @property
    def closed(self) -> bool:
        """Whether `close()` has run (the front end no longer hears from this widget)."""
        return self.comm is None

    def close(self) -> None:
        """Unsubscribe from every event source, then close the front-end views."""
        cleanups, self._cleanups = self._cleanups, []
        for cleanup in cleanups:
            cleanup()
        forget(self)
        super().close()


class Throttle:
    """Calls `flush()` at most once per `interval` seconds while `touch()` is called: at once after a quiet
    spell, then once more at the end of the interval for whatever changed meanwhile."""

    def __init__(self, flush: Callable[[], None], interval: float = 0.1) -> None:
        self._flush = flush
        self.interval = interval
        self._lock = threading.Lock()
        self._last = 0.0
        self._timer: asyncio.TimerHandle | threading.Timer | None = None
        self.flushes = 0

    def touch(self, now: bool = False) -> None:
        """Something changed: flush now (`now=True`, or when the last flush is older than the interval), or soon."""
        with self._lock:
            if self._timer is not None and not now:
                return
            wait = 0.0 if now else self._last + self.interval - time.monotonic()
            if wait > 0:
                self._timer = _later(wait, self._fire)
                return
            self._cancel_timer()
        self._fire()

    def _fire(self) -> None:
        with self._lock:
            self._timer = None
            self._last = time.monotonic()
            self.flushes += 1
        self._flush()

    def cancel(self) -> None:
        with self._lock:
            self._cancel_timer()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def shown_for(key: Hashable, widget: Any) -> Any:
    """Register `widget` as the one shown for `key` (see `display_key`), closing the one shown for it before;
    returns `widget`."""
    with _SHOWN_LOCK:
        previous = _SHOWN.get(key)
        _SHOWN[key] = widget
    if previous is not None and previous is not widget:
        previous.close()
    return widget


def forget(widget: Any) -> None:
    """Drop a closed widget from the shown widgets."""
    with _SHOWN_LOCK:
        for key in [k for k, w in _SHOWN.items() if w is widget]:
            del _SHOWN[key]


def _later(delay: float, callback: Callable[[], None]) -> asyncio.TimerHandle | threading.Timer:
    """Run `callback` after `delay` seconds on this thread's running loop, else on a timer thread."""
    try:
        return asyncio.get_running_loop().call_later(delay, callback)
    except RuntimeError:
        timer = threading.Timer(delay, callback)
        timer.daemon = True
        timer.start()
        return timer


def spawn(coro: Any) -> Any:
    """Run `coro` in the background and return its task (or future): on the running loop of this thread (the
    kernel's, when a comm message arrives there), else on `_async`'s private loop. Either way the caller, and the
    kernel, stay free."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        from ..._async import submit

        return submit(coro)
    return loop.create_task(coro)


def display_key(kind: str, target: str) -> Hashable:
    """The key a widget is shown under: the notebook cell when the kernel says which (JupyterLab does), so
    re-running that cell replaces its widget; otherwise the command and its target."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
        kernel = getattr(shell, "kernel", None)
        parent = kernel.get_parent() if kernel is not None else {}
        cell = (parent or {}).get("metadata", {}).get("cellId")
    except Exception:  # no kernel, or an older one without `get_parent`
        cell = None
    return (kind, cell or target)
