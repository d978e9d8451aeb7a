"""Quickstart (`make demo`): a hub on the embedded defaults, two tools, their results stored in DuckDB.

Run from the repository root; everything is stored in `.mastra/mastra.duckdb` beside it.
"""

from __future__ import annotations

import asyncio

from mastra_nb import Event, Mastra, MastraError, tool


@tool
def word_count(text: str) -> int:
    """Count the words of a text.

    Args:
        text: the text to count.
    """
    return len(text.split())


@tool(cache=True)
async def to_fahrenheit(celsius: float) -> float:
    """Convert a temperature from Celsius to Fahrenheit.

    Args:
        celsius: degrees Celsius.
    """
    return round(celsius * 9 / 5 + 32, 2)


async def main() -> None:
    async with Mastra(tools=[word_count, to_fahrenheit]) as hub:
        hub.events.subscribe("tool:*", report)
        print(f"Hub: {hub}")
        print(f"Storage: {hub.storage.path}\n")

        calls = [
            ("word_count", {"text": "Agents, tools and workflows in a notebook"}),
            ("to_fahrenheit", {"celsius": 21.5}),
            ("to_fahrenheit", {"celsius": 21.5}),  # the second call is served from the tool's cache
        ]
        for number, (tool_id, arguments) in enumerate(calls, 1):
            output = await hub.get_tool(tool_id).execute(arguments)
            await hub.storage.set(f"quickstart:call-{number}", {"tool": tool_id, "input": arguments, "output": output})

        try:
            await hub.get_tool("to_fahrenheit").execute({"celsius": "warm"})
        except MastraError as error:
            print(f"Bad input is refused, nothing stored: {error}\n")
        await hub.events.drain()

        print("Stored in DuckDB:")
        for key in await hub.storage.list("quickstart:"):
            print(f"  {key}: {await hub.storage.get(key)}")


def report(event: Event) -> None:
    payload = event.payload
    extra = " (cached)" if payload.get("cached") else ""
    print(f"  event {event.name}: {payload['tool_id']} in {payload['duration_ms']:.2f} ms{extra}")


if __name__ == "__main__":
    asyncio.run(main())
