"""`FileStore`: what `DuckDBStore` and `SQLiteStore` share: a store in one file through one connection, opened on
the first operation, every call run in a worker thread under one lock (a slow query never blocks the notebook's
event loop), and one boundary where the engine's errors become `MastraError`s."""

from __future__ import annotations

import asyncio
import os
import threading
from abc import abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from ..errors import MastraError
from ..redaction import safe_cause
from .base import Storage

__all__ = ["FileStore"]

T = TypeVar("T")


class FileStore(Storage):
    """A `Storage` in one file (or `:memory:`); subclasses say how to connect and what the engine's errors mean."""

    def __init__(self, path: str | os.PathLike[str] | None, default_name: str) -> None:
        super().__init__()
        chosen = Path(path).expanduser() if path is not None else Path(".mastra", default_name)
        # Absolute now: errors then name the real file, and a later `os.chdir` cannot move the store.
        self._path = chosen if str(chosen) == ":memory:" else chosen.absolute()
        self._lock = threading.Lock()
        self._conn: Any = None
        self._writes = 0  # writes so far (a store may do upkeep every so many)

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    def __repr__(self) -> str:
        return f"{type(self).__name__}(path={str(self._path)!r}, closed={self._closed})"

    @abstractmethod
    def _connect(self) -> Any:
        """A new connection to the file, migrated; called under the lock on the first operation."""

    @abstractmethod
    def _engine_errors(self) -> tuple[type[Exception], ...]:
        """The engine's exception classes, which `_call` translates (besides `OSError`)."""

    @abstractmethod
    def _translate(self, error: Exception) -> MastraError:
        """The `MastraError` for an engine failure on this file."""

    # -- the one boundary --------------------------------------------------------------------
    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(self._call, fn, *args)

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        handled: tuple[type[Exception], ...] = (*self._engine_errors(), OSError)
        with self._lock:
            self._check_open()  # again: `close` may have run while this call waited for the lock
            try:
                if self._conn is None:
                    self._conn = self._connect()
                return fn(self._conn, *args)
            except handled as error:
                translated = self._translate(error)
                if translated.code == "STORAGE_FILE_DAMAGED" and self._conn is not None:
                    self._drop_connection()  # let go of a damaged file: the message says to move it aside
                raise translated from safe_cause(error)

    def _drop_connection(self) -> None:
        try:
            self._conn.close()
        except Exception:  # an engine that found the file damaged may refuse even this; it is dropped all the same
            pass
        self._conn = None

    async def _close(self) -> None:
        def close() -> None:
            with self._lock:
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None

        await asyncio.to_thread(close)
