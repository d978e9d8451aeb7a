"""What only `DuckDBStore` does: a file that persists, a lock other processes meet, and migrations."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pytest

from mastra_nb.errors import ErrorKind, MastraError
from mastra_nb.storage import SCHEMA_VERSION, TABLES, DuckDBStore, SetOp, UpsertOp
from mastra_nb.storage.duckdb_store import migrate, schema_version

ROOT = Path(__file__).resolve().parents[1]


def _run_python(code: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60, cwd=cwd, env=env
    )


async def test_data_survives_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "persist.duckdb"
    store = DuckDBStore(path)
    when = datetime(2024, 6, 1, 8, 0, tzinfo=timezone.utc)
    await store.set("config", {"model": "openai/gpt", "temperature": 0.2})
    await store.upsert(
        "workflow_runs", [{"run_id": "r1", "status": "suspended", "snapshot": {"step": 2}, "created_at": when}]
    )
    await store.close()

    reopened = DuckDBStore(str(path))
    try:
        assert await reopened.get("config") == {"model": "openai/gpt", "temperature": 0.2}
        [run] = await reopened.select("workflow_runs")
        assert (run["run_id"], run["status"], run["snapshot"], run["created_at"]) == (
            "r1",
            "suspended",
            {"step": 2},
            when,
        )
    finally:
        await reopened.close()


async def test_nothing_happens_before_the_first_operation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = DuckDBStore()
    assert store.path == tmp_path / ".mastra" / "mastra.duckdb"
    assert not (tmp_path / ".mastra").exists()  # creating a store touches no file
    await store.set("k", 1)
    assert store.path.exists()
    await store.close()


async def test_second_process_gets_storage_locked_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "locked.duckdb"
    store = DuckDBStore(path)
    await store.set("held", True)  # this process now holds the file
    try:
        result = _run_python(
            f"""
            import asyncio
            from mastra_nb.errors import MastraError
            from mastra_nb.storage import DuckDBStore

            try:
                asyncio.run(DuckDBStore({str(path)!r}).get("held"))
            except MastraError as error:
                print(error.kind.value, error.code, error.details["pid"])
                print(error.message)
            """
        )
    finally:
        await store.close()
    assert result.returncode == 0, result.stderr
    first, message = result.stdout.splitlines()[:2]
    assert first == f"system STORAGE_LOCKED {os.getpid()}"
    assert str(path) in message and f"PID {os.getpid()}" in message
    assert "another path" in message and "PostgresStore" in message
    assert "duckdb" not in result.stderr.lower()  # no raw DuckDB traceback reached the user


async def test_schema_version_is_recorded(tmp_path: Path) -> None:
    path = tmp_path / "version.duckdb"
    store = DuckDBStore(path)
    await store.count("threads")
    await store.close()
    conn = duckdb.connect(str(path))
    try:
        assert schema_version(conn) == SCHEMA_VERSION == 3
        tables = {name for (name,) in conn.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        assert {"mastra_meta", "kv", *TABLES} <= tables
    finally:
        conn.close()


async def test_migrates_a_version_1_file_forward(tmp_path: Path) -> None:
    path = tmp_path / "v1.duckdb"
    conn = duckdb.connect(str(path))
    assert migrate(conn, up_to=1) == 1
    conn.execute("""INSERT INTO kv VALUES ('old', '{"kept": true}', NULL)""")
    assert "threads" not in {n for (n,) in conn.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    conn.close()

    store = DuckDBStore(path)
    try:
        assert await store.get("old") == {"kept": True}
        await store.upsert("threads", [{"id": "t1"}])
        assert await store.count("threads") == 1
    finally:
        await store.close()
    conn = duckdb.connect(str(path))
    try:
        assert schema_version(conn) == SCHEMA_VERSION
    finally:
        conn.close()


async def test_a_version_2_file_gains_run_versions_and_its_paused_agent_runs_move_to_rows(tmp_path: Path) -> None:
    path = tmp_path / "v2.duckdb"
    conn = duckdb.connect(str(path))
    migrate(conn, up_to=2)
    conn.execute('ALTER TABLE workflow_runs DROP COLUMN "version"')  # as version 2 built it
    conn.execute("DROP TABLE agent_runs")
    conn.execute("INSERT INTO workflow_runs (run_id, workflow_id, status) VALUES ('r1', 'w', 'suspended')")
    paused = {
        "run_id": "a1", "agent": "helper", "status": "awaiting_approval", "created_at": "2026-01-02T03:04:05+00:00",
        "updated_at": "2026-01-02T03:04:06.250000+00:00", "messages": [{"role": "user", "content": "hi"}],
    }  # fmt: skip
    conn.execute("INSERT INTO kv VALUES ('agents:runs:a1', ?, NULL)", [json.dumps(paused)])
    conn.close()

    store = DuckDBStore(path)
    try:
        [run] = await store.select("workflow_runs")
        assert (run["run_id"], run["status"], run["version"]) == ("r1", "suspended", None)
        [agent_run] = await store.select("agent_runs")
        assert (agent_run["run_id"], agent_run["agent"], agent_run["status"]) == ("a1", "helper", "awaiting_approval")
        assert agent_run["data"] == {"messages": [{"role": "user", "content": "hi"}]}
        assert agent_run["updated_at"] == datetime(2026, 1, 2, 3, 4, 6, 250000, tzinfo=timezone.utc)
        assert await store.list("agents:runs:") == []
    finally:
        await store.close()


async def test_a_file_from_a_newer_version_is_refused_and_released(tmp_path: Path) -> None:
    path = tmp_path / "future.duckdb"
    conn = duckdb.connect(str(path))
    migrate(conn)
    conn.execute("UPDATE mastra_meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION + 1)])
    conn.close()
    store = DuckDBStore(path)
    with pytest.raises(MastraError) as info:
        await store.get("k")
    assert (info.value.kind, info.value.code) == (ErrorKind.SYSTEM, "STORAGE_SCHEMA_TOO_NEW")
    assert str(path) in info.value.message and "Upgrade mastra_nb" in info.value.message
    duckdb.connect(str(path)).close()  # the refused file was not left open (and so not locked)
    await store.close()


async def test_a_file_that_is_not_duckdb_is_a_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.duckdb"
    path.write_text("these are my notes, not a database " * 10)
    store = DuckDBStore(path)
    with pytest.raises(MastraError) as info:
        await store.list()
    assert (info.value.kind, info.value.code) == (ErrorKind.SYSTEM, "STORAGE_ERROR")
    assert str(path) in info.value.message
    assert isinstance(info.value.__cause__, duckdb.Error)
    await store.close()


async def test_a_database_failure_mid_transaction_rolls_everything_back(tmp_path: Path) -> None:
    path = tmp_path / "rollback.duckdb"
    store = DuckDBStore(path)
    await store.set("keep", 1)
    # Same process, same file: DuckDB shares the instance, so this drop is visible to the store. Validation
    # cannot see it coming: the failure happens inside the database, after the first writes ran.
    other = duckdb.connect(str(path))
    other.execute("DROP TABLE scores")
    other.close()
    with pytest.raises(MastraError) as info:
        await store.transaction([SetOp("new", 1), SetOp("keep", 2), UpsertOp("scores", [{"id": "s1"}])])
    assert (info.value.kind, info.value.code) == (ErrorKind.SYSTEM, "STORAGE_ERROR")
    assert isinstance(info.value.__cause__, duckdb.Error)
    assert await store.mget(["new", "keep"]) == {"keep": 1}
    await store.close()


async def test_large_writes_do_not_block_the_event_loop(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "loop.duckdb")
    await store.set("warm", 1)  # connect and migrate first: only the write itself is timed
    ticks = 0
    writing = True

    async def ticker() -> None:
        nonlocal ticks
        while writing:
            ticks += 1
            await asyncio.sleep(0.001)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    started = time.perf_counter()
    await store.mset({f"k{i}": {"payload": "x" * 200, "i": i} for i in range(50_000)})
    elapsed = time.perf_counter() - started
    writing = False
    await task
    await store.close()
    # A loop blocked for the whole write would tick about once; a free loop ticks throughout.
    assert ticks >= max(3, elapsed / 0.001 / 20), (ticks, elapsed)


def test_importing_storage_does_not_import_duckdb(tmp_path: Path) -> None:
    result = _run_python(
        """
        import sys
        import mastra_nb.storage
        store = mastra_nb.storage.DuckDBStore("unused.duckdb")
        print("duckdb" in sys.modules)
        """,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
