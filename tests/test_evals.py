"""Evals: scorers from steps (functions and judge prompts), the built-ins, scorers attached to agents and steps with
a sampling rate, stored scores with the trace they judged, and `run_evals` over a dataset.

Judges are models on the local OpenAI-compatible server, answering by what their prompt asks."""

import asyncio
import json
import threading

import pytest
from openai_server import Reply
from pydantic import BaseModel

from mastra_nb import Agent, InMemoryStore, Mastra, MastraConfig, MastraError, Step, Workflow, tool
from mastra_nb.evals import (
    EvalCase,
    JudgePrompt,
    Scorer,
    answer_relevancy,
    completeness,
    faithfulness,
    keyword_coverage,
    run_evals,
    tool_call_accuracy,
)


@tool
def weather(city: str) -> str:
    """The weather in a city."""
    return f"It is sunny in {city}."


def judge_reply(body: dict) -> Reply:
    """A judge that finds two statements, the first relevant (or supported) and the second not."""
    prompt = body["messages"][-1]["content"]
    if prompt.startswith("Break the text below"):
        answer = {"statements": ["Paris is sunny.", "I like trains."]}
    elif prompt.startswith(("For each statement", "For each claim")):
        answer = {"verdicts": [{"statement": "Paris is sunny.", "verdict": "yes", "reason": "on topic"},
                               {"statement": "I like trains.", "verdict": "no", "reason": "off topic"}]}  # fmt: skip
    elif prompt.startswith("A score from 0 to 1"):
        answer = {"value": "One of two statements is relevant."}
    else:
        raise AssertionError(f"unexpected judge prompt: {prompt[:80]}")
    return Reply(text=json.dumps(answer), usage=(50, 10))


def hub_with(*agents, **components) -> Mastra:
    return Mastra(agents=list(agents), storage=InMemoryStore(), config=MastraConfig.load(environ={}), **components)


# -- scorers on their own ---------------------------------------------------------------------------------------


async def test_code_scorers():
    calls = ({"name": "search", "arguments": {}}, {"name": "weather", "arguments": {"city": "Paris"}})
    assert (await tool_call_accuracy("weather").run({"tool_calls": calls})).score == 1
    assert (await tool_call_accuracy("weather", strict=True).run({"tool_calls": calls})).score == 0
    assert (await tool_call_accuracy(["search", "weather"], ordered=True).run({"tool_calls": calls})).score == 1
    assert (await tool_call_accuracy(["weather", "search"], ordered=True).run({"tool_calls": calls})).score == 0
    missed = await tool_call_accuracy("book").run({"tool_calls": calls})
    assert missed.score == 0 and missed.reason == "The agent called search, weather; expected book: not as expected."

    run = {"input": "Summarize the weather in Paris and Berlin", "output": "Paris is sunny; Berlin is raining."}
    covered = await keyword_coverage().run(run)
    assert covered.score == 0.5 and covered.details["analyze"] == {
        "matched": ["pari", "berlin"], "missing": ["summarize", "weather"]
    }  # fmt: skip
    assert covered.reason == "Score 0.50: the output lacks summarize, weather."
    assert (await keyword_coverage(["Paris", "Berlin"]).run(run)).score == 1
    full = await completeness().run({**run, "ground_truth": "Sunny in Paris, rain in Berlin"})
    assert full.score == 1 and full.reason == "All 4 expected terms appear in the output."  # "raining" is "rain"
    partial = await completeness().run({**run, "ground_truth": "Sunny in Paris, snow in Berlin"})
    assert partial.score == 0.75 and partial.details["preprocess"] == ["sunny", "pari", "snow", "berlin"]


async def test_a_scorer_built_from_functions_and_a_judge(openai_server, make_model):
    class Grade(BaseModel):
        score: float
        reason: str

    openai_server.add(Reply(text=json.dumps({"score": 0.8, "reason": "mostly right"})))
    graded = Scorer(
        "graded",
        judge=make_model("judge"),
        preprocess=lambda run: run.output.lower(),
        score=JudgePrompt("Grade this answer to {input!s}: {preprocess}", output=Grade),
        reason=lambda run: f"the judge gave {run.score}",
    )
    result = await graded.run({"input": "2+2?", "output": "FOUR"})
    assert result.score == 0.8 and result.reason == "the judge gave 0.8" and result.details == {"preprocess": "four"}
    [body] = openai_server.bodies()
    assert body["messages"][-1]["content"] == "Grade this answer to 2+2?: four"
    assert body["messages"][0]["role"] == "system"

    with pytest.raises(MastraError) as error:
        await Scorer("bad", score=lambda run: "high").run({})
    assert error.value.code == "SCORER_SCORE_INVALID"
    with pytest.raises(MastraError) as error:
        Scorer("no-judge", score=JudgePrompt("?", output=float))
    assert error.value.code == "SCORER_DEFINITION_INVALID"


