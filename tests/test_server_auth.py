"""The served hub behind authentication, attacked: every route refuses anonymous callers, roles and component-narrowed
permissions decide what a caller may do, and forged, expired, misdirected and mis-signed tokens are refused.

Keys are made in the test (`cryptography`), tokens signed with PyJWT or by hand where PyJWT refuses to forge them.
Each refusal is a 401 (no or bad credentials, with `WWW-Authenticate`) or a 403 naming the missing permission.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from test_server import Answer, Ask, Order, Receipt, Served, build_hub, confirm
from test_server_memory import memory_hub

from mastra_nb import MastraError, Step, Workflow, tool
from mastra_nb.server import Auth, JWTAuth, create_app
from mastra_nb.tools import ToolContext

SECRET = "s3cret-" + "x" * 40
ROLES = {"admin": ["*"], "reader": ["*:read"], "operator": ["agents:read", "agents:execute:calc", "tools:execute"]}


@tool
def whoami(context: ToolContext) -> dict[str, Any]:
    """Say who the server says is calling."""
    return dict(context.runtime_context.get("mastra__user") or {})


def hub() -> Any:
    made = build_hub()
    made.add_tool(whoami)
    return made


def token(secret: str = SECRET, algorithm: str = "HS256", headers: dict[str, Any] | None = None, **claims: Any) -> str:
    now = int(time.time())
    body = {"sub": "ada", "iat": now, "exp": now + 300, **claims}
    return jwt.encode({k: v for k, v in body.items() if v is not None}, secret, algorithm=algorithm, headers=headers)


def bearer(value: str) -> dict[str, str]:
    return {"authorization": f"Bearer {value}"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged(header: dict[str, Any], claims: dict[str, Any], key: bytes = b"") -> str:
    """A token signed by hand: with `alg: none` (no signature), or HMAC-SHA256 with `key` whatever it is."""
    signing = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = _b64(hmac.new(key, signing.encode(), hashlib.sha256).digest()) if key else ""
    return f"{signing}.{signature}"


async def test_every_route_but_the_public_ones_refuses_an_anonymous_caller():
    app_hub = hub()
    routes = create_app(app_hub, auth=Auth(JWTAuth(secret=SECRET))).state.routes
    async with Served(app_hub, auth=Auth(JWTAuth(secret=SECRET), roles=ROLES)) as http:
        for route in routes:
            path = "/api" + route.path.format(agentId="calc", toolId="add", workflowId="ship", runId="r", threadId="t",
                                              traceId="x", scorerId="s")  # fmt: skip
            answer = await http.request(route.method, path, json={} if route.method != "GET" else None)
            if route.permission == "public":
                assert answer.status_code != 401, (route.method, path)
            else:
                assert answer.status_code == 401, (route.method, path, answer.status_code, answer.text)
                assert answer.headers["www-authenticate"] == "Bearer" and answer.json()["code"] == "UNAUTHENTICATED"
        # The same walk with a token whose role grants nothing, then with one that grants everything.
        nobody, admin = bearer(token(roles=["nobody"])), bearer(token(roles=["admin"]))
        for route in routes:
            if route.permission == "public":
                continue
            path = "/api" + route.path.format(agentId="calc", toolId="add", workflowId="ship", runId="r", threadId="t",
                                              traceId="x", scorerId="s")  # fmt: skip
            body = {} if route.method != "GET" else None
            refused = await http.request(route.method, path, json=body, headers=nobody)
            assert refused.status_code == 403, (route.method, path, refused.status_code, refused.text)
            assert refused.json()["error"].startswith(f"Missing required permission: {route.permission}")
            allowed = await http.request(route.method, path, json=body, headers=admin)
            assert allowed.status_code not in (401, 403), (route.method, path, allowed.status_code)
        for public in ("/health", "/ready", "/api/openapi.json", "/api/docs", "/"):
            assert (await http.get(public)).status_code == 200, public
        assert (await http.get("/metrics")).status_code == 401  # not public unless configured
        admin = bearer(token(roles=["admin"]))
        assert (await http.get("/metrics", headers=admin)).status_code == 200


async def test_roles_and_narrowed_permissions_decide_and_a_403_names_what_is_missing():
    async with Served(hub(), auth=Auth(JWTAuth(secret=SECRET), roles=ROLES)) as http:
        reader = bearer(token(roles=["reader"]))
        assert list((await http.get("/api/agents", headers=reader)).json()) == ["calc"]
        refused = await http.post("/api/agents/calc/generate", json={"messages": "2+3?"}, headers=reader)
        assert (
            refused.status_code == 403 and refused.json()["error"] == "Missing required permission: agents:execute:calc"
        )

        operator = bearer(token(roles=["operator"]))
        ok = await http.post("/api/agents/calc/generate", json={"messages": "2+3?"}, headers=operator)
        assert ok.status_code == 200 and ok.json()["text"] == "2 + 3 = 5"
        other = await http.post("/api/workflows/ship/start-async", json={"inputData": {"item": "x"}}, headers=operator)
        assert other.status_code == 403 and "workflows:execute:ship" in other.json()["error"]

        direct = bearer(token(permissions=["tools:execute:whoami"]))  # granted by the token itself, no role
        said = await http.post("/api/tools/whoami/execute", json={"data": {}}, headers=direct)
        assert said.status_code == 200 and said.json() == {"id": "ada", "roles": []}  # the user reached the tool
        assert (
            await http.post("/api/tools/add/execute", json={"data": {"a": 1, "b": 2}}, headers=direct)
        ).status_code == 403
        claimed = await http.post("/api/tools/whoami/execute", headers=direct,
                                  json={"data": {}, "requestContext": {"mastra__user": {"id": "root"}}})  # fmt: skip
        assert claimed.status_code == 400 and claimed.json()["issues"][0]["field"] == "requestContext.mastra__user"

        capabilities = (await http.get("/api/auth/capabilities", headers=operator)).json()
        assert capabilities["enabled"] is True and capabilities["user"] == {"id": "ada"}
        assert "agents:execute:calc" in capabilities["access"]["permissions"]
        assert (await http.get("/api/auth/capabilities")).json()["user"] is None


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key: Any) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


async def test_forged_expired_and_misdirected_tokens_are_refused(rsa_key):
    now = int(time.time())
    auth = Auth(JWTAuth(secret=SECRET, audience="mastra", issuer="https://issuer.example"), roles=ROLES)
    good = {"aud": "mastra", "iss": "https://issuer.example", "roles": ["admin"]}
    attempts = {
        "valid": (token(**good), 200),
        "expired": (token(**{**good, "exp": now - 3600}), 401),
        "not yet valid": (token(**{**good, "nbf": now + 3600}), 401),
        "wrong audience": (token(**{**good, "aud": "other"}), 401),
        "wrong issuer": (token(**{**good, "iss": "https://evil.example"}), 401),
        "no expiry": (token(**{**good, "exp": None}), 401),
        "bad signature": (token(secret="another-secret-" + "y" * 40, **good), 401),
        "alg none": (forged({"alg": "none", "typ": "JWT"}, {"sub": "ada", "exp": now + 300, **good}), 401),
        "RS256 token to an HS256 server": (token(secret=rsa_key, algorithm="RS256", **good), 401),
        "garbage": ("not-a-token", 401),
        "huge": ("a." + "b" * 10_000 + ".c", 401),
    }
    valid = attempts["valid"][0]
    head, payload, signature = valid.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    tampered = _b64(json.dumps({**claims, "sub": "root"}).encode())
    attempts["tampered payload"] = (f"{head}.{tampered}.{signature}", 401)
    async with Served(hub(), auth=auth) as http:
        for name, (value, expected) in attempts.items():
            answer = await http.get("/api/agents", headers=bearer(value))
            assert answer.status_code == expected, (name, answer.text)
            assert value not in answer.text  # a refusal never echoes the token


async def test_public_keys_accept_their_own_algorithms_only(rsa_key, tmp_path: Path):
    now = int(time.time())
    pem = _pem(rsa_key)
    async with Served(hub(), auth=Auth(JWTAuth(public_key=pem), roles=ROLES)) as http:
        assert (await http.get("/api/agents", headers=bearer(token(secret=rsa_key, algorithm="RS256", roles=["reader"]))
                               )).status_code == 200  # fmt: skip
        # The classic confusion: an HS256 token "signed" with the server's public key as the HMAC secret.
        confused = forged({"alg": "HS256", "typ": "JWT"}, {"sub": "ada", "exp": now + 300, "roles": ["admin"]},
                          key=pem.encode())  # fmt: skip
        answer = await http.get("/api/agents", headers=bearer(confused))
        assert answer.status_code == 401 and "HS256" in answer.json()["error"]
    with pytest.raises(MastraError) as wrong:
        JWTAuth(public_key=pem, algorithms=["HS256"])
    assert wrong.value.code == "AUTH_CONFIG_INVALID"
    with pytest.raises(MastraError):
        JWTAuth(secret=SECRET, algorithms=["none"])
    with pytest.raises(MastraError):
        JWTAuth(secret="short")


async def test_a_jwks_file_is_read_again_for_a_new_key_and_an_unknown_kid_is_refused(tmp_path: Path):
    first, second = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())

    def jwk(key: Any, kid: str) -> dict[str, Any]:
        return {**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key())), "kid": kid, "alg": "ES256"}

    keys = tmp_path / "jwks.json"
    keys.write_text(json.dumps({"keys": [jwk(first, "k1")]}))
    async with Served(hub(), auth=Auth(JWTAuth(jwks_file=keys), roles=ROLES)) as http:

        async def status(key: Any, kid: str) -> int:
            signed = token(secret=key, algorithm="ES256", headers={"kid": kid}, roles=["reader"])
            return (await http.get("/api/agents", headers=bearer(signed))).status_code

        assert await status(first, "k1") == 200
        assert await status(second, "k2") == 401  # not published yet
        keys.write_text(json.dumps({"keys": [jwk(first, "k1"), jwk(second, "k2")]}))  # the rotation
        assert await status(second, "k2") == 200
        assert await status(first, "k2") == 401  # the right kid, the wrong key


async def test_without_auth_nothing_changes_and_with_it_cors_is_off_until_origins_are_named():
    async with Served(hub()) as http:
        assert (await http.get("/api/agents")).status_code == 200
    preflight = {"origin": "http://studio.example", "access-control-request-method": "GET"}
    async with Served(hub(), auth=Auth(JWTAuth(secret=SECRET))) as http:
        answer = await http.options("/api/agents", headers=preflight)
        assert "access-control-allow-origin" not in answer.headers
    async with Served(hub(), auth=Auth(JWTAuth(secret=SECRET)), cors_origins=["http://studio.example"]) as http:
        answer = await http.options("/api/agents", headers=preflight)
        assert answer.headers["access-control-allow-origin"] == "http://studio.example"


async def test_a_tenant_sees_and_touches_only_its_own_threads_and_runs(tmp_path):
    made = memory_hub(tmp_path)
    made.add_workflow(Workflow("ship", input=Order, output=Receipt).then(
        Step("confirm", confirm, input=Order, output=Receipt, suspend=Ask, resume=Answer)))  # fmt: skip
    roles = {"member": ["agents:*", "memory:*", "workflows:*"], "admin": ["*"]}
    ada = bearer(token(sub="ada", resource_id="ada", roles=["member"]))
    bob = bearer(token(sub="bob", resource_id="bob", roles=["member"]))
    admin = bearer(token(sub="root", resource_id="ops", roles=["admin"]))
    thread = "/api/memory/threads/t-ada"
    async with Served(made, auth=Auth(JWTAuth(secret=SECRET), roles=roles)) as http:
        made_thread = await http.post("/api/memory/threads?agentId=mem", json={"threadId": "t-ada"}, headers=ada)
        assert made_thread.json()["resourceId"] == "ada"  # the resource is the token's
        note = {"role": "user", "content": "My cat is Miso.", "threadId": "t-ada"}
        saved = await http.post("/api/memory/save-messages?agentId=mem", json={"messages": [note]}, headers=ada)
        message_id = saved.json()["messages"][0]["id"]

        planted = {"messages": [{"role": "user", "content": "planted", "threadId": "t-ada"}]}
        talk = {"messages": "hi", "memory": {"thread": "t-ada", "resource": "bob"}}
        attempts = {
            "read a thread": await http.get(f"{thread}?agentId=mem", headers=bob),
            "list another resource": await http.get("/api/memory/threads?agentId=mem&resourceId=ada", headers=bob),
            "read messages": await http.get(f"{thread}/messages?agentId=mem", headers=bob),
            "write into a thread": await http.post("/api/memory/save-messages?agentId=mem", json=planted, headers=bob),
            "rename a thread": await http.patch(f"{thread}?agentId=mem", json={"title": "x"}, headers=bob),
            "delete a thread": await http.delete(f"{thread}?agentId=mem", headers=bob),
            "read working memory": await http.get(f"{thread}/working-memory?agentId=mem", headers=bob),
            "search a thread": await http.get("/api/memory/search?agentId=mem&searchQuery=cat&threadId=t-ada",
                                              headers=bob),
            "talk in a thread": await http.post("/api/agents/mem/generate", json=talk, headers=bob),
        }  # fmt: skip
        for name, answer in attempts.items():
            assert answer.status_code == 404, (name, answer.status_code, answer.text)
        assert (await http.get("/api/memory/threads?agentId=mem", headers=bob)).json()["total"] == 0  # its own: none
        gone = await http.post("/api/memory/messages/delete?agentId=mem", json={"messageIds": [message_id]},
                               headers=bob)  # fmt: skip
        assert gone.json()["message"] == "0 message(s) deleted"
        left = (await http.get(f"{thread}/messages?agentId=mem", headers=ada)).json()
        assert [m["content"]["content"] for m in left["messages"]] == ["My cat is Miso."]  # nothing planted or lost
        assert (await http.get(f"{thread}?agentId=mem", headers=admin)).status_code == 200

        started = await http.post("/api/workflows/ship/start-async", json={"inputData": {"item": "tea"}}, headers=ada)
        assert started.json()["status"] == "suspended"
        run_id = started.json()["runId"]
        runs = "/api/workflows/ship"
        for name, answer in {
            "read a run": await http.get(f"{runs}/runs/{run_id}", headers=bob),
            "resume a run": await http.post(f"{runs}/resume-async?runId={run_id}", json={"resumeData": {"ok": True}},
                                            headers=bob),
            "observe a run": await http.post(f"{runs}/observe?runId={run_id}", headers=bob),
            "cancel a run": await http.post(f"{runs}/runs/{run_id}/cancel", headers=bob),
            "delete a run": await http.delete(f"{runs}/runs/{run_id}", headers=bob),
        }.items():  # fmt: skip
            assert answer.status_code == 404, (name, answer.status_code, answer.text)
        assert (await http.get(f"{runs}/runs", headers=bob)).json()["total"] == 0
        mine = (await http.get(f"{runs}/runs/{run_id}", headers=ada)).json()
        assert mine["status"] == "suspended" and mine["resourceId"] == "ada"  # untouched by every attempt
        assert (await http.get(f"{runs}/runs", headers=admin)).json()["total"] == 1


async def test_a_flood_gets_429_and_failed_logins_are_slowed():
    from mastra_nb.server import RateLimits

    limits = RateLimits("5/minute", groups={"tools": "3/minute"}, failed_auth="4/minute")
    made = hub()
    async with Served(made, auth=Auth(JWTAuth(secret=SECRET), roles=ROLES), rate_limits=limits) as http:
        reader = bearer(token(roles=["reader"]))
        answers = [await http.get("/api/agents", headers=reader) for _ in range(7)]
        assert [a.status_code for a in answers] == [200] * 5 + [429] * 2
        assert answers[0].headers["ratelimit-limit"] == "5" and answers[0].headers["ratelimit-remaining"] == "4"
        refused = answers[-1]
        assert refused.json()["code"] == "RATE_LIMITED" and 1 <= int(refused.headers["retry-after"]) <= 60
        other = bearer(token(sub="bea", roles=["reader"]))
        assert (await http.get("/api/agents", headers=other)).status_code == 200  # per caller
        tools = [await http.get("/api/tools", headers=other) for _ in range(4)]
        assert [a.status_code for a in tools] == [200, 200, 200, 429]  # its group's own, stricter limit

        wrong = bearer(token(secret="wrong-secret-" + "z" * 40))
        guesses = [await http.get("/api/agents", headers=wrong) for _ in range(5)]
        assert [g.status_code for g in guesses] == [401] * 4 + [429]
        # Past the failed-login limit even a valid token waits: guessing does not pay.
        assert (await http.get("/api/agents", headers=other)).status_code == 429
        assert (await http.get("/health")).status_code == 200  # public routes are not limited
        limited = await made.audit.list(event="rate.limited")
        assert len(limited) == 5 and {e.address for e in limited} == {"127.0.0.1"}  # each 429 is in the audit log


async def test_a_limited_caller_gets_in_again_once_the_window_has_passed():
    import asyncio

    from mastra_nb.server import RateLimits

    async with Served(
        hub(), auth=Auth(JWTAuth(secret=SECRET), roles=ROLES), rate_limits=RateLimits("1/second")
    ) as http:
        reader = bearer(token(roles=["reader"]))
        statuses = [(await http.get("/api/agents", headers=reader)).status_code for _ in range(20)]
        assert statuses[0] == 200 and 429 in statuses  # however slow the machine, 20 requests fill a 1 s window
        await asyncio.sleep(1.1)
        assert (await http.get("/api/agents", headers=reader)).status_code == 200


async def test_api_keys_work_until_revoked_or_expired_and_only_their_hash_is_kept():
    from datetime import datetime, timedelta, timezone

    from mastra_nb.server.keys import APIKeyAuth, APIKeys

    made = hub()
    keys = APIKeys(made)
    key, info = await keys.create("robot", roles=["reader"])
    revoked, revoked_info = await keys.create("old-robot", roles=["reader"])
    expired, _ = await keys.create("late-robot", roles=["reader"], expires_at=datetime.now(timezone.utc) - timedelta(1))
    assert await keys.revoke(revoked_info.key_id) is True and await keys.revoke(revoked_info.key_id) is False
    auth = Auth([JWTAuth(secret=SECRET), APIKeyAuth(made)], roles=ROLES)
    _, _, secret = key.partition(f"_{info.key_id}_")
    attempts = {
        "the key": (key, 200),
        "a wrong secret": (f"mnb_{info.key_id}_{'A' * len(secret)}", 401),
        "an unknown id": (f"mnb_{'0' * 16}_{secret}", 401),
        "a revoked key": (revoked, 401),
        "an expired key": (expired, 401),
        "a malformed key": ("mnb_!!_x", 401),
    }
    async with Served(made, auth=auth) as http:
        for name, (value, expected) in attempts.items():
            answer = await http.get("/api/agents", headers=bearer(value))
            assert answer.status_code == expected, (name, answer.text)
        writes = await http.post("/api/tools/add/execute", json={"data": {"a": 1, "b": 2}}, headers=bearer(key))
        assert writes.status_code == 403  # a reader's key reads only
        stored = await made.storage.select("api_keys")
        assert len(stored) == 3 and all(secret not in json.dumps(row, default=str) for row in stored)
        listed = {i.key_id: i.active for i in await keys.list()}
        assert listed[info.key_id] is True and listed[revoked_info.key_id] is False


async def test_the_audit_log_keeps_refusals_decisions_and_runs_and_no_secret():
    from datetime import datetime, timedelta, timezone

    made = hub()
    admin_token, reader_token = token(sub="root", roles=["admin"]), token(sub="ada", roles=["reader"])
    wrong = token(secret="wrong-secret-" + "q" * 40)
    async with Served(made, auth=Auth(JWTAuth(secret=SECRET), roles=ROLES)) as http:
        assert (await http.get("/api/agents", headers=bearer(wrong))).status_code == 401
        denied = await http.post("/api/tools/add/execute", json={"data": {}}, headers=bearer(reader_token))
        assert denied.status_code == 403
        admin = bearer(admin_token)
        asked = {"messages": "2+3?", "requireToolApproval": True}
        first = (await http.post("/api/agents/calc/generate", json=asked, headers=admin)).json()
        body = {"runId": first["runId"], "toolCallId": first["suspendPayload"]["toolCallId"]}
        approved = await http.post("/api/agents/calc/approve-tool-call-generate", json=body, headers=admin)
        assert approved.status_code == 200
        started = await http.post("/api/workflows/ship/start-async", json={"inputData": {"item": "x"}}, headers=admin)
        log = (await http.get("/api/audit", headers=admin)).json()["events"]
        operator = bearer(token(sub="op", roles=["operator"]))
        assert (await http.get("/api/audit", headers=operator)).status_code == 403  # audit:read is not an operator's
        refused = await http.get("/api/audit", headers=bearer(reader_token))
        assert refused.status_code == 403 and refused.json()["error"] == "Missing required permission: audit:read"
        auditor = bearer(token(sub="sam", permissions=["audit:read"]))
        assert (await http.get("/api/audit", headers=auditor)).status_code == 200
        stored = await made.storage.select("audit")
        events = {e["event"]: e for e in log}
        assert {"auth.failed", "auth.denied", "tool.approved", "run.started"} <= set(events)
        assert events["auth.failed"]["address"] == "127.0.0.1" and events["auth.failed"]["route"] == "GET /api/agents"
        assert "tools:execute" in events["auth.denied"]["details"]["reason"]
        assert events["tool.approved"]["userId"] == "root"
        assert events["tool.approved"]["details"]["run_id"] == body["runId"]
        assert events["run.started"]["details"]["run_id"] == started.json()["runId"]
        everything = json.dumps(log) + json.dumps(stored, default=str)
        for secret in (admin_token, reader_token, wrong, SECRET):
            assert secret not in everything
        assert len(stored) == len(log) + 2  # and the operator's and the reader's refusals after the listing
        assert await made.audit.prune(datetime.now(timezone.utc) + timedelta(seconds=1)) == len(stored)
        assert await made.audit.list() == []


REDIS = shutil.which("redis-server")


@pytest.fixture
def redis_url(tmp_path: Path):
    """A redis-server of this test's own, on a free port of 127.0.0.1, with nothing saved to disk."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        REDIS,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(tmp_path),
    ]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            with socket.socket() as client:
                if client.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.mark.skipif(REDIS is None, reason="needs Debian's redis-server: apt-get install -y redis-server")
