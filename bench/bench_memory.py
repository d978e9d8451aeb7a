"""Memory and vectors on the embedded defaults (a DuckDB file, a Chroma folder, the local MiniLM embedder).

1. Local embedding throughput: 512 distinct sentences, batches of 32.
2. Recall latency at 10,000 and 100,000 stored messages of one resource (100 threads): `memory.recall(text)`,
   i.e. embedding the query, the Chroma search filtered by resource, and loading each match with one neighbour
   on each side from DuckDB; p50 and p95 of 40 queries. Filling 100,000 messages by embedding each would take
   minutes, so the stored vectors are those of 2,000 embedded sentences, each reused with a little noise (the
   index holds 100,000 distinct vectors all the same).
3. Ingest: `memory.save_messages` (rows, then embedding, then vectors) in batches of 50 messages; and `ingest`
   of a 60 KB markdown guide (chunk, embed, upsert).
4. The time an agent turn waits on memory: the same agent and instant scripted model, with and without memory
   (1,000 stored messages, last 10 messages, recall, working memory); the difference of the medians. Saving the
   turn's vectors happens after the reply, in the background, and is not counted.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from mastra_nb import Agent, DuckDBStore, ScriptedModel
from mastra_nb.memory import Memory
from mastra_nb.memory.messages import MemoryMessage
from mastra_nb.vectors import ChromaVectorStore, Document, default_embedder, ingest

TOPICS = ["flight", "hotel", "dinner", "budget", "meeting", "garden", "concert", "doctor", "invoice", "birthday"]
PLACES = ["Lisbon", "Oslo", "Kyoto", "Lima", "Cairo", "Quebec", "Porto", "Hanoi", "Perth", "Zurich"]
QUERIES = ["When do I travel to Portugal?", "What did the doctor say?", "How much can I spend?",
           "Which songs will they play?", "Where do we eat on Friday?"]  # fmt: skip


def sentences(n: int) -> list[str]:
    rng = random.Random(7)
    return [f"Note {i}: the {rng.choice(TOPICS)} in {rng.choice(PLACES)} is on day {rng.randint(1, 28)} "
            f"and costs {rng.randint(10, 900)} euros." for i in range(n)]  # fmt: skip


async def fill(memory: Memory, total: int, base: list[tuple[str, list[float]]]) -> None:
    """`total` messages of resource "bench" in 100 threads, vectors reused from `base` with noise."""
    rng = random.Random(total)
    start = datetime.now(timezone.utc) - timedelta(days=30)
    await memory.vector.create_index(memory.index_for("bench"), 384)
    threads = [f"thread-{i}" for i in range(100)]
    await memory.storage.upsert("threads", [{"id": t, "resource_id": "bench", "title": None, "metadata": {},
                                             "created_at": start, "updated_at": start} for t in threads])  # fmt: skip
    for offset in range(0, total, 5000):
        batch = []
        for i in range(offset, min(offset + 5000, total)):
            text, vector = base[i % len(base)]
            noisy = [x + rng.gauss(0, 0.01) for x in vector]
            role = "user" if i % 2 == 0 else "assistant"
            message = MemoryMessage(uuid.uuid4().hex, threads[i % 100], "bench", role,
                                    [{"type": "text", "text": text}], start + timedelta(seconds=i))  # fmt: skip
            batch.append((message, noisy))
        await memory.storage.upsert("messages", [m.to_row() for m, _ in batch])
        await memory.vector.upsert(
            memory.index_for("bench"), [m.id for m, _ in batch], [v for _, v in batch],
            [{"thread_id": m.thread_id, "role": m.role} for m, _ in batch],
            [m.text for m, _ in batch],
        )  # fmt: skip


async def recall_latency(memory: Memory) -> tuple[float, float]:
    times = []
    for i in range(40):
        started = time.perf_counter()
        found = await memory.recall(QUERIES[i % len(QUERIES)], resource_id="bench", top_k=3, message_range=1)
        times.append((time.perf_counter() - started) * 1000)
        assert found
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


async def measure(folder: Path) -> list[tuple[str, float, str]]:
    rows: list[tuple[str, float, str]] = []
    embedder = default_embedder()
    texts = sentences(2512)
    await embedder.embed(texts[:32])  # load the model
    started = time.perf_counter()
    vectors = await embedder.embed(texts[:512])
    rows.append(("local embedding (MiniLM int8, batches of 32)", 512 / (time.perf_counter() - started), "texts/s"))
    vectors += await embedder.embed(texts[512:2000])
    base = list(zip(texts[:2000], vectors, strict=True))

    for total in (10_000, 100_000):
        storage = DuckDBStore(folder / f"recall-{total}.duckdb")
        vector = ChromaVectorStore(folder / f"chroma-{total}")
        memory = Memory(storage, vector)
        started = time.perf_counter()
        await fill(memory, total, base)
        fill_seconds = time.perf_counter() - started
        p50, p95 = await recall_latency(memory)
        rows += [(f"recall at {total:,} messages, p50", p50, "ms"), (f"recall at {total:,} messages, p95", p95, "ms"),
                 (f"  (filling {total:,} rows and vectors took)", fill_seconds, "s")]  # fmt: skip
        await vector.close()
        await storage.close()

    storage = DuckDBStore(folder / "ingest.duckdb")
    vector = ChromaVectorStore(folder / "chroma-ingest")
    memory = Memory(storage, vector)
    started = time.perf_counter()
    for i in range(10):
        await memory.save_messages(f"t{i}", texts[2000 + i * 50 : 2050 + i * 50], resource_id="bench")
    rows.append(("save_messages, embedded and indexed", 500 / (time.perf_counter() - started), "messages/s"))
    guide = "\n\n".join(f"## Section {i}\n\n" + " ".join(texts[i * 8 : i * 8 + 8]) for i in range(80))
    started = time.perf_counter()
    result = await ingest(Document.from_markdown(guide), store=vector, index="guide", size=400, overlap=40)
    seconds = time.perf_counter() - started
    rows.append((f"ingest of a {len(guide) / 1000:.0f} KB guide ({result.chunks} chunks)", result.chunks / seconds,
                 "chunks/s"))  # fmt: skip

    await fill(memory, 1000, base)
    rows.append(("agent turn: time it waits on memory (median)", await turn_wait(memory), "ms"))
    await vector.close()
    await storage.close()
    return rows


async def turn_wait(memory: Memory) -> float:
    memory = Memory(memory.storage, memory.vector, options={"working_memory": True})
    model = ScriptedModel(["Noted."] * 100)
    with_memory = Agent("remembers", "You help.", model, memory=memory)
    without = Agent("forgets", "You help.", model)
    await with_memory.generate("warm up", thread_id="thread-1", resource_id="bench")
    plain, remembered = [], []
    for i in range(15):
        prompt = QUERIES[i % len(QUERIES)]
        started = time.perf_counter()
        await without.generate(prompt)
        plain.append(time.perf_counter() - started)
        started = time.perf_counter()
        await with_memory.generate(prompt, thread_id="thread-1", resource_id="bench")
        remembered.append(time.perf_counter() - started)
        await memory.flush()  # the background vector writes are not part of the turn
    return (statistics.median(remembered) - statistics.median(plain)) * 1000


def run() -> list[tuple[str, float, str]]:
    with tempfile.TemporaryDirectory() as folder:
        return asyncio.run(measure(Path(folder)))


if __name__ == "__main__":
    for label, value, unit in run():
        print(f"{label:<55} {value:>12,.2f} {unit}")
