"""Secrets never leave: keys planted in a `Model`, in the environment and in a provider's echoed error, then agents
with tools and memory, failing workflows and tracing run on real DuckDB and Chroma stores. Every byte under the
storage and vector folders, every captured log line and every error a notebook would print is scanned for them."""

from __future__ import annotations

import io
import logging
import traceback
from pathlib import Path
from typing import Annotated

import pytest
from openai_server import Reply
from pydantic import BaseModel

from mastra_nb import Agent, DuckDBStore, Mastra, MastraConfig, MastraError, Model, Step, Workflow, tool
from mastra_nb.memory import Memory
from mastra_nb.redaction import REDACTED, redact
from mastra_nb.telemetry import Sensitive, configure_logging
from mastra_nb.tools import ToolContext
from mastra_nb.vectors import ChromaVectorStore

MODEL_KEY = "sk-live-Model7Key3Zq8XvN3mK7pL2"  # given to `Model(api_key=...)`, echoed by the provider's 401
ENV_KEY = "acme-env-secret-4f9a8b7c6d5e"  # in `ACME_API_KEY`: not key-shaped, known only by the variable's name
SHORT_KEY = "sk-live-abcd1234"  # a short test key an application logs by mistake
SECRETS = (MODEL_KEY, ENV_KEY, SHORT_KEY)
SCANNED: dict[str, int] = {}  # what the scan read (printed by conftest's summary)