async def test_two_workers_share_their_limits_through_redis(redis_url):
    from mastra_nb.server import RateLimits

    auth = Auth(JWTAuth(secret=SECRET), roles=ROLES)
    reader = bearer(token(roles=["reader"]))
    # Two apps, as two worker processes would have, each with its own RateLimits on one Redis.
    limits = [RateLimits("4/minute", storage=redis_url), RateLimits("4/minute", storage=redis_url)]
    try:
        async with Served(hub(), auth=auth, rate_limits=limits[0]) as first, \
                Served(hub(), auth=auth, rate_limits=limits[1]) as second:  # fmt: skip
            answers = [await (first if n % 2 else second).get("/api/agents", headers=reader) for n in range(6)]
    finally:
        for each in limits:
            await each.close()
    assert [a.status_code for a in answers] == [200] * 4 + [429] * 2  # one count across both


async def test_a_jwks_url_is_fetched_and_fetched_again_for_a_new_key():
    import http.server
    import threading

    first, second = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())

    def jwk(key: Any, kid: str) -> dict[str, Any]:
        return {**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key())), "kid": kid, "alg": "ES256"}

    published = {"keys": [jwk(first, "k1")]}
    fetched: list[str] = []

    class JWKS(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fetched.append(self.path)
            body = json.dumps(published).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), JWKS)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    try:
        async with Served(hub(), auth=Auth(JWTAuth(jwks_url=url, refetch_cooldown=0), roles=ROLES)) as http:

            async def status(key: Any, kid: str) -> int:
                signed = token(secret=key, algorithm="ES256", headers={"kid": kid}, roles=["reader"])
                return (await http.get("/api/agents", headers=bearer(signed))).status_code

            assert await status(first, "k1") == 200
            assert await status(first, "k1") == 200 and len(fetched) == 1  # the key set is cached
            published["keys"].append(jwk(second, "k2"))  # the identity provider rotates
            assert await status(second, "k2") == 200 and len(fetched) == 2  # an unknown kid fetched it again
            assert await status(second, "k9") == 401
        fetched.clear()
        async with Served(hub(), auth=Auth(JWTAuth(jwks_url=url), roles=ROLES)) as http:  # the default cooldown
            assert await status(first, "k1") == 200
            for n in range(10):  # made-up key ids, as an attacker would send them
                assert await status(first, f"made-up-{n}") == 401
            assert len(fetched) <= 2  # one fetch, and at most one more: the endpoint is not flooded
    finally:
        server.shutdown()
        server.server_close()


