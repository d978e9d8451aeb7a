"""The storage contract: every test runs against `InMemoryStore` and real `DuckDBStore` and `SQLiteStore` files."""

from __future__ import annotations

import asyncio
import itertools
import random
import types
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import BaseModel

from mastra_nb.errors import ErrorKind, MastraError
from mastra_nb.events import Event, EventBus
from mastra_nb.memory._context import messages_around, read_around
from mastra_nb.runs import Runs
from mastra_nb.storage import (
    TABLES,
    DeleteOp,
    DeleteRowsOp,
    DuckDBStore,
    InMemoryStore,
    SetOp,
    SQLiteStore,
    Storage,
    UpsertOp,
    gt,
    gte,
    is_in,
    lt,
    lte,
    ne,
    not_in,
)
from mastra_nb.storage.base import InsertOp, UpdateRowsOp
from mastra_nb.storage.capabilities import ReadsMessagesAround, ReadsRun

UTC = timezone.utc


def _make(kind: str, tmp_path: Any) -> Storage:
    if kind == "memory":
        return InMemoryStore()
    return DuckDBStore(tmp_path / "contract.duckdb") if kind == "duckdb" else SQLiteStore(tmp_path / "contract.db")


@pytest.fixture(params=["memory", "duckdb", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Storage]:
    s = _make(request.param, tmp_path)
    yield s
    await s.close()


def _score(i: int, score: float | None, **extra: Any) -> dict[str, Any]:
    return {"id": f"s{i}", "scorer_id": extra.pop("scorer_id", "relevance"), "score": score, **extra}


async def _seed_scores(store: Storage) -> None:
    await store.upsert(
        "scores",
        [
            _score(1, 0.9, target_kind="agent", created_at=datetime(2024, 1, 1)),
            _score(2, 0.2, target_kind="agent", created_at=datetime(2024, 1, 3)),
            _score(3, None, target_kind="workflow", created_at=datetime(2024, 1, 2)),
            _score(4, 0.5, scorer_id="tone", target_kind=None),
            _score(5, 0.5, scorer_id="tone", target_kind="agent", details={"why": ["a", 1]}),
        ],
    )


async def _ids(store: Storage, **kwargs: Any) -> list[str]:
    return [row["id"] for row in await store.select("scores", **kwargs)]


# -- key/value ---------------------------------------------------------------------------------
async def test_get_set_delete_round_trip_nested_json(store: Storage) -> None:
    value = {"name": "Ada", "tags": ["x", "y"], "nested": {"n": 1, "f": 2.5, "ok": True, "none": None}}
    await store.set("user:1", value)
    assert await store.get("user:1") == value
    await store.set("user:1", "replaced")
    assert await store.get("user:1") == "replaced"
    assert await store.delete("user:1") is True
    assert await store.get("user:1") is None
    assert await store.delete("user:1") is False


async def test_pydantic_models_are_stored_as_json(store: Storage) -> None:
    class Point(BaseModel):
        x: int
        when: datetime

    await store.set("p", Point(x=1, when=datetime(2024, 5, 1, tzinfo=UTC)))
    assert await store.get("p") == {"x": 1, "when": "2024-05-01T00:00:00Z"}


async def test_returned_and_given_values_are_copies(store: Storage) -> None:
    given = {"items": [1, 2]}
    await store.set("k", given)
    given["items"].append(3)
    got = await store.get("k")
    got["items"].append(99)
    assert await store.get("k") == {"items": [1, 2]}

    await store.upsert("threads", [{"id": "t", "metadata": {"a": [1]}}])
    [row] = await store.select("threads")
    row["metadata"]["a"].append(2)
    assert (await store.select("threads"))[0]["metadata"] == {"a": [1]}


async def test_ttl_expiry(store: Storage) -> None:
    await store.list()  # DuckDB opens and migrates its file on first use: keep that out of the ttl window
    await store.set("short", 1, ttl=0.25)
    await store.mset({"short2": 2}, ttl=0.25)
    await store.set("long", 3, ttl=60)
    assert await store.mget(["short", "short2", "long"]) == {"short": 1, "short2": 2, "long": 3}
    await asyncio.sleep(0.35)
    assert await store.get("short") is None
    assert await store.mget(["short", "short2", "long"]) == {"long": 3}
    assert await store.list() == ["long"]
    assert await store.search("short") == []
    assert await store.delete("short") is False  # an expired key counts as missing
    await store.set("short", "back")  # and can be set again
    assert await store.get("short") == "back"


async def test_list_prefix_sorted(store: Storage) -> None:
    await store.mset({"b:2": 0, "a:1": 0, "b:10": 0, "b:1": 0, "c": 0, "B:0": 0})
    assert await store.list() == ["B:0", "a:1", "b:1", "b:10", "b:2", "c"]
    assert await store.list("b:") == ["b:1", "b:10", "b:2"]
    assert await store.list("zzz") == []


async def test_mget_mset_mdelete(store: Storage) -> None:
    await store.mset({f"k{i}": {"i": i} for i in range(300)})
    got = await store.mget(["k0", "k299", "missing", "k0"])
    assert got == {"k0": {"i": 0}, "k299": {"i": 299}}
    assert len(await store.list("k")) == 300
    assert await store.mdelete(["k0", "k1", "missing", "k1"]) == 2
    assert await store.mget(["k0", "k1", "k2"]) == {"k2": {"i": 2}}
    assert await store.mget([]) == {}
    assert await store.mdelete([]) == 0


async def test_search_key_or_value_case_insensitive(store: Storage) -> None:
    await store.mset(
        {
            "doc:1": {"title": "Hello World"},
            "doc:2": {"title": "goodbye"},
            "note:HELLO": "plain",
            "note:x": ["nothing", "here"],
        }
    )
    assert [k for k, _ in await store.search("hello")] == ["doc:1", "note:HELLO"]
    assert await store.search("WORLD") == [("doc:1", {"title": "Hello World"})]
    assert [k for k, _ in await store.search("hello", prefix="note:")] == ["note:HELLO"]
    assert [k for k, _ in await store.search("o", limit=2)] == ["doc:1", "doc:2"]
    assert await store.search("%") == []  # no SQL wildcards leak through


async def test_subscribe_gets_matching_set_and_delete_events(store: Storage) -> None:
    seen: list[Event] = []
    subscription = store.subscribe("user:*", seen.append)
    await store.set("user:1", {"n": 1})
    await store.set("other", 1)
    await store.mset({"user:2": 2, "order:1": 3})
    await store.delete("user:1")
    await store.delete("user:404")  # never existed: nothing happened, so no event
    await store.transaction([SetOp("user:3", 3), DeleteOp("user:2")])
    await store._key_events.drain()
    assert [(e.payload["op"], e.payload["key"], e.payload["value"]) for e in seen] == [
        ("set", "user:1", {"n": 1}),
        ("set", "user:2", 2),
        ("delete", "user:1", None),
        ("set", "user:3", 3),
        ("delete", "user:2", None),
    ]
    subscription.unsubscribe()
    await store.set("user:9", 9)
    await store._key_events.drain()
    assert len(seen) == 5


async def test_concurrent_tasks_lose_nothing(store: Storage) -> None:
    await asyncio.gather(*(store.set(f"task:{i}", i) for i in range(50)))
    assert await store.mget([f"task:{i}" for i in range(50)]) == {f"task:{i}": i for i in range(50)}


async def test_unserializable_value_names_the_key(store: Storage) -> None:
    with pytest.raises(MastraError) as info:
        await store.set("bad:key", {"when": object()})
    assert info.value.kind is ErrorKind.VALIDATION
    assert info.value.code == "STORAGE_VALUE_INVALID"
    assert "'bad:key'" in info.value.message and "object" in info.value.message
    with pytest.raises(MastraError, match="'nan'") as info:
        await store.mset({"ok": 1, "nan": float("nan")})
    assert await store.list() == []  # the good key of the failed batch was not written


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda s: s.get(1), "non-empty str key"),
        (lambda s: s.set("", 1), "non-empty str key"),
        (lambda s: s.set("k", 1, ttl=-1), "positive number of seconds"),
        (lambda s: s.set("k", 1, ttl=0), "positive number of seconds"),
        (lambda s: s.mset([("k", 1)]), "mapping"),
        (lambda s: s.mget("abc"), "list of str keys"),
        (lambda s: s.search("x", limit=0), "`limit`"),
        (lambda s: s.upsert("threads", {"id": "t"}), "list of row mappings"),
        (lambda s: s.upsert("threads", ["t"]), "mappings of column"),
        (lambda s: s.select("threads", limit=-1), "`limit`"),
        (lambda s: s.select("threads", where=[("id", "t")]), "`where` must be a mapping"),
        (lambda s: s.select("threads", where={"id": is_in("abc")}), "list of values"),
        (lambda s: s.select("threads", where={"created_at": gt(None)}), "cannot compare with None"),
        (lambda s: s.delete_rows("threads", None), "pass {}"),
        (lambda s: s.transaction([SetOp("k", 1), "not an op"]), "operation 1"),
    ],
)
async def test_bad_arguments_are_validation_errors(store: Storage, call: Any, needle: str) -> None:
    with pytest.raises(MastraError) as info:
        await call(store)
    assert info.value.kind is ErrorKind.VALIDATION
    assert needle in info.value.message


