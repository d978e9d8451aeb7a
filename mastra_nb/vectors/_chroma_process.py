"""The process of a shared Chroma server, and the files beside it that every process using its folder reads.

Run as a script (`python _chroma_process.py --path FOLDER --host HOST --port PORT`), never imported by that
process as part of the package, so it needs only the standard library and `chromadb_rust_bindings`: the Rust
server that chromadb's `chroma run` command starts. Calling it directly skips the `chroma` script's
`import chromadb` (3-9 s on a busy machine); the server is the same. `chroma_server`, the side of the processes
that use the server, imports the helpers below.

The files, all in the Chroma folder:

    chroma-server.json  {"pid", "host", "port", "path", "started", "users": [{"pid", "lease"}, ...]}: the server of
                        the folder and the leases of the processes using it. Always replaced whole (a temporary file,
                        then `os.replace`), so a reader never sees half of one.
    chroma-server.lock  an exclusive `flock`, held while a process reads and changes the record, starts or stops the
                        server. The system drops it when its holder dies, so a crash never leaves it held.
    chroma-server.log   what the server printed since it last started.

The server's watchdog thread looks at the record every `WATCH_INTERVAL` seconds. When no user's process is left
(kernels killed without closing their hub), or the record names another server, it removes the record and stops
the server, holding the lock until the process has exited: no new server opens the folder before this one has let
go of it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

RECORD, LOCK, LOG = "chroma-server.json", "chroma-server.lock", "chroma-server.log"
SCRIPT = Path(__file__).resolve()
WATCH_INTERVAL = 1.0
_HELD: list[FolderLock] = []  # the watchdog's lock once it stops the server: released only when the process exits


class FolderLock:
    """The exclusive lock of a folder's server files (`flock` on `chroma-server.lock`; POSIX only)."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / LOCK
        self._file: Any = None

    def acquire(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the lock; whether it was taken."""
        import fcntl

        self._file = open(self.path, "a+b")  # held open for as long as the lock is
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    self._file.close()
                    self._file = None
                    return False
                time.sleep(0.02)

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the file drops the lock
            self._file = None


def read_record(folder: Path) -> dict[str, Any] | None:
    """The folder's server record, or None when there is none or it is not one (a stale or damaged file)."""
    try:
        record = json.loads((folder / RECORD).read_text())
    except (OSError, ValueError):
        return None
    valid = (
        isinstance(record, dict)
        and all(isinstance(record.get(key), int) for key in ("pid", "port"))
        and isinstance(record.get("host"), str)
        and isinstance(record.get("users"), list)
    )
    return record if valid else None


def write_record(folder: Path, record: dict[str, Any]) -> None:
    temporary = folder / f".{RECORD}.{os.getpid()}.tmp"
    temporary.write_text(json.dumps(record, indent=1))
    os.replace(temporary, folder / RECORD)


def remove_record(folder: Path) -> None:
    (folder / RECORD).unlink(missing_ok=True)


def live_users(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The record's leases whose processes still run."""
    return [
        user
        for user in record["users"]
        if isinstance(user, dict) and isinstance(user.get("pid"), int) and alive(user["pid"])
    ]


def alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie, dead but not yet reaped, does not)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, owned by another user
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS), or it ended just now: the next look will tell
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def command_line(pid: int) -> str | None:
    """The command line of process `pid`, its arguments joined by spaces; None when it cannot be read."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace")
    except FileNotFoundError:
        if Path("/proc/self").exists():
            return None  # Linux, and the process is gone
    except OSError:
        return None
    try:  # no /proc (macOS): ask ps
        found = subprocess.run(["ps", "-ww", "-o", "args=", "-p", str(pid)], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return found.stdout.strip() or None


def serves(pid: int, folder: Path) -> bool:
    """Whether process `pid` is this module's server of `folder` (and not another program that got its pid, nor the
    server of another folder)."""
    if not alive(pid):
        return False
    line = command_line(pid)
    return line is not None and SCRIPT.name in line and f" --path {folder} --host " in line


def heartbeat(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether a Chroma server answers its heartbeat at `host:port` (never through a proxy)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://{host}:{port}/api/v2/heartbeat", timeout=timeout) as answer:
            return "nanosecond heartbeat" in json.loads(answer.read())
    except (OSError, ValueError, TypeError):
        return False


def _watch(folder: Path) -> None:
    lock = FolderLock(folder)
    while True:
        time.sleep(WATCH_INTERVAL)
        if not lock.acquire(timeout=WATCH_INTERVAL):
            continue  # another process is changing the record: look again next time
        record = read_record(folder)
        if record is not None and record["pid"] == os.getpid():
            users = live_users(record)
            if users:
                if len(users) != len(record["users"]):
                    write_record(folder, {**record, "users": users})
                lock.release()
                continue
            remove_record(folder)
        # no user is left, or the record names another server (or none): stop, keeping the lock until the exit
        _HELD.append(lock)
        os.kill(os.getpid(), signal.SIGTERM)  # the server shuts down on SIGTERM; the lock goes with the process
        return


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A Chroma server of one folder, shared by mastra_nb processes.")
    parser.add_argument("--path", required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", required=True, type=int)
    args = parser.parse_args(argv)
    threading.Thread(target=_watch, args=(Path(args.path),), name="mastra_nb-chroma-watchdog", daemon=True).start()
    command = ["chroma", "run", "--path", args.path, "--host", args.host, "--port", str(args.port)]
    import chromadb_rust_bindings

    if hasattr(chromadb_rust_bindings, "cli"):
        chromadb_rust_bindings.cli(command)
    else:  # pragma: no cover - another chromadb release: its `chroma` command itself
        sys.argv = command
        from chromadb.cli.cli import app

        app()


if __name__ == "__main__":
    main()
