"""`mastra_nb serve MODULE:ATTR` as a user runs it: a real process on 127.0.0.1, driven over HTTP by httpx, by
schemathesis (generated requests from our own OpenAPI document: never a 5xx, every answer as documented), and
stopped with SIGTERM while a request is in flight.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

APP = textwrap.dedent('''
    import asyncio

    from pydantic import BaseModel

    from mastra_nb import Agent, DuckDBStore, Mastra, SQLiteStore, Step, Workflow, tool
    from mastra_nb.memory import Memory
    from mastra_nb.models import ScriptedModel, ScriptedReply
    from mastra_nb.vectors import ChromaVectorStore
    from mastra_nb.workflows import StepContext


    @tool
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b


    class Order(BaseModel):
        item: str


    class Answer(BaseModel):
        ok: bool


    class Receipt(BaseModel):
        item: str
        ok: bool


    async def confirm(order: Order, ctx: StepContext) -> Receipt:
        if ctx.resume_data is None:
            ctx.suspend({"question": f"Ship {order.item}?"})
        return Receipt(item=order.item, ok=ctx.resume_data.ok)


    async def slowly(order: Order) -> Order:
        await asyncio.sleep(1.5)
        return order


    def hub() -> Mastra:
        made = Mastra(storage=SQLiteStore("mastra.sqlite"), memory=Memory(vector=ChromaVectorStore("chroma")))
        made.add_tool(add)
        script = [ScriptedReply.call("add", a=2, b=3), "2 + 3 = 5"] * 2000
        made.add_agent(Agent("calc", "You add.", ScriptedModel(script), tools=[add]))
        made.add_workflow(Workflow("ship", input=Order, output=Receipt).then(
            Step("confirm", confirm, input=Order, output=Receipt, resume=Answer)))
        made.add_workflow(Workflow("slow", input=Order, output=Order).then(
            Step("wait", slowly, input=Order, output=Order)))
        return made


    def duck() -> Mastra:
        return Mastra(storage=DuckDBStore("mastra.duckdb"))
''')


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Serving:
    """`python -m mastra_nb serve ...` in `folder`, read until it says where it listens."""

    def __init__(self, folder: Path, *args: str, **env_vars: str) -> None:
        self.folder = folder
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **env_vars}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mastra_nb", "serve", *args], cwd=folder, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        self.output: list[str] = []
        deadline = time.monotonic() + 60
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            self.output.append(line)
            found = re.search(r"at (https?://[\d.]+:\d+)/api", line)
            if found:
                self.url = found.group(1)
                # Read on in the background: a pipe nobody reads fills with the access log and blocks the server.
                self._reader = threading.Thread(target=self._read, daemon=True)
                self._reader.start()
                return
        self.process.kill()
        raise AssertionError("the server did not say where it listens:\n" + "".join(self.output))

    def wait_ready(self) -> None:
        """Wait (bounded) until `/ready` says 200, as an orchestrator would before sending traffic: the first Chroma
        open of a process (importing chromadb) can outlast the probe's 5 s on a busy machine, and until it has,
        `/ready` rightly answers 503."""
        deadline = time.monotonic() + 60
        while True:
            answer = httpx.get(f"{self.url}/ready", timeout=30, trust_env=False)
            if answer.status_code == 200:
                return
            assert time.monotonic() < deadline, f"the server never became ready: {answer.text}"
            time.sleep(0.5)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            self._reader.join(timeout=10)
            assert self.process.stdout is not None
            self.process.stdout.close()
        return code


@pytest.fixture
def app_folder(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(APP)
    return tmp_path


@pytest.fixture
def served(app_folder: Path) -> Iterator[Serving]:
    serving = Serving(app_folder, "app:hub", "--port", "0")
    yield serving
    serving.stop()


async def test_serve_answers_and_a_sigterm_lets_the_request_in_flight_finish(served: Serving):
    async with httpx.AsyncClient(base_url=served.url, timeout=30, trust_env=False) as http:
        assert list((await http.get("/api/agents")).json()) == ["calc"]
        await asyncio.to_thread(served.wait_ready)
        assert (await http.get("/ready")).json()["ready"] is True
        in_flight = asyncio.ensure_future(
            http.post("/api/workflows/slow/start-async", json={"inputData": {"item": "x"}})
        )
        await asyncio.sleep(0.5)  # the step is sleeping now
        served.process.send_signal(signal.SIGTERM)
        answer = await in_flight
    assert answer.status_code == 200 and answer.json()["status"] == "success"
    # After its graceful shutdown uvicorn raises the signal again, so the process reports how it was stopped.
    assert await asyncio.to_thread(served.stop) == -signal.SIGTERM
    assert "Traceback" not in "".join(served.output), "".join(served.output)


def test_serve_refuses_what_it_cannot_serve(app_folder: Path):
    def serve(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "mastra_nb", "serve", *args], cwd=app_folder,
                              capture_output=True, text=True, timeout=120)  # fmt: skip

    duck = serve("app:duck", "--workers", "2", "--port", str(_free_port()))
    assert duck.returncode == 2 and "DuckDBStore" in duck.stderr and "SQLiteStore" in duck.stderr, duck.stderr
    missing = serve("nowhere:hub")
    assert missing.returncode == 2 and "cannot import `nowhere`" in missing.stderr
    not_a_hub = serve("app:Order")
    assert not_a_hub.returncode == 2 and "not a `Mastra` hub" in not_a_hub.stderr
    malformed = serve("app")
    assert malformed.returncode == 2 and "MODULE:ATTR" in malformed.stderr


async def test_two_workers_share_one_sqlite_file(app_folder: Path):
    port = _free_port()
    serving = Serving(app_folder, "app:hub", "--workers", "2", "--port", str(port), "--mcp")
    try:
        # No keep-alive: each request is a new connection, which either worker may accept.
        fresh = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30, trust_env=False,
                                     limits=fresh) as http:  # fmt: skip
            for _ in range(100):  # the workers start after the parent says where it listens
                try:
                    if (await http.get("/ready")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            started = await asyncio.gather(*(
                http.post("/api/workflows/ship/start-async", json={"inputData": {"item": f"i{n}"}}) for n in range(8)
            ))  # fmt: skip
            assert {a.json()["status"] for a in started} == {"suspended"}
            runs = (await http.get("/api/workflows/ship/runs")).json()
            assert runs["total"] == 8  # whichever worker answers, it reads the runs every worker stored

            # MCP keeps no session with several workers: each request stands alone, whichever worker takes it.
            accept = {"accept": "application/json, text/event-stream", "mcp-protocol-version": "2025-11-25"}
            calls = [{"jsonrpc": "2.0", "id": n, "method": "tools/call",
                      "params": {"name": "add", "arguments": {"a": n, "b": 1}}} for n in range(8)]  # fmt: skip
            answers = await asyncio.gather(*(http.post("/api/mcp/mastra/mcp", headers=accept, json=c) for c in calls))
            assert [_rpc(a)["result"]["structuredContent"] for a in answers] == [{"result": n + 1} for n in range(8)]
            assert all("mcp-session-id" not in a.headers for a in answers)
            waiting = runs["runs"][0]["runId"]
            resumed = await http.post("/api/mcp/mastra/mcp", headers=accept, json={
                "jsonrpc": "2.0", "id": 9, "method": "tools/call",
                "params": {"name": "resume_ship", "arguments": {"run_id": waiting, "resume_data": {"ok": True}}},
            })  # fmt: skip
            assert _rpc(resumed)["result"]["structuredContent"]["status"] == "success"
    finally:
        assert await asyncio.to_thread(serving.stop) in (0, -signal.SIGTERM)


def _rpc(answer: httpx.Response) -> Any:
    """The JSON-RPC message of an MCP answer, sent as JSON or as one SSE event."""
    assert answer.status_code == 200, answer.text
    if answer.headers["content-type"].startswith("application/json"):
        return answer.json()
    data = [line[len("data:") :] for line in answer.text.splitlines() if line.startswith("data:")]
    return json.loads(data[-1])


def _schemathesis(served: Serving, *headers: str) -> None:
    """schemathesis reads /api/openapi.json and sends requests made from it (examples, boundary values, fuzzed
    bodies): every answer must be below 500 and match the documented status, content type and schema."""
    st = Path(sys.executable).parent / "st"
    served.wait_ready()  # schemathesis sends /ready too: 503 while starting is right, and a 5xx to it
    options = [item for header in headers for item in ("-H", header)]
    done = subprocess.run(
        [str(st), "run", f"{served.url}/api/openapi.json", *options, "--checks",
         "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
         "--phases", "examples,coverage,fuzzing", "--max-time", "30", "--workers", "1", "--max-failures", "20"],
        capture_output=True, text=True, timeout=300, cwd=served.folder,  # its cache goes there, not in the checkout
    )  # fmt: skip
    assert done.returncode == 0, (
        "server:\n" + "".join(served.output[-30:]) + "\n" + done.stdout[-8000:] + done.stderr[-2000:]
    )
    assert re.search(r"(\d+) generated, \1 passed", done.stdout), done.stdout[-3000:]


def test_generated_requests_from_the_openapi_document_never_get_a_5xx_and_match_it(served: Serving):
    _schemathesis(served)


def test_generated_requests_with_credentials_never_get_a_5xx_either(app_folder: Path):
    from test_server_auth import SECRET, token

    (app_folder / "roles.json").write_text(json.dumps({"admin": ["*"]}))
    # Its requests without credentials (schemathesis checks they are refused) must not lock the address out.
    serving = Serving(app_folder, "app:hub", "--port", "0", "--jwt-secret-env", "MNB_TEST_SECRET", "--roles",
                      "roles.json", "--failed-auth-limit", "100000/minute", MNB_TEST_SECRET=SECRET)  # fmt: skip
    try:
        _schemathesis(serving, f"Authorization: Bearer {token(roles=['admin'])}")
    finally:
        serving.stop()


async def test_with_auth_alone_failed_authentications_are_limited_by_default(app_folder: Path):
    from test_server_auth import SECRET, token

    serving = Serving(app_folder, "app:hub", "--port", "0", "--jwt-secret-env", "MNB_TEST_SECRET",
                      MNB_TEST_SECRET=SECRET)  # fmt: skip
    try:
        async with httpx.AsyncClient(base_url=serving.url, timeout=30, trust_env=False) as http:
            statuses = [(await http.get("/api/agents")).status_code for _ in range(11)]
            assert statuses == [401] * 10 + [429]  # --failed-auth-limit's default, 10/minute, without --rate-limit
            valid = {"authorization": f"Bearer {token()}"}
            assert (await http.get("/api/agents", headers=valid)).status_code == 429  # the address waits it out
    finally:
        serving.stop()


def test_keys_are_created_listed_and_revoked_from_the_command_line(app_folder: Path):
    def keys(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "mastra_nb", "keys", *args], cwd=app_folder,
                              capture_output=True, text=True, timeout=120)  # fmt: skip

    made = keys("create", "app:hub", "--owner", "robot", "--role", "reader", "--expires-days", "30")
    assert made.returncode == 0, made.stderr
    key = made.stdout.splitlines()[0]
    assert key.startswith("mnb_") and "not shown again" in made.stdout
    key_id = key.split("_")[1]
    listed = keys("list", "app:hub")
    assert f"{key_id}  robot  roles=reader" in listed.stdout and "active" in listed.stdout
    stored = b"".join(path.read_bytes() for path in app_folder.glob("mastra.sqlite*")).decode("latin-1")
    assert key not in listed.stdout and key.split("_", 2)[2] not in stored  # only a hash of the secret is kept
    assert keys("revoke", "app:hub", key_id).returncode == 0
    assert "revoked" in keys("list", "app:hub").stdout
    again = keys("revoke", "app:hub", key_id)
    assert again.returncode == 2 and "no working key" in again.stderr
    bad = keys("create", "app:hub", "--owner", "", "--role", "reader")
    assert bad.returncode == 2 and "owner" in bad.stderr and "Traceback" not in bad.stderr


def _certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made here."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert, private = folder / "cert.pem", folder / "key.pem"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))  # fmt: skip
    return cert, private


async def test_serve_over_tls_with_jwt_roles_and_security_headers(app_folder: Path):
    from test_server_auth import SECRET, token

    cert, key = _certificate(app_folder)
    (app_folder / "roles.json").write_text(json.dumps({"reader": ["*:read"]}))
    tls = ("--ssl-certfile", str(cert), "--ssl-keyfile", str(key))
    jwt = ("--jwt-secret-env", "MNB_TEST_SECRET", "--roles", "roles.json")
    serving = Serving(app_folder, "app:hub", "--port", "0", *tls, *jwt, MNB_TEST_SECRET=SECRET)
    try:
        assert serving.url.startswith("https://")
        trusted = ssl.create_default_context(cafile=str(cert))  # the test's own certificate, and no other
        async with httpx.AsyncClient(base_url=serving.url, verify=trusted, timeout=30, trust_env=False) as http:
            reader = {"authorization": f"Bearer {token(roles=['reader'])}"}
            answer = await http.get("/api/agents", headers=reader)
            assert answer.status_code == 200 and list(answer.json()) == ["calc"]
            assert answer.headers["strict-transport-security"].startswith("max-age=")
            assert (
                answer.headers["x-content-type-options"] == "nosniff" and answer.headers["cache-control"] == "no-store"
            )
            assert (await http.get("/api/agents")).status_code == 401
            assert (await http.post("/api/tools/add/execute", json={"data": {}}, headers=reader)).status_code == 403
            docs = await http.get("/api/docs")
            assert "default-src 'none'" in docs.headers["content-security-policy"]
        plain = serving.url.replace("https://", "http://")
        async with httpx.AsyncClient(timeout=10, trust_env=False) as http:
            with pytest.raises(httpx.TransportError):  # plain HTTP to the TLS port gets no answer
                await http.get(f"{plain}/api/agents")
    finally:
        await asyncio.to_thread(serving.stop)


def test_serve_refuses_security_options_it_cannot_use(app_folder: Path):
    def serve(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "mastra_nb", "serve", "app:hub", "--port", "0", *args],
                              cwd=app_folder, capture_output=True, text=True, timeout=120)  # fmt: skip

    unset = serve("--jwt-secret-env", "MNB_NOT_SET_ANYWHERE")
    assert unset.returncode == 2 and "MNB_NOT_SET_ANYWHERE" in unset.stderr
    missing = serve("--jwt-public-key", "nowhere.pem")
    assert missing.returncode == 2 and "nowhere.pem" in missing.stderr
    (app_folder / "roles.json").write_text(json.dumps({"reader": ["*:read"]}))
    roles_alone = serve("--roles", "roles.json")
    assert roles_alone.returncode == 2 and "authenticate" in roles_alone.stderr
