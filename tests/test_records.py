"""Stored records through `records`: the format earlier versions wrote still loads, and every record round-trips.

The reference for the stored format is the previous version's hand-written conversion (`to_dict`/`from_dict` on
each record type), copied below as `previous_dump`/`previous_load`: on generated records `records.dump` writes
what it wrote, and on generated stored data, fields left out or null included, `records.load` reads what it read.
`PREVIOUS` holds what it wrote for a few records, captured before the conversion moved to `records`.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mastra_nb import InMemoryStore, MastraError, records
from mastra_nb.agents._loop import PausedStep
from mastra_nb.agents.results import AgentStep, ToolResult
from mastra_nb.models.recording import Recorder
from mastra_nb.models.types import ModelResponse, ToolCall, Usage

CALL = ToolCall("call_1", "add", '{"a": 1}')
USAGE = Usage(10, 5, 15, 0.25)
RESPONSE = ModelResponse("hi", (CALL,), "tool_calls", USAGE, "gpt-x")
FAILED = ToolResult(
    "call_2", "bad", "not json", None,
    {"kind": "validation", "code": "TOOL_INPUT_INVALID", "message": "bad", "details": {}, "retryable": False},
)  # fmt: skip
RESULT = ToolResult("call_1", "add", {"a": 1, "when": "2024-01-02"}, {"x": "OBJ", "t": [1, 2]})
STEP = AgentStep(1, "hi", (CALL,), (RESULT, FAILED), "tool_calls", USAGE, "gpt-x")
REPAIR = AgentStep(2, "", (), (), "stop", Usage(), "", "repair")
PAUSED = PausedStep(RESPONSE, {"call_1": RESULT}, {"call_1": None, "call_3": {"decision": "approved", "by": "me"}})

# What the previous version's `to_dict` wrote for the records above (printed by it, before the change).
_CALL = {"id": "call_1", "name": "add", "arguments": '{"a": 1}'}
_USAGE = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15, "cost": 0.25}
_RESPONSE = {"text": "hi", "tool_calls": [_CALL], "finish_reason": "tool_calls", "usage": _USAGE, "model": "gpt-x"}
_RESULT = {"call_id": "call_1", "tool": "add", "arguments": {"a": 1, "when": "2024-01-02"},
           "result": {"x": "OBJ", "t": [1, 2]}, "error": None}  # fmt: skip
_FAILED = {"call_id": "call_2", "tool": "bad", "arguments": "not json", "result": None,
           "error": {"kind": "validation", "code": "TOOL_INPUT_INVALID", "message": "bad", "details": {},
                     "retryable": False}}  # fmt: skip
PREVIOUS: list[tuple[Any, dict[str, Any]]] = [
    (CALL, _CALL),
    (USAGE, _USAGE),
    (RESPONSE, _RESPONSE),
    (RESULT, _RESULT),
    (FAILED, _FAILED),
    (STEP, {"number": 1, "text": "hi", "finish_reason": "tool_calls", "model": "gpt-x", "kind": "model",
            "usage": _USAGE, "tool_calls": [_CALL], "tool_results": [_RESULT, _FAILED]}),
    (REPAIR, {"number": 2, "text": "", "finish_reason": "stop", "model": "", "kind": "repair",
              "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "cost": None},
              "tool_calls": [], "tool_results": []}),
    (PAUSED, {"response": _RESPONSE, "results": {"call_1": _RESULT},
              "decisions": {"call_1": None, "call_3": {"decision": "approved", "by": "me"}}}),
]  # fmt: skip


@pytest.mark.parametrize(("record", "stored"), PREVIOUS, ids=lambda v: type(v).__name__)
def test_what_the_previous_version_stored_loads_and_is_written_the_same(record, stored):
    assert records.load(type(record), stored) == record
    assert records.dump(record) == stored
    assert json.loads(json.dumps(records.dump(record))) == stored


def test_values_json_cannot_hold_are_stored_as_pydantic_dumps_them_or_as_their_str():
    class Opaque:
        def __str__(self) -> str:
            return "OBJ"

    result = ToolResult("call_1", "add", {"a": 1, "when": datetime.date(2024, 1, 2)}, {"x": Opaque(), "t": (1, 2)})
    assert records.dump(result) == _RESULT


def test_fields_an_earlier_record_lacks_or_holds_as_null_read_as_before():
    assert records.load(Usage, None) == Usage()
    assert records.load(Usage, {"prompt_tokens": 3, "completion_tokens": 4}) == Usage(3, 4, 7)
    assert records.load(Usage, {"prompt_tokens": 3, "completion_tokens": None, "total_tokens": None}) == Usage(3, 0, 3)
    assert records.load(ToolCall, {"id": "c", "name": "f"}) == ToolCall("c", "f", "")
    assert records.load(ToolCall, {"id": "c", "name": "f", "arguments": None}) == ToolCall("c", "f", "")
    assert records.load(ModelResponse, None) == records.load(ModelResponse, {}) == ModelResponse("")
    nulls = dict.fromkeys(("text", "tool_calls", "finish_reason", "usage", "model"))
    assert records.load(ModelResponse, nulls) == ModelResponse("", (), "stop", Usage(), "")
    assert records.load(ToolResult, {"call_id": "c", "tool": "f"}) == ToolResult("c", "f", None)
    assert records.load(ToolResult, {"call_id": "c", "tool": "f", "arguments": {}}).arguments == {}
    assert records.load(AgentStep, {"number": "3"}) == AgentStep(3, "", (), (), "", Usage(), "")


def test_replayed_is_set_by_replay_and_never_stored():
    assert "replayed" not in records.dump(replace(RESPONSE, replayed=True))
    assert records.load(ModelResponse, _RESPONSE).replayed is False


async def test_a_recording_keeps_the_response_in_the_previous_format_and_replays_it():
    store = InMemoryStore()
    recorder = Recorder(store, "auto", "agent `a`")
    await recorder.save("k", {"model": "gpt-x", "messages": []}, replace(RESPONSE, replayed=False), ["h", "i"])
    [row] = await store.select("model_calls")
    assert row["response"] == {"response": _RESPONSE, "deltas": ["h", "i"]}
    recording = await recorder.lookup("k")
    assert recording is not None and recording.deltas == ("h", "i")
    assert recording.response == replace(RESPONSE, replayed=True)
    # a row of an earlier version, lacking what it did not write
    await store.upsert("model_calls", [{**row, "key": "old", "response": {"response": {"text": "x"}}}])
    old = await recorder.lookup("old")
    assert old is not None and old.response == ModelResponse("x", replayed=True) and old.deltas is None


async def test_a_damaged_recording_names_the_record_and_the_field():
    store = InMemoryStore()
    recorder = Recorder(store, "replay", "agent `a`")
    await recorder.save("k", {"model": "gpt-x"}, RESPONSE, None)
    [row] = await store.select("model_calls")
    damaged = {**_RESPONSE, "usage": {**_USAGE, "prompt_tokens": "many"}}
    await store.upsert("model_calls", [{**row, "response": {"response": damaged}}])
    with pytest.raises(MastraError) as info:
        await recorder.lookup("k")
    error = info.value
    assert error.code == "RECORD_INVALID" and error.kind.value == "validation"
    assert "`ModelResponse`" in str(error) and "`usage.prompt_tokens`" in str(error)
    assert [e["field"] for e in error.details["errors"]] == ["usage.prompt_tokens"]


def test_invalid_stored_data_names_the_record_and_each_field():
    with pytest.raises(MastraError) as info:
        records.load(PausedStep, {"response": {"tool_calls": [{"name": "f"}]}, "results": [], "decisions": {}})
    fields = {e["field"] for e in info.value.details["errors"]}
    assert fields == {"response.tool_calls.0.id", "results"}
    assert "stored `PausedStep` record" in str(info.value)
    with pytest.raises(MastraError, match="RECORD_INVALID"):
        records.load(AgentStep, ["not", "a", "step"])
    with pytest.raises(MastraError, match="`kind`"):
        records.load(AgentStep, {"number": 1, "kind": "other"})


# -- generated records, against the previous version's conversion ------------------------------------------------


def previous_dump(record: Any) -> Any:
    """The previous version's `to_dict` of each record type (values of `Any` fields are JSON here already)."""
    if isinstance(record, ToolCall):
        return {"id": record.id, "name": record.name, "arguments": record.arguments}
    if isinstance(record, Usage):
        return dict(record.__dict__)
    if isinstance(record, ModelResponse):
        return {"text": record.text, "tool_calls": [previous_dump(c) for c in record.tool_calls],
                "finish_reason": record.finish_reason, "usage": previous_dump(record.usage),
                "model": record.model}  # fmt: skip
    if isinstance(record, ToolResult):
        return dict(record.__dict__)
    if isinstance(record, AgentStep):
        return {"number": record.number, "text": record.text, "finish_reason": record.finish_reason,
                "model": record.model, "kind": record.kind, "usage": previous_dump(record.usage),
                "tool_calls": [previous_dump(c) for c in record.tool_calls],
                "tool_results": [previous_dump(r) for r in record.tool_results]}  # fmt: skip
    return {"response": previous_dump(record.response), "decisions": record.decisions,
            "results": {k: previous_dump(r) for k, r in record.results.items()}}  # fmt: skip


