"""What only `SQLiteStore` does: one file that several processes write at once, its settings, migrations, and the
files it refuses. The storage contract itself runs on it in `test_storage.py`."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pytest
from python_process import without_root_override

from mastra_nb.errors import ErrorKind, MastraError
from mastra_nb.storage import SCHEMA_VERSION as DUCKDB_SCHEMA_VERSION
from mastra_nb.storage import TABLES, DuckDBStore, SetOp, SQLiteStore, UpsertOp
from mastra_nb.storage.sqlite_store import SCHEMA_VERSION, migrate, schema_version

ROOT = Path(__file__).resolve().parents[1]


def _python(code: str, cwd: Path | None = None) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=env,
    )


async def test_data_survives_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "persist.db"
    store = SQLiteStore(path)
    when = datetime(2024, 6, 1, 8, 0, tzinfo=timezone.utc)
    await store.set("config", {"model": "openai/gpt", "temperature": 0.2})
    await store.upsert(
        "workflow_runs", [{"run_id": "r1", "status": "suspended", "snapshot": {"n": 2}, "created_at": when}]
    )
    await store.close()
    reopened = SQLiteStore(str(path))
    try:
        assert await reopened.get("config") == {"model": "openai/gpt", "temperature": 0.2}
        [run] = await reopened.select("workflow_runs")
        assert (run["run_id"], run["snapshot"], run["created_at"]) == ("r1", {"n": 2}, when)
        assert run["created_at"].tzinfo is timezone.utc
    finally:
        await reopened.close()
    with sqlite3.connect(path) as conn:  # readable in the plain `sqlite3` shell: timestamps as ISO 8601 UTC text
        assert conn.execute("SELECT created_at FROM workflow_runs").fetchone() == ("2024-06-01T08:00:00.000000+00:00",)
    conn.close()


async def test_nothing_happens_before_the_first_operation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = SQLiteStore()
    assert store.path == tmp_path / ".mastra" / "mastra.db"
    assert not (tmp_path / ".mastra").exists()  # creating a store touches no file
    await store.set("k", 1)
    assert store.path.exists()
    await store.close()


async def test_an_in_memory_store_works() -> None:
    store = SQLiteStore(":memory:")
    await store.set("k", [1])
    assert await store.get("k") == [1]
    await store.close()


async def test_wal_mode_busy_timeout_and_schema_version_are_set(tmp_path: Path) -> None:
    path = tmp_path / "settings.db"
    store = SQLiteStore(path, timeout=2.5)
    await store.count("threads")
    settings = await store._run(
        lambda conn: [conn.execute(f"PRAGMA {name}").fetchone()[0] for name in ("busy_timeout", "synchronous")]
    )
    assert settings == [2500, 1]  # 1: NORMAL
    await store.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)  # kept in the file
        assert schema_version(conn) == SCHEMA_VERSION == DUCKDB_SCHEMA_VERSION  # one numbering for both stores
        names = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"mastra_meta", "kv", *TABLES} <= names
    finally:
        conn.close()


async def test_a_file_from_a_newer_version_is_refused_and_released(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn)
    conn.execute("UPDATE mastra_meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION + 1)])
    conn.close()
    store = SQLiteStore(path)
    with pytest.raises(MastraError) as info:
        await store.get("k")
    assert (info.value.kind, info.value.code) == (ErrorKind.SYSTEM, "STORAGE_SCHEMA_TOO_NEW")
    assert str(path) in info.value.message and "Upgrade mastra_nb" in info.value.message
    assert store._conn is None  # the refused file was not left open
    await store.close()


# -- several processes, one file -------------------------------------------------------------------------------

_WORKER = """
    import asyncio, os, time
    from mastra_nb.errors import MastraError
    from mastra_nb.storage import SQLiteStore
    from mastra_nb.storage.base import UpdateRowsOp

    path, name, go = {path!r}, {name!r}, {go!r}

    async def main():
        store = SQLiteStore(path)
        while not os.path.exists(go):  # both processes start writing together
            time.sleep(0.005)
        conflicts = 0
        for i in range(200):
            await store.upsert("messages", [{{"id": f"{{name}}-{{i}}", "thread_id": "t", "role": "user"}}])
            while True:  # compare-and-set increment: read the version, write it + 1 only if still the same
                [row] = await store.select("workflow_runs", {{"run_id": "counter"}})
                v = row["version"]
                try:
                    await store.transaction([UpdateRowsOp("workflow_runs", {{"run_id": "counter", "version": v}},
                                                          {{"version": v + 1}}, expect=1)])
                    break
                except MastraError as error:
                    assert error.code == "STORAGE_CONFLICT", error.code
                    conflicts += 1
        await store.close()
        print(conflicts)

    asyncio.run(main())
