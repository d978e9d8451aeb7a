"""Shared vectors: one Chroma server per folder (`chroma+shared:///folder`), found or started by whichever process
comes first, used by all of them, stopped with its last user. Real kernels and processes, a real `chroma run`
server, real semantic recall with the local embedder; after each test the process table (`ps`) must show no server
of the test's folders."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kernels import execute, notebook_kernels
from python_process import ROOT, offline_env

from mastra_nb import Mastra, MastraConfig, MastraError
from mastra_nb.storage import InMemoryStore
from mastra_nb.vectors import ChromaVectorStore
from mastra_nb.vectors._chroma_process import RECORD, heartbeat, serves
from mastra_nb.vectors.chroma_server import acquire, served_by

# -- helpers ----------------------------------------------------------------------------------------------------


def servers(under: Path) -> list[int]:
    """Pids of the shared Chroma servers (not zombies) whose folder is under `under`, as `ps` lists them."""
    listed = subprocess.run(["ps", "-ww", "-eo", "pid=,stat=,args="], capture_output=True, text=True, check=True).stdout
    found = []
    for line in listed.splitlines():
        pid, stat, args = line.split(None, 2)
        if "_chroma_process.py" in args and f"--path {under}" in args and not stat.startswith("Z"):
            found.append(int(pid))
    return found


def wait_until(condition: Any, what: str, timeout: float = 30.0) -> None:
    """A bounded wait for something another process does (no assertion on how long it took)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.1)


@pytest.fixture(autouse=True)
def _no_server_left(tmp_path: Path) -> Iterator[None]:
    yield
    try:
        wait_until(lambda: not servers(tmp_path), "the test's Chroma servers to stop")
    finally:
        left = servers(tmp_path)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
    assert left == []


# What a child process adds to `offline_env`: this checkout's mastra_nb, and no bytecode written into it.
CHECKOUT = {"PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}


# A Python process that runs the snippets the test sends (top-level `await` allowed) on one event loop, and answers
# each with one JSON line: the value the snippet left in `result`, or its error.
WORKER = r"""
import ast, asyncio, json, sys
namespace = {"__name__": "__worker__"}

async def main():
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        try:
            outcome = eval(compile(json.loads(line), "<test>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT), namespace)
            if asyncio.iscoroutine(outcome):
                await outcome
            reply = {"ok": True, "result": namespace.pop("result", None)}
        except BaseException as error:
            reply = {"ok": False, "error": f"{type(error).__name__}: {error}"}
        print("@@" + json.dumps(reply, default=str), flush=True)

asyncio.run(main())
"""


class Worker:
    """A separate Python process the test drives snippet by snippet."""

    def __init__(self, cwd: Path, name: str) -> None:
        self.errors = cwd / f"{name}.stderr"
        with open(self.errors, "w") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-c", WORKER], cwd=cwd, env=offline_env(**CHECKOUT), text=True,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
            )  # fmt: skip
        self._lines = selectors.DefaultSelector()
        self._lines.register(self.process.stdout, selectors.EVENT_READ)  # type: ignore[arg-type]

    def send(self, code: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(code) + "\n")
        self.process.stdin.flush()

    def answer(self, timeout: float = 120.0) -> Any:
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0 and self._lines.select(left), f"no answer from the worker; {self.stderr()}"
            line = self.process.stdout.readline()
            assert line, f"the worker ended: {self.stderr()}"
            if line.startswith("@@"):
                reply = json.loads(line[2:])
                assert reply["ok"], f"{reply['error']}\n{self.stderr()}"
                return reply["result"]

    def run(self, code: str) -> Any:
        self.send(code)
        return self.answer()

    def stderr(self) -> str:
        return self.errors.read_text()[-3000:]

    def exit(self) -> None:
        """Close its input, which ends it, and wait."""
        self._close(self.process.stdin)
        self.process.wait(timeout=60)
        self._close(self.process.stdout)

    def kill(self) -> None:
        """SIGKILL: no clean-up of its own runs."""
        self.process.kill()
        self.process.wait(timeout=60)
        self._close(self.process.stdin)
        self._close(self.process.stdout)

    def _close(self, pipe: Any) -> None:
        if pipe is not None and not pipe.closed:
            if pipe is self.process.stdout:
                self._lines.close()
            try:
                pipe.close()
            except BrokenPipeError:
                pass  # it was killed with input unread


# -- two kernels, one memory ------------------------------------------------------------------------------------