async def test_oversized_headers_and_bodies_are_refused_and_the_server_goes_on():
    async with Served(hub(), auth=Auth(JWTAuth(secret=SECRET), roles=ROLES), body_limit=10_000) as http:
        reader = bearer(token(roles=["reader"]))
        huge_header = await http.get("/api/agents", headers={**reader, "x-padding": "p" * 70_000})
        assert huge_header.status_code == 431 and huge_header.json()["code"] == "HEADERS_TOO_LARGE"
        huge_token = await http.get("/api/agents", headers=bearer("x." + "y" * 9_000 + ".z"))
        assert huge_token.status_code == 401  # a token past 8,192 characters is not even parsed
        big_body = await http.post("/api/tools/add/execute", json={"data": {"a": 1, "b": 2}, "pad": "p" * 20_000},
                                   headers=bearer(token(roles=["admin"])))  # fmt: skip
        assert big_body.status_code == 413
        assert (await http.get("/api/agents", headers=reader)).status_code == 200  # and it goes on


async def test_a_token_in_the_query_is_taken_only_when_allowed():
    reader = token(roles=["reader"])
    async with Served(hub(), auth=Auth(JWTAuth(secret=SECRET), roles=ROLES)) as http:
        assert (await http.get(f"/api/agents?apiKey={reader}")).status_code == 401  # off by default: URLs get logged
    async with Served(hub(), auth=Auth(JWTAuth(secret=SECRET), roles=ROLES, query_key=True)) as http:
        assert (await http.get(f"/api/agents?apiKey={reader}")).status_code == 200  # as Mastra allows, when asked


@pytest.mark.parametrize("granted", ["*:read", [""], ["agents:read", 7]])
def test_a_role_that_is_not_a_list_of_permissions_is_refused(granted: Any):
    # A string would be read as its characters, and its "*" would grant everything.
    with pytest.raises(MastraError) as wrong:
        Auth(JWTAuth(secret=SECRET), roles={"reader": granted})
    assert wrong.value.code == "AUTH_CONFIG_INVALID" and "roles['reader']" in wrong.value.message
