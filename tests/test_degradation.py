"""Optional parts failing never fail the user's work (#16 item 4): memory's vector store, the span store.

Real parts only: a DuckDB file, a Chroma folder deleted under a live hub, a real `chroma run` server that is not
there yet, killed in the middle of a turn and started again, a SQLite "store" that is not a database; agents on
`ScriptedModel`. Nothing is mocked: each failure is the store's own.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import shutil
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import pytest

from mastra_nb import Agent, DuckDBStore, Mastra, MastraConfig, ScriptedModel
from mastra_nb.events import MEMORY_UPDATED, WARNING_RAISED
from mastra_nb.memory import Memory
from mastra_nb.storage import SQLiteStore
from mastra_nb.telemetry import Telemetry
from mastra_nb.vectors import ChromaVectorStore, VectorStore
from mastra_nb.vectors._chroma_process import heartbeat

FACTS = [
    "My flight to Lisbon leaves on Friday morning.",
    "The dog's name is Biscuit and she loves carrots.",
    "I am allergic to peanuts.",
    "My sister Ines lives in Porto.",
    "The car needs new tyres before winter.",
    "I play the cello on Tuesday evenings.",
    "Our wifi password is on the fridge.",
    "The plumber comes at nine tomorrow.",
]


class Setup:
    """A hub on a DuckDB file and the given vector store, with an agent whose memory recalls widely."""

    def __init__(self, folder: Path, vectors: VectorStore, script: list[Any] | None = None) -> None:
        self.storage = DuckDBStore(folder / "mastra.duckdb")
        self.vectors = vectors
        self.memory = Memory(options={"last_messages": 2, "working_memory": True,
                                      "semantic_recall": {"top_k": 50, "message_range": 0}})  # fmt: skip
        self.hub = Mastra(storage=self.storage, vectors=vectors, config=MastraConfig.load(environ={}))
        self.agent = self.hub.add_agent(Agent("helper", "You help.", ScriptedModel(script or ["ok"] * 40),
                                              memory=self.memory))  # fmt: skip
        self.warnings: list[dict[str, Any]] = []
        self.updates: list[dict[str, Any]] = []
        self.hub.events.subscribe(WARNING_RAISED, lambda event: self.warnings.append(event.payload))
        self.hub.events.subscribe(MEMORY_UPDATED, lambda event: self.updates.append(event.payload))

    async def tell(self, text: str, thread: str = "t") -> str:
        result = await self.agent.generate(text, thread_id=thread, resource_id="ada")
        return result.text

    async def recalled(self) -> list[str]:
        """The texts recall finds in the resource (matched ones only: no neighbours)."""
        found = await self.memory.recall("What do you know about me?", resource_id="ada")
        return sorted(r.message.text for r in found if r.matched)

    async def stored_texts(self) -> list[str]:
        rows = await self.storage.select("messages", where={"resource_id": "ada"})
        return sorted(t for t in (self.memory_text(r) for r in rows) if t)

    @staticmethod
    def memory_text(row: dict[str, Any]) -> str:
        return "".join(p.get("text", "") for p in row["content"] if p.get("type") == "text")

    async def vector_count(self) -> int:
        return (await self.vectors.describe_index(self.memory.index_for("ada"))).count

    async def markers(self) -> list[str]:
        return await self.storage.list("memory:")

    async def close(self) -> None:
        await self.memory.flush()
        await self.hub.shutdown()
        await self.vectors.close()
        await self.storage.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ChromaServer:
    """`chroma run` on a folder and port, started and killed at will."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder, self.port = folder, port
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        code = (
            "import sys, chromadb_rust_bindings as c; "
            "c.cli(['chroma', 'run', '--path', sys.argv[1], '--host', '127.0.0.1', '--port', sys.argv[2]])"
        )
        self.process = subprocess.Popen(
            [sys.executable, "-c", code, str(self.folder), str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while not heartbeat("127.0.0.1", self.port):
            assert self.process.poll() is None and time.monotonic() < deadline, "chroma run did not answer"
            time.sleep(0.1)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def chroma_server(tmp_path: Path):
    server = ChromaServer(tmp_path / "served", free_port())
    yield server
    server.kill()
    # Every store of the test is closed: no connection to the server may be left for the garbage collector (a
    # closed client's admin client kept one open in its own HTTP session, until `_close_client` closed that too).
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


# -- memory's vector store --------------------------------------------------------------------------------------


async def test_a_chroma_folder_deleted_under_a_live_hub_is_rebuilt_and_found_again_after_a_restart(tmp_path):
    """The issue's case: deleting the folder lost recall silently, and after reopening 0 of 12 messages were found."""
    setup = Setup(tmp_path, ChromaVectorStore(tmp_path / "chroma"))
    for fact in FACTS[:6]:
        assert await setup.tell(fact) == "ok"
    await setup.memory.flush()
    assert len(await setup.recalled()) == 12

    shutil.rmtree(tmp_path / "chroma")
    assert await setup.tell(FACTS[6]) == "ok"  # its recall found nothing; the turn ran all the same
    await setup.memory.flush()  # the turn's write made the folder again, and the rebuild ran in the background
    assert await setup.recalled() == await setup.stored_texts() and len(await setup.recalled()) == 14
    assert await setup.vector_count() == 14  # upserted by message id: the rebuild duplicated none
    assert len(setup.warnings) == 1, setup.warnings  # said once
    warning = setup.warnings[0]
    assert warning["component"] == "memory" and str(tmp_path / "chroma") in warning["message"]
    assert "rebuilt from storage" in warning["message"] and await setup.markers() == []
    await setup.hub.events.drain()
    assert any(u["action"] == "reindexed" for u in setup.updates)
    await setup.close()

    shutil.rmtree(tmp_path / "chroma")  # deleted while no hub is open: a new hub finds the index missing
    again = Setup(tmp_path, ChromaVectorStore(tmp_path / "chroma"))
    assert await again.recalled() == []  # this first recall notices, and starts the rebuild
    await again.memory.flush()
    assert len(await again.recalled()) == 14 and await again.vector_count() == 14
    assert len(again.warnings) == 1
    await again.close()


async def test_a_dead_vector_server_degrades_turns_says_so_once_and_reindexes_after_a_restart(
    tmp_path, chroma_server, caplog
):
    """Turns against a server that went away: answered from history, one warning, each degraded operation counted,
    the missed vectors remembered in storage; a new hub (a kernel restart) indexes them once the server is back."""
    chroma_server.start()
    setup = Setup(tmp_path, ChromaVectorStore(host="127.0.0.1", port=chroma_server.port))
    for fact in FACTS[:2]:
        await setup.tell(fact)
    await setup.memory.flush()
    assert await setup.vector_count() == 4

    chroma_server.kill()
    with caplog.at_level(logging.INFO, logger="mastra_nb"):
        for fact in FACTS[2:5]:
            assert await setup.tell(fact) == "ok"
        await setup.memory.flush()
    assert await setup.recalled() == []  # empty, not an error
    assert len(setup.warnings) == 1, setup.warnings  # once, not once per turn
    warning = setup.warnings[0]
    assert warning["code"] == "VECTOR_STORE_ERROR" and f"port={chroma_server.port}" in warning["store"]
    assert "recall finds nothing" in warning["message"] and "re-indexing" in warning["message"]
    said = [r for r in caplog.records if r.levelno == logging.WARNING and "vector store" in r.getMessage()]
    assert len(said) == 1
    metrics = setup.hub.metrics
    assert metrics.value("mastra_memory_degraded_total", operation="recall") == 4  # three turns and the call above
    assert metrics.value("mastra_memory_degraded_total", operation="write") == 3
    assert len(await setup.markers()) == 6  # the three turns' user and assistant messages
    await setup.close()

    # A restart while the server is still away, then the server comes back on the same folder.
    later = Setup(tmp_path, ChromaVectorStore(host="127.0.0.1", port=chroma_server.port))
    assert await later.tell(FACTS[5]) == "ok"
    await later.memory.flush()
    assert len(later.warnings) == 1 and len(await later.markers()) == 8
    chroma_server.start()
    assert await later.tell(FACTS[6]) == "ok"  # the store works: the turn's write, then the markers, in the background
    await later.memory.flush()
    assert await later.markers() == []
    assert await later.recalled() == await later.stored_texts() and len(await later.recalled()) == 14
    assert await later.vector_count() == 14
    assert await later.memory.reindex() == 0  # nothing was left
    assert len(later.warnings) == 1
    await later.close()


async def test_a_server_killed_in_the_middle_of_a_turn_loses_no_vector(tmp_path, chroma_server):
    """The server dies after the turn's recall and before its background write: the reply stands, the write's
    messages are marked, and once the server is back they are indexed, each once."""
    chroma_server.start()

    def kill_then_answer(messages: list[Any]) -> str:
        chroma_server.kill()
        return "ok"

    setup = Setup(tmp_path, ChromaVectorStore(host="127.0.0.1", port=chroma_server.port),
                  script=["ok", "ok", kill_then_answer, "ok", "ok"])  # fmt: skip
    for fact in FACTS[:2]:
        await setup.tell(fact)
    await setup.memory.flush()
    assert await setup.tell(FACTS[2]) == "ok"  # recall worked, the model call killed the server
    await setup.memory.flush()
    assert len(await setup.markers()) == 2 and len(setup.warnings) == 1
    assert setup.hub.metrics.value("mastra_memory_degraded_total", operation="write") == 1

    chroma_server.start()
    assert await setup.memory.reindex() == 2  # all at once, on demand
    assert await setup.markers() == []
    assert await setup.vector_count() == 6 == len(await setup.stored_texts())
    assert await setup.tell(FACTS[3]) == "ok"
    await setup.memory.flush()
    assert await setup.recalled() == await setup.stored_texts() and await setup.vector_count() == 8
    assert len(setup.warnings) == 1
    await setup.close()


async def test_a_closed_vector_store_leaves_turns_and_saves_working_and_reindex_says_what_failed(tmp_path):
    """A store closed under the hub (`VECTOR_STORE_CLOSED`): save_messages and turns still store their rows, and
    `reindex()` says the store still fails, naming it; a new store on the folder indexes everything."""
    setup = Setup(tmp_path, ChromaVectorStore(tmp_path / "chroma"))
    await setup.tell(FACTS[0])
    await setup.memory.flush()
    await setup.vectors.close()
    saved = await setup.memory.save_messages("t", FACTS[1], resource_id="ada")  # rows stored, vector marked
    assert len(saved) == 1 and await setup.tell(FACTS[2]) == "ok"
    await setup.memory.flush()
    with pytest.raises(Exception) as info:
        await setup.memory.reindex()
    assert getattr(info.value, "code", None) == "MEMORY_VECTORS_UNAVAILABLE"
    assert "VECTOR_STORE_CLOSED" in str(info.value) and "chroma" in str(info.value)
    assert len(await setup.markers()) == 3 and len(setup.warnings) == 1
    await setup.close()

    again = Setup(tmp_path, ChromaVectorStore(tmp_path / "chroma"))
    assert await again.memory.reindex() == 3
    assert await again.recalled() == await again.stored_texts() and await again.vector_count() == 5
    assert again.warnings == []
    await again.close()


async def test_recall_of_a_resource_the_store_never_saw_needs_no_rebuild_and_says_nothing(tmp_path):
    setup = Setup(tmp_path, ChromaVectorStore(tmp_path / "chroma"))
    assert await setup.recalled() == []
    await setup.tell(FACTS[0])
    await setup.memory.flush()
    assert len(await setup.recalled()) == 2 and await setup.markers() == [] and setup.warnings == []
    await setup.close()


# -- the span store ---------------------------------------------------------------------------------------------


async def test_a_failing_span_store_drops_spans_with_one_warning_and_runs_are_unaffected(tmp_path, caplog):
    not_a_database = tmp_path / "spans.db"
    not_a_database.write_bytes(b"this is not a SQLite file\n" * 200)
    storage = SQLiteStore(not_a_database)
    hub = Mastra(storage=storage, config=MastraConfig.load(environ={}),
                 telemetry=Telemetry(batch_size=1, flush_interval=0.01))  # fmt: skip
    agent = hub.add_agent(Agent("helper", "You help.", ScriptedModel(["ok"] * 5)))
    raised: list[dict[str, Any]] = []
    hub.events.subscribe(WARNING_RAISED, lambda event: raised.append(event.payload))
    with caplog.at_level(logging.DEBUG, logger="mastra_nb"):
        for _ in range(5):
            result = await agent.generate("Hello")
            assert result.text == "ok" and result.trace_id
            await asyncio.to_thread(hub.telemetry.provider.force_flush)  # each batch written (and failed) by now
    failed = [r for r in caplog.records if "Could not store" in r.getMessage()]
    assert len(failed) >= 5  # at least one failed batch per run
    assert [r.levelno for r in failed].count(logging.WARNING) == 1, [r.getMessage() for r in failed]
    # Said once on the bus too, and every dropped span counted: a batch holds the spans that waited when its write
    # began (batch_size=1 starts a write at once, but a span ended meanwhile joins it).
    assert [(w["component"], w["operation"]) for w in raised] == [("telemetry", "write")], raised
    assert "Could not store" in raised[0]["message"] and f"[{raised[0]['code']}]" in raised[0]["message"]
    dropped = sum(
        sample.value
        for metric in hub.metrics.registry.collect()
        if metric.name == "mastra_spans_dropped"
        for sample in metric.samples
        if sample.name == "mastra_spans_dropped_total"
    )
    in_messages = sum(int(re.search(r"Could not store (\d+) spans", r.getMessage()).group(1)) for r in failed)
    assert dropped == in_messages >= len(failed)
    await hub.shutdown()
    await storage.close()
