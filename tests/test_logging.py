"""Logging: per-component loggers under `mastra_nb`, JSON lines tagged with trace and span ids, redaction, and
`Mastra(logger=False)` silencing the library."""

import io
import json
import logging

import pytest
from openai_server import Reply

from mastra_nb import Agent, InMemoryStore, Mastra, MastraConfig, ToolContext, tool
from mastra_nb.telemetry import REDACTED, JsonFormatter, RedactingFilter, TraceContextFilter, configure_logging

LIBRARY = logging.getLogger("mastra_nb")


@pytest.fixture(autouse=True)
def restore_library_logger():
    level, handlers = LIBRARY.level, list(LIBRARY.handlers)
    yield
    LIBRARY.setLevel(level)
    LIBRARY.handlers[:] = handlers


async def test_json_lines_carry_the_trace_and_span_of_the_work_that_logged(openai_server, make_model):
    @tool
    def lookup(city: str, context: ToolContext) -> str:
        """Look a city up."""
        context.mastra.get_logger("tools.lookup").info("looking up %s", city, extra={"city": city})
        return "sunny"

    openai_server.add(Reply(tool_calls=[("lookup", {"city": "Paris"})]), "Sunny in Paris.")
    agent = Agent("weather", "Look it up.", make_model(), tools=[lookup])
    hub = Mastra(agents=[agent], storage=InMemoryStore(), config=MastraConfig.load(environ={}))
    stream = io.StringIO()
    configure_logging("INFO", json=True, stream=stream)
    result = await agent.generate("Weather in Paris?")
    hub.get_logger("agents").info("outside any span")

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    inside = next(line for line in lines if line["message"] == "looking up Paris")
    assert inside["logger"] == "mastra_nb.tools.lookup" and inside["level"] == "INFO" and inside["city"] == "Paris"
    trace = await hub.traces.get(result.trace_id)
    [tool_span] = trace.find("execute_tool lookup")
    assert (inside["trace_id"], inside["span_id"]) == (result.trace_id, tool_span.span_id)
    outside = next(line for line in lines if line["message"] == "outside any span")
    assert outside["trace_id"] is None and outside["span_id"] is None
    assert inside["time"].endswith("+00:00")


def test_text_format_redaction_and_replacing_the_handler():
    stream = io.StringIO()
    configure_logging("DEBUG", stream=io.StringIO())
    handler = configure_logging("DEBUG", stream=stream)  # replaces the first one
    assert [h for h in LIBRARY.handlers if getattr(h, "_mastra_nb", False)] == [handler]
    log = logging.getLogger("mastra_nb.models")
    log.warning("calling with Authorization: Bearer %s", "abcdefghijklmnop.qrstuvwx")
    try:
        raise ValueError("api_key=sk-abcdefghijklmnopqrstuvwx")
    except ValueError:
        log.exception("it failed")
    text = stream.getvalue()
    assert "WARNING mastra_nb.models [trace=None span=None] calling with Authorization: " + REDACTED in text
    assert "sk-abcdefghijklmnopqrstuvwx" not in text and "ValueError" in text and text.count(REDACTED) == 3


def test_filters_and_formatter_work_on_handlers_of_your_own():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(TraceContextFilter())
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("mastra_nb.mine")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        log.info("token=%s", "abcdefgh12345", extra={"headers": {"authorization": "x"}})
    finally:
        log.removeHandler(handler)
        log.setLevel(logging.NOTSET)
    line = json.loads(stream.getvalue())
    assert line["message"] == f"token={REDACTED}" and line["headers"] == {"authorization": REDACTED}
    assert line["trace_id"] is None


def test_logger_false_silences_the_library(caplog):
    caplog.set_level(logging.DEBUG)
    hub = Mastra(storage=InMemoryStore(), logger=False)
    hub.get_logger("tools.x").error("not shown")
    logging.getLogger("mastra_nb.events").error("nor this")
    logging.getLogger("elsewhere").error("but this is")
    assert [r.getMessage() for r in caplog.records] == ["but this is"]
    configure_logging("INFO", stream=io.StringIO())  # turns it back on
    assert logging.getLogger("mastra_nb.events").isEnabledFor(logging.INFO)


def test_component_loggers_are_children_of_the_hub_logger():
    hub = Mastra(storage=InMemoryStore())
    assert hub.get_logger("tools.add").name == "mastra_nb.tools.add"
    custom = logging.getLogger("myapp")
    assert Mastra(storage=InMemoryStore(), logger=custom).get_logger("agents").name == "myapp.agents"
