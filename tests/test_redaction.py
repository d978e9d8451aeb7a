"""Redaction: API keys, bearer tokens, Authorization headers and fields marked sensitive never reach spans, logs or
stored records. The end-to-end test plants a key in every place it could leak from and scans the DuckDB file's
bytes for it."""

import io
import logging
from typing import Annotated

from openai_server import Reply
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import BaseModel, Field

from mastra_nb import Agent, DuckDBStore, InMemoryStore, Mastra, MastraConfig, MastraError, Model, Step, Workflow, tool
from mastra_nb.evals import Scorer
from mastra_nb.telemetry import REDACTED, Redactor, Sensitive, Telemetry, configure_logging

PLANTED = "sk-planted-Zq8XvN3mK7pL2wR9tY4uB6cD"  # looks like an OpenAI key
BEARER = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwbGFudGVkIn0.c2lnbmF0dXJlcGxhbnRlZA"
SSN = "078-05-1120"


def test_text_patterns_and_known_secrets():
    redactor = Redactor(secrets=["hunter2-hunter2"], environment=False)
    assert redactor.text(f"key {PLANTED} end") == f"key {REDACTED} end"
    assert redactor.text(f"Authorization: Bearer {BEARER}") == f"Authorization: {REDACTED}"
    assert redactor.text(f"curl -H 'Authorization: Bearer {BEARER}'") == f"curl -H 'Authorization: {REDACTED}'"
    assert redactor.text("GET /v1?api_key=abcdef123456&page=2") == f"GET /v1?api_key={REDACTED}&page=2"
    assert redactor.text("the password is hunter2-hunter2 ok") == f"the password is {REDACTED} ok"
    assert redactor.text("AKIAIOSFODNN7EXAMPLE and ghp_abcdefghijklmnopqrstuvwxyz0123456789") == (
        f"{REDACTED} and {REDACTED}"
    )
    # ordinary text is left alone, including words that merely contain "token"
    plain = "max_tokens: 100, input_tokens=12; the task-force met at 10."
    assert redactor.text(plain) == plain


def test_values_by_key_and_sensitive_fields(monkeypatch):
    monkeypatch.setenv("ACME_API_KEY", "acme-secret-value-123")
    redactor = Redactor(fields=["ssn"])  # reads the environment when built

    class Person(BaseModel):
        name: str
        ssn: str
        card: Annotated[str, Sensitive]
        pin: str = Field(json_schema_extra={"sensitive": True})

    value = {
        "headers": {"Authorization": f"Bearer {BEARER}", "X-Api-Key": "abc", "Accept": "json"},
        "openai_api_key": "x", "api_key": None, "note": "uses acme-secret-value-123 daily",
        "person": Person(name="Ann", ssn=SSN, card="4111111111111111", pin="1234"),
        "usage": {"prompt_tokens": 3},
    }  # fmt: skip
    assert redactor.value(value) == {
        "headers": {"Authorization": REDACTED, "X-Api-Key": REDACTED, "Accept": "json"},
        "openai_api_key": REDACTED, "api_key": None, "note": f"uses {REDACTED} daily",
        "person": {"name": "Ann", "ssn": REDACTED, "card": REDACTED, "pin": REDACTED},
        "usage": {"prompt_tokens": 3},
    }  # fmt: skip


