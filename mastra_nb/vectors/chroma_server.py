"""One Chroma server per folder, shared by every process that uses the folder: `ChromaVectorStore(path,
shared=True)`, the setting `chroma+shared:///path` (`MASTRA_VECTORS_URL`, `%config MastraMagics.vectors`).

Chroma's embedded client (`PersistentClient`) is not safe in two processes at once, so two notebooks cannot share
a Chroma folder directly. Instead, the folder is served by one `chroma run --path FOLDER` server, and each process
talks to it with `chromadb.HttpClient`:

    acquire(folder)   under the folder's lock: read `chroma-server.json`; if the server it names still serves the
                      folder (its pid runs our server of this folder and its port answers Chroma's heartbeat), join
                      it; otherwise start one on a free port of 127.0.0.1 and wait for its heartbeat. Then add a
                      lease (this pid and a random id) to the record's users. Two processes starting at once: the
                      second waits for the lock, then finds the first one's server.
    Lease.release()   under the lock: drop the lease and the leases of processes that are gone; when none is left,
                      stop the server (SIGTERM, then SIGKILL) and wait for it to exit before the lock is let go.
                      `ChromaVectorStore.close()` (so `hub.shutdown()` and `%mastra reset`) releases; so does the
                      interpreter's exit.
    a killed user     the server's own watchdog stops it once no user's process is left (see `_chroma_process`).

A stale record (a dead pid, a pid that another program or another folder's server now has, a port that does not
answer, a damaged file) is replaced by a new server; a process is never signalled unless its command line shows
it is this folder's server. The files and the server process are described in `_chroma_process`. POSIX only
(`flock`); elsewhere run a server yourself and use `http://host:port`.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import ErrorKind, MastraError
from ._chroma_process import (
    LOCK,
    LOG,
    RECORD,
    SCRIPT,
    FolderLock,
    alive,
    heartbeat,
    live_users,
    read_record,
    remove_record,
    serves,
    write_record,
)

__all__ = ["RECORD", "Lease", "acquire", "served_by"]

HOST = "127.0.0.1"
START_TIMEOUT = 60.0  # seconds a new server may take to answer its heartbeat
LOCK_TIMEOUT = 120.0  # seconds to wait while another process starts or stops the server
STOP_TIMEOUT = 15.0  # seconds a server may take to exit after SIGTERM before it is killed
UNRESPONSIVE_GRACE = 10.0  # seconds a running server of the folder may stay silent before it is replaced
logger = logging.getLogger("mastra_nb.vectors")


class Lease:
    """One user's hold on a folder's shared server: where to connect, and `release()` when done."""

    def __init__(self, folder: Path, host: str, port: int, server_pid: int) -> None:
        self.folder, self.host, self.port, self.server_pid = folder, host, port, server_pid
        self.id = secrets.token_hex(8)
        self.pid = os.getpid()
        self._released = False

    def __repr__(self) -> str:
        return f"Lease({str(self.folder)!r}, server pid {self.server_pid} at {self.host}:{self.port})"

    def release(self) -> None:
        """Give the server up; the last user's release stops it. Never raises: a release that cannot take the lock
        is left to the server's watchdog, which drops leases of processes that have ended."""
        if self._released or os.getpid() != self.pid:  # once; and never from a forked child's copy
            return
        self._released = True
        atexit.unregister(self.release)
        lock = FolderLock(self.folder)
        try:
            if not lock.acquire(LOCK_TIMEOUT):
                logger.warning("Could not release the Chroma server of %s: its lock stayed busy.", self.folder)
                return
        except OSError:
            return  # the folder is gone, and the server's files with it
        try:
            record = read_record(self.folder)
            if record is None:
                return
            users = [user for user in live_users(record) if user.get("lease") != self.id]
            if users:
                write_record(self.folder, {**record, "users": users})
                return
            remove_record(self.folder)
            if serves(record["pid"], self.folder):
                _stop(record["pid"])
        except OSError as error:
            logger.warning("Could not release the Chroma server of %s: %s", self.folder, error)
        finally:
            lock.release()


def acquire(folder: str | os.PathLike[str]) -> Lease:
    """A lease on the one Chroma server of `folder`, found running or started (see the module docstring).

    Blocks for up to a few seconds while a server starts: call it from a worker thread.

    Raises:
        MastraError: `VECTOR_SERVER_FAILED` when the server cannot start (with the end of its log),
            `VECTOR_SERVER_BUSY` when another process held the folder's lock for too long.
    """
    path = Path(folder).expanduser().resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
        with _locked(path):
            record = read_record(path)
            if record is None or not _answers(record, path):
                record = _start(path)
            lease = Lease(path, record["host"], record["port"], record["pid"])
            users = [*live_users(record), {"pid": lease.pid, "lease": lease.id}]
            write_record(path, {**record, "users": users})
    except OSError as error:
        raise MastraError(
            ErrorKind.SYSTEM,
            "VECTOR_SERVER_FAILED",
            f"Could not use the folder `{path}` for a shared Chroma server: {error.strerror or error}.",
            details={"folder": str(path)},
        ) from None
    atexit.register(lease.release)  # a kernel shut down without `%mastra reset` still lets its server go
    return lease


