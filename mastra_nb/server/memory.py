"""The routes of memory: threads (list, create, read, update, delete), a thread's messages, saving and deleting
messages, working memory, status, configuration and semantic search, in Mastra's shapes.

Which memory a request reaches: `?agentId=` names an agent, whose memory it is (its own, else the hub's);
without it, the hub's `Mastra(memory=...)`. Messages leave as Mastra's stored messages (`format: 2`, with parts)
and as the UI messages Studio shows.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..errors import ErrorKind, MastraError
from ..memory import Memory
from ..memory.messages import MemoryMessage, Part, Thread
from .routes import Call, Route, field

if TYPE_CHECKING:
    from ..memory.messages import RecalledMessage

__all__ = ["ROUTES"]

_ORDER_FIELDS = {"createdAt": "created_at", "updatedAt": "updated_at"}


def _memory_or_none(call: Call) -> Memory | None:
    agent_id = call.query("agentId")
    if agent_id:
        return call.hub.get_agent(agent_id).active_memory
    return call.hub.memory


def _memory(call: Call) -> Memory:
    memory = _memory_or_none(call)
    if memory is None:
        whose = f"Agent `{call.query('agentId')}`" if call.query("agentId") else "The hub"
        raise MastraError(
            ErrorKind.VALIDATION, "MEMORY_NOT_CONFIGURED",
            f"{whose} has no memory: give it one (`Agent(memory=Memory())` or `Mastra(memory=Memory())`).",
            details={"field": "agentId"},
        )  # fmt: skip
    return memory


def thread_shape(thread: Thread) -> dict[str, Any]:
    """A thread as Mastra's `StorageThreadType`."""
    return {
        "id": thread.id, "resourceId": thread.resource_id, "title": thread.title, "metadata": thread.metadata,
        "createdAt": thread.created_at, "updatedAt": thread.updated_at,
    }  # fmt: skip


def _part(part: Part) -> dict[str, Any]:
    kind = part.get("type")
    if kind == "text":
        return {"type": "text", "text": part.get("text", "")}
    if kind == "tool-call":
        invocation = {"state": "call", "toolCallId": part.get("id"), "toolName": part.get("name"),
                      "args": _json(part.get("arguments"))}  # fmt: skip
        return {"type": "tool-invocation", "toolInvocation": invocation}
    if kind == "tool-result":
        invocation = {"state": "result", "toolCallId": part.get("id"), "toolName": part.get("name"),
                      "result": _json(part.get("result"))}  # fmt: skip
        return {"type": "tool-invocation", "toolInvocation": invocation}
    return dict(part)


def _json(text: Any) -> Any:
    """Arguments and results are kept as the JSON text the model read; Mastra's parts hold the values."""
    try:
        return json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return text


def message_shape(message: MemoryMessage) -> dict[str, Any]:
    """A stored message as Mastra's `MastraDBMessage` (format 2)."""
    return {
        "id": message.id, "role": message.role, "createdAt": message.created_at, "threadId": message.thread_id,
        "resourceId": message.resource_id,
        "content": {"format": 2, "parts": [_part(p) for p in message.content], "content": message.text},
    }  # fmt: skip


def _ui_message(message: MemoryMessage) -> dict[str, Any]:
    return {"id": message.id, "role": message.role, "parts": [_part(p) for p in message.content],
            "createdAt": message.created_at}  # fmt: skip


async def _thread(call: Call, memory: Memory | None, thread_id: str) -> Thread:
    """The thread, if it exists and (for a confined caller) is its own; else not found, alike."""
    thread = await memory.get_thread(thread_id) if memory is not None else None
    if thread is not None:
        call.own(thread.resource_id, "thread", thread_id)
    if thread is None:
        raise MastraError(ErrorKind.DOMAIN, "MEMORY_THREAD_NOT_FOUND", f"There is no thread `{thread_id}`.",
                          details={"thread_id": thread_id})  # fmt: skip
    return thread


