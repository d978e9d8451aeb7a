"""What only `DuckDBStore` does: a file that persists, a lock other processes meet, and migrations."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pytest
from python_process import ROOT, run_python, without_root_override

from mastra_nb.errors import ErrorKind, MastraError
from mastra_nb.storage import SCHEMA_VERSION, TABLES, DuckDBStore, SetOp, UpsertOp
from mastra_nb.storage.duckdb_store import migrate, schema_version


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
        result = run_python(
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
    assert "`await hub.shutdown()`" in message and "MASTRA_STORAGE_PATH" in message and "DuckDBStore(path)" in message
    assert "PostgresStore" not in message  # recommends only stores that exist
    assert "duckdb" not in result.stderr.lower()  # no raw DuckDB traceback reached the user


async def test_a_file_a_notebook_kernel_holds_is_refused_naming_that_notebook(tmp_path: Path) -> None:
    path = tmp_path / "shared.duckdb"
    code = (
        "import asyncio, sys\nfrom mastra_nb.storage import DuckDBStore\n"
        f"store = DuckDBStore({str(path)!r})\nasyncio.run(store.set('held', True))\n"
        "print('held', flush=True)\nsys.stdin.read()"
    )
    # Jupyter Server starts each kernel with its notebook's path in JPY_SESSION_NAME
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JPY_SESSION_NAME": "/home/ada/trips/planner.ipynb"}
    holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              env=env)  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        store = DuckDBStore(path)
        with pytest.raises(MastraError) as info:
            await store.get("held")
        await store.close()
    finally:
        holder.communicate("")
    message = info.value.message
    assert info.value.code == "STORAGE_LOCKED"
    assert f"the kernel of notebook `/home/ada/trips/planner.ipynb` (PID {holder.pid})" in message
    assert "sqlite:///" in message  # the setting that lets both use one store


async def test_schema_version_is_recorded(tmp_path: Path) -> None:
    path = tmp_path / "version.duckdb"
    store = DuckDBStore(path)
    await store.count("threads")
    await store.close()
    conn = duckdb.connect(str(path))
    try:
        assert schema_version(conn) == SCHEMA_VERSION == 4
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


async def test_a_text_file_is_refused_as_not_duckdb(tmp_path: Path) -> None:
    path = tmp_path / "notes.duckdb"
    path.write_text("these are my notes, not a database " * 10)
    store = DuckDBStore(path)
    with pytest.raises(MastraError) as info:
        await store.list()
    assert (info.value.kind, info.value.code) == (ErrorKind.VALIDATION, "STORAGE_FILE_NOT_DUCKDB")
    assert str(path) in info.value.message and "a text file" in info.value.message
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
    result = run_python(
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


# -- files that cannot be used: each error names the file and what to do, and leaves the file as it was ------------


async def _write_store(path: Path) -> bytes:
    store = DuckDBStore(path)
    await store.mset({f"k{i}": {"payload": "x" * 100} for i in range(2000)})
    await store.close()
    return path.read_bytes()


def _held_open_by_us(path: Path) -> bool:
    fds = Path("/proc/self/fd")
    if not fds.is_dir():
        pytest.skip("needs /proc to see which files this process holds open")
    held = set()
    for fd in fds.iterdir():
        try:
            held.add(os.readlink(fd))
        except OSError:
            pass  # closed since the listing
    return str(path.resolve()) in held


@pytest.mark.parametrize("damage", ["random bytes", "cut to half", "random bytes, with a .wal beside it"])
async def test_a_damaged_file_says_to_move_it_aside_and_start_again(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "store.duckdb"
    if damage == "cut to half":
        whole = await _write_store(path)
        path.write_bytes(whole[: len(whole) // 2])
    else:
        path.write_bytes(os.urandom(100_000))
    wal = Path(f"{path}.wal")
    if "wal" in damage:
        wal.write_bytes(os.urandom(1000))
    before = path.read_bytes()
    store = DuckDBStore(path)
    with pytest.raises(MastraError) as info:
        await store.get("k1")
    error = info.value
    assert (error.kind, error.code) == (ErrorKind.SYSTEM, "STORAGE_FILE_DAMAGED")
    assert str(path) in error.message and "damaged" in error.message and "DuckDB" in error.message
    move = error.details["move_aside"]
    assert move.startswith(f"mv {path} {path}.broken") and f"`{move}`" in error.message
    assert ("&& mv" in move) == ("wal" in damage)  # DuckDB's log goes with its file, never onto a new one
    assert "new, empty store" in error.message and "backup of your own" in error.message
    assert path.read_bytes() == before and not _held_open_by_us(path)
    await store.close()

    # Following the advice word for word: the damaged file is kept aside, and the path holds a new store.
    subprocess.run(move, shell=True, check=True)
    assert Path(f"{path}.broken").read_bytes() == before and not wal.exists()
    fresh = DuckDBStore(path)
    try:
        assert await fresh.list() == []
        await fresh.set("k", 1)
        assert await fresh.get("k") == 1
    finally:
        await fresh.close()


async def test_the_suggested_move_never_overwrites_an_earlier_one(tmp_path: Path) -> None:
    path = tmp_path / "store.duckdb"
    path.write_bytes(os.urandom(10_000))
    Path(f"{path}.broken").write_bytes(b"kept from last time")
    store = DuckDBStore(path)
    with pytest.raises(MastraError) as info:
        await store.list()
    assert info.value.details["move_aside"] == f"mv {path} {path}.broken2"
    await store.close()


async def test_a_sqlite_file_is_named_refused_and_left_as_it_was(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "app.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
        conn.execute("INSERT INTO notes VALUES ('mine')")
    conn.close()
    before = path.read_bytes()
    store = DuckDBStore(path)
    with pytest.raises(MastraError) as info:
        await store.list()
    error = info.value
    assert (error.kind, error.code) == (ErrorKind.VALIDATION, "STORAGE_FILE_NOT_DUCKDB")
    assert str(path) in error.message and "a SQLite database, not a DuckDB" in error.message
    assert "MASTRA_STORAGE_PATH" in error.message and "DuckDBStore(path)" in error.message
    assert "`SQLiteStore(path)`" in error.message  # a mastra_nb SQLite store opens with the right class
    # DuckDB opens a SQLite file through its `sqlite` extension, downloaded on demand: online it would have opened
    # the user's file and written mastra_nb's tables into it, so the file's bytes are what must not change.
    assert path.read_bytes() == before and not _held_open_by_us(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT text FROM notes").fetchall() == [("mine",)]
    conn.close()
    await store.close()


async def test_a_folder_given_as_the_file_is_refused_with_a_file_to_use(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path)
    with pytest.raises(MastraError) as info:
        await store.list()
    assert (info.value.kind, info.value.code) == (ErrorKind.VALIDATION, "STORAGE_FILE_NOT_DUCKDB")
    assert f"{tmp_path} is a folder" in info.value.message and str(tmp_path / "mastra.duckdb") in info.value.message
    assert list(tmp_path.iterdir()) == []
    await store.close()


async def test_an_empty_file_becomes_a_new_store(tmp_path: Path) -> None:
    path = tmp_path / "store.duckdb"
    path.touch()  # as `NamedTemporaryFile(suffix=".duckdb")` leaves it: DuckDB itself refuses a 0-byte file
    store = DuckDBStore(path)
    await store.set("k", 1)
    await store.close()
    reopened = DuckDBStore(path)
    try:
        assert await reopened.get("k") == 1
    finally:
        await reopened.close()


async def test_the_store_file_opens_alongside_a_plain_duckdb_connect(tmp_path: Path) -> None:
    # DuckDB refuses a second connection with other options to a file open in this process, so the store opens its
    # own files with DuckDB's default options: a user may look inside with `duckdb.connect(path)` meanwhile.
    path = tmp_path / "store.duckdb"
    store = DuckDBStore(path)
    await store.set("k", {"v": 1})
    try:
        conn = duckdb.connect(str(path))
        assert conn.execute("SELECT key FROM kv").fetchall() == [("k",)]
        conn.close()
    finally:
        await store.close()


@pytest.mark.parametrize("read_only", ["file", "folder"])
async def test_a_read_only_file_or_folder_says_so_and_what_to_do(tmp_path: Path, read_only: str) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    path = folder / "store.duckdb"
    if read_only == "file":
        before = await _write_store(path)
        path.chmod(0o444)
    else:
        folder.chmod(0o555)
    try:
        result = without_root_override(
            f"""
            import asyncio, json, os
            from mastra_nb.errors import MastraError
            from mastra_nb.storage import DuckDBStore

            path = {str(path)!r}
            if os.access(path if os.path.exists(path) else os.path.dirname(path), os.W_OK):
                print(json.dumps(None))  # permissions do not bind here
            else:
                try:
                    asyncio.run(DuckDBStore(path).get("k1"))
                except MastraError as error:
                    print(json.dumps([error.kind.value, error.code, error.message]))
            """
        )
        assert result.returncode == 0, result.stderr
        outcome = json.loads(result.stdout)
        if outcome is None:
            pytest.skip("file permissions do not stop this user from writing")
        kind, code, message = outcome
        assert (kind, code) == ("system", "STORAGE_NOT_WRITABLE")
        assert str(path) in message and "MASTRA_STORAGE_PATH" in message and "DuckDBStore(path)" in message
        if read_only == "file":
            assert "is read-only" in message and f"`chmod u+rw {path}`" in message
            assert path.read_bytes() == before
        else:
            assert f"the folder {folder} is read-only" in message and f"`chmod u+w {folder}`" in message
            assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)
        if path.exists():
            path.chmod(0o644)


async def test_an_empty_file_another_process_holds_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "store.duckdb"
    path.touch()
    inode = path.stat().st_ino
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import fcntl, sys\nf = open({str(path)!r}, 'r+b')\nfcntl.lockf(f, fcntl.LOCK_EX)\n"
         "print('held', flush=True)\nsys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        store = DuckDBStore(path)
        with pytest.raises(MastraError) as info:
            await store.list()
        assert info.value.code == "STORAGE_LOCKED" and info.value.details["pid"] == holder.pid
        assert path.stat().st_ino == inode and path.stat().st_size == 0  # not swapped under the process holding it
        await store.close()
    finally:
        holder.communicate("")


async def test_the_store_never_lets_duckdb_download_an_extension(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "store.duckdb")
    await store.set("k", {"v": 1})
    try:
        # the same database instance, as a user looking inside the file from the notebook gets it
        peek = duckdb.connect(str(tmp_path / "store.duckdb"))
        settings = peek.execute(
            "SELECT current_setting('autoinstall_known_extensions'), current_setting('autoload_known_extensions')"
        ).fetchone()
        peek.close()
        assert settings == (False, False)
        assert await store.get("k") == {"v": 1}
    finally:
        await store.close()


async def test_a_version_3_file_gains_the_api_keys_and_audit_tables_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "v3.duckdb"
    conn = duckdb.connect(str(path))
    migrate(conn, up_to=3)
    conn.execute("DROP TABLE api_keys")  # as version 3 built them: without these two
    conn.execute("DROP TABLE audit")
    conn.execute("INSERT INTO threads (id, resource_id) VALUES ('t1', 'ada')")
    conn.close()

    store = DuckDBStore(path)
    try:
        assert [row["id"] for row in await store.select("threads")] == ["t1"]
        await store.upsert("audit", [{"id": "e1", "event": "auth.failed"}])
        assert await store.count("audit") == 1 and await store.count("api_keys") == 0
    finally:
        await store.close()