def served_by(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The record of the shared server that serves `folder` now, or None."""
    path = Path(folder).expanduser().resolve()
    record = read_record(path)
    return record if record is not None and serves(record["pid"], path) else None


# -- starting and stopping -------------------------------------------------------------------------------------


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    try:
        import fcntl  # noqa: F401 - only to know whether this system has it
    except ImportError:  # pragma: no cover - Windows
        raise MastraError(
            ErrorKind.VALIDATION,
            "VECTOR_SERVER_UNSUPPORTED",
            "A shared Chroma folder (`chroma+shared:///...`) needs POSIX file locks, which this system lacks; run "
            "`chroma run --path FOLDER --port 8000` yourself and set the vectors to `http://localhost:8000`.",
        ) from None
    lock = FolderLock(folder)
    if not lock.acquire(LOCK_TIMEOUT):
        raise MastraError(
            ErrorKind.SYSTEM,
            "VECTOR_SERVER_BUSY",
            f"Waited {LOCK_TIMEOUT:.0f} s for `{folder / LOCK}`, which another process holds while it starts or "
            "stops the folder's Chroma server; try again, or look for a hung process using the folder.",
            details={"folder": str(folder)},
            retryable=True,
        )
    try:
        yield
    finally:
        lock.release()


def _answers(record: dict[str, Any], folder: Path) -> bool:
    """Whether the recorded server serves `folder` and answers. A server of the folder that stays silent for
    `UNRESPONSIVE_GRACE` is stopped, so that two servers never hold one folder."""
    if not serves(record["pid"], folder):
        return False  # stale: the pid is gone, or belongs to another program or another folder's server
    deadline = time.monotonic() + UNRESPONSIVE_GRACE
    while time.monotonic() < deadline:
        if heartbeat(record["host"], record["port"]):
            return True
        time.sleep(0.1)
    logger.warning("The Chroma server of %s (pid %s) stopped answering; starting another.", folder, record["pid"])
    _stop(record["pid"])
    return False


def _start(folder: Path) -> dict[str, Any]:
    for _ in range(3):  # a port found free can be taken by another program before the server binds it
        port = _free_port()
        with open(folder / LOG, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, str(SCRIPT), "--path", str(folder), "--host", HOST, "--port", str(port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C or an interrupt of the starting kernel does not reach it
                env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")},
            )
        deadline = time.monotonic() + START_TIMEOUT
        while process.poll() is None and time.monotonic() < deadline:
            if heartbeat(HOST, port, timeout=0.5):
                # it outlives this process if others use it; meanwhile, reap it whoever stops it
                threading.Thread(target=process.wait, name="mastra_nb-chroma-reaper", daemon=True).start()
                return {
                    "pid": process.pid,
                    "host": HOST,
                    "port": port,
                    "path": str(folder),
                    "started": time.time(),
                    "users": [],
                }
            time.sleep(0.05)
        if process.poll() is None:
            _stop(process.pid)
            process.wait()
            raise _failed(folder, f"did not answer within {START_TIMEOUT:.0f} s")
        if "address already in use" not in _tail(folder).lower():
            raise _failed(folder, f"exited with code {process.returncode}")
    raise _failed(folder, "found no free port")


def _stop(pid: int) -> None:
    """SIGTERM, then SIGKILL after `STOP_TIMEOUT`; returns once the process has exited."""
    for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not alive(pid):
            return
    logger.warning("The Chroma server (pid %s) did not exit after SIGKILL.", pid)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _tail(folder: Path, size: int = 600) -> str:
    try:
        text = (folder / LOG).read_bytes()[-size:].decode(errors="replace")
    except OSError:
        return ""
    return re.sub(r"\x1b\[[0-9;]*m", "", text).strip()


def _failed(folder: Path, what: str) -> MastraError:
    tail = " ".join(_tail(folder).split())[-300:]
    return MastraError(
        ErrorKind.SYSTEM,
        "VECTOR_SERVER_FAILED",
        f"The Chroma server of `{folder}` {what}; its log `{folder / LOG}` ends: {tail or '(empty)'}.",
        details={"folder": str(folder), "log": str(folder / LOG)},
        retryable=True,
    )
