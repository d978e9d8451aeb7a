"""A small OpenAI-compatible chat-completions server for the tests and the bench (stdlib only).

It runs on 127.0.0.1 in a daemon thread and answers `POST /v1/chat/completions` from a script: each request
takes the next scripted `Reply` (from the queue of its model, else the shared queue), or calls a function of the
request body. A reply is text, tool calls, an error status (429, 500, 400, ...) or a callable. Streaming requests
get server-sent events, with the text split into several deltas and each tool call's arguments in pieces, the
way OpenAI streams them, then a usage chunk when `stream_options.include_usage` asks for one. Every request is
logged, so a test asserts on what the client sent.

Used by `tests/conftest.py` (the `openai_server` fixture) and `bench/bench_agents.py`.
"""

from __future__ import annotations

import itertools
import json
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["OpenAIServer", "Reply", "ToolCallSpec"]

_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
                429: "rate_limit_error", 500: "server_error", 503: "server_error"}  # fmt: skip


@dataclass(frozen=True)
class ToolCallSpec:
    """A tool call the server makes: the function's name and its arguments (a dict, or raw JSON text)."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    id: str | None = None

    def arguments_text(self) -> str:
        return self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments)


@dataclass(frozen=True)
class Reply:
    """One scripted answer.

    Args:
        text: the assistant's text (may be combined with tool calls).
        tool_calls: tool calls as `ToolCallSpec`s or `(name, arguments)` pairs.
        status: an HTTP status; anything but 200 answers with an OpenAI-style error body carrying `error`.
        error: the error message for a non-200 status.
        finish_reason: by default "tool_calls" when there are tool calls, else "stop".
        usage: prompt and completion tokens; by default derived from the sizes of request and reply.
        delay: seconds to wait before answering (for timeout tests).
    """

    text: str | None = None
    tool_calls: tuple[ToolCallSpec | tuple[str, Any], ...] = ()
    status: int = 200
    error: str = "scripted error"
    finish_reason: str | None = None
    usage: tuple[int, int] | None = None
    delay: float = 0.0

    def calls(self) -> list[ToolCallSpec]:
        return [c if isinstance(c, ToolCallSpec) else ToolCallSpec(c[0], c[1]) for c in self.tool_calls]


ReplySource = Reply | str | Callable[[dict[str, Any]], "Reply | str"]


class OpenAIServer:
    """The server: `start()`, script replies with `add()`, read `requests`, `stop()`.

    Example:
        >>> server = OpenAIServer().start()
        >>> server.add("Hello!")
        >>> # litellm.acompletion(model="openai/any", api_base=server.url, api_key="x", messages=[...])
        >>> server.stop()
    """

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []  # each: {"path", "headers" (lower-case names), "body"}
        self._queues: dict[str | None, deque[ReplySource]] = {}
        self._default: ReplySource | None = None
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------
    def start(self, port: int = 0) -> OpenAIServer:
        handler = type("Handler", (_Handler,), {"server_state": self})
        self._httpd = _QuietServer(("127.0.0.1", port), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="openai-test-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def port(self) -> int:
        assert self._httpd is not None, "the server is not running"
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """The `api_base` to give litellm or the openai SDK."""
        return f"http://127.0.0.1:{self.port}/v1"

    # -- script ------------------------------------------------------------------------------------------
    def add(self, *replies: ReplySource, model: str | None = None) -> None:
        """Queue replies, for requests naming `model` (without a provider prefix) or, by default, for any."""
        with self._lock:
            self._queues.setdefault(model, deque()).extend(replies)

    def always(self, reply: ReplySource | None) -> None:
        """Answer with `reply` whenever the queues are empty (None: answer 400 "no scripted reply")."""
        self._default = reply

    def reset(self) -> None:
        with self._lock:
            self._queues.clear()
            self.requests.clear()
            self._default = None

    def pending(self) -> int:
        """How many queued replies no request has taken yet."""
        with self._lock:
            return sum(len(q) for q in self._queues.values())

    def bodies(self) -> list[dict[str, Any]]:
        """The JSON bodies of the chat-completion requests received so far."""
        return [r["body"] for r in self.requests if r["path"].endswith("/chat/completions")]

    def _next(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append({"path": body.pop("__path"), "headers": body.pop("__headers"), "body": body})
            queue = self._queues.get(body.get("model"))
            if not queue:
                queue = self._queues.get(None)
            source = queue.popleft() if queue else self._default
        if source is None:
            return Reply(status=400, error=f"openai_server: no scripted reply left for model {body.get('model')!r}")
        if callable(source) and not isinstance(source, Reply):
            source = source(body)
        return Reply(text=source) if isinstance(source, str) else source

    def _completion_id(self) -> str:
        return f"chatcmpl-{next(self._ids)}"


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (a timeout test) or a server being stopped is expected; anything else is printed.
        error = sys.exc_info()[1]
        if not isinstance(error, (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server_state: OpenAIServer
    protocol_version = "HTTP/1.1"  # keep-alive, as real providers do: clients pool their connections

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in two writes: without TCP_NODELAY, Nagle's algorithm and the client's delayed
        # ACK hold the body back ~40 ms on every keep-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self._send(200, "application/json", json.dumps({"object": "list", "data": []}).encode())
        else:
            self._send(404, "application/json", _error_body(404, f"no route {self.path}"))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        route = self.path.rstrip("/")
        if not route.endswith(("/chat/completions", "/embeddings")):
            self._send(404, "application/json", _error_body(404, f"no route {self.path}"))
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._send(400, "application/json", _error_body(400, "request body is not JSON"))
            return
        state = self.server_state
        if route.endswith("/embeddings"):
            state.requests.append({"path": self.path, "headers": {}, "body": body})
            self._send(200, "application/json", json.dumps(_embeddings(body)).encode())
            return
        body["__path"], body["__headers"] = self.path, {k.lower(): v for k, v in self.headers.items()}
        reply = state._next(body)
        if reply.delay:
            time.sleep(reply.delay)
        if reply.status != 200:
            self._send(reply.status, "application/json", _error_body(reply.status, reply.error))
            return
        model = str(body.get("model", "unknown"))
        usage = _usage(reply, body)
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            payload = _sse(state._completion_id(), model, reply, usage if include_usage else None)
            self._send(200, "text/event-stream", payload)
        else:
            self._send(
                200, "application/json", json.dumps(_completion(state._completion_id(), model, reply, usage)).encode()
            )

    def _send(self, status: int, content_type: str, payload: bytes) -> None:
        # The whole body is built first and sent with its length: simpler than chunked encoding, and the
        # client still parses it as a stream of events.
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def _embeddings(body: dict[str, Any]) -> dict[str, Any]:
    """Vectors of the request's texts: letter counts, so that texts sharing letters are close (8 dimensions, or
    the `dimensions` asked for)."""
    texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
    size = int(body.get("dimensions") or 8)
    data = []
    for i, text in enumerate(texts):
        vector = [0.0] * size
        for char in str(text).lower():
            if char.isalpha():
                vector[(ord(char) - 97) % size] += 1.0
        data.append({"object": "embedding", "index": i, "embedding": vector})
    tokens = sum(len(str(t).split()) for t in texts)
    return {"object": "list", "model": body.get("model"), "data": data,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}  # fmt: skip


def _error_body(status: int, message: str) -> bytes:
    kind = _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return json.dumps({"error": {"message": message, "type": kind, "param": None, "code": str(status)}}).encode()


def _usage(reply: Reply, body: dict[str, Any]) -> dict[str, int]:
    if reply.usage is not None:
        prompt, completion = reply.usage
    else:
        prompt = max(1, len(json.dumps(body.get("messages", []))) // 4)
        completion = max(1, len(reply.text or "") // 4) + 10 * len(reply.tool_calls)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _call_id(cid: str, spec: ToolCallSpec, number: int) -> str:
    # Unique across replies, as providers' ids are: "call_<completion>_<position>".
    return spec.id or f"call_{cid.rsplit('-', 1)[-1]}_{number}"


def _completion(cid: str, model: str, reply: Reply, usage: dict[str, int]) -> dict[str, Any]:
    calls = reply.calls()
    message: dict[str, Any] = {"role": "assistant", "content": reply.text}
    if calls:
        message["tool_calls"] = [
            {
                "id": _call_id(cid, c, i),
                "type": "function",
                "function": {"name": c.name, "arguments": c.arguments_text()},
            }
            for i, c in enumerate(calls)
        ]
    finish = reply.finish_reason or ("tool_calls" if calls else "stop")
    return {
        "id": cid, "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": usage,
    }  # fmt: skip


def _sse(cid: str, model: str, reply: Reply, usage: dict[str, int] | None) -> bytes:
    base = {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    events = [chunk({"role": "assistant", "content": ""})]
    text = reply.text or ""
    step = max(1, len(text) // 3)
    for start in range(0, len(text), step):
        events.append(chunk({"content": text[start : start + step]}))
    for index, call in enumerate(reply.calls()):
        arguments = call.arguments_text()
        half = len(arguments) // 2
        head = {"index": index, "id": _call_id(cid, call, index), "type": "function",
                "function": {"name": call.name, "arguments": ""}}  # fmt: skip
        events.append(chunk({"tool_calls": [head]}))
        for piece in (arguments[:half], arguments[half:]):
            events.append(chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}))
    events.append(chunk({}, reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")))
    if usage is not None:
        events.append({**base, "choices": [], "usage": usage})
    lines = [f"data: {json.dumps(event)}\n\n" for event in events]
    lines.append("data: [DONE]\n\n")
    return "".join(lines).encode()


def _serve_forever(port: int) -> None:
    """Serve "ok" to every request on `port` until killed (the bench runs the server in its own process, so
    that its work does not share the client's GIL)."""
    server = OpenAIServer()
    server.always(Reply(text="ok", usage=(8, 1)))
    server.start(port)
    print(server.url, flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    _serve_forever(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