async def test_closed_store_refuses_every_operation(store: Storage) -> None:
    await store.set("k", 1)
    await store.close()
    await store.close()  # closing twice is harmless
    for call in (store.get("k"), store.set("k", 2), store.list(), store.select("threads"), store.count("spans")):
        with pytest.raises(MastraError) as info:
            await call
        assert info.value.kind is ErrorKind.SYSTEM
        assert info.value.code == "STORAGE_CLOSED"
        assert "create a new store" in info.value.message


async def test_async_context_manager_closes(tmp_path: Any) -> None:
    for store in (InMemoryStore(), DuckDBStore(tmp_path / "ctx.duckdb")):
        async with store as s:
            await s.set("k", 1)
        with pytest.raises(MastraError, match="closed"):
            await store.get("k")


def test_bind_needs_a_hub_with_an_event_bus() -> None:
    with pytest.raises(MastraError, match="`events` EventBus") as info:
        InMemoryStore().bind(object())
    assert info.value.kind is ErrorKind.VALIDATION


async def test_bound_store_reports_storage_accessed(store: Storage) -> None:
    hub = types.SimpleNamespace(events=EventBus())  # the hub's only contract with a store is `.events`
    seen: list[dict[str, Any]] = []
    hub.events.subscribe("storage:accessed", lambda e: seen.append(e.payload))
    store.bind(hub)
    await store.mset({"a": 1, "b": 2})
    await store.get("a")
    await store.mdelete(["a", "b", "c"])
    await store.upsert("threads", [{"id": "t"}])
    await hub.events.drain()
    assert seen == [
        {"op": "mset", "count": 2},
        {"op": "get", "count": 1},
        {"op": "mdelete", "count": 2},
        {"op": "upsert", "count": 1},
    ]


