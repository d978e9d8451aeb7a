"""What authentication and rate limiting add to a request: µs per check, in-process (no HTTP), best of 5 rounds.

Rows: a JWT HS256 token, an RS256 token with its key cached (a PEM key), an API key (a storage read and an HMAC),
the permission check, and a rate-limit hit counted in memory and in Redis (when Debian's redis-server is there; a
server of its own on a free port). These are what `create_app(auth=..., rate_limits=...)` adds to each row of
`bench_server.py`. Figures, not assertions.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.requests import Request

from mastra_nb import InMemoryStore, Mastra
from mastra_nb.server import APIKeyAuth, APIKeys, Auth, JWTAuth, RateLimits

ROUNDS, CALLS = 5, 2_000
SECRET = "bench-secret-" + "x" * 40


def _request(token: str) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/api/agents", "query_string": b"",
                    "headers": [(b"authorization", f"Bearer {token}".encode())]})  # fmt: skip


async def _per_call(work: Callable[[], Awaitable[Any]]) -> float:
    await work()
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(CALLS):
            await work()
        best = min(best, (time.perf_counter() - started) / CALLS)
    return best * 1e6


def _token(key: Any, algorithm: str) -> str:
    return jwt.encode({"sub": "ada", "exp": int(time.time()) + 3600, "roles": ["reader"]}, key, algorithm=algorithm)


async def _rows() -> list[tuple[str, float, str]]:
    rows: list[tuple[str, float, str]] = []
    hs = Auth(JWTAuth(secret=SECRET), roles={"reader": ["*:read"]})
    request = _request(_token(SECRET, "HS256"))
    rows.append(("JWT HS256: authenticate", await _per_call(lambda: hs.user(request)), "us"))
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()  # fmt: skip
    rs = Auth(JWTAuth(public_key=pem))
    rs_request = _request(_token(private, "RS256"))
    rows.append(("JWT RS256 (key cached): authenticate", await _per_call(lambda: rs.user(rs_request)), "us"))
    hub = Mastra(storage=InMemoryStore())
    key, _ = await APIKeys(hub).create("robot", roles=["reader"])
    keys = Auth(APIKeyAuth(hub))
    key_request = _request(key)
    rows.append(("API key (in-memory store): authenticate", await _per_call(lambda: keys.user(key_request)), "us"))
    user = await hs.user(request)
    rows.append(("permission check (role map, wildcard)",
                 await _per_call(lambda: _async(hs.allows, user, "agents:read", "calc")), "us"))  # fmt: skip
    memory = RateLimits("1000000/minute")
    rows.append(("rate limit hit, memory", await _per_call(lambda: memory.hit("agents", "user:ada")), "us"))
    redis = shutil.which("redis-server")
    if redis is not None:
        with _redis(redis) as url:
            shared = RateLimits("1000000/minute", storage=url)
            rows.append(("rate limit hit, Redis (127.0.0.1)", await _per_call(lambda: shared.hit("agents", "u")), "us"))
            await shared.close()
    await hub.shutdown()
    return rows


async def _async(function: Callable[..., Any], *args: Any) -> Any:
    return function(*args)


class _redis:
    """A redis-server of its own on a free port, for the Redis row."""

    def __init__(self, binary: str) -> None:
        self.binary = binary

    def __enter__(self) -> str:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.folder = tempfile.TemporaryDirectory()
        self.process = subprocess.Popen([self.binary, "--port", str(port), "--save", "", "--dir", self.folder.name],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        for _ in range(200):
            with socket.socket() as client:
                if client.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.02)
        return f"redis://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        self.folder.cleanup()


def run() -> list[tuple[str, float, str]]:
    return asyncio.run(_rows())


if __name__ == "__main__":
    for label, value, unit in run():
        print(f"  {label:<45} {value:>10,.2f} {unit}")