async def test_a_judge_repairs_an_answer_once_then_names_what_is_wrong(openai_server, make_model):
    # The judge calls the model itself (evals sit below agents), with the agent's repair round: one more call that
    # says what was wrong; a second bad answer fails as an agent's would, naming the judge.
    openai_server.add("a score of 0.7", Reply(text=json.dumps({"value": 0.7})), "still prose", "no JSON either")
    judged = Scorer("repaired", judge=make_model("judge"), score=JudgePrompt("Grade {output}", output=float))
    assert (await judged.run({"output": "x"})).score == 0.7
    first, repair = openai_server.bodies()
    assert repair["messages"][:-2] == first["messages"] and repair["messages"][-2]["content"] == "a score of 0.7"
    assert "does not match the required JSON Schema" in repair["messages"][-1]["content"]
    with pytest.raises(MastraError) as error:
        await judged.run({"output": "y"})
    assert error.value.code == "AGENT_OUTPUT_INVALID" and "`judge_repaired`" in error.value.message
    assert error.value.details["text"] == "no JSON either" and len(openai_server.bodies()) == 4


async def test_judge_scorers_answer_relevancy_and_faithfulness(openai_server, make_model):
    openai_server.always(judge_reply)
    judge = make_model("judge")
    run = {"input": "Weather in Paris?", "output": "Paris is sunny. I like trains.", "context": ["Paris: sunny"]}
    relevancy = await answer_relevancy(judge).run(run)
    assert relevancy.score == pytest.approx(0.5) and relevancy.reason == "One of two statements is relevant."
    assert relevancy.details["preprocess"] == {"statements": ["Paris is sunny.", "I like trains."]}
    faithful = await faithfulness(judge).run(run)
    assert faithful.score == pytest.approx(0.5)
    analyze_prompt = openai_server.bodies()[-2]["messages"][-1]["content"]
    assert "- Paris: sunny" in analyze_prompt and "I like trains." in analyze_prompt


# -- attached scorers ------------------------------------------------------------------------------------------


async def test_scorers_attached_to_an_agent_store_scores_with_the_trace(openai_server, make_model):
    openai_server.add(Reply(tool_calls=[("weather", {"city": "Paris"})]), "The weather in Paris is sunny.")
    never = Scorer("never", score=lambda run: 0.0)
    agent = Agent("forecaster", "Use the tool.", make_model(), tools=[weather],
                  scorers=[tool_call_accuracy("weather"), keyword_coverage(), never.sample(0)])  # fmt: skip
    hub = hub_with(agent)
    result = await agent.generate("Weather in Paris?")
    await hub.scores.drain()
    scores = {s.scorer_id: s for s in await hub.scores.list(target_id="forecaster")}
    assert set(scores) == {"tool-call-accuracy", "keyword-coverage"}  # `never` is sampled at rate 0
    accuracy = scores["tool-call-accuracy"]
    assert accuracy.score == 1 and accuracy.target_kind == "agent" and accuracy.run_id == result.run_id
    trace = await hub.traces.get(result.trace_id)
    assert (accuracy.trace_id, accuracy.span_id) == (result.trace_id, trace.root.span_id)
    assert scores["keyword-coverage"].score == 1
    # each scoring is a trace of its own, linked to the span it judged
    await hub.telemetry.flush()
    [scored] = await hub.storage.select("spans", where={"name": "score keyword-coverage"})
    assert scored["attributes"]["mastra.links"] == [{"trace_id": result.trace_id, "span_id": trace.root.span_id}]
    assert scored["attributes"]["mastra.score"] == 1


async def test_sampling_rate_judges_a_share_of_the_runs(openai_server, make_model):
    openai_server.always("ok")
    counted = Scorer("counted", score=lambda run: 1.0)
    agent = Agent("sampled", "x", make_model(), scorers=[counted.sample(0.5)])
    hub = hub_with(agent)
    for _ in range(40):
        await agent.generate("hi")
    await hub.scores.drain()
    judged = len(await hub.scores.list(scorer_id="counted"))
    assert 0 < judged < 40  # 40 draws at 1/2: all or none has a chance of 2 x 2^-40
    with pytest.raises(MastraError):
        counted.sample(1.5)


async def test_a_failing_scorer_is_stored_as_a_failed_score_and_the_answer_stands(openai_server, make_model, caplog):
    openai_server.always("The capital is Paris.")
    secret = "sk-" + "x" * 40

    def broken(run):
        raise RuntimeError(f"judge unreachable with key {secret}")

    good = Scorer("length", score=lambda run: min(1.0, len(run.output) / 10))
    agent = Agent("answerer", "x", make_model(), scorers=[Scorer("broken", score=broken), good])
    hub = hub_with(agent)
    result = await agent.generate("Capital of France?")
    assert result.text == "The capital is Paris."  # the answer stands
    await hub.scores.drain()
    [failed] = await hub.scores.list(scorer_id="broken")
    [scored] = await hub.scores.list(scorer_id="length")
    assert failed.failed and failed.score is None and not scored.failed and scored.score == 1
    assert (failed.target_kind, failed.target_id, failed.run_id) == ("agent", "answerer", result.run_id)
    assert failed.details["error"]["code"] == "SCORER_FAILED" and "judge unreachable" in failed.reason
    stored = json.dumps(await hub.storage.select("scores", where={"scorer_id": "broken"}), default=str)
    assert secret not in stored and secret not in caplog.text  # the error is redacted where it is kept