# -- transactions ------------------------------------------------------------------------------
async def test_transaction_commits_everything(store: Storage) -> None:
    await store.set("old", 1)
    await _seed_scores(store)
    await store.transaction(
        [
            SetOp("new", {"v": 1}),
            SetOp("ttl", 1, ttl=60),
            DeleteOp("old"),
            UpsertOp("threads", [{"id": "t1", "title": "first"}]),
            DeleteRowsOp("scores", {"scorer_id": "tone"}),
        ]
    )
    assert await store.list() == ["new", "ttl"]
    assert await store.select("threads", where={"id": "t1"}) != []
    assert await _ids(store) == ["s1", "s2", "s3"]


@pytest.mark.parametrize(
    "bad",
    [
        SetOp("bad", object()),
        UpsertOp("no_such_table", [{"id": "x"}]),
        UpsertOp("threads", [{"id": "t2", "colour": "red"}]),
        UpsertOp("threads", [{"title": "no primary key"}]),
        UpsertOp("scores", [{"id": "s9", "score": "high"}]),
        DeleteRowsOp("scores", {"score": {"$near": 1}}),
    ],
    ids=["unserializable", "unknown-table", "unknown-column", "missing-pk", "wrong-type", "unknown-operator"],
)
async def test_transaction_with_a_bad_op_writes_nothing(store: Storage, bad: Any) -> None:
    await store.set("keep", "me")
    await _seed_scores(store)
    before_rows = await store.select("scores")
    with pytest.raises(MastraError) as info:
        await store.transaction(
            [
                SetOp("new", 1),
                DeleteOp("keep"),
                UpsertOp("threads", [{"id": "t1"}]),
                DeleteRowsOp("scores", {}),
                bad,
                SetOp("after", 2),
            ]
        )
    assert info.value.kind is ErrorKind.VALIDATION
    assert info.value.details["operation"] == 4
    assert await store.list() == ["keep"]
    assert await store.count("threads") == 0
    assert await store.select("scores") == before_rows


