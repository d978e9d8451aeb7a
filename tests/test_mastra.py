import subprocess
import sys

import pytest

from mastra_nb import InMemoryStore, Mastra, MastraConfig, MastraError, tool
from mastra_nb import events as names


@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


@tool
def shout(text: str) -> str:
    """Upper-case a text."""
    return text.upper()


class Greeter:
    """A minimal agent-shaped component: a name, and it wants the hub when registered."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.hub: Mastra | None = None

    def bind(self, hub: Mastra) -> None:
        self.hub = hub


def memory_hub(**kwargs) -> Mastra:
    return Mastra(storage=InMemoryStore(), config=MastraConfig.load(environ={}), **kwargs)


def test_components_given_to_the_constructor_are_registered_and_listed():
    hub = memory_hub(tools=[add, shout], agents={"helper": Greeter("ignored-name")})
    assert hub.get_tool("add") is add
    assert list(hub.list_tools()) == ["add", "shout"]
    assert hub.get_agent("helper").name == "ignored-name"
    assert hub.get_agent("helper").hub is hub


def test_duplicate_names_are_refused_unless_replaced():
    hub = memory_hub(tools=[add])
    with pytest.raises(MastraError) as info:
        hub.add_tool(add)
    assert info.value.code == "TOOL_ALREADY_REGISTERED" and "replace=True" in str(info.value)

    @tool(id="add")
    def add_v2(a: int, b: int) -> int:
        return a + b + 1

    hub.add_tool(add_v2, replace=True)  # re-running a notebook cell
    assert hub.get_tool("add") is add_v2


def test_a_missing_component_names_what_is_registered():
    hub = memory_hub(tools=[add, shout])
    with pytest.raises(MastraError) as info:
        hub.get_tool("multiply")
    error = info.value
    assert error.code == "TOOL_NOT_FOUND" and error.kind.value == "domain"
    assert "`multiply`" in str(error) and "`add`, `shout`" in str(error)
    with pytest.raises(MastraError, match="WORKFLOW_NOT_FOUND"):
        hub.get_workflow("etl")


def test_a_component_without_a_name_is_refused():
    hub = memory_hub()
    with pytest.raises(MastraError) as info:
        hub.add_agent(object())
    assert info.value.code == "COMPONENT_INVALID" and "`name`" in str(info.value)
    with pytest.raises(MastraError, match="COMPONENT_INVALID"):
        Mastra(storage={"not": "a store"})


async def test_agents_coming_and_going_are_announced():
    hub = memory_hub()
    seen: list[tuple[str, str]] = []
    hub.events.subscribe("agent:*", lambda e: seen.append((e.name, e.payload["name"])))
    hub.add_agent(Greeter("scout"))
    hub.remove_agent("scout")
    await hub.events.drain()
    assert seen == [(names.AGENT_CREATED, "scout"), (names.AGENT_DESTROYED, "scout")]
    assert hub.list_agents() == {}


async def test_registered_tools_report_to_the_hub_bus():
    hub = memory_hub(tools=[add])
    executed: list[dict] = []
    hub.events.subscribe(names.TOOL_EXECUTED, lambda e: executed.append(e.payload))
    assert await hub.get_tool("add").execute({"a": 2, "b": 3}) == 5
    await hub.events.drain()
    assert [p["tool_id"] for p in executed] == ["add"]


async def test_default_storage_opens_on_first_use_and_shutdown_releases_it(tmp_path):
    path = tmp_path / "hub.duckdb"
    hub = Mastra(config=MastraConfig.load(environ={}, storage_path=path))
    assert not path.exists()  # building the hub opened nothing
    await hub.storage.set("greeting", {"text": "hello"})
    assert path.exists()
    await hub.shutdown()
    with pytest.raises(MastraError, match="HUB_CLOSED"):
        hub.storage  # noqa: B018
    # The file lock is released: another process can open the file and read what was stored.
    code = f"from mastra_nb import DuckDBStore, run_sync\nprint(run_sync(DuckDBStore({str(path)!r}).get('greeting')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "{'text': 'hello'}"


async def test_shutdown_leaves_a_store_it_did_not_open_alone():
    store = InMemoryStore()
    async with Mastra(storage=store, config=MastraConfig.load(environ={})) as hub:
        await hub.storage.set("k", 1)
    assert await store.get("k") == 1


async def test_memory_is_optional_and_vectors_default_to_a_temporary_chroma_for_in_memory_storage():
    async with memory_hub() as hub:
        assert hub.memory is None
        folder = hub.vectors.path
        assert folder is not None and folder.is_dir() and folder.name.startswith("mastra-chroma-")
    assert not folder.exists()  # the hub made it, so shutdown removed it


def test_component_loggers_are_children_of_the_hub_logger():
    assert memory_hub().get_logger("tools.add").name == "mastra_nb.tools.add"


async def test_shutdown_closes_what_components_asked_it_to_and_a_failing_closer_stops_nothing():
    from mastra_nb import InMemoryStore, Mastra

    closed: list[str] = []

    async def failing() -> None:
        closed.append("failing")
        raise RuntimeError("the child would not die")

    async def fine() -> None:
        closed.append("fine")

    hub = Mastra(storage=InMemoryStore())
    hub.on_shutdown(failing)
    hub.on_shutdown(fine)
    hub.on_shutdown(fine)  # kept once
    await hub.shutdown()
    await hub.shutdown()  # and only the first shutdown closes
    assert closed == ["failing", "fine"]