def previous_load(type_: type, data: Any) -> Any:
    """The previous version's `from_dict` of each record type."""
    if type_ is ToolCall:
        return ToolCall(str(data["id"]), str(data["name"]), str(data.get("arguments") or ""))
    if type_ is Usage:
        data = data or {}
        prompt, completion = int(data.get("prompt_tokens") or 0), int(data.get("completion_tokens") or 0)
        return Usage(prompt, completion, int(data.get("total_tokens") or prompt + completion), data.get("cost"))
    if type_ is ModelResponse:
        return ModelResponse(
            str(data.get("text") or ""), tuple(previous_load(ToolCall, c) for c in data.get("tool_calls") or ()),
            str(data.get("finish_reason") or "stop"), previous_load(Usage, data.get("usage")),
            str(data.get("model") or ""),
        )  # fmt: skip
    if type_ is ToolResult:
        return ToolResult(data["call_id"], data["tool"], data.get("arguments"), data.get("result"), data.get("error"))
    if type_ is AgentStep:
        return AgentStep(
            int(data["number"]), str(data.get("text") or ""),
            tuple(previous_load(ToolCall, c) for c in data.get("tool_calls") or ()),
            tuple(previous_load(ToolResult, r) for r in data.get("tool_results") or ()),
            str(data.get("finish_reason") or ""), previous_load(Usage, data.get("usage")),
            str(data.get("model") or ""), data.get("kind", "model"),
        )  # fmt: skip
    return PausedStep(
        previous_load(ModelResponse, data["response"]),
        {k: previous_load(ToolResult, r) for k, r in data["results"].items()}, dict(data["decisions"]),
    )  # fmt: skip


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)  # fmt: skip
# Every producer writes a total of at least prompt + completion (or zeros) and a finish reason that is not empty:
# only on such data did the previous `or` (a stored 0 or "" replaced) and today's rule (missing or null) agree.
USAGES = st.builds(
    lambda p, c, extra, cost: Usage(p, c, p + c + extra, cost),
    st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10), st.none() | st.floats(0, 100),
)  # fmt: skip
CALLS = st.builds(ToolCall, st.text(max_size=8), st.text(max_size=8), st.text(max_size=20))
RESPONSES = st.builds(
    ModelResponse, st.text(max_size=20), st.tuples() | st.tuples(CALLS) | st.tuples(CALLS, CALLS),
    st.text(min_size=1, max_size=10), USAGES, st.text(max_size=8),
)  # fmt: skip
ERRORS = st.none() | st.builds(
    lambda code, message, details: MastraError("execution", code, message, details=details).to_dict(),
    st.text(min_size=1, max_size=10), st.text(max_size=20), st.dictionaries(st.text(max_size=5), JSON, max_size=2),
)  # fmt: skip
RESULTS = st.builds(ToolResult, st.text(max_size=8), st.text(max_size=8), JSON, JSON, ERRORS)
STEPS = st.builds(
    AgentStep, st.integers(1, 100), st.text(max_size=20), st.lists(CALLS, max_size=2).map(tuple),
    st.lists(RESULTS, max_size=2).map(tuple), st.text(max_size=10), USAGES, st.text(max_size=8),
    st.sampled_from(["model", "repair"]),
)  # fmt: skip
PAUSED_STEPS = st.builds(
    PausedStep, RESPONSES, st.dictionaries(st.text(max_size=8), RESULTS, max_size=2),
    st.dictionaries(st.text(max_size=8), st.none() | st.dictionaries(st.text(max_size=5), JSON, max_size=3)),
)  # fmt: skip
RECORDS = USAGES | CALLS | RESPONSES | RESULTS | STEPS | PAUSED_STEPS