async def test_insert_op_adds_new_rows_and_refuses_a_stored_key(store: Storage) -> None:
    await store.transaction([InsertOp("threads", [{"id": "t1", "title": "one"}, {"id": "t2", "title": "two"}])])
    assert [r["title"] for r in await store.select("threads")] == ["one", "two"]
    with pytest.raises(MastraError) as info:
        await store.transaction(
            [SetOp("k", 1), InsertOp("threads", [{"id": "t3"}]), InsertOp("threads", [{"id": "t2", "title": "x"}])]
        )
    assert (info.value.kind, info.value.code) == (ErrorKind.DOMAIN, "STORAGE_CONFLICT")
    assert "`threads`" in info.value.message and "`UpsertOp`" in info.value.message
    assert await store.list() == []  # all or nothing
    assert [(r["id"], r["title"]) for r in await store.select("threads")] == [("t1", "one"), ("t2", "two")]


async def test_update_rows_op_sets_only_the_given_columns(store: Storage) -> None:
    when = datetime(2024, 3, 1, 12, tzinfo=UTC)
    await store.upsert("threads", [{"id": "t1", "title": "a", "metadata": {"k": 1}}, {"id": "t2", "title": "b"}])
    await store.transaction([UpdateRowsOp("threads", {"id": "t1"}, {"metadata": {"k": [2]}, "updated_at": when})])
    rows = {r["id"]: r for r in await store.select("threads")}
    assert (rows["t1"]["title"], rows["t1"]["metadata"], rows["t1"]["updated_at"]) == ("a", {"k": [2]}, when)
    assert rows["t2"]["metadata"] is None and rows["t2"]["title"] == "b"
    await store.transaction(
        [UpdateRowsOp("threads", {}, {"title": "all"}), UpdateRowsOp("threads", {"id": "no"}, {"title": "x"})]
    )
    assert [r["title"] for r in await store.select("threads")] == ["all", "all"]
    for bad, needle in [
        (UpdateRowsOp("threads", {"id": "t1"}, {"id": "t9"}), "primary key"),
        (UpdateRowsOp("threads", {"id": "t1"}, {}), "non-empty"),
        (UpdateRowsOp("threads", {"id": "t1"}, {"colour": "red"}), "colour"),
        (UpdateRowsOp("threads", {"id": "t1"}, {"created_at": "not a time"}), "created_at"),
    ]:
        with pytest.raises(MastraError) as info:
            await store.transaction([bad])
        assert info.value.kind is ErrorKind.VALIDATION and needle in info.value.message, info.value.message