SHARED = """
%load_ext mastra_nb
%config MastraMagics.storage = "sqlite:///.mastra/shared.db"
%config MastraMagics.vectors = "chroma+shared:///.mastra/chroma"
%mastra reset
from mastra_nb import Memory
memory = Memory().bind(mastra)
"""
MATCHED = "print([m.message.text for m in found if m.matched])"


def test_two_kernels_recall_from_one_shared_memory_and_the_server_stops_with_the_last_reset(tmp_path: Path) -> None:
    folder = tmp_path / ".mastra" / "chroma"
    with notebook_kernels(tmp_path, "01_trip.ipynb", "02_dog.ipynb", **CHECKOUT) as (trip, dog):
        for client in (trip, dog):
            execute(client, SHARED)
        # each kernel stores one fact; neither has touched the other's
        save = 'await memory.save_messages("{}", "{}", resource_id="ada")'
        execute(trip, save.format("t1", "My flight to Lisbon leaves on the 3rd of May."))
        execute(dog, save.format("t2", "Our terrier Biscuit hates the vacuum cleaner."))
        assert len(servers(tmp_path)) == 1  # both kernels use the one server of the folder
        # each recalls the other's by meaning, through the server (no content word of the question is in the answer)
        recall = 'found = await memory.recall("{}", resource_id="ada", top_k=1)\n' + MATCHED
        assert execute(dog, recall.format("When does my plane to Portugal depart?")).strip() == (
            "['My flight to Lisbon leaves on the 3rd of May.']"
        )
        assert execute(trip, recall.format("Which pet is scared of household appliances?")).strip() == (
            "['Our terrier Biscuit hates the vacuum cleaner.']"
        )
        server = served_by(folder)
        assert server is not None and servers(tmp_path) == [server["pid"]]
        assert sorted(user["pid"] for user in server["users"]) == sorted(
            int(execute(client, "import os; print(os.getpid())")) for client in (trip, dog)
        )
        # a bad setting is refused at `%mastra reset` with the setting and the forms named; the kernel keeps its hub
        wrong = "%config MastraMagics.vectors = 'chroma-shared:///.mastra/chroma'\n%mastra reset"
        bad = execute(dog, wrong, timeout=60, status="error")
        assert "vectors_url" in bad and "chroma+shared:///folder" in bad and "http://host:port" in bad
        execute(dog, "%config MastraMagics.vectors = 'chroma+shared:///.mastra/chroma'")
        # the first reset releases one user; the other still recalls through the same server
        execute(trip, "%mastra reset")
        assert servers(tmp_path) == [server["pid"]]
        assert "Lisbon" in execute(dog, recall.format("Portugal trip date?"))
        # the last user's reset stops it
        execute(dog, "%mastra reset")
        assert servers(tmp_path) == [] and served_by(folder) is None


# -- processes starting at once, users that are killed ----------------------------------------------------------


def test_processes_starting_at_once_get_one_server_which_stops_when_its_users_are_killed(tmp_path: Path) -> None:
    folder = tmp_path / "chroma"
    workers = [Worker(tmp_path, f"worker{i}") for i in range(2)]
    try:
        for worker in workers:  # chromadb imported first, so that the race is on the server, not the import
            worker.send(
                "import chromadb, os\nfrom mastra_nb.vectors.url import open_vectors\n"
                f"store = open_vectors('chroma+shared:///{folder.name}')\nresult = os.getpid()"
            )
        pids = [worker.answer() for worker in workers]
        for i, worker in enumerate(workers):  # all at once: each one's first operation finds or starts the server
            index = f"index-{i}"
            worker.send(
                f"await store.create_index({index!r}, 2)\nresult = await store.upsert({index!r}, ['a'], [[1, {i}]])"
            )
        assert [worker.answer() for worker in workers] == [1, 1]
        assert len(servers(tmp_path)) == 1
        server = served_by(folder)
        assert server is not None and servers(tmp_path) == [server["pid"]]
        assert sorted(user["pid"] for user in server["users"]) == sorted(pids)
        for worker in workers:  # one server, so one set of indexes
            assert worker.run("result = await store.list_indexes()") == ["index-0", "index-1"]
        workers[0].run("await store.close()")  # a user that closes (and goes on without vectors)
        assert servers(tmp_path) == [server["pid"]]
        workers[1].kill()  # a user killed without closing: the server's watchdog sees it gone
        wait_until(lambda: not servers(tmp_path), "the server to stop after its last user was killed")
        assert not (folder / RECORD).exists()
        # what the server wrote is in the folder: an embedded client reads it once the server is gone
        read = (
            f"async with ChromaVectorStore({str(folder)!r}) as embedded:\n"
            "    result = [await embedded.list_indexes(), [m.id for m in await embedded.query('index-1', [1, 1])]]"
        )
        workers[0].run("from mastra_nb.vectors import ChromaVectorStore")
        assert workers[0].run(read) == [["index-0", "index-1"], ["a"]]
    finally:
        for worker in workers:
            worker.kill()