# The fields each record's previous `from_dict` let be missing or null (`kind` of a step only missing).
OPTIONAL = {
    ToolCall: {"arguments"},
    Usage: {"prompt_tokens", "completion_tokens", "total_tokens", "cost"},
    ModelResponse: {"text", "tool_calls", "finish_reason", "usage", "model"},
    ToolResult: {"arguments", "result", "error"},
    AgentStep: {"text", "tool_calls", "tool_results", "finish_reason", "usage", "model", "kind"},
    PausedStep: set(),
}
NESTED = {"tool_calls": ToolCall, "tool_results": ToolResult, "usage": Usage, "response": ModelResponse}


@st.composite
def older(draw: st.DrawFn, type_: type, data: dict[str, Any]) -> Any:
    """`data` as an earlier version may have stored it: optional fields left out or null, nested records too."""
    data = dict(data)
    for name in OPTIONAL[type_]:
        choice = draw(st.sampled_from(["keep", "drop", "null"] if name != "kind" else ["keep", "drop"]))
        if choice == "drop":
            del data[name]
        elif choice == "null":
            data[name] = None
    for name, inner in NESTED.items():
        if isinstance(data.get(name), dict):
            data[name] = draw(older(inner, data[name]))
        elif isinstance(data.get(name), list):
            data[name] = [draw(older(inner, item)) for item in data[name]]
    if "results" in data:
        data["results"] = {k: draw(older(ToolResult, r)) for k, r in data["results"].items()}
    if type_ is Usage and draw(st.booleans()) and all(v is None for v in data.values()):
        return None
    return data


@settings(deadline=None)
@given(record=RECORDS)
def test_generated_records_are_written_as_before_and_round_trip(record):
    stored = records.dump(record)
    assert stored == previous_dump(record)
    assert json.loads(json.dumps(stored)) == stored
    assert records.load(type(record), stored) == record


@settings(deadline=None)
@given(data=st.data(), record=RECORDS)
def test_generated_stored_data_of_earlier_versions_loads_as_before(data, record):
    stored = data.draw(older(type(record), previous_dump(record)))
    assert records.load(type(record), stored) == previous_load(type(record), stored)


def test_a_stored_zero_total_or_empty_finish_reason_is_kept_where_the_previous_version_replaced_it():
    # The one difference of the rules: `or` replaced any false value; now only a missing or null one is. No
    # version wrote either case (every producer sums the total and names a finish reason).
    assert records.load(Usage, {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 0}) == Usage(2, 3, 0)
    assert records.load(ModelResponse, {"finish_reason": ""}).finish_reason == ""