async def test_update_rows_op_with_expect_is_a_compare_and_set(store: Storage) -> None:
    await store.upsert("workflow_runs", [{"run_id": "r1", "workflow_id": "w", "status": "suspended", "version": 1}])
    seen = {"run_id": "r1", "status": "suspended", "version": 1}
    await store.transaction([UpdateRowsOp("workflow_runs", seen, {"status": "running", "version": 2}, expect=1)])
    with pytest.raises(MastraError) as info:  # a second writer that saw the same row loses, and writes nothing
        await store.transaction(
            [SetOp("side", 1), UpdateRowsOp("workflow_runs", seen, {"status": "canceled", "version": 2}, expect=1)]
        )
    assert (info.value.kind, info.value.code) == (ErrorKind.DOMAIN, "STORAGE_CONFLICT")
    assert info.value.details == {"table": "workflow_runs", "expected": 1, "matched": 0}
    assert "`workflow_runs`" in info.value.message and "Read them again" in info.value.message
    [row] = await store.select("workflow_runs")
    assert (row["status"], row["version"]) == ("running", 2) and await store.get("side") is None
    # `expect` counts matches, not changes: 0 asserts absence; a bad count is refused with the argument named
    await store.transaction([UpdateRowsOp("workflow_runs", {"run_id": "nope"}, {"status": "x"}, expect=0)])
    for where, expect in (({"run_id": "r1"}, 0), ({"status": "running"}, 2), ({"run_id": is_in(["r1"])}, 0)):
        with pytest.raises(MastraError, match="found 1"):  # matched one row, then refused: rolled back whole
            await store.transaction([UpdateRowsOp("workflow_runs", where, {"status": "x"}, expect=expect)])
    assert [r["status"] for r in await store.select("workflow_runs")] == ["running"]
    with pytest.raises(MastraError, match="`expect` must be an int >= 0"):
        await store.transaction([UpdateRowsOp("workflow_runs", {"run_id": "r1"}, {"status": "x"}, expect=-1)])


async def test_concurrent_compare_and_set_writers_have_exactly_one_winner(store: Storage) -> None:
    await store.upsert("workflow_runs", [{"run_id": "r1", "workflow_id": "w", "status": "suspended", "version": 7}])

    async def claim(who: int) -> int | None:
        op = UpdateRowsOp(
            "workflow_runs", {"run_id": "r1", "version": 7}, {"status": f"by-{who}", "version": 8}, expect=1
        )
        try:
            await store.transaction([op, UpsertOp("threads", [{"id": f"t{who}"}])])
        except MastraError as error:
            assert error.code == "STORAGE_CONFLICT"
            return None
        return who

    winners = [w for w in await asyncio.gather(*(claim(i) for i in range(40))) if w is not None]
    assert len(winners) == 1
    [row] = await store.select("workflow_runs")
    assert row["status"] == f"by-{winners[0]}" and [t["id"] for t in await store.select("threads")] == [
        f"t{winners[0]}"
    ]


async def test_a_run_and_its_journal_read_alike_with_or_without_the_one_query_capability(store: Storage) -> None:
    await store.upsert("workflow_runs", [{"run_id": "r1", "workflow_id": "w", "status": "suspended"}])
    await store.upsert(
        "workflow_steps",
        [
            {"run_id": "r1", "position": "1", "seq": 2, "step_id": "b", "output": {"n": [1]}},
            {"run_id": "r1", "position": "0.10", "seq": 0, "step_id": "a"},
            {"run_id": "r2", "position": "0", "seq": 0, "step_id": "other"},
        ],
    )
    # The database stores read both in one query; the in-process store is read through `select` by `hub.runs`.
    assert isinstance(store, ReadsRun) is not isinstance(store, InMemoryStore)
    runs = Runs(types.SimpleNamespace(storage=store))  # type: ignore[arg-type]
    run, steps = await runs.load("r1", "w")
    assert run is not None and run["status"] == "suspended" and set(run) == set(TABLES["workflow_runs"].column_names)
    assert [(s["step_id"], s["output"]) for s in steps] == [("a", None), ("b", {"n": [1]})]  # in journal order
    assert await runs.load("r1", "another_workflow") == (None, [])
    assert await runs.load("r9") == (None, [])
    with pytest.raises(MastraError, match="run_id"):
        await runs.load({"$ne": "x"})  # type: ignore[arg-type]
    if isinstance(store, ReadsRun):
        with pytest.raises(MastraError, match="never read as operators"):  # an id that arrived as a filter
            await store.read_run({"$ne": "x"})  # type: ignore[arg-type]