def test_four_processes_released_at_one_moment_start_one_server_and_the_last_release_stops_it(tmp_path: Path) -> None:
    workers = [Worker(tmp_path, f"racer{i}") for i in range(4)]
    try:
        for worker in workers:
            worker.run("import pathlib, time\nfrom mastra_nb.vectors.chroma_server import acquire")
        for worker in workers:  # each waits for the go file, polling every 5 ms, then goes for the server
            worker.send("while not pathlib.Path('go').exists(): time.sleep(0.005)\nlease = acquire('chroma')")
        (tmp_path / "go").touch()
        for worker in workers:
            worker.answer()
        started = {worker.run("result = lease.server_pid") for worker in workers}
        assert len(started) == 1 and servers(tmp_path) == sorted(started)
        record = json.loads((tmp_path / "chroma" / RECORD).read_text())
        assert len(record["users"]) == 4 and record["pid"] in started
        for worker in workers[:-1]:
            worker.run("lease.release()")
            assert servers(tmp_path) == sorted(started)  # others still use it
        workers[-1].run("lease.release()")
        assert servers(tmp_path) == [] and not (tmp_path / "chroma" / RECORD).exists()
    finally:
        for worker in workers:
            worker.kill()


# -- the record: stale entries, the last release ----------------------------------------------------------------


@pytest.fixture
def stranger() -> Iterator[subprocess.Popen[bytes]]:
    """A live process that is not a Chroma server: its pid in a record must never be signalled."""
    process = subprocess.Popen(["sleep", "300"])
    yield process
    process.kill()
    process.wait()


def _ended_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


@pytest.mark.parametrize("stale", ["dead pid", "a stranger's pid", "another folder's server", "damaged file"])
def test_a_stale_record_is_replaced_by_a_new_server_and_no_stranger_is_signalled(
    tmp_path: Path, stale: str, stranger: subprocess.Popen[bytes]
) -> None:
    folder, other = tmp_path / "chroma", tmp_path / "other"
    folder.mkdir()
    others = acquire(other) if stale == "another folder's server" else None
    try:
        if others is not None:  # its record, pid and port are all real, and its heartbeat answers
            (folder / RECORD).write_text((other / RECORD).read_text())
        elif stale == "damaged file":
            (folder / RECORD).write_text('{"pid": 1, "port": ')
        else:  # and nothing answers Chroma's heartbeat on the discard port
            pid = _ended_pid() if stale == "dead pid" else stranger.pid
            users = [{"pid": os.getpid(), "lease": "left-over"}]  # a live process's lease, of the stale server
            (folder / RECORD).write_text(json.dumps({"pid": pid, "host": "127.0.0.1", "port": 9, "users": users}))
        stale_record = (folder / RECORD).read_text()
        lease = acquire(folder)
        try:
            record = json.loads((folder / RECORD).read_text())
            assert (folder / RECORD).read_text() != stale_record
            assert record["pid"] == lease.server_pid and serves(lease.server_pid, folder.resolve())
            assert heartbeat(lease.host, lease.port)
            assert [user["lease"] for user in record["users"]] == [lease.id]  # the stale leases went with it
            assert servers(tmp_path) == sorted([lease.server_pid, *([others.server_pid] if others else [])])
        finally:
            lease.release()
        assert served_by(folder) is None and servers(folder) == []
        assert stranger.poll() is None  # never signalled
        if others is not None:  # the other folder's server was neither joined nor stopped
            assert heartbeat(others.host, others.port) and served_by(other) is not None
    finally:
        if others is not None:
            others.release()


def test_the_server_stops_with_its_last_release_and_a_later_use_starts_another(tmp_path: Path) -> None:
    first, second = acquire(tmp_path / "chroma"), acquire(tmp_path / "chroma")
    assert first.server_pid == second.server_pid and first.id != second.id
    first.release()
    first.release()  # once only: the second user keeps it
    assert servers(tmp_path) == [second.server_pid] and heartbeat(second.host, second.port)
    second.release()
    assert servers(tmp_path) == [] and not (tmp_path / "chroma" / RECORD).exists()
    later = acquire(tmp_path / "chroma")
    try:
        assert later.server_pid != first.server_pid and servers(tmp_path) == [later.server_pid]
    finally:
        later.release()