"""


async def test_two_processes_write_one_file_at_once_and_lose_no_update(tmp_path: Path) -> None:
    path, go = tmp_path / "shared.db", tmp_path / "go"
    store = SQLiteStore(path)
    await store.upsert("workflow_runs", [{"run_id": "counter", "version": 0}])
    workers = [_python(_WORKER.format(path=str(path), name=name, go=str(go))) for name in ("a", "b")]
    time.sleep(1.0)  # both import mastra_nb and open the file
    go.touch()
    outputs = [worker.communicate(timeout=120) for worker in workers]
    for worker, (_out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err
    try:
        [counter] = await store.select("workflow_runs", {"run_id": "counter"})
        assert counter["version"] == 400  # every increment of both processes, none lost
        assert await store.count("messages") == 400
        assert {m["id"] for m in await store.select("messages")} == {f"{n}-{i}" for n in "ab" for i in range(200)}
    finally:
        await store.close()


async def test_a_write_lock_held_past_the_timeout_is_storage_locked_and_reads_go_on(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    store = SQLiteStore(path, timeout=0.2)
    await store.set("k", 1)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process's writer, mid-transaction
    try:
        started = time.monotonic()
        with pytest.raises(MastraError) as info:
            await store.set("k", 2)
        assert time.monotonic() - started >= 0.2  # SQLite waited for its turn first
        assert (info.value.kind, info.value.code) == (ErrorKind.SYSTEM, "STORAGE_LOCKED")
        message = info.value.message
        assert str(path) in message and "another process holds a write lock" in message and "busy_timeout" in message
        assert await store.get("k") == 1  # WAL: readers do not wait for the writer
    finally:
        other.execute("ROLLBACK")
        other.close()
    await store.set("k", 3)
    assert await store.get("k") == 3
    await store.close()


async def test_a_database_failure_mid_transaction_rolls_everything_back(tmp_path: Path) -> None:
    path = tmp_path / "rollback.db"
    store = SQLiteStore(path)
    await store.set("keep", 1)
    with sqlite3.connect(path) as other:  # validation cannot see this coming: it fails inside the database
        other.execute("DROP TABLE scores")
    other.close()
    with pytest.raises(MastraError) as info:
        await store.transaction([SetOp("new", 1), SetOp("keep", 2), UpsertOp("scores", [{"id": "s1"}])])
    assert (info.value.kind, info.value.code) == (ErrorKind.SYSTEM, "STORAGE_ERROR")
    assert isinstance(info.value.__cause__, sqlite3.Error)
    assert await store.mget(["new", "keep"]) == {"keep": 1}
    await store.close()


# -- files that cannot be used: each error names the file and what to do, and leaves the file as it was ----------


def _duckdb_file(path: Path) -> None:
    conn = duckdb.connect(str(path))
    conn.execute("CREATE TABLE notes (text VARCHAR)")
    conn.execute("INSERT INTO notes VALUES ('mine')")
    conn.close()


@pytest.mark.parametrize("found", ["duckdb", "random", "text"])
async def test_a_file_that_is_not_sqlite_is_named_refused_and_left_as_it_was(tmp_path: Path, found: str) -> None:
    path = tmp_path / "store.db"
    if found == "duckdb":
        _duckdb_file(path)
    else:
        path.write_bytes(os.urandom(8192) if found == "random" else b"my notes, not a database\n" * 100)
    before = path.read_bytes()
    store = SQLiteStore(path)
    with pytest.raises(MastraError) as info:
        await store.list()
    error = info.value
    assert (error.kind, error.code) == (ErrorKind.VALIDATION, "STORAGE_FILE_NOT_SQLITE")
    assert str(path) in error.message and "`SQLiteStore(path)`" in error.message
    what = {"duckdb": "a DuckDB database (open it with `DuckDBStore`)", "random": "not a SQLite", "text": "a text file"}
    assert what[found] in error.message
    assert path.read_bytes() == before and sorted(tmp_path.iterdir()) == [path]  # no -wal or -shm beside it
    await store.close()
    if found == "duckdb":
        reopened = DuckDBStore(path)  # the file is DuckDB's: refused by name, it is still fine for `DuckDBStore`
        assert await reopened.list() == []
        await reopened.close()


async def test_a_damaged_file_says_to_move_it_aside_and_start_again(tmp_path: Path) -> None:
    path = tmp_path / "damaged.db"
    store = SQLiteStore(path)
    await store.mset({f"k{i}": {"payload": "x" * 100} for i in range(500)})
    await store.close()
    data = bytearray(path.read_bytes())
    data[100:] = os.urandom(len(data) - 100)  # the SQLite header survives; the pages, its schema among them, do not
    path.write_bytes(bytes(data))
    store = SQLiteStore(path)
    with pytest.raises(MastraError) as info:
        await store.get("k1")
    assert (info.value.kind, info.value.code) == (ErrorKind.SYSTEM, "STORAGE_FILE_DAMAGED")
    assert str(path) in info.value.message and info.value.details["move_aside"].startswith(f"mv {path} {path}.broken")
    assert path.read_bytes() == bytes(data)
    await store.close()


def test_a_read_only_file_says_so(tmp_path: Path) -> None:
    path = tmp_path / "ro.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn)
    conn.close()
    path.chmod(0o444)
    try:
        done = without_root_override(
            f"""
            import asyncio, json
            from mastra_nb.errors import MastraError
            from mastra_nb.storage import SQLiteStore
            try:
                asyncio.run(SQLiteStore({str(path)!r}).set("k", 1))
            except MastraError as error:
                print(json.dumps([error.code, error.message]))
            """
        )
        assert done.returncode == 0, done.stderr
        outcome = json.loads(done.stdout)
        code, message = outcome
        assert code == "STORAGE_NOT_WRITABLE" and str(path) in message and f"chmod u+rw {path}" in message
    finally:
        path.chmod(0o644)


async def test_a_version_3_file_gains_the_api_keys_and_audit_tables_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "v3.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE mastra_meta (key TEXT PRIMARY KEY, value TEXT)")  # a version-3 file, as built then
    conn.execute("CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at REAL)")
    conn.execute('CREATE TABLE "threads" ("id" TEXT, "resource_id" TEXT, "title" TEXT, "metadata" TEXT, '
                 '"created_at" TEXT, "updated_at" TEXT, PRIMARY KEY ("id"))')  # fmt: skip
    conn.execute("INSERT INTO mastra_meta VALUES ('schema_version', '3')")
    conn.execute("INSERT INTO threads (id, resource_id) VALUES ('t1', 'ada')")
    conn.close()
    store = SQLiteStore(path)
    try:
        assert [row["id"] for row in await store.select("threads")] == ["t1"]
        await store.upsert("audit", [{"id": "e1", "event": "auth.failed"}])
        assert await store.count("audit") == 1 and await store.count("api_keys") == 0
    finally:
        await store.close()
    conn = sqlite3.connect(path)
    try:
        assert schema_version(conn) == SCHEMA_VERSION == 4
    finally:
        conn.close()