async def test_messages_around_reads_matches_with_their_neighbours_in_their_own_threads(store: Storage) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    await store.upsert(
        "messages",
        [
            {"id": f"{thread}{i}", "thread_id": thread, "role": "user", "created_at": start + timedelta(minutes=i)}
            for thread in ("a", "b")
            for i in range(6)
        ],
    )
    # a2 and a3 overlap (each neighbour once); b0 has nothing before it; ids not stored are skipped.
    found = await messages_around(store, ["a3", "b0", "a2", "gone"], before=1, after=1)
    assert [m["id"] for m in found] == ["a1", "a2", "a3", "a4", "b0", "b1"]
    assert set(found[0]) == set(TABLES["messages"].column_names) and found[0]["created_at"] == start + timedelta(
        1 / 1440
    )
    assert [m["id"] for m in await messages_around(store, ["a5"], before=2, after=0)] == ["a3", "a4", "a5"]
    assert await messages_around(store, [], before=1, after=1) == []
    if isinstance(store, ReadsMessagesAround):
        with pytest.raises(MastraError, match="before"):
            await store.messages_around(["a1"], before=-1, after=0)


async def test_the_one_query_read_of_messages_around_answers_as_the_primitives_do(store: Storage) -> None:
    # Generated threads with equal timestamps, missing timestamps and interleaved ids: the store's one query
    # (where it has one) and the reading through `select` must pick the same messages.
    rng = random.Random(7)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    rows = []
    for n in range(60):
        minute = rng.choice([None, *range(8)])
        created = None if minute is None else start + timedelta(minutes=minute)
        rows.append({"id": f"m{rng.randrange(10**6)}-{n}", "thread_id": f"t{rng.randrange(4)}", "role": "user",
                     "created_at": created})  # fmt: skip
    await store.upsert("messages", rows)
    ids = [r["id"] for r in rows]
    for _ in range(40):
        anchors = rng.sample(ids, rng.randrange(0, 6)) + ["missing"] * rng.randrange(2)
        before, after = rng.randrange(0, 4), rng.randrange(0, 4)
        fast = await messages_around(store, anchors, before, after)
        slow = await read_around(store, anchors, before, after)
        assert sorted(m["id"] for m in fast) == sorted(m["id"] for m in slow), (anchors, before, after)


# -- domain tables -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"scorer_id": "tone"}, ["s4", "s5"]),
        ({"score": 0.5}, ["s4", "s5"]),
        ({"score": None}, ["s3"]),
        ({"score": ne(0.5)}, ["s1", "s2", "s3"]),  # null cells are "not equal" too
        ({"score": ne(None)}, ["s1", "s2", "s4", "s5"]),
        ({"score": gt(0.5)}, ["s1"]),
        ({"score": gte(0.5)}, ["s1", "s4", "s5"]),
        ({"score": lt(0.5)}, ["s2"]),  # null cells never satisfy a range
        ({"score": lte(0.5) & gt(0.2)}, ["s4", "s5"]),
        ({"target_kind": is_in(["workflow", "nobody"])}, ["s3"]),
        ({"target_kind": is_in(["workflow", None])}, ["s3", "s4"]),
        ({"target_kind": is_in([])}, []),
        ({"target_kind": not_in(["agent"])}, ["s3", "s4"]),
        ({"target_kind": not_in(["agent", None])}, ["s3"]),
        ({"target_kind": not_in([])}, ["s1", "s2", "s3", "s4", "s5"]),
        ({"created_at": gte(datetime(2024, 1, 2, tzinfo=UTC))}, ["s2", "s3"]),
        ({"details": None}, ["s1", "s2", "s3", "s4"]),
        ({"scorer_id": "relevance", "target_kind": "agent"}, ["s1", "s2"]),
    ],
)
async def test_select_count_and_delete_with_each_operator(
    store: Storage, where: dict[str, Any], expected: list[str]
) -> None:
    await _seed_scores(store)
    assert await _ids(store, where=where) == expected
    assert await store.count("scores", where) == len(expected)
    assert await store.delete_rows("scores", where) == len(expected)
    assert await store.count("scores") == 5 - len(expected)
    assert set(await _ids(store)).isdisjoint(expected)