async def test_a_planted_key_never_reaches_spans_logs_or_the_duckdb_file(tmp_path, openai_server, make_model):
    class Request(BaseModel):
        url: str
        headers: dict[str, str]
        ssn: str

    @tool
    def fetch(request: Request) -> str:
        """Fetch a URL; fails, quoting what it was given (as careless errors do)."""
        logging.getLogger("mastra_nb.tools.fetch").warning("fetching with %s", request.headers)
        raise RuntimeError(f"401 for key {PLANTED} and ssn {request.ssn}")

    arguments = {"url": "https://api.example/x", "ssn": SSN, "headers": {"Authorization": f"Bearer {BEARER}"}}
    openai_server.add(Reply(tool_calls=[("fetch", arguments)]), Reply(text=f"I used {PLANTED} to try; it failed."))
    exporter = InMemorySpanExporter()
    path = tmp_path / "store.duckdb"
    stream = io.StringIO()
    telemetry = Telemetry(processors=[SimpleSpanProcessor(exporter)], redact=["ssn"])
    keyword = Scorer("echo", score=lambda run: 1.0, reason=lambda run: f"looked at {run.output}")
    model = Model("openai/gpt-test", api_base=openai_server.url, api_key=PLANTED, retries=0)
    agent = Agent("leaky", f"Never say {PLANTED}.", model, tools=[fetch], scorers=[keyword])
    store = DuckDBStore(path)
    hub = Mastra(agents=[agent], storage=store, config=MastraConfig.load(environ={}), telemetry=telemetry)
    configure_logging("DEBUG", json=True, stream=stream, redactor=hub.telemetry.redactor)
    try:
        result = await agent.generate(f"My key is {PLANTED}; fetch https://api.example/x for me.")
        logging.getLogger("mastra_nb.agents").error("the run used %s", PLANTED)
        await hub.scores.drain()
        [score] = await hub.scores.list(scorer_id="echo")
        assert score.reason == f"looked at I used {REDACTED} to try; it failed."
        trace = await hub.traces.get(result.trace_id)
        [span] = trace.find("execute_tool fetch")
        assert span.input["headers"]["Authorization"] == REDACTED and span.input["ssn"] == REDACTED
        assert PLANTED not in span.error["message"] and REDACTED in span.error["message"]
        assert len(trace.spans) == 4 and await hub.storage.count("spans") == 5  # and the scorer's own span
    finally:
        configure_logging("WARNING", stream=io.StringIO())
        await hub.shutdown()
        await store.close()  # checkpoints: every row is in the file itself now
    # the model saw what it was sent (redaction is about what is kept, not what is done) ...
    assert PLANTED in openai_server.bodies()[0]["messages"][1]["content"]
    assert openai_server.requests[0]["headers"]["authorization"] == f"Bearer {PLANTED}"
    # ... but no span, log line or stored byte holds the key, the bearer token or the SSN
    exported = [
        str(dict(s.attributes)) + str([dict(e.attributes) for e in s.events]) for s in exporter.get_finished_spans()
    ]
    logs = stream.getvalue()
    assert "fetching with" in logs and "the run used" in logs and '"trace_id"' in logs
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir())  # the database file (and a WAL, if any)
    for secret in (PLANTED, BEARER, SSN):
        assert all(secret not in text for text in exported), secret
        assert secret not in logs, secret
        assert secret.encode() not in stored, secret


async def test_a_model_error_echoing_the_key_is_redacted_in_the_span(openai_server, make_model):
    openai_server.add(
        Reply(status=401, error=f"Incorrect API key provided: {PLANTED[:12]}...{PLANTED[-4:]} / {PLANTED}")
    )
    exporter = InMemorySpanExporter()
    model = Model("openai/gpt-test", api_base=openai_server.url, api_key=PLANTED, retries=0)
    agent = Agent("denied", "x", model)
    Mastra(agents=[agent], storage=InMemoryStore(), config=MastraConfig.load(environ={}),
           telemetry=Telemetry(processors=[SimpleSpanProcessor(exporter)], store=False))  # fmt: skip
    try:
        await agent.generate("hi")
    except MastraError as error:
        assert error.code.startswith("MODEL_")
    else:
        raise AssertionError("the call should fail")
    for span in exporter.get_finished_spans():
        text = (
            str(dict(span.attributes)) + str(span.status.description) + str([dict(e.attributes) for e in span.events])
        )
        assert PLANTED not in text


def test_workflow_spans_redact_sensitive_step_fields():
    import asyncio

    class Login(BaseModel):
        user: str
        password: str

    exporter = InMemorySpanExporter()
    hub = Mastra(storage=InMemoryStore(), telemetry=Telemetry(processors=[SimpleSpanProcessor(exporter)], store=False))
    flow = hub.add_workflow(Workflow("login", input=Login).then(Step("check", lambda d: {"ok": True}, input=Login)))
    asyncio.run(flow.create_run(durability="none").start({"user": "ann", "password": "correct horse"}))
    [step] = [s for s in exporter.get_finished_spans() if s.name == "step check"]
    assert "correct horse" not in step.attributes["mastra.input"] and "ann" in step.attributes["mastra.input"]
