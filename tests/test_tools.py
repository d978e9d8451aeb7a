"""Tests of mastra_nb.tools: schemas, validation, the execute path, retries, cache, context and events."""

import asyncio
import time
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, Field

from mastra_nb import InMemoryStore, Mastra, MastraConfig
from mastra_nb.context import RuntimeContext
from mastra_nb.errors import ErrorKind, MastraError
from mastra_nb.events import TOOL_EXECUTED, TOOL_FAILED, Event
from mastra_nb.retry import RetryPolicy
from mastra_nb.tools import Tool, ToolContext, tool

FAST = RetryPolicy(attempts=3, base_delay=0.001, jitter=0)


def make_hub(**settings: Any) -> Mastra:
    return Mastra(storage=InMemoryStore(), config=MastraConfig.load(environ={}, **settings))


def record(hub: Mastra) -> list[Event]:
    events: list[Event] = []
    hub.events.subscribe("tool:*", events.append)
    return events


class Address(BaseModel):
    street: str
    zip: str = Field(pattern=r"^\d{5}$", description="Five digits.")
    unit: str | None = None


class Person(BaseModel):
    name: str
    age: int = 30
    home: Address = Field(description="Where they live.")
    work: Address | None = None


# -- schemas -------------------------------------------------------------------------------------------------


def test_schema_from_type_hints_and_google_docstring() -> None:
    @tool
    def search(query: str, limit: int = 5, loose=None) -> list[str]:
        """Search the notes for a phrase.

        Results are ranked by recency.

        Args:
            query: the phrase to look for,
                matched case-insensitively.
            limit (int): how many results to return.

        Returns:
            The matching note titles.
        """
        return []

    schema = search.json_schema()
    assert search.id == "search"
    assert search.description == "Search the notes for a phrase."
    assert schema["required"] == ["query"]
    props = schema["properties"]
    assert props["query"]["type"] == "string"
    assert props["query"]["description"] == "the phrase to look for, matched case-insensitively."
    assert props["limit"] == {
        "type": "integer",
        "default": 5,
        "title": "Limit",
        "description": "how many results to return.",
    }
    assert "type" not in props["loose"]  # unannotated means Any
    assert search.input_schema.model_validate({"query": "x"}).limit == 5


def test_annotated_field_description_wins_over_the_docstring() -> None:
    @tool
    def pick(n: Annotated[int, Field(ge=0, description="A count.")], m: int = 0) -> int:
        """Pick.

        Args:
            n: docstring words for n.
            m: docstring words for m.
        """
        return n

    props = pick.json_schema()["properties"]
    assert props["n"]["description"] == "A count." and props["n"]["minimum"] == 0
    assert props["m"]["description"] == "docstring words for m."


def test_string_annotations_and_explicit_description_and_id() -> None:
    def f(a: "int") -> "int":
        return a

    t = Tool("double-it", "Doubles a number.", f)
    assert (t.id, t.description) == ("double-it", "Doubles a number.")
    assert t.json_schema()["properties"]["a"]["type"] == "integer"


async def test_single_model_parameter_is_the_input_schema() -> None:
    @tool
    async def greet(person: Person) -> str:
        """Greet a person."""
        assert isinstance(person, Person)
        return f"hi {person.name} of {person.home.street}"

    assert greet.input_schema is Person
    assert greet.json_schema() == Person.model_json_schema()
    assert await greet.execute({"name": "Ada", "home": {"street": "Main", "zip": "12345"}}) == "hi Ada of Main"


async def test_explicit_input_schema_passes_the_model_instance() -> None:
    received: list[Any] = []

    def store(data, context: ToolContext) -> int:  # unannotated: the schema comes from input_schema
        received.append(data)
        return data.age

    t = Tool("store", "Store a person.", store, input_schema=Person)
    person = Person(name="Ada", home=Address(street="Main", zip="12345"))
    assert await t.execute(person) == 30
    assert received == [person]
    assert "context" not in t.json_schema()["properties"]


def _walk(node: Any) -> list[dict]:
    found = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found += _walk(value)
    elif isinstance(node, list):
        for value in node:
            found += _walk(value)
    return found


