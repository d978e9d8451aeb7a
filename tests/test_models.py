"""Tests of mastra_nb.models: calls through litellm over real HTTP to the local test server.

Nothing needs the network or a key: every model is `openai/<name>` with `api_base` pointing at the server.
"""

import json
import os
import subprocess
import sys

import pytest
from openai_server import OpenAIServer, Reply

from mastra_nb import MastraError
from mastra_nb.models import Model, ScriptedModel, ScriptedReply, TextDelta, ToolCall, _litellm
from mastra_nb.retry import RetryPolicy

ASK = [{"role": "user", "content": "What is 2 + 3?"}]
ADD_PARAMETERS = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}}
ADD = {"type": "function", "function": {"name": "add", "description": "Add.", "parameters": ADD_PARAMETERS}}


async def test_completion_returns_text_usage_and_sends_the_request(openai_server, make_model):
    openai_server.add(Reply(text="5", usage=(12, 1)))
    response = await make_model("gpt-test", temperature=0).complete(ASK, options={"seed": 7})
    assert response.text == "5" and response.tool_calls == () and response.finish_reason == "stop"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens, response.usage.total_tokens) == (12, 1, 13)
    assert response.model == "openai/gpt-test"
    [request] = openai_server.requests
    assert request["headers"]["authorization"] == "Bearer test-key"
    body = request["body"]
    assert body["model"] == "gpt-test" and body["messages"] == ASK
    assert body["temperature"] == 0 and body["seed"] == 7 and "stream" not in body


async def test_tool_calls_are_read_from_the_message_even_when_finish_reason_says_stop(openai_server, make_model):
    openai_server.add(Reply(tool_calls=[("add", {"a": 2, "b": 3})], finish_reason="stop"))
    response = await make_model().complete(ASK, tools=[ADD], tool_choice="required")
    [call] = response.tool_calls
    assert call.name == "add" and call.parsed_arguments() == {"a": 2, "b": 3} and call.id
    body = openai_server.bodies()[0]
    assert body["tools"] == [ADD] and body["tool_choice"] == "required"


async def test_response_format_is_sent(openai_server, make_model):
    schema = {"type": "json_schema", "json_schema": {"name": "Sum", "schema": {"type": "object"}}}
    openai_server.add('{"total": 5}')
    await make_model().complete(ASK, response_format=schema)
    assert openai_server.bodies()[0]["response_format"] == schema


async def test_streaming_yields_text_deltas_then_the_assembled_response(openai_server, make_model):
    openai_server.add(Reply(text="Let me add that.", tool_calls=[("add", {"a": 2, "b": 3}), ("add", {"a": 1, "b": 1})]))
    items = [item async for item in make_model().stream(ASK, tools=[ADD])]
    deltas, [response] = items[:-1], items[-1:]
    assert len(deltas) > 1 and all(isinstance(d, TextDelta) for d in deltas)
    assert "".join(d.text for d in deltas) == response.text == "Let me add that."
    # the server sent each call's arguments in two pieces; they come back whole, in order
    assert [(c.name, c.parsed_arguments()) for c in response.tool_calls] == [
        ("add", {"a": 2, "b": 3}),
        ("add", {"a": 1, "b": 1}),
    ]
    assert len({c.id for c in response.tool_calls}) == 2
    assert response.usage.total_tokens > 0  # from the final usage chunk the request asked for
    body = openai_server.bodies()[0]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


async def test_rate_limit_and_server_errors_are_retried(openai_server, make_model):
    openai_server.add(Reply(status=429, error="Rate limit reached"), Reply(status=500, error="upstream broke"), "5")
    response = await make_model().complete(ASK)
    assert response.text == "5"
    assert len(openai_server.requests) == 3  # the SDK underneath did not retry on its own


async def test_a_bad_request_is_not_retried_and_carries_the_providers_message(openai_server, make_model):
    openai_server.add(Reply(status=400, error="'messages' must not be empty"), "never sent")
    with pytest.raises(MastraError) as info:
        await make_model().complete(ASK)
    error = info.value
    assert error.code == "MODEL_BAD_REQUEST" and not error.retryable and error.kind.value == "execution"
    assert "'messages' must not be empty" in error.message and "openai/gpt-test" in error.message
    assert error.details["status_code"] == 400
    assert len(openai_server.requests) == 1


async def test_retries_run_out_with_a_retryable_error(openai_server, make_model):
    openai_server.add(*[Reply(status=429, error="slow down")] * 3)
    with pytest.raises(MastraError) as info:
        await make_model().complete(ASK)
    assert info.value.code == "MODEL_RATE_LIMITED" and info.value.retryable
    assert len(openai_server.requests) == 3


async def test_fallback_models_are_tried_in_order(openai_server, make_model):
    openai_server.add(*[Reply(status=503, error="overloaded")] * 2, model="primary")
    openai_server.add(Reply(status=401, error="bad key"), model="second")
    openai_server.add("from the third", model="third")
    fast = RetryPolicy(attempts=2, base_delay=0.001, jitter=0)
    model = make_model("primary", retries=fast, fallbacks=[make_model("second"), make_model("third")])
    response = await model.complete(ASK)
    assert response.text == "from the third" and response.model == "openai/third"
    assert [b["model"] for b in openai_server.bodies()] == ["primary", "primary", "second", "third"]


