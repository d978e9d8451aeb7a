"""Tests of `Agent`: the tool loop, streaming, structured output, composition and runtime context.

Every model call goes through litellm over real HTTP to the local test server (`openai/<name>` + `api_base`).
"""

import asyncio

import pytest
from openai_server import Reply
from pydantic import BaseModel

from mastra_nb import Agent, InMemoryStore, Mastra, MastraConfig, MastraError, RuntimeContext, ToolContext, tool
from mastra_nb.agents import AgentStep


@tool
def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: the first.
        b: the second.
    """
    return a + b


@tool
def divide(a: float, b: float) -> float:
    """Divide a by b."""
    return a / b


def hub_with(*agents: Agent, **settings) -> Mastra:
    return Mastra(agents=list(agents), storage=InMemoryStore(), config=MastraConfig.load(environ={}, **settings))


def tool_messages(body: dict) -> list[dict]:
    return [m for m in body["messages"] if m["role"] == "tool"]


# -- the tool loop ----------------------------------------------------------------------------------------------


async def test_multi_step_tool_loop_feeds_results_back_until_an_answer(openai_server, make_model):
    openai_server.add(
        Reply(tool_calls=[("add", {"a": 2, "b": 3})]),
        Reply(tool_calls=[("add", {"a": 5, "b": 10})]),
        Reply(text="2 + 3 + 10 = 15", usage=(30, 8)),
    )
    agent = Agent("math", "You add numbers with the add tool.", make_model(), tools=[add])
    result = await agent.generate("What is 2 + 3 + 10?")
    assert result.text == "2 + 3 + 10 = 15" and result.finish_reason == "stop" and result.object is None
    assert [r.result for r in result.tool_results] == [5, 15]
    assert [c.name for c in result.tool_calls] == ["add", "add"]
    assert [len(s.tool_calls) for s in result.steps] == [1, 1, 0] and [s.number for s in result.steps] == [1, 2, 3]
    assert result.usage.total_tokens == sum(s.usage.total_tokens for s in result.steps) > 38
    assert result.run_id and result.model == "openai/gpt-test" and not result.scripted
    first, second, third = openai_server.bodies()
    assert first["messages"] == [
        {"role": "system", "content": "You add numbers with the add tool."},
        {"role": "user", "content": "What is 2 + 3 + 10?"},
    ]
    [spec] = first["tools"]
    assert spec["function"]["name"] == "add" and spec["function"]["parameters"]["required"] == ["a", "b"]
    # each later request carries the assistant's tool call and the tool's answer under the same id
    assert second["messages"][2]["tool_calls"][0]["id"] == tool_messages(second)[0]["tool_call_id"]
    assert [m["content"] for m in tool_messages(third)] == ["5", "15"]


async def test_parallel_tool_calls_run_concurrently(openai_server, make_model):
    started = {"left": asyncio.Event(), "right": asyncio.Event()}

    @tool(timeout=5)
    async def meet(side: str) -> str:
        """Wait until the other side has started too: only possible if both run at once."""
        started[side].set()
        await started["right" if side == "left" else "left"].wait()
        return f"{side} met"

    openai_server.add(Reply(tool_calls=[("meet", {"side": "left"}), ("meet", {"side": "right"})]), "Both met.")
    result = await Agent("a", "", make_model(), tools=[meet]).generate("go")
    assert [(r.result, r.error) for r in result.tool_results] == [("left met", None), ("right met", None)]
    # results reach the model in the order of the calls
    assert [m["content"] for m in tool_messages(openai_server.bodies()[1])] == ["left met", "right met"]


async def test_tool_errors_go_back_to_the_model_and_the_loop_goes_on(openai_server, make_model):
    openai_server.add(
        Reply(tool_calls=[("divide", {"a": 1, "b": 0}), ("add", {"a": 1, "b": "two"}), ("add", "{not json"),
                          ("subtract", {"a": 1})]),
        "I could not compute that.",
    )  # fmt: skip
    agent = Agent("calc", "", make_model(), tools=[add, divide])
    result = await agent.generate("Compute things.")
    assert result.text == "I could not compute that." and result.finish_reason == "stop"
    codes = [r.error["code"] for r in result.tool_results]
    assert codes == ["TOOL_EXECUTION_FAILED", "TOOL_INPUT_INVALID", "TOOL_ARGUMENTS_INVALID", "AGENT_TOOL_UNKNOWN"]
    assert all(r.is_error and r.result is None for r in result.tool_results)
    told = [m["content"] for m in tool_messages(openai_server.bodies()[1])]
    assert "ZeroDivisionError" in told[0]
    assert "`b`" in told[1] and "valid integer" in told[1]
    assert "not valid JSON" in told[2]
    assert "no tool named `subtract`" in told[3] and "`add`" in told[3] and "`divide`" in told[3]


async def test_max_steps_stops_a_model_that_keeps_calling_tools(openai_server, make_model):
    openai_server.always(Reply(text="still working", tool_calls=[("add", {"a": 1, "b": 1})]))
    agent = Agent("loop", "", make_model(), tools=[add], max_steps=5)
    result = await agent.generate("Never stop.", max_steps=3)
    assert result.finish_reason == "max_steps" and len(result.steps) == 3
    assert len(openai_server.requests) == 3
    assert len(result.tool_results) == 3  # the last step's calls ran; only no further model call was made


async def test_max_steps_defaults_to_the_hubs_config(openai_server, make_model):
    openai_server.always(Reply(tool_calls=[("add", {"a": 1, "b": 1})]))
    agent = Agent("loop", "", make_model(), tools=[add])
    hub_with(agent, max_steps=2)
    assert (await agent.generate("go")).finish_reason == "max_steps"
    assert len(openai_server.requests) == 2


async def test_retries_and_fallbacks_apply_inside_the_loop(openai_server, make_model):
    openai_server.add(Reply(status=429), Reply(tool_calls=[("add", {"a": 1, "b": 2})]), model="main")
    openai_server.add(*[Reply(status=500)] * 3, model="main")
    openai_server.add("3, from the backup", model="backup")
    agent = Agent("a", "", make_model("main", fallbacks=[make_model("backup")]), tools=[add])
    result = await agent.generate("1 + 2?")
    assert result.text == "3, from the backup" and result.model == "openai/backup"
    assert [s.model for s in result.steps] == ["openai/main", "openai/backup"]
    assert [b["model"] for b in openai_server.bodies()] == ["main", "main", "main", "main", "main", "backup"]


async def test_a_model_error_fails_the_run(openai_server, make_model):
    openai_server.add(Reply(status=400, error="context too long"))
    with pytest.raises(MastraError) as info:
        await Agent("a", "", make_model()).generate("hi")
    assert info.value.code == "MODEL_BAD_REQUEST" and "context too long" in info.value.message


async def test_on_step_finish_sees_each_step(openai_server, make_model):
    openai_server.add(Reply(tool_calls=[("add", {"a": 1, "b": 2})]), "3")
    seen: list[AgentStep] = []

    async def record(step: AgentStep) -> None:
        seen.append(step)

    result = await Agent("a", "", make_model(), tools=[add]).generate("1 + 2", on_step_finish=record)
    assert seen == result.steps and [s.tool_results[0].result for s in seen[:1]] == [3]


async def test_messages_may_be_a_conversation(openai_server, make_model):
    openai_server.add("Paris.")
    history = [
        {"role": "user", "content": "Capital of France?"},
        {"role": "assistant", "content": "Paris."},
        "And Italy?",
    ]
    await Agent("a", "Be brief.", make_model()).generate(history)
    assert [m["role"] for m in openai_server.bodies()[0]["messages"]] == ["system", "user", "assistant", "user"]
    with pytest.raises(MastraError, match="role"):
        await Agent("a", "", make_model()).generate([{"content": "no role"}])


async def test_tool_choice_is_sent_and_a_tool_name_forces_that_tool(openai_server, make_model):
    openai_server.add("ok", "ok")
    agent = Agent("a", "", make_model(), tools=[add, divide], tool_choice="required")
    await agent.generate("x")
    await agent.generate("x", tool_choice="divide")
    first, second = openai_server.bodies()
    assert first["tool_choice"] == "required"
    assert second["tool_choice"] == {"type": "function", "function": {"name": "divide"}}
    with pytest.raises(MastraError, match="tool_choice"):
        await agent.generate("x", tool_choice="multiply")


async def test_an_agent_without_a_model_uses_the_hubs_default_or_says_what_to_do(openai_server):
    agent = Agent("a", "")
    with pytest.raises(MastraError) as info:
        await agent.generate("hi")
    assert info.value.code == "AGENT_MODEL_MISSING" and "MASTRA_DEFAULT_MODEL" in info.value.message
    hub_with(agent, default_model="openai/house")
    with pytest.raises(MastraError):  # reaches litellm with the default: no key and no server, so it fails there
        await agent.generate("hi", options={"api_base": openai_server.url, "api_key": "k", "max_retries": 0})
    assert openai_server.bodies()[0]["model"] == "house"


async def test_registering_an_agent_emits_agent_created():
    hub = hub_with()
    seen = []
    hub.events.subscribe("agent:*", lambda event: seen.append((event.name, event.payload)))
    hub.add_agent(Agent("helper", "Help."))
    await hub.events.drain()
    assert seen == [("agent:created", {"name": "helper"})]


# -- streaming --------------------------------------------------------------------------------------------------


async def test_stream_yields_text_tool_calls_results_steps_and_the_result(openai_server, make_model):
    openai_server.add(Reply(text="Adding now.", tool_calls=[("add", {"a": 2, "b": 2})]), Reply(text="It is 4."))
    stream = Agent("a", "", make_model(), tools=[add]).stream("2 + 2?")
    events = [event async for event in stream]
    kinds = [event.kind for event in events]
    assert kinds[0] == "text-delta" and kinds[-1] == "finish"
    assert [k for k in kinds if k != "text-delta"] == [
        "tool-call",
        "tool-result",
        "step-finish",
        "step-finish",
        "finish",
    ]
    text_by_step = {1: "", 2: ""}
    for event in events:
        if event.kind == "text-delta":
            text_by_step[event.step] += event.text
    assert text_by_step == {1: "Adding now.", 2: "It is 4."}
    call = next(e for e in events if e.kind == "tool-call").call
    assert (call.name, call.parsed_arguments()) == ("add", {"a": 2, "b": 2})
    assert next(e for e in events if e.kind == "tool-result").result.result == 4
    result = events[-1].result
    assert result.text == "It is 4." and await stream.result() is result
    assert all(body["stream"] for body in openai_server.bodies())


async def test_a_failing_stream_yields_an_error_event_then_raises(openai_server, make_model):
    openai_server.add(Reply(status=400, error="bad tools"))
    seen = []
    with pytest.raises(MastraError, match="bad tools"):
        async for event in Agent("a", "", make_model()).stream("hi"):
            seen.append(event)
    assert [e.kind for e in seen] == ["error"] and seen[0].error.code == "MODEL_BAD_REQUEST"


# -- structured output ------------------------------------------------------------------------------------------


class Sum(BaseModel):
    total: int
    explanation: str


async def test_structured_output_with_a_prompted_schema_and_one_repair(openai_server, make_model):
    openai_server.add(
        Reply(tool_calls=[("add", {"a": 2, "b": 3})]),
        "The total is 5.",
        '```json\n{"total": 5, "explanation": "2 + 3"}\n```',
    )
    agent = Agent("a", "Add.", make_model("house-model"), tools=[add])  # litellm knows no response format for it
    result = await agent.generate("2 + 3?", output=Sum)
    assert result.object == Sum(total=5, explanation="2 + 3")
    assert [s.kind for s in result.steps] == ["model", "model", "repair"]
    first, _, repair = openai_server.bodies()
    assert "response_format" not in first and '"total"' in first["messages"][0]["content"]  # schema in the prompt
    assert repair["messages"][-2] == {"role": "assistant", "content": "The total is 5."}
    assert "does not match" in repair["messages"][-1]["content"] and "total" in repair["messages"][-1]["content"]
    assert "tools" not in repair


async def test_structured_output_uses_the_providers_json_schema_when_supported(openai_server, make_model):
    openai_server.add('{"total": 5, "explanation": "added"}')
    agent = Agent("a", "Add.", make_model(structured_output="json_schema"))
    result = await agent.generate("2 + 3?", output=Sum)
    assert result.object.total == 5 and len(result.steps) == 1
    body = openai_server.bodies()[0]
    assert body["response_format"]["type"] == "json_schema"
    schema = body["response_format"]["json_schema"]
    assert schema["name"] == "Sum" and schema["strict"] is True and schema["schema"]["additionalProperties"] is False
    assert body["messages"][0]["content"] == "Add."  # no schema in the prompt


async def test_invalid_structured_output_after_the_repair_is_a_validation_error(openai_server, make_model):
    openai_server.add("five", '{"total": "five"}')
    with pytest.raises(MastraError) as info:
        await Agent("a", "", make_model()).generate("2 + 3?", output=Sum)
    error = info.value
    assert error.code == "AGENT_OUTPUT_INVALID" and error.kind.value == "validation"
    assert error.details["text"] == '{"total": "five"}' and "total" in error.details["problems"]


# -- composition and context ------------------------------------------------------------------------------------


async def test_a_coordinator_delegates_to_a_sub_agent_with_the_runtime_context(openai_server, make_model):
    def researcher_instructions(context: RuntimeContext) -> str:
        return f"You research for {context['user']}."

    researcher = Agent("Research Desk", researcher_instructions, make_model("researcher"),
                       description="Finds facts.")  # fmt: skip
    coordinator = Agent("lead", "Delegate research.", make_model("lead"), agents=[researcher])
    hub_with(coordinator)
    delegate = Reply(tool_calls=[("agent_Research_Desk", {"prompt": "Capital of Peru?"})])
    openai_server.add(delegate, "Lima, says the desk.", model="lead")
    openai_server.add("Lima.", model="researcher")
    result = await coordinator.generate("Ask the desk about Peru.", context={"user": "Ada"})
    assert result.text == "Lima, says the desk." and result.tool_results[0].result == "Lima."
    lead_first, research, lead_second = openai_server.bodies()
    [spec] = lead_first["tools"]
    assert spec["function"]["name"] == "agent_Research_Desk" and spec["function"]["description"] == "Finds facts."
    assert spec["function"]["parameters"]["required"] == ["prompt"]
    assert research["messages"] == [{"role": "system", "content": "You research for Ada."},
                                    {"role": "user", "content": "Capital of Peru?"}]  # fmt: skip
    assert tool_messages(lead_second)[0]["content"] == "Lima."
    assert researcher.mastra is coordinator.mastra is not None


async def test_runtime_context_reaches_instructions_and_tools(openai_server, make_model):
    @tool
    def whoami(context: ToolContext) -> str:
        """Say who is asking."""
        return f"{context.runtime_context['user']} via {context.mastra is not None}"

    async def instructions(context: RuntimeContext) -> str:
        return f"Speak {context['lang']}."

    agent = Agent("a", instructions, make_model(), tools=[whoami])
    hub_with(agent)
    openai_server.add(Reply(tool_calls=[("whoami", {})]), "ok")
    ctx = RuntimeContext({"user": "grace", "lang": "French"})
    with ctx.activate():  # the active context is used when none is passed
        result = await agent.generate("who?")
    assert result.tool_results[0].result == "grace via True"
    assert openai_server.bodies()[0]["messages"][0]["content"] == "Speak French."


async def test_tools_as_toolsets_and_names_models_accept(openai_server, make_model):
    @tool
    def shout(text: str) -> str:
        """Upper-case a text."""
        return text.upper()

    agent = Agent("a", "", make_model(), tools=[{"sum up": add}, [shout]])
    assert sorted(agent.tools) == ["shout", "sum_up"]
    openai_server.add(Reply(tool_calls=[("sum_up", {"a": 1, "b": 1}), ("extra", {"text": "x"})]), "done")
    result = await agent.generate("go", toolsets={"extra": shout})
    assert [r.result for r in result.tool_results] == [2, "X"]
    assert sorted(t["function"]["name"] for t in openai_server.bodies()[0]["tools"]) == ["extra", "shout", "sum_up"]


def test_a_name_collision_between_sources_is_an_error():
    @tool(id="agent_helper")
    def impostor() -> str:
        """Pretend to be the helper agent."""
        return ""

    with pytest.raises(MastraError) as info:
        Agent("boss", "", "openai/x", tools=[impostor], agents=[Agent("helper", "")])
    error = info.value
    assert error.code == "AGENT_TOOL_NAME_COLLISION" and "agent_helper" in error.message
    assert "sub-agent `helper`" in error.message and "`tools=`" in error.message
    with pytest.raises(MastraError) as info:
        Agent("a", "", "openai/x", tools=[add, {"add": divide}])
    assert info.value.code == "AGENT_TOOL_NAME_COLLISION"
    Agent("a", "", "openai/x", tools=[add, [add]])  # the same tool twice is no collision


def test_agent_definitions_are_checked():
    with pytest.raises(MastraError, match="name"):
        Agent("", "x")
    with pytest.raises(MastraError, match="max_steps"):
        Agent("a", "x", max_steps=0)
    with pytest.raises(MastraError, match="provider prefix"):
        Agent("a", "x", "gpt-4o")
    with pytest.raises(MastraError, match="workflows"):
        Agent("a", "x", workflows=[object()])
    with pytest.raises(MastraError, match="record"):
        Agent("a", "x", record="sometimes")  # type: ignore[arg-type]


# -- the offline model --------------------------------------------------------------------------------------------


async def test_a_scripted_agent_runs_offline_and_is_labelled_as_scripted():
    from mastra_nb import ScriptedModel, ScriptedReply

    model = ScriptedModel(
        [ScriptedReply.call("add", a=2, b=3), lambda messages: f"The sum is {messages[-1]['content']}."]
    )
    agent = Agent("demo", "Add.", model, tools=[add])
    hub = hub_with(agent)
    executed = []
    hub.events.subscribe("tool:executed", lambda event: executed.append(event.payload["tool_id"]))
    result = await agent.generate("2 + 3?")
    assert result.text == "The sum is 5." and result.scripted and result.model == "mastra/scripted"
    assert str(result) == "[scripted] The sum is 5."
    assert "scripted=True" in repr(result) and "Scripted reply" in result._repr_markdown_()
    await hub.events.drain()
    assert executed == ["add"]  # the agent's tools report to the hub it is registered in
    model.reset()
    events = [event async for event in agent.stream("2 + 3?")]
    assert "".join(e.text for e in events if e.kind == "text-delta") == "The sum is 5."


# -- agents and workflows -----------------------------------------------------------------------------------------


class Order(BaseModel):
    item: str
    quantity: int


class Approval(BaseModel):
    approved: bool


async def test_a_workflow_is_a_tool_and_its_suspension_goes_back_to_the_model(openai_server, make_model):
    from mastra_nb import Step, StepContext, Workflow

    async def check(order: Order, ctx: StepContext) -> Order:
        if ctx.resume_data is None:
            ctx.suspend({"needs": f"approval for {order.quantity} x {order.item}"})
        return order

    workflow = Workflow("purchase", input=Order, description="Buy something; large orders wait for approval.").then(
        Step("check", check, input=Order, output=Order, resume=Approval)
    )
    agent = Agent("buyer", "Buy what is asked.", make_model(), workflows=[workflow])
    hub = hub_with(agent)
    hub.add_workflow(workflow)
    openai_server.add(Reply(tool_calls=[("workflow_purchase", {"item": "chair", "quantity": 40})]), "Waiting.")
    result = await agent.generate("Buy 40 chairs.")
    [spec] = openai_server.bodies()[0]["tools"]
    assert spec["function"]["name"] == "workflow_purchase"
    assert spec["function"]["parameters"]["required"] == ["item", "quantity"]
    reply = result.tool_results[0].result
    assert reply["status"] == "suspended" and reply["suspended"] == {"0": {"needs": "approval for 40 x chair"}}
    assert reply["run_id"] in tool_messages(openai_server.bodies()[1])[0]["content"]
    run = await workflow.get_run(reply["run_id"])  # the suspended run is stored and can be resumed
    assert (await run.resume({"approved": True})).output == Order(item="chair", quantity=40)


async def test_an_agent_is_a_workflow_step_with_the_runs_runtime_context(openai_server, make_model):
    from mastra_nb import Workflow

    def instructions(context: RuntimeContext) -> str:
        return f"Answer {context['user']} briefly."

    agent = Agent("Helper Desk", instructions, make_model())
    workflow = Workflow("ask", input=str).map(lambda question: {"prompt": question}).then(agent)
    hub_with(agent).add_workflow(workflow)
    openai_server.add("Paris.")
    result = await workflow.create_run().start("Capital of France?", context=RuntimeContext({"user": "Ada"}))
    assert result.status == "success" and result.output.text == "Paris."
    assert result.steps["1"].step_id == "Helper_Desk"
    assert openai_server.bodies()[0]["messages"] == [
        {"role": "system", "content": "Answer Ada briefly."},
        {"role": "user", "content": "Capital of France?"},
    ]


class Shelf:
    """A tool source as `Agent(toolsets=...)` takes one (an `MCPClient` is another): its async `tools()` lists
    tools, failing while `down`."""

    def __init__(self, *tools: object) -> None:
        self.listed, self.down, self._tools = 0, False, list(tools)

    async def tools(self) -> list[object]:
        self.listed += 1
        if self.down:
            raise MastraError("execution", "SHELF_DOWN", "The shelf cannot be reached.", retryable=True)
        return self._tools


async def test_named_toolsets_take_tools_and_tool_sources_listed_once_when_a_run_needs_them():
    from mastra_nb.models import ScriptedModel, ScriptedReply

    shelf = Shelf(divide)
    shelf.down = True
    model = ScriptedModel([ScriptedReply.call("divide", a=6, b=3), "6 / 3 = 2", "again"])
    agent = Agent("maths", "You compute.", model, toolsets={"basic": [add], "shelf": shelf})
    hub = hub_with(agent)
    assert set(agent.tools) == {"add"}  # the source is listed when a run needs it
    with pytest.raises(MastraError) as down:
        await agent.generate("6 / 3?")
    assert down.value.code == "SHELF_DOWN" and down.value.retryable
    assert down.value.message.startswith("Toolset `shelf` of agent `maths` cannot be listed: The shelf")
    shelf.down = False  # the next run tries again
    result = await agent.generate("6 / 3?")
    assert result.text == "6 / 3 = 2" and result.tool_results[0].result == 2.0
    assert set(agent.tools) == {"add", "divide"} and divide.mastra is hub  # bound to the agent's hub
    await agent.generate("and again?")
    assert shelf.listed == 2  # listed once it worked, not on every run

    # For one call only, beside plain tools: the source is listed for that call.
    once = Agent("once", "You compute.", ScriptedModel([ScriptedReply.call("divide", a=8, b=2), "4"]))
    hub.add_agent(once)
    result = await once.generate("8 / 2?", toolsets={"shelf": Shelf(divide), "basic": add})
    assert result.tool_results[0].result == 4.0 and set(once.tools) == set()


def test_named_toolsets_that_collide_or_are_no_mapping_are_refused():
    with pytest.raises(MastraError) as collided:
        Agent("maths", "You compute.", "openai/gpt-4o-mini", tools=[add], toolsets={"more": [add.fn]})
    assert collided.value.code == "AGENT_TOOL_NAME_COLLISION" and "toolset `more`" in collided.value.message
    with pytest.raises(MastraError) as wrong:
        Agent("maths", "You compute.", "openai/gpt-4o-mini", toolsets=[add])
    assert wrong.value.code == "AGENT_DEFINITION_INVALID" and "`Agent(toolsets=...)`" in wrong.value.message


async def test_a_tool_source_whose_tool_collides_fails_each_run_until_it_no_longer_does():
    from mastra_nb.models import ScriptedModel

    @tool(id="add")
    def other_add(a: int, b: int) -> int:
        """Add, elsewhere."""
        return a + b

    shelf = Shelf(other_add)
    agent = Agent("maths", "You compute.", ScriptedModel(["4"] * 3), tools=[add], toolsets={"shelf": shelf})
    hub_with(agent)
    for _ in range(2):  # refused each time, never silently run without the source's tools
        with pytest.raises(MastraError) as collided:
            await agent.generate("2 + 2?")
        assert collided.value.code == "AGENT_TOOL_NAME_COLLISION" and "toolset `shelf`" in collided.value.message
    shelf._tools = [divide]
    assert set(await agent.list_tools()) == {"add", "divide"}