def test_openai_export_plain_and_strict() -> None:
    @tool
    def enroll(person: Person, note: str = "none") -> str:
        """Enroll a person."""
        return note

    # Two inputs: `person` is a nested field here, so `$defs` and `$ref`s appear.
    plain = enroll.to_openai()
    assert plain["type"] == "function"
    assert plain["function"]["name"] == "enroll" and plain["function"]["description"] == "Enroll a person."
    assert "strict" not in plain["function"]
    assert plain["function"]["parameters"] == enroll.json_schema()

    strict = enroll.to_openai(strict=True)["function"]
    assert strict["strict"] is True
    params = strict["parameters"]
    objects = [node for node in _walk(params) if node.get("type") == "object"]
    assert len(objects) >= 3  # the parameters, Person, Address (nested in $defs or inlined)
    for obj in objects:
        assert obj["additionalProperties"] is False
        assert obj["required"] == list(obj["properties"])
    assert not any("default" in node for node in _walk(params))
    assert params["properties"]["note"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
    person = params["$defs"]["Person"]["properties"]
    assert person["age"]["anyOf"] == [{"type": "integer"}, {"type": "null"}]
    assert person["name"] == {"type": "string", "title": "Name"}  # required stays non-nullable
    # `home` had a description beside its `$ref`, which strict mode forbids: it is inlined instead.
    assert "$ref" not in person["home"] and person["home"]["description"] == "Where they live."
    assert person["home"]["properties"]["unit"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
    assert params["$defs"]["Address"]["required"] == ["street", "zip", "unit"]


class TreeNode(BaseModel):
    label: str
    parent: "TreeNode | None" = Field(None, description="Up one level.")
    first_child: "TreeNode" = Field(description="Down one level.")


def test_strict_export_of_a_recursive_model_terminates_and_stays_strict() -> None:
    @tool
    def walk(node: TreeNode, depth: int = 1) -> None:
        """Walk a tree."""

    params = walk.to_openai(strict=True)["function"]["parameters"]
    tree = params["$defs"]["TreeNode"]
    assert tree["required"] == ["label", "parent", "first_child"]
    inlined = tree["properties"]["first_child"]  # its description forced the `$ref` to be inlined once
    assert inlined["description"] == "Down one level." and inlined["additionalProperties"] is False
    assert inlined["properties"]["first_child"] == {"$ref": "#/$defs/TreeNode"}  # and not again
    assert all(node.get("additionalProperties") is False for node in _walk(params) if node.get("type") == "object")


def test_strict_export_rejects_a_free_form_dict() -> None:
    @tool
    def tag(labels: dict[str, str]) -> None:
        """Tag things."""

    assert tag.to_openai()["function"]["parameters"]["properties"]["labels"]["type"] == "object"
    with pytest.raises(MastraError) as info:
        tag.to_openai(strict=True)
    assert info.value.code == "TOOL_SCHEMA_NOT_STRICT"


async def test_strict_mode_null_for_a_defaulted_field_uses_the_default() -> None:
    @tool
    def page(query: str, size: int = 10, cursor: str | None = "start") -> tuple[int, str | None]:
        """Page through results."""
        return size, cursor

    assert await page.execute({"query": "q", "size": None}) == (10, "start")
    # A field that accepts None keeps an explicit None: that is a value, not "use the default".
    assert await page.execute({"query": "q", "cursor": None}) == (10, None)
    with pytest.raises(MastraError) as info:
        await page.execute({"query": None})  # required: null is still an error
    assert info.value.details["errors"][0]["field"] == "query"


# -- execute -------------------------------------------------------------------------------------------------


async def test_execute_sync_and_async_functions() -> None:
    @tool
    def add(a: int, b: int = 1) -> int:
        return a + b

    @tool
    async def mul(a: int, b: int) -> int:
        await asyncio.sleep(0)
        return a * b

    assert await add.execute({"a": 2}) == 3
    assert await add.execute({"a": "4", "b": 5}) == 9  # validated, so the string is coerced
    assert await mul.execute({"a": 3, "b": 4}) == 12


async def test_sync_tool_runs_off_the_event_loop() -> None:
    @tool
    def slow() -> str:
        time.sleep(0.2)
        return "done"

    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    assert await slow.execute({}) == "done"
    task.cancel()
    assert ticks >= 5, f"the loop was blocked: only {ticks} ticks in 0.2 s"


async def test_invalid_input_names_the_field_path() -> None:
    @tool
    def enroll(person: Person, seats: int) -> None:
        """Enroll."""

    with pytest.raises(MastraError) as info:
        await enroll.execute({"person": {"name": "Ada", "home": {"street": "Main", "zip": "12"}}, "seats": "many"})
    error = info.value
    assert error.kind is ErrorKind.VALIDATION and error.code == "TOOL_INPUT_INVALID"
    fields = {item["field"] for item in error.details["errors"]}
    assert fields == {"person.home.zip", "seats"}
    assert "`person.home.zip`" in error.message and "`enroll`" in error.message


async def test_unknown_argument_and_wrong_input_type_are_rejected() -> None:
    @tool
    def add(a: int, b: int) -> int:
        return a + b

    with pytest.raises(MastraError) as info:
        await add.execute({"a": 1, "b": 2, "c": 3})
    assert info.value.details["errors"][0]["field"] == "c"
    with pytest.raises(MastraError) as info:
        await add.execute([1, 2])  # type: ignore[arg-type]
    assert info.value.code == "TOOL_INPUT_INVALID" and "mapping" in info.value.message


async def test_output_is_validated_against_the_return_annotation() -> None:
    @tool
    def count(text: str) -> int:
        return text  # type: ignore[return-value]

    @tool
    def nothing() -> None:
        return 1  # type: ignore[return-value]

    explicit = Tool("explicit", "x", lambda: {"street": "Main", "zip": "12345"}, output_schema=Address)

    assert await count.execute({"text": "12"}) == 12
    for t, args in ((count, {"text": "twelve"}), (nothing, {})):
        with pytest.raises(MastraError) as info:
            await t.execute(args)
        assert info.value.kind is ErrorKind.VALIDATION and info.value.code == "TOOL_OUTPUT_INVALID"
    assert await explicit.execute({}) == Address(street="Main", zip="12345")


async def test_timeout() -> None:
    @tool(timeout=0.05)
    async def sleepy() -> str:
        await asyncio.sleep(2)
        return "late"

    started = time.perf_counter()
    with pytest.raises(MastraError) as info:
        await sleepy.execute({})
    assert time.perf_counter() - started < 1
    error = info.value
    assert (error.kind, error.code, error.retryable) == (ErrorKind.EXECUTION, "TOOL_TIMEOUT", True)


async def test_a_timed_out_attempt_is_retried() -> None:
    calls = 0

    @tool(timeout=0.05, retries=FAST)
    async def flaky() -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.sleep(1)
        return calls

    assert await flaky.execute({}) == 2


# -- retries and errors --------------------------------------------------------------------------------------


async def test_retryable_error_is_retried_until_success() -> None:
    hub = make_hub()
    events = record(hub)
    attempts_seen: list[int] = []

    @tool(retries=FAST)
    def fetch(context: ToolContext) -> str:
        attempts_seen.append(context.attempt)
        if context.attempt < 3:
            raise MastraError(ErrorKind.EXECUTION, "UPSTREAM_BUSY", "busy", retryable=True)
        return "ok"

    hub.add_tool(fetch)
    assert await fetch.execute({}) == "ok"
    assert attempts_seen == [1, 2, 3]
    await hub.events.drain()
    assert [(e.name, e.payload["attempts"]) for e in events] == [(TOOL_EXECUTED, 3)]


async def test_int_retries_means_that_many_retries_after_the_first_try() -> None:
    calls = 0

    def busy() -> None:
        nonlocal calls
        calls += 1
        raise MastraError(ErrorKind.EXECUTION, "BUSY", "busy", retryable=True)

    t = Tool("busy", "x", busy, retries=2)
    assert t.retries.attempts == 3
    t.retries = RetryPolicy(attempts=3, base_delay=0.001)  # the same policy, with delays short enough for a test
    with pytest.raises(MastraError) as info:
        await t.execute({})
    assert info.value.code == "BUSY" and calls == 3


async def test_non_retryable_error_is_not_retried_and_passes_through() -> None:
    calls = 0

    @tool(retries=FAST)
    def refuse() -> None:
        nonlocal calls
        calls += 1
        raise MastraError(ErrorKind.DOMAIN, "NOT_ALLOWED", "no")

    with pytest.raises(MastraError) as info:
        await refuse.execute({})
    assert info.value.code == "NOT_ALLOWED" and calls == 1


async def test_plain_exception_becomes_execution_failed_with_cause() -> None:
    calls = 0

    @tool(retries=FAST)
    async def divide(a: int, b: int) -> float:
        nonlocal calls
        calls += 1
        return a / b

    with pytest.raises(MastraError) as info:
        await divide.execute({"a": 1, "b": 0})
    error = info.value
    assert (error.kind, error.code, error.retryable) == (ErrorKind.EXECUTION, "TOOL_EXECUTION_FAILED", False)
    assert isinstance(error.__cause__, ZeroDivisionError)
    assert "`divide`" in error.message and "ZeroDivisionError" in error.message
    assert calls == 1


# -- cache ---------------------------------------------------------------------------------------------------


async def test_cache_hit_skips_the_function_and_is_marked_in_the_event() -> None:
    hub = make_hub()
    events = record(hub)
    calls = 0

    @tool(cache=True)
    def square(x: int, offset: int = 0) -> int:
        nonlocal calls
        calls += 1
        return x * x + offset

    hub.add_tool(square)
    assert await square.execute({"x": 3}) == 9
    assert await square.execute({"x": "3", "offset": 0}) == 9  # same validated input, same key
    assert calls == 1
    assert await square.execute({"x": 4}) == 16
    assert calls == 2
    await hub.events.drain()
    assert [e.payload["cached"] for e in events] == [False, True, False]
    assert events[1].payload["attempts"] == 0  # the function did not run
    square.clear_cache()
    await square.execute({"x": 3})
    assert calls == 3


async def test_cache_is_lru_bounded() -> None:
    calls: list[int] = []

    @tool(cache=2)
    def ident(x: int) -> int:
        calls.append(x)
        return x

    for x in (1, 2, 1, 3, 1, 2):  # 3 evicts 2 (1 was used more recently), so only 2 runs again
        await ident.execute({"x": x})
    assert calls == [1, 2, 3, 2]


async def test_failures_are_not_cached() -> None:
    calls = 0

    @tool(cache=True)
    def once_broken(x: int) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ValueError("first call fails")
        return x

    with pytest.raises(MastraError):
        await once_broken.execute({"x": 1})
    assert await once_broken.execute({"x": 1}) == 1
    assert calls == 2


# -- context and events --------------------------------------------------------------------------------------


async def test_context_parameter_receives_hub_and_runtime_context() -> None:
    hub = make_hub()
    seen: list[ToolContext] = []

    @tool
    def whoami(greeting: str, context: ToolContext) -> str:
        seen.append(context)
        return f"{greeting} {context.runtime_context['user']}"

    @tool
    def optional(ctx: ToolContext | None = None) -> bool:
        return ctx is not None and ctx.tool_id == "optional"

    assert optional.json_schema()["properties"] == {} and await optional.execute({}) is True

    @tool
    async def current(context) -> str:  # an unannotated `context` gets the ToolContext
        # The call's context is also the active one, for code the tool calls.
        return f"{context.runtime_context['user']}/{RuntimeContext.current()['user']}"

    hub.add_tool(whoami)
    assert "context" not in whoami.json_schema()["properties"]
    assert await whoami.execute({"greeting": "hi"}, RuntimeContext({"user": "ada"})) == "hi ada"
    assert seen[0].mastra is hub and seen[0].tool_id == "whoami" and seen[0].attempt == 1
    with RuntimeContext({"user": "bob"}).activate():
        assert await whoami.execute({"greeting": "yo"}) == "yo bob"
        assert await current.execute({}) == "bob/bob"
    assert await current.execute({}, RuntimeContext({"user": "cy"})) == "cy/cy"
    assert current.json_schema()["properties"] == {}


async def test_events_for_success_and_failure_reach_the_bus() -> None:
    hub = make_hub()
    events = record(hub)

    @tool
    def half(n: int) -> int:
        if n % 2:
            raise ValueError("odd")
        return n // 2

    hub.add_tool(half)
    await half.execute({"n": 4})
    with pytest.raises(MastraError):
        await half.execute({"n": 3})
    with pytest.raises(MastraError):
        await half.execute({"n": "x"})
    await hub.events.drain()
    assert [e.name for e in events] == [TOOL_EXECUTED, TOOL_FAILED, TOOL_FAILED]
    ok, failed, invalid = (e.payload for e in events)
    assert ok["tool_id"] == "half" and ok["attempts"] == 1 and ok["cached"] is False and ok["duration_ms"] >= 0
    assert failed["error"]["code"] == "TOOL_EXECUTION_FAILED" and failed["attempts"] == 1
    assert invalid["error"]["code"] == "TOOL_INPUT_INVALID" and invalid["attempts"] == 0


# -- definitions ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: tool(lambda x: x),  # `<lambda>` is no id a model accepts
        lambda: tool(id="has space")(lambda: None),
        lambda: tool(id="x" * 65)(lambda: None),
        lambda: Tool("args", "x", lambda *values: None),
        lambda: Tool("kwargs", "x", lambda **values: None),
        lambda: Tool("ctx", "x", _context_is_a_str),
        lambda: Tool("two", "x", lambda a, b: None, input_schema=Person),
        lambda: Tool("neg", "x", lambda: None, timeout=-1),
        lambda: Tool("neg", "x", lambda: None, retries=-1),
        lambda: Tool("gen", "x", _generator),
    ],
    ids=["lambda-id", "space-id", "long-id", "*args", "**kwargs", "context-str", "schema-2-params",
         "timeout", "retries", "generator"],
)  # fmt: skip
def test_bad_definitions_fail_at_definition_time(make: Any) -> None:
    with pytest.raises(MastraError) as info:
        make()
    assert info.value.kind is ErrorKind.VALIDATION and info.value.code == "TOOL_DEFINITION_INVALID"