# -- threads ------------------------------------------------------------------------------------------------


async def list_threads(call: Call) -> Any:
    memory = _memory_or_none(call)
    resource = call.resource(call.query("resourceId")) or call.required_query("resourceId")
    page = call.int_query("page", 0)
    per_page = call.int_query("perPage", 100, low=1, high=1000)
    if memory is None:  # no memory, no threads (as Mastra answers; Studio asks for every agent)
        return {"threads": [], "total": 0, "page": page, "perPage": per_page, "hasMore": False}
    order = _ORDER_FIELDS.get(call.query("orderBy[field]") or "updatedAt")
    direction = (call.query("orderBy[direction]") or "DESC").upper()
    if order is None or direction not in ("ASC", "DESC"):
        raise MastraError(
            ErrorKind.VALIDATION, "QUERY_INVALID",
            "`orderBy[field]` must be createdAt or updatedAt and `orderBy[direction]` ASC or DESC.",
            details={"field": "orderBy"},
        )  # fmt: skip
    order_by = order if direction == "ASC" else f"-{order}"
    threads = await memory.list_threads(resource, limit=per_page, offset=page * per_page, order_by=order_by)
    total = await memory.count_threads(resource)
    return {
        "threads": [thread_shape(t) for t in threads], "total": total, "page": page, "perPage": per_page,
        "hasMore": (page + 1) * per_page < total,
    }  # fmt: skip


async def create_thread(call: Call) -> Any:
    memory = _memory(call)
    data = await call.json()
    thread = await memory.create_thread(
        call.resource(field(data, "resourceId", str)) or field(data, "resourceId", str, required=True),
        thread_id=field(data, "threadId", str),
        title=field(data, "title", str), metadata=field(data, "metadata", dict),
    )  # fmt: skip
    return thread_shape(thread)


async def get_thread(call: Call) -> Any:
    return thread_shape(await _thread(call, _memory_or_none(call), call.param("threadId")))


async def update_thread(call: Call) -> Any:
    memory = _memory(call)
    data = await call.json()
    thread = await _thread(call, memory, call.param("threadId"))
    resource = field(data, "resourceId", str)
    if resource is not None and resource != thread.resource_id:
        raise MastraError(
            ErrorKind.VALIDATION, "BODY_UNSUPPORTED", "A thread cannot move to another resource.",
            details={"field": "resourceId"},
        )  # fmt: skip
    changed = await memory.update_thread(thread.id, title=field(data, "title", str),
                                         metadata=field(data, "metadata", dict))  # fmt: skip
    return thread_shape(changed)


async def delete_thread(call: Call) -> Any:
    memory = _memory(call)
    thread = await _thread(call, memory, call.param("threadId"))
    await memory.delete_thread(thread.id)
    return {"result": "Thread deleted"}


# -- messages -----------------------------------------------------------------------------------------------


async def list_messages(call: Call) -> Any:
    memory = _memory_or_none(call)
    thread = await _thread(call, memory, call.param("threadId"))
    assert memory is not None  # a thread was found in it
    page = call.int_query("page", 0)
    per_page = call.int_query("perPage", 1000, low=1, high=10_000)
    messages = await memory.list_messages(thread.id)
    shown = messages[page * per_page : (page + 1) * per_page]
    return {
        "messages": [message_shape(m) for m in shown], "uiMessages": [_ui_message(m) for m in shown],
        "total": len(messages), "page": page, "perPage": per_page,
        "hasMore": (page + 1) * per_page < len(messages),
    }  # fmt: skip