async def test_a_shared_server_that_dies_is_replaced_and_what_it_stored_is_still_there(tmp_path: Path) -> None:
    store = ChromaVectorStore(tmp_path / "chroma", shared=True)
    try:
        await store.create_index("notes", 3)
        await store.upsert("notes", ["tea", "jam"], [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
        [dead] = servers(tmp_path)
        os.kill(dead, signal.SIGKILL)  # the server crashes under the store
        wait_until(lambda: dead not in servers(tmp_path), "the killed server to be gone")
        found = await store.query("notes", [0.9, 0.1, 0.0], top_k=1)  # on a new server, at once
        assert [match.id for match in found] == ["tea"]
        [alive] = servers(tmp_path)
        assert alive != dead and served_by(tmp_path / "chroma")["pid"] == alive
    finally:
        await store.close()  # its last user: the new server stops too (the fixture checks)


async def test_an_embedded_client_is_refused_a_folder_that_a_server_serves(tmp_path: Path) -> None:
    lease = acquire(tmp_path / "chroma")
    try:
        with pytest.raises(MastraError) as refused:
            await ChromaVectorStore(tmp_path / "chroma").list_indexes()
        assert refused.value.code == "VECTOR_FOLDER_SHARED"
        assert f"chroma+shared:///{(tmp_path / 'chroma').resolve()}" in refused.value.message
    finally:
        lease.release()


# -- the setting --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("chroma-shared:///.mastra/chroma", "chroma+shared:///folder"),
        ("postgres://db/x", "`http://host:port` (a Chroma server)"),
        ("   ", "expected a vector store URL or a folder, got an empty value"),
    ],
)
def test_a_bad_vectors_variable_is_refused_naming_it_and_the_forms(value: str, says: str) -> None:
    with pytest.raises(MastraError) as refused:
        MastraConfig.load(environ={"MASTRA_VECTORS_URL": value})
    assert refused.value.code == "CONFIG_INVALID"
    assert "MASTRA_VECTORS_URL" in refused.value.message and says in refused.value.message


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("http://localhost:port", "`http://host:port` with a port from 1 to 65535"),
        ("http://localhost:0", "a port from 1 to 65535"),
        ("https://ada:hunter2-secret@chroma.example:8000", "without credentials"),
        ("http://localhost:8000/api/v2", "with nothing after the port"),
        ("chroma+shared:///", "a folder after `chroma+shared:///`"),
        ("memory://somewhere", "`memory://` with nothing after it"),
        ("chroma+shared:///{file}", "a folder, not an existing file"),
    ],
)
def test_a_bad_vectors_url_fails_when_the_hub_is_built(tmp_path: Path, value: str, says: str) -> None:
    (tmp_path / "file").write_text("not a folder")
    config = MastraConfig.load(environ={}, vectors_url=value.replace("{file}", str(tmp_path / "file")))
    with pytest.raises(MastraError) as refused:
        Mastra(config=config)
    assert refused.value.code == "VECTORS_URL_INVALID"
    assert refused.value.message.startswith("`vectors_url` must be") and says in refused.value.message
    assert "hunter2" not in str(refused.value)


@pytest.mark.parametrize(
    ("value", "store"),
    [
        ("chroma+shared:///.mastra/chroma", "ChromaVectorStore(path='.mastra/chroma', shared=True)"),
        ("chroma:///.mastra/chroma", "ChromaVectorStore(path='.mastra/chroma')"),
        (".mastra/chroma", "ChromaVectorStore(path='.mastra/chroma')"),
        ("http://chroma.example:9000", "ChromaVectorStore(host='chroma.example', port=9000)"),
        ("https://chroma.example", "ChromaVectorStore(host='chroma.example', port=443)"),
    ],
)
async def test_each_form_of_the_setting_gives_its_store_and_nothing_starts_before_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str, store: str
) -> None:
    monkeypatch.chdir(tmp_path)
    hub = Mastra(config=MastraConfig.load(environ={"MASTRA_VECTORS_URL": value}), storage=InMemoryStore())
    assert repr(hub.vectors) == store
    await hub.shutdown()
    assert servers(tmp_path) == [] and list(tmp_path.iterdir()) == []


def test_shared_needs_a_folder() -> None:
    with pytest.raises(MastraError, match=r"`ChromaVectorStore\(shared=True\)` needs `path=`"):
        ChromaVectorStore(shared=True)