def _context_is_a_str(context: str) -> None: ...


def _generator():  # a tool must return one result, not yield many
    yield 1


async def test_call_runs_the_bare_function() -> None:
    @tool(timeout=1)
    def add(a: int, b: int) -> int:
        """Add."""
        return a + b

    assert add("x", "y") == "xy"  # no validation on the direct path
    assert add.__name__ == "add" and add.__doc__ == "Add." and add.fn(1, 2) == 3
    assert repr(add) == "Tool('add', input=(a, b), timeout=1)"


async def test_names_pydantic_reserves_and_positional_only_parameters() -> None:
    @tool
    def fmt(_prefix: str, /, json: str, schema: int = 1) -> str:
        return f"{_prefix}{json}{schema}"

    assert set(fmt.json_schema()["properties"]) == {"_prefix", "json", "schema"}
    assert await fmt.execute({"_prefix": ">", "json": "j"}) == ">j1"


async def test_a_registered_tool_without_its_own_timeout_takes_the_hubs() -> None:
    hub = make_hub(tool_timeout=0.05)

    @tool
    async def slow() -> None:
        await asyncio.sleep(1)

    @tool(timeout=5)
    async def patient() -> str:
        await asyncio.sleep(0.1)
        return "done"

    hub.add_tool(slow)
    hub.add_tool(patient)
    with pytest.raises(MastraError) as info:
        await slow.execute({})
    assert info.value.code == "TOOL_TIMEOUT" and "0.05 s" in str(info.value)
    assert await patient.execute({}) == "done"  # its own timeout wins over the hub's