async def test_order_by_limit_offset(store: Storage) -> None:
    await _seed_scores(store)
    assert await _ids(store) == ["s1", "s2", "s3", "s4", "s5"]  # no order: by primary key
    assert await _ids(store, order_by="-score") == ["s1", "s4", "s5", "s2", "s3"]  # nulls last, ties by key
    assert await _ids(store, order_by="score") == ["s2", "s4", "s5", "s1", "s3"]
    assert await _ids(store, order_by=["scorer_id", "-created_at"]) == ["s2", "s3", "s1", "s4", "s5"]
    assert await _ids(store, order_by="-score", limit=2) == ["s1", "s4"]
    assert await _ids(store, order_by="-score", limit=2, offset=2) == ["s5", "s2"]
    assert await _ids(store, offset=4) == ["s5"]
    assert await _ids(store, limit=0) == []


async def test_rows_have_every_column_and_upsert_replaces_by_primary_key(store: Storage) -> None:
    await store.upsert("threads", [{"id": "t1", "title": "first", "metadata": {"a": 1}}])
    assert await store.upsert("threads", [{"id": "t1", "title": "second"}, {"id": "t2"}]) == 2
    rows = await store.select("threads")
    assert rows == [
        {"id": "t1", "resource_id": None, "title": "second", "metadata": None, "created_at": None, "updated_at": None},
        {"id": "t2", "resource_id": None, "title": None, "metadata": None, "created_at": None, "updated_at": None},
    ]
    # Within one call, the last row with a key wins.
    assert await store.upsert("threads", [{"id": "t3", "title": "a"}, {"id": "t3", "title": "b"}]) == 1
    assert [r["title"] for r in await store.select("threads", where={"id": "t3"})] == ["b"]


async def test_composite_primary_key(store: Storage) -> None:
    steps = [{"run_id": "r1", "position": p, "step_id": f"step{p}", "attempt": 1} for p in ("2", "0", "1.0")]
    await store.upsert("workflow_steps", [*steps, {"run_id": "r2", "position": "0", "step_id": "other"}])
    await store.upsert("workflow_steps", [{"run_id": "r1", "position": "1.0", "step_id": "step1", "attempt": 2}])
    rows = await store.select("workflow_steps", where={"run_id": "r1"})
    assert [(r["position"], r["attempt"]) for r in rows] == [("0", 1), ("1.0", 2), ("2", 1)]
    assert set(rows[0]) == set(TABLES["workflow_steps"].column_names)


async def test_timestamps_come_back_aware_utc(store: Storage) -> None:
    naive = datetime(2024, 3, 1, 12, 30, 15, 123456)
    paris = datetime(2024, 3, 1, 14, 30, tzinfo=timezone(timedelta(hours=2)))
    await store.upsert(
        "spans",
        [
            {"span_id": "a", "start_time": naive, "end_time": paris},
            {"span_id": "b", "start_time": "2024-03-01T10:00:00+00:00"},
        ],
    )
    a, b = await store.select("spans")
    assert a["start_time"] == naive.replace(tzinfo=UTC) and a["start_time"].tzinfo == UTC
    assert a["end_time"] == paris and a["end_time"].utcoffset() == timedelta(0)
    assert b["start_time"] == datetime(2024, 3, 1, 10, tzinfo=UTC)
    # Filters compare instants: `paris` is 12:30 UTC, between b (10:00) and a (12:30:15).
    assert [r["span_id"] for r in await store.select("spans", where={"start_time": lt(paris)})] == ["b"]
    assert [r["span_id"] for r in await store.select("spans", where={"start_time": gt(paris)})] == ["a"]