async def test_the_last_fallbacks_error_is_raised(openai_server, make_model):
    openai_server.add(Reply(status=400, error="first refused"), model="a")
    openai_server.add(Reply(status=400, error="second refused"), model="b")
    with pytest.raises(MastraError, match="second refused"):
        await make_model("a", fallbacks=[make_model("b")]).complete(ASK)


async def test_streaming_retries_a_failure_before_the_first_delta(openai_server, make_model):
    openai_server.add(Reply(status=500), "streamed after a retry")
    items = [item async for item in make_model().stream(ASK)]
    assert items[-1].text == "streamed after a retry"
    assert len(openai_server.requests) == 2


async def test_a_slow_answer_times_out_as_a_retryable_error(openai_server, make_model):
    openai_server.add(Reply(text="too late", delay=1.0))
    with pytest.raises(MastraError) as info:
        await make_model(timeout=0.2, retries=0).complete(ASK)
    assert info.value.code == "MODEL_TIMEOUT" and info.value.retryable


async def test_an_unreachable_server_is_a_retryable_provider_error():
    server = OpenAIServer().start()
    url = server.url
    server.stop()  # nothing listens on this port any more
    model = Model("openai/gone", api_base=url, api_key="x", retries=RetryPolicy(attempts=2, base_delay=0.001))
    with pytest.raises(MastraError) as info:
        await model.complete(ASK)
    assert info.value.code == "MODEL_PROVIDER_ERROR" and info.value.retryable
    await _litellm.aclose_clients()