def _text(content: Any, where: str) -> str:
    """A message's text from Mastra's forms: a string, a list of parts, or `{format: 2, parts, content}`."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        if isinstance(content.get("parts"), list):
            return _text(content["parts"], where)
        if isinstance(content.get("content"), str):
            return str(content["content"])
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    raise MastraError(
        ErrorKind.VALIDATION, "BODY_INVALID", f"`{where}` must be text, a list of parts or {{format, parts}}.",
        details={"field": where},
    )  # fmt: skip


async def save_messages(call: Call) -> Any:
    """Save messages to their threads (each names its `threadId`; a new thread needs `resourceId`). Text parts
    are kept; everything is checked before anything is saved."""
    memory = _memory(call)
    data = await call.json()
    messages = field(data, "messages", list, required=True)
    by_thread: dict[tuple[str, str | None], list[dict[str, Any]]] = {}
    for index, message in enumerate(messages):
        where = f"messages.{index}"
        if not isinstance(message, dict):
            raise MastraError(ErrorKind.VALIDATION, "BODY_INVALID", f"`{where}` must be an object.",
                              details={"field": where})  # fmt: skip
        role = field(message, "role", str, required=True)
        thread_id = message.get("threadId")
        if not isinstance(thread_id, str) or not thread_id:
            raise MastraError(ErrorKind.VALIDATION, "BODY_INVALID", f"`{where}.threadId` is required.",
                              details={"field": f"{where}.threadId"})  # fmt: skip
        resource = message.get("resourceId")
        key = (thread_id, call.resource(resource if isinstance(resource, str) else None))
        by_thread.setdefault(key, []).append({"role": role, "content": _text(message.get("content"), where)})
    for thread_id, _ in by_thread:  # a thread that exists must be the caller's, checked before anything is saved
        existing = await memory.get_thread(thread_id)
        if existing is not None:
            call.own(existing.resource_id, "thread", thread_id)
    saved: list[MemoryMessage] = []
    for (thread_id, resource), openai in by_thread.items():
        saved += await memory.save_messages(thread_id, openai, resource_id=resource)
    return {"messages": [message_shape(m) for m in saved]}


async def delete_messages(call: Call) -> Any:
    memory = _memory(call)
    data = await call.json()
    given = data.get("messageIds")
    items = given if isinstance(given, list) else [given]
    ids = [item.get("id") if isinstance(item, dict) else item for item in items]
    if given is None or not all(isinstance(i, str) and i for i in ids):
        raise MastraError(
            ErrorKind.VALIDATION, "BODY_INVALID",
            "`messageIds` must be an id, a list of ids, or a list of objects with `id`.",
            details={"field": "messageIds"},
        )  # fmt: skip
    wanted = [str(i) for i in ids]
    if call.tenant is not None:  # a confined caller deletes its own messages only; others' ids are as unknown
        wanted = [m.id for m in await memory.get_messages(wanted) if m.resource_id == call.tenant]
    deleted = await memory.delete_messages(wanted)
    return {"success": True, "message": f"{deleted} message(s) deleted"}


# -- working memory, status, config, search -----------------------------------------------------------------


async def get_working_memory(call: Call) -> Any:
    memory = _memory_or_none(call)
    thread_id = call.param("threadId")
    if memory is None:  # as Mastra answers for an agent without memory
        return {"workingMemory": None, "source": "thread", "workingMemoryTemplate": None, "threadExists": False}
    thread = await memory.get_thread(thread_id)
    settings = memory.options.working_memory
    scope = settings.scope if settings is not None else "thread"
    if thread is not None:
        call.own(thread.resource_id, "thread", thread_id)
    resource = call.resource(call.query("resourceId")) or (thread.resource_id if thread is not None else None)
    known = thread is not None if scope == "thread" else bool(resource)
    value = None
    if settings is not None and known:
        value = await memory.get_working_memory(resource_id=resource, thread_id=thread_id)
    return {
        "workingMemory": value, "source": scope,
        "workingMemoryTemplate": _template(memory), "threadExists": thread is not None,
    }  # fmt: skip


def _template(memory: Memory) -> dict[str, Any] | None:
    settings = memory.options.working_memory
    if settings is None:
        return None
    if settings.schema_ is not None:
        return {"format": "json", "content": settings.schema_.model_json_schema()}
    return {"format": "markdown", "content": settings.template}


async def update_working_memory(call: Call) -> Any:
    memory = _memory(call)
    data = await call.json()
    value = field(data, "workingMemory", (str, dict), required=True)
    thread = await _thread(call, memory, call.param("threadId"))
    resource = call.resource(field(data, "resourceId", str)) or thread.resource_id
    await memory.update_working_memory(value, resource_id=resource, thread_id=thread.id)
    return {"success": True}


async def status(call: Call) -> Any:
    memory = _memory_or_none(call)
    return {"result": memory is not None, "memoryType": "local" if memory is not None else None}


async def config(call: Call) -> Any:
    memory = _memory_or_none(call)
    if memory is None:
        return {"config": None}  # as Mastra answers for an agent without memory
    options = memory.options
    recall = options.semantic_recall
    working = options.working_memory
    return {"config": {
        "lastMessages": options.last_messages,
        "semanticRecall": False if recall is None else {
            "topK": recall.top_k, "scope": recall.scope,
            "messageRange": {"before": recall.message_range.before, "after": recall.message_range.after},
        },
        "workingMemory": {"enabled": False} if working is None else {
            "enabled": working.enabled, "scope": working.scope, "template": working.template,
            "schema": working.schema_.model_json_schema() if working.schema_ is not None else None,
        },
        "generateTitle": options.generate_title,
    }}  # fmt: skip


async def search(call: Call) -> Any:
    memory = _memory(call)
    query = call.required_query("searchQuery")
    thread_id = call.query("threadId")
    resource = call.resource(call.query("resourceId"))
    if thread_id is not None:
        await _thread(call, memory, thread_id)
    if thread_id is None and resource is None:
        raise MastraError(ErrorKind.VALIDATION, "QUERY_INVALID", "`resourceId` or `threadId` is required.",
                          details={"field": "resourceId"})  # fmt: skip
    scope = "thread" if thread_id is not None and resource is None else "resource"
    found = await memory.recall(query, resource_id=resource, thread_id=thread_id if scope == "thread" else None)
    results = [_result(item) for item in found if item.matched]
    return {"results": results, "count": len(results), "query": query, "searchScope": scope,
            "searchType": "semantic"}  # fmt: skip


def _result(item: RecalledMessage) -> dict[str, Any]:
    message = item.message
    return {"id": message.id, "role": message.role, "content": message.text, "createdAt": message.created_at,
            "threadId": message.thread_id, "score": item.score}  # fmt: skip


ROUTES = (
    Route("GET", "/memory/status", status, "memory:read", "Whether the agent (or the hub) has memory."),
    Route("GET", "/memory/config", config, "memory:read", "The memory's settings."),
    Route("GET", "/memory/threads", list_threads, "memory:read", "A resource's threads, a page at a time."),
    Route("POST", "/memory/threads", create_thread, "memory:write", "Create a thread."),
    Route("GET", "/memory/threads/{threadId}", get_thread, "memory:read", "One thread."),
    Route("PATCH", "/memory/threads/{threadId}", update_thread, "memory:write", "Change a thread's title or metadata."),
    Route("DELETE", "/memory/threads/{threadId}", delete_thread, "memory:delete",
          "Delete a thread with its messages."),
    Route("GET", "/memory/threads/{threadId}/messages", list_messages, "memory:read", "A thread's messages."),
    Route("POST", "/memory/save-messages", save_messages, "memory:write", "Save messages to their threads."),
    Route("POST", "/memory/messages/delete", delete_messages, "memory:delete", "Delete messages by id."),
    Route("GET", "/memory/threads/{threadId}/working-memory", get_working_memory, "memory:read",
          "The working memory a thread sees."),
    Route("POST", "/memory/threads/{threadId}/working-memory", update_working_memory, "memory:write",
          "Replace the working memory a thread sees."),
    Route("GET", "/memory/search", search, "memory:read", "Messages related in meaning to `searchQuery`."),
)  # fmt: skip
