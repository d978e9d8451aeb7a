"""A small MCP server with resources, prompts and one tool, over stdio, built on the official SDK's low-level
server: the peer our client lists and reads resources and prompts from (`python tests/mcp_docs_server.py`).

Its three notes are listed two to a page, so a client must follow the cursor to see them all; its tool's name,
`notes.count`, has a dot, which MCP allows and models do not."""

from __future__ import annotations

import anyio
import mcp.types as types
from mcp.server import Server
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPError

NOTES = {f"note://{name}": text for name, text in [
    ("tea", "Brew green tea at 80 °C."), ("jam", "Jam wants equal sugar and fruit."), ("bread", "Rest the dough."),
]}  # fmt: skip
PAGE = 2


async def list_resources(ctx: object, params: types.PaginatedRequestParams | None) -> types.ListResourcesResult:
    start = int(params.cursor) if params is not None and params.cursor else 0
    uris = list(NOTES)[start : start + PAGE]
    more = start + PAGE < len(NOTES)
    return types.ListResourcesResult(
        resources=[types.Resource(uri=uri, name=uri.removeprefix("note://"), mime_type="text/plain") for uri in uris],
        next_cursor=str(start + PAGE) if more else None,
    )


async def read_resource(ctx: object, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
    text = NOTES.get(str(params.uri))
    if text is None:
        raise MCPError(types.INVALID_PARAMS, f"No resource {params.uri}.")
    return types.ReadResourceResult(contents=[types.TextResourceContents(uri=params.uri, mime_type="text/plain",
                                                                         text=text)])  # fmt: skip


async def list_prompts(ctx: object, params: types.PaginatedRequestParams | None) -> types.ListPromptsResult:
    topic = types.PromptArgument(name="topic", description="What to review.", required=True)
    return types.ListPromptsResult(prompts=[types.Prompt(name="review", description="Review a topic.",
                                                         arguments=[topic])])  # fmt: skip


async def get_prompt(ctx: object, params: types.GetPromptRequestParams) -> types.GetPromptResult:
    topic = (params.arguments or {}).get("topic")
    if params.name != "review" or not topic:
        raise MCPError(types.INVALID_PARAMS, "The prompt `review` needs `topic`.")
    said = types.PromptMessage(role="user", content=types.TextContent(type="text", text=f"Review {topic} briefly."))
    return types.GetPromptResult(description="Review a topic.", messages=[said])


async def list_tools(ctx: object, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
    empty = {"type": "object", "properties": {}}
    return types.ListToolsResult(tools=[types.Tool(name="notes.count", description="How many notes.",
                                                   input_schema=empty)])  # fmt: skip


async def call_tool(ctx: object, params: types.CallToolRequestParams) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=str(len(NOTES)))])


async def main() -> None:
    server = Server("docs", version="1.0.0", on_list_resources=list_resources, on_read_resource=read_resource,
                    on_list_prompts=list_prompts, on_get_prompt=get_prompt, on_list_tools=list_tools,
                    on_call_tool=call_tool)  # fmt: skip
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


if __name__ == "__main__":
    anyio.run(main)