async def test_a_missing_api_key_is_an_auth_error_that_names_the_variable(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(MastraError) as info:
        await Model("openai/gpt-4o-mini", retries=RetryPolicy(attempts=3, base_delay=0.001)).complete(ASK)
    error = info.value
    assert error.code == "MODEL_AUTH_FAILED" and not error.retryable
    assert "OPENAI_API_KEY" in error.message and "ScriptedModel" in error.message
    # nothing was sent: no "HTTP 500" (litellm's own status for a missing key) to send the reader to the provider
    assert "HTTP" not in error.message and error.details["status_code"] is None


async def test_cost_is_reported_where_litellm_knows_the_prices(openai_server, make_model):
    openai_server.add(Reply(text="a", usage=(1000, 100)), Reply(text="b", usage=(1000, 100)))
    known = await make_model("gpt-4o-mini").complete(ASK)
    unknown = await make_model("house-model").complete(ASK)
    assert known.usage.cost is not None and known.usage.cost > 0
    assert unknown.usage.cost is None


def test_model_names_need_a_provider_prefix():
    with pytest.raises(MastraError) as info:
        Model("gpt-4o-mini")
    assert info.value.code == "MODEL_NAME_INVALID" and "openai/gpt-4o-mini" in info.value.message
    with pytest.raises(MastraError, match="retries"):
        Model("openai/x", retries=-1)


def test_litellm_is_configured_on_first_use():
    litellm = _litellm.load_litellm()
    assert litellm.suppress_debug_info is True
    assert os.environ.get("LITELLM_LOCAL_MODEL_COST_MAP")  # set before the import (unless the user had set it)
    # the `mastra/...` provider is no longer registered by `load()`: see test_litellm_is_loaded_without_side_effects


def test_building_models_and_agents_does_not_import_litellm():
    code = (
        "import sys, json\n"
        "from mastra_nb import Agent, Mastra, InMemoryStore, Model, ScriptedModel, tool\n"
        "@tool\ndef add(a: int, b: int) -> int:\n    return a + b\n"
        "agent = Agent('a', 'Add.', Model('openai/gpt-4o-mini'), tools=[add])\n"
        "Mastra(agents=[agent, Agent('s', 'x', ScriptedModel(['hi']))], storage=InMemoryStore())\n"
        "print(json.dumps('litellm' in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) is False


# -- the scripted model ---------------------------------------------------------------------------------------


async def test_scripted_model_answers_from_its_script():
    seen: list[list[dict]] = []

    def echo(messages):
        seen.append(messages)
        return f"You said {messages[-1]['content']}"

    model = ScriptedModel([ScriptedReply.call("add", a=2, b=3), echo, {"text": "t", "tool_calls": [{"name": "x"}]}])
    first = await model.complete(ASK, tools=[ADD])
    assert first.tool_calls == (ToolCall("call_1_0", "add", '{"a": 2, "b": 3}'),)
    assert first.model == "mastra/scripted" and model.scripted
    second = await model.complete([{"role": "user", "content": "hello"}])
    assert second.text == "You said hello" and seen == [[{"role": "user", "content": "hello"}]]
    third = [item async for item in model.stream(ASK)]
    assert third[-1].text == "t" and third[-1].tool_calls[0].name == "x"
    with pytest.raises(MastraError) as info:
        await model.complete(ASK)
    assert info.value.code == "SCRIPT_EXHAUSTED" and "3 replies" in info.value.message
    model.reset()
    assert (await model.complete(ASK)).tool_calls[0].name == "add"


async def test_scripted_model_reports_a_bad_reply():
    with pytest.raises(MastraError) as info:
        await ScriptedModel([42]).complete(ASK)  # type: ignore[list-item]
    assert info.value.code == "SCRIPT_INVALID"

    def broken(messages):
        raise KeyError("no such message")

    with pytest.raises(MastraError) as info:
        await ScriptedModel([broken]).complete(ASK)
    assert info.value.code == "SCRIPT_FAILED" and "KeyError" in info.value.message
    with pytest.raises(MastraError, match="mastra/"):
        ScriptedModel(["x"], name="openai/fake")


# -- the warm-up ------------------------------------------------------------------------------------------------


WARM_THEN_CALL = """
import asyncio, json, sys
from openai_server import OpenAIServer
from pydantic import BaseModel
from mastra_nb.models import Model, _litellm

def unbuilt():
    seen, todo = set(), [BaseModel]
    while todo:
        for model in todo.pop().__subclasses__():
            if model not in seen:
                seen.add(model)
                todo.append(model)
    return {model for model in seen if not model.__pydantic_complete__}

server = OpenAIServer().start()
server.always("ok")
_litellm.load_litellm()
_litellm.warm_litellm()  # what the notebook's warm-up thread does after the import
model = Model("openai/first-call", api_base=server.url, api_key="x", retries=0)
modules, models = set(sys.modules), unbuilt()

async def first_calls():
    async for _ in model.stream([{"role": "user", "content": "hi"}]):
        pass
    await model.complete([{"role": "user", "content": "hi"}])
    await _litellm.aclose_clients()

asyncio.run(first_calls())
ours = ("litellm", "openai", "httpx", "anyio", "tiktoken")
loaded = sorted(name for name in set(sys.modules) - modules if name.split(".")[0] in ours)
built = sorted(f"{m.__module__}.{m.__qualname__}" for m in models - unbuilt() if m.__module__.split(".")[0] in ours)
print(json.dumps({"loaded": loaded, "built": built}))
"""


def test_after_the_warm_up_the_first_call_finds_what_it_needs_loaded():
    # What litellm does once per process (lazy imports, pydantic model builds) is done by `warm()`, in the
    # notebook's warm-up thread, not by the first `%%ask`. A newer litellm that loads something else on its first
    # call shows up here by name: add it to `_litellm`'s lists.
    tests = os.path.dirname(os.path.abspath(__file__))
    done = subprocess.run(
        [sys.executable, "-c", WARM_THEN_CALL], capture_output=True, text=True, timeout=180, cwd=tests, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"loaded": [], "built": []}


LOAD_WITHOUT_SIDE_EFFECTS = """
import asyncio, json, warnings
import litellm
from mastra_nb.models import Model, ScriptedModel, _litellm

before = list(warnings.filters)
_litellm.load_litellm()
added = [f for f in warnings.filters if f not in before]
registered_by_load = any(item["provider"] == "mastra" for item in litellm.custom_provider_map)
model = Model("mastra/scripted", mastra_script=ScriptedModel(["through litellm"]), retries=0)
answer = asyncio.run(model.complete([{"role": "user", "content": "hi"}])).text
print(json.dumps({
    "added": [[f[0], f[2].__name__, f[3].pattern if f[3] else None] for f in added],
    "registered_by_load": registered_by_load, "answer": answer,
    "registered_after": any(item["provider"] == "mastra" for item in litellm.custom_provider_map),
}))
"""


def test_litellm_is_loaded_without_side_effects_beyond_its_own_warnings():
    # `load()` hides deprecation warnings raised from litellm's own modules only, and registers no provider; the
    # `mastra/...` provider is registered by the first call of a `mastra/...` model (or `use_scripted_provider()`).
    done = subprocess.run([sys.executable, "-c", LOAD_WITHOUT_SIDE_EFFECTS], capture_output=True, text=True,
                          timeout=180, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["added"] == [["ignore", "DeprecationWarning", "litellm\\."]]
    assert found["registered_by_load"] is False
    assert found["answer"] == "through litellm" and found["registered_after"] is True


async def test_complete_and_stream_walk_one_path_of_retries_fallbacks_and_breakers(openai_server, make_model):
    # the same script, once completed and once streamed, sends the same requests and ends the same way
    for stream in (False, True):
        openai_server.reset()
        openai_server.add(Reply(status=503), Reply(status=429), Reply(status=500), model="one-path")
        openai_server.add("from the fallback", model="one-path-backup")
        model = make_model("one-path", fallbacks=[make_model("one-path-backup")], circuit_breaker=None)
        if stream:
            response = [item async for item in model.stream(ASK)][-1]
        else:
            response = await model.complete(ASK)
        assert response.text == "from the fallback"
        assert [b["model"] for b in openai_server.bodies()] == ["one-path"] * 3 + ["one-path-backup"]