async def test_scorers_attached_to_a_step():
    class Text(BaseModel):
        text: str

    shout = Step("shout", lambda d: Text(text=d.text.upper() + "!"), input=Text, output=Text,
                 scorers=[Scorer("loud", score=lambda run: float(run.output.text.endswith("!")))])  # fmt: skip
    hub = hub_with()
    workflow = hub.add_workflow(Workflow("shouting", input=Text).then(shout))
    result = await workflow.create_run().start({"text": "hi"})
    await hub.scores.drain()
    [score] = await hub.scores.list(scorer_id="loud")
    trace = await hub.traces.get(result.trace_id)
    [step_span] = trace.find("step shout")
    assert score.score == 1 and score.target_kind == "step" and score.target_id == "shout"
    assert (score.trace_id, score.span_id, score.run_id) == (result.trace_id, step_span.span_id, result.run_id)


# -- run_evals -------------------------------------------------------------------------------------------------


async def test_run_evals_over_20_cases_with_code_and_judge_scorers(openai_server, make_model):
    state = {"now": 0, "most": 0}
    lock = threading.Lock()

    def reply(body: dict) -> Reply:
        if body["model"] == "judge":
            return judge_reply(body)
        question = body["messages"][-1]["content"]
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        try:
            number = int(question.split()[-1].rstrip("?"))
            return Reply(text=f"The answer is {number * 2}.", delay=0.01)
        finally:
            with lock:
                state["now"] -= 1

    openai_server.always(reply)
    agent = Agent("doubler", "Double the number.", make_model())
    hub = hub_with(agent)
    dataset = [EvalCase(f"What is twice {i}?", ground_truth=f"The answer is {i * 2}") for i in range(20)]
    seen: list[tuple[int, int]] = []
    result = await run_evals(
        agent, dataset, [completeness(), answer_relevancy(make_model("judge"))], concurrency=4,
        progress=lambda done, total: seen.append((done, total)),
    )  # fmt: skip
    assert len(result.rows) == 20 and result.scorers == ["completeness", "answer-relevancy"]
    assert [row.index for row in result.rows] == list(range(20)) and not result.failures
    assert all(row.scores["completeness"] == 1.0 for row in result.rows)
    assert result.means == {"completeness": 1.0, "answer-relevancy": pytest.approx(0.5)}
    assert result.rows[3].output == "The answer is 6." and result.rows[3].trace_id is not None
    assert seen[0] == (0, 20) and seen[-1] == (20, 20) and len(seen) == 21
    assert state["most"] <= 4
    stored = await hub.scores.list()
    assert len(stored) == 40 and {s.details["eval_id"] for s in stored} == {result.eval_id}
    assert sorted({s.details["case"] for s in stored}) == list(range(20))
    html = result._repr_html_()
    assert html.count("<tr>") == 22 and "answer-relevancy" in html and "<b>1.00</b>" in html
    text = repr(result)
    assert text.splitlines()[0] == "EvalResult(agent `doubler`, 20 cases)" and text.splitlines()[-1].startswith("mean")
    assert result.to_records()[0]["completeness"] == 1.0


async def test_run_evals_on_a_workflow_reports_failing_cases():
    class Num(BaseModel):
        n: int

    def halve(data: Num) -> Num:
        if data.n % 2:
            raise ValueError("odd")
        return Num(n=data.n // 2)

    hub = hub_with()
    workflow = hub.add_workflow(
        Workflow("halve", input=Num, output=Num).then(Step("halve", halve, input=Num, output=Num))
    )
    exact = Scorer("exact", score=lambda run: float(run.output == run.ground_truth))
    result = await run_evals(workflow, [{"input": {"n": n}, "ground_truth": {"n": n // 2}} for n in range(4)],
                             [exact], progress=False)  # fmt: skip
    assert [row.scores["exact"] for row in result.rows] == [1.0, None, 1.0, None]
    assert [bool(row.errors) for row in result.rows] == [False, True, False, True]
    assert "odd" in result.rows[1].errors["target"] and result.means["exact"] == 1.0
    assert len(result.failures) == 2 and "ERROR" in repr(result)
    with pytest.raises(MastraError) as error:
        await run_evals(object(), [1], [exact])
    assert error.value.code == "EVAL_TARGET_INVALID"
    with pytest.raises(MastraError):
        await run_evals(workflow, [1], [])


def test_run_evals_prints_progress_by_default(capsys):
    class Num(BaseModel):
        n: int

    hub = hub_with()
    workflow = hub.add_workflow(
        Workflow("id", input=Num, output=Num).then(Step("same", lambda d: d, input=Num, output=Num))
    )
    asyncio.run(run_evals(workflow, [{"n": 1}, {"n": 2}], [Scorer("one", score=lambda run: 1.0)]))
    err = capsys.readouterr().err
    assert err.endswith("run_evals workflow `id`: 2/2 cases\n") and "0/2" in err