class Lines(logging.Handler):
    """Every formatted line that reaches it: a root handler of the application, which does not redact itself."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(logging.Formatter("%(name)s %(message)s").format(record))


@pytest.fixture
def root_lines():
    handler, root = Lines(), logging.getLogger()
    root.addHandler(handler)
    yield handler.lines
    root.removeHandler(handler)


def _leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


async def test_planted_keys_reach_no_stored_byte_log_line_or_shown_error(
    tmp_path: Path, openai_server, make_model, monkeypatch, root_lines
):
    monkeypatch.setenv("ACME_API_KEY", ENV_KEY)
    stream = io.StringIO()
    configure_logging("DEBUG", stream=stream)  # its default filter: no hub's redactor is handed to it

    @tool
    def lookup(query: str, ctx: ToolContext) -> str:
        """Look a query up with the ACME key; fails quoting the key, as careless code does."""
        assert ctx.mastra is not None
        ctx.mastra.get_logger("tools.lookup").warning("calling ACME with key %s for %r", ENV_KEY, query)
        raise RuntimeError(f"ACME refused key {ENV_KEY}")

    def leaky_step(data: dict) -> dict:
        raise ValueError(f"upstream said: bad token {ENV_KEY}")

    denied_model = Model("openai/gpt-test", api_base=openai_server.url, api_key=MODEL_KEY, retries=0)
    helper = Agent("helper", "Use lookup.", make_model(), tools=[lookup])
    denied = Agent("denied", "x", denied_model)

    async def ask_denied(data: dict) -> dict:
        result = await denied.generate(data["question"])
        return {"answer": result.text}

    storage, vectors = DuckDBStore(tmp_path / "store" / "mastra.duckdb"), ChromaVectorStore(tmp_path / "chroma")
    memory = Memory(options={"semantic_recall": {"top_k": 2, "message_range": 0}})
    helper.memory = memory
    hub = Mastra(
        agents=[helper, denied], storage=storage, vectors=vectors, memory=memory, config=MastraConfig.load(environ={})
    )
    asking = hub.add_workflow(Workflow("asking").then(Step("ask", ask_denied)))
    failing = hub.add_workflow(Workflow("failing").then(Step("leaky", leaky_step)))
    openai_server.add(
        Reply(tool_calls=[("lookup", {"query": "status"})]),
        Reply(text=f"The lookup failed; I was told {MODEL_KEY} is wrong."),
        Reply(status=401, error=f"Incorrect API key provided: {MODEL_KEY}. Find your key at platform."),
    )
    shown: list[str] = []
    try:
        answer = await helper.generate("Check status", thread_id="t1", resource_id="ann")
        assert answer.text.endswith("is wrong.") and answer.tool_results[0].error is not None
        run = asking.create_run()
        result = await run.start({"question": "hi"})
        assert result.status == "failed" and result.error.code == "MODEL_AUTH_FAILED"
        shown += [str(result.error), "".join(traceback.format_exception(result.error))]
        failed = await failing.create_run().start({})
        assert failed.status == "failed" and REDACTED in failed.error.message
        shown += [str(failed.error), "".join(traceback.format_exception(failed.error))]
        logging.getLogger("mastra_nb.app").info("an app's own line with %s", SHORT_KEY)
        [row] = await hub.storage.select("workflow_runs", where={"run_id": run.run_id})
        assert REDACTED in row["error"]["message"]  # the stored copy is the redacted one
        await memory.flush()
    finally:
        await hub.shutdown()
        await storage.close()
        await vectors.close()
        configure_logging("WARNING", stream=io.StringIO())

    # the provider did see its key: redaction is about what is kept and shown, not what is done
    assert openai_server.requests[-1]["headers"]["authorization"] == f"Bearer {MODEL_KEY}"
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".duckdb" for p in files) and any("chroma" in p.parts for p in files)
    leaked = {str(p.relative_to(tmp_path)): s for p in files for s in SECRETS if s.encode() in p.read_bytes()}
    assert leaked == {}
    lines = stream.getvalue().splitlines() + root_lines
    assert any("calling ACME with key" in line for line in lines) and any("app's own line" in line for line in lines)
    assert [line for line in lines if _leaks(line)] == []
    assert [text for text in shown if _leaks(text)] == []
    # only a clean scan reports its figures: a leak fails above
    SCANNED.update(files=len(files), bytes=sum(p.stat().st_size for p in files), log_lines=len(lines), shown=len(shown))


def test_an_error_is_redacted_when_it_is_made_and_keeps_its_details_types():
    error = MastraError(
        "execution", "X", f"provider said {MODEL_KEY}",
        details={"provider_message": f"key {MODEL_KEY}", "api_key": "whatever-it-is", "path": ("a", 1), "n": 3},
    )  # fmt: skip
    assert error.message == f"provider said {REDACTED}" and MODEL_KEY not in str(error.to_dict())
    assert error.details == {"provider_message": f"key {REDACTED}", "api_key": REDACTED, "path": ("a", 1), "n": 3}


def test_a_key_set_in_the_environment_after_import_is_masked_in_a_model_error(monkeypatch):
    from mastra_nb.models._litellm import translate

    monkeypatch.setenv("LATE_SERVICE_TOKEN", "late-token-value-91xq")

    class AuthenticationError(Exception):
        status_code = 401

    error = translate(AuthenticationError("bad token late-token-value-91xq"), "openai/x")
    assert "late-token-value-91xq" not in str(error) and error.code == "MODEL_AUTH_FAILED"
    assert redact("late-token-value-91xq") == REDACTED


class Login(BaseModel):
    user: str
    pin: Annotated[int, Sensitive]  # not named like a secret: marked as one


async def test_an_invalid_secret_field_is_named_but_its_value_never_quoted():
    @tool
    def sign_in(login: Login, password: int) -> str:
        """Sign in."""
        return login.user

    with pytest.raises(MastraError) as info:
        await sign_in.execute({"login": {"user": "ann", "pin": "pin-4417-0093"}, "password": "hunter2-hunter2"})
    error = info.value
    assert [e["field"] for e in error.details["errors"]] == ["login.pin", "password"]
    shown = str(error) + str(error.to_dict())
    assert "pin-4417-0093" not in shown and "hunter2-hunter2" not in shown and REDACTED in shown


async def test_an_exception_quoting_a_key_is_not_chained_even_when_it_is_the_context():
    @tool
    def fetch(url: str) -> str:
        """Fetch."""
        try:
            raise ConnectionError(f"401 for Authorization: Bearer {MODEL_KEY}")
        except ConnectionError:
            raise RuntimeError(f"upstream failed for {url}")  # noqa: B904 - careless code, as users write it

    with pytest.raises(MastraError) as info:
        await fetch.execute({"url": "https://api.example"})
    printed = "".join(traceback.format_exception(info.value))
    assert "upstream failed" in printed and MODEL_KEY not in printed