@pytest.mark.parametrize(
    ("call", "code", "names"),
    [
        (lambda s: s.select("nope"), "STORAGE_UNKNOWN_TABLE", ["'nope'", "workflow_runs", "model_calls"]),
        (lambda s: s.count("threads", {"colour": "red"}), "STORAGE_UNKNOWN_COLUMN", ["'colour'", "resource_id"]),
        (lambda s: s.select("threads", order_by="-colour"), "STORAGE_UNKNOWN_COLUMN", ["'colour'", "title"]),
        (lambda s: s.upsert("threads", [{"id": "t", "colour": 1}]), "STORAGE_UNKNOWN_COLUMN", ["'colour'"]),
        (
            lambda s: s.select("scores", where={"score": {"$gt": 1}}),
            "STORAGE_ARGUMENT_INVALID",
            ["scores.score", "is_in"],
        ),
        (lambda s: s.delete_rows("scores", {"details": ["a"]}), "STORAGE_OPERATOR_INVALID", ["scores.details"]),
        (
            lambda s: s.count("scores", {"details": {"a": 1}}),
            "STORAGE_ARGUMENT_INVALID",
            ["'a'", "never read as operators"],
        ),
    ],
)
async def test_unknown_names_are_listed(store: Storage, call: Any, code: str, names: list[str]) -> None:
    with pytest.raises(MastraError) as info:
        await call(store)
    assert (info.value.kind, info.value.code) == (ErrorKind.VALIDATION, code)
    for name in names:
        assert name in info.value.message


@pytest.mark.parametrize(
    ("row", "names"),
    [
        ({"id": "s", "score": "high"}, ["scores.score", "float", "str"]),
        ({"id": "s", "score": True}, ["scores.score", "float", "bool"]),
        ({"id": "s", "created_at": "yesterday"}, ["scores.created_at", "datetime"]),
        ({"id": 7}, ["scores.id", "str", "int"]),
        ({"id": "s", "details": {1, 2}}, ["scores.details", "JSON-serializable", "set"]),
    ],
)
async def test_wrong_value_types_name_the_column(store: Storage, row: dict[str, Any], names: list[str]) -> None:
    with pytest.raises(MastraError) as info:
        await store.upsert("scores", [row])
    assert (info.value.kind, info.value.code) == (ErrorKind.VALIDATION, "STORAGE_VALUE_INVALID")
    for name in names:
        assert name in info.value.message
    assert await store.count("scores") == 0


async def test_both_stores_answer_alike(tmp_path: Any) -> None:
    """The same rows and queries, differential: whatever one store answers, the other must too."""
    memory, duck = InMemoryStore(), DuckDBStore(tmp_path / "diff.duckdb")
    base = datetime(2024, 1, 1)
    rows = [
        {
            "span_id": f"sp{i:02d}",
            "trace_id": [None, "t1", "t2"][i % 3],
            "name": ["alpha", "Beta", "gamma", "éclair", "beta"][i % 5],
            "status": [None, "ok", "error"][i % 4 if i % 4 < 3 else 0],
            "start_time": None if i % 7 == 0 else base + timedelta(minutes=(i * 37) % 50),
            "attributes": {"i": i, "tags": ["x"] * (i % 3)},
        }
        for i in range(40)
    ]
    filters: list[dict[str, Any] | None] = [
        None,
        {"trace_id": "t1"},
        {"trace_id": None},
        {"trace_id": ne("t1")},
        {"name": gt("beta")},
        {"name": is_in(["alpha", "éclair", None])},
        {"status": not_in(["ok"])},
        {"start_time": gte(base + timedelta(minutes=20)) & lt(base + timedelta(minutes=40))},
    ]
    orders: list[Any] = [None, "name", "-name", "-start_time", ["status", "-trace_id"]]
    try:
        for s in (memory, duck):
            await s.upsert("spans", rows)
        for where, order_by, (limit, offset) in itertools.product(filters, orders, [(None, 0), (5, 3)]):
            got = [await s.select("spans", where, order_by, limit, offset) for s in (memory, duck)]
            assert got[0] == got[1], (where, order_by, limit, offset)
            counts = [await s.count("spans", where) for s in (memory, duck)]
            assert counts[0] == counts[1]
        assert await memory.select("spans", {"trace_id": "t1"}) != []  # the comparison above was not vacuous
    finally:
        await memory.close()
        await duck.close()
