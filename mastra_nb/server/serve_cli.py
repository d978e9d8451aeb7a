"""`mastra_nb serve MODULE:ATTR`: serve a hub over HTTP in Mastra's REST dialect, with uvicorn.

ATTR names a `Mastra` hub, or a function that returns one (an async function too, with one worker). The server
listens on 127.0.0.1:4111 (Mastra's port) by default, so `@mastra/client-js` and Studio find it as they would
find Mastra's own. On SIGTERM or Ctrl+C it drains: `/ready` answers 503, open streams end with a last chunk,
requests in flight get `--grace` seconds to finish, then the hub shuts down (runs keep their journal, to resume).

`--workers N` runs N processes, each with its own hub from ATTR: their storage must be one that several processes
share (SQLite or a database server), which a DuckDB file and the in-memory store are not; those are refused.

`--mcp` serves the hub as an MCP server too, over Streamable HTTP at `{prefix}/mcp/mastra/mcp`, behind the same
security; with several workers it keeps no session between requests (any worker can answer any request).
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import os
import sys
from pathlib import Path
from typing import Any

from .._target import CommandError, hub_of, load
from ..errors import MastraError
from ..mastra import Mastra
from ..storage import DuckDBStore, InMemoryStore
from ..telemetry.logs import configure_logging

__all__ = ["add_parser", "run", "worker_app"]

_ENV = "MASTRA_NB_SERVE"  # how `--workers` hands the target and the app's options to each worker process


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "serve", help="Serve a hub over HTTP (Mastra's REST dialect).",
        description="Serve a hub over HTTP in Mastra's REST dialect, so @mastra/client-js and Studio work with it.",
    )  # fmt: skip
    parser.add_argument("target", metavar="MODULE:ATTR",
                        help="the hub: a `Mastra` object or a function returning one, e.g. `app:hub`")  # fmt: skip
    parser.add_argument("--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=4111, help="the port (default 4111, Mastra's; 0 picks a free one)")
    parser.add_argument("--prefix", default="/api", help="where Mastra's routes live (default /api)")
    parser.add_argument("--log-format", choices=["text", "json"], default="text", help="the access log's format")
    parser.add_argument("--log-level", default="INFO", help="the least severe log level shown (default INFO)")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes to serve with (more than 1 needs storage that processes share)")  # fmt: skip
    parser.add_argument("--grace", type=float, default=10.0,
                        help="seconds requests in flight get to finish on shutdown (default 10)")  # fmt: skip
    parser.add_argument(
        "--mcp",
        action="store_true",
        help="also serve the hub as an MCP server at {prefix}/mcp/mastra/mcp (the mcp extra)",
    )
    parser.add_argument(
        "--mcp-host",
        action="append",
        metavar="HOST:PORT",
        help="a host name MCP clients may use (default: loopback only; repeat for more)",
    )
    security = parser.add_argument_group("security", "Authentication, roles, rate limits, CORS and TLS.")
    security.add_argument("--jwt-secret-env", metavar="VAR",
                          help="accept HS256 tokens signed with the secret in environment variable VAR")  # fmt: skip
    security.add_argument("--jwt-public-key", metavar="FILE", help="accept RS256/ES256 tokens of this PEM key")
    security.add_argument("--jwks-url", metavar="URL", help="accept tokens signed by a key of this JWKS endpoint")
    security.add_argument("--jwks-file", metavar="FILE", help="accept tokens signed by a key of this JWKS file")
    security.add_argument("--jwt-audience", help="a token's `aud` must be this")
    security.add_argument("--jwt-issuer", help="a token's `iss` must be this")
    security.add_argument("--api-keys", action="store_true", help="accept the hub's API keys (`mastra_nb keys`)")
    security.add_argument("--roles", metavar="FILE", help='a JSON role map: {"reader": ["*:read"], ...}')
    security.add_argument(
        "--rate-limit", metavar="LIMIT", help="each caller's limit per group of routes ('120/minute')"
    )
    security.add_argument("--failed-auth-limit", metavar="LIMIT", default="10/minute",
                          help="failed authentications an address may make (default 10/minute)")  # fmt: skip
    security.add_argument("--rate-limit-storage", metavar="URL", default="memory://",
                          help="where limits are counted: memory:// (default) or redis://host:port")  # fmt: skip
    security.add_argument("--cors-origin", action="append", metavar="ORIGIN",
                          help="an origin browsers may call from (repeat; default any, none with auth)")  # fmt: skip
    security.add_argument("--ssl-certfile", metavar="FILE", help="serve HTTPS with this certificate (PEM)")
    security.add_argument("--ssl-keyfile", metavar="FILE", help="... and this private key (PEM)")
    parser.set_defaults(run=run)


_APP_OPTIONS = (
    "prefix", "jwt_secret_env", "jwt_public_key", "jwks_url", "jwks_file", "jwt_audience", "jwt_issuer", "api_keys",
    "roles", "rate_limit", "failed_auth_limit", "rate_limit_storage", "cors_origin", "mcp", "mcp_host", "workers",
)  # fmt: skip


def _app(hub: Mastra, options: dict[str, Any]) -> Any:
    """The app for `hub` with the security the options ask for."""
    from ..server import Auth, JWTAuth, RateLimits, create_app
    from ..server.keys import APIKeyAuth

    providers: list[Any] = []
    claims = {"audience": options["jwt_audience"], "issuer": options["jwt_issuer"]}
    if options["jwt_secret_env"]:
        secret = os.environ.get(options["jwt_secret_env"])
        if not secret:
            raise CommandError(f"--jwt-secret-env {options['jwt_secret_env']}: that environment variable is not set.")
        providers.append(JWTAuth(secret=secret, **claims))
    if options["jwt_public_key"]:
        providers.append(JWTAuth(public_key=_read(options["jwt_public_key"], "--jwt-public-key"), **claims))
    if options["jwks_url"]:
        providers.append(JWTAuth(jwks_url=options["jwks_url"], **claims))
    if options["jwks_file"]:
        providers.append(JWTAuth(jwks_file=options["jwks_file"], **claims))
    if options["api_keys"]:
        providers.append(APIKeyAuth(hub))
    try:
        roles = json.loads(_read(options["roles"], "--roles")) if options["roles"] else None
    except ValueError as error:
        raise CommandError(f"--roles {options['roles']}: not JSON ({error}).") from None
    if roles is not None and not isinstance(roles, dict):
        raise CommandError(f'--roles {options["roles"]}: expected {{"role": ["permission", ...]}}, got {roles!r:.80}.')
    if roles is not None and not providers:
        raise CommandError("--roles needs a way to authenticate (--jwt-secret-env, --jwks-url, --api-keys, ...).")
    auth = Auth(providers, roles=roles) if providers else None
    limits = None
    if options["rate_limit"] or auth is not None:  # with auth, failed authentications are limited by default
        limits = RateLimits(options["rate_limit"] or None, failed_auth=options["failed_auth_limit"],
                            storage=options["rate_limit_storage"])  # fmt: skip
    servers: list[Any] = []
    if options["mcp"]:
        try:
            import mcp  # noqa: F401 - only whether the extra is installed
        except ImportError:
            raise CommandError("--mcp needs the mcp extra: pip install 'mastra_nb[mcp]'.") from None
        from ..mcp import MCPServer

        servers.append(MCPServer(hub))
    # Several workers keep no MCP session: a client's next request may reach another worker.
    return create_app(hub, prefix=options["prefix"], close_hub=True, auth=auth, rate_limits=limits,
                      cors_origins=options["cors_origin"], mcp_servers=servers, mcp_hosts=options["mcp_host"],
                      mcp_stateless=options["workers"] > 1)  # fmt: skip


def _read(path: str, flag: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise CommandError(f"{flag} {path}: {error.strerror}.") from None


def run(args: argparse.Namespace) -> int:
    if args.workers < 1:
        raise CommandError(f"--workers must be at least 1, got {args.workers}.")
    configure_logging(args.log_level.upper(), json=args.log_format == "json")
    if args.workers > 1:
        return _run_workers(args)
    try:
        asyncio.run(_serve(args))
    except MastraError as error:
        raise CommandError(error.message) from None
    return 0


async def _serve(args: argparse.Namespace) -> None:
    uvicorn = _uvicorn()

    hub = await hub_of(args.target)
    app = _app(hub, {name: getattr(args, name) for name in _APP_OPTIONS})
    config = uvicorn.Config(app, host=args.host, port=args.port, log_config=None, lifespan="on",
                            timeout_graceful_shutdown=args.grace, ssl_certfile=args.ssl_certfile,
                            ssl_keyfile=args.ssl_keyfile)  # fmt: skip
    await _server(config, app, args.prefix, hub, "https" if args.ssl_certfile else "http").serve()


def _run_workers(args: argparse.Namespace) -> int:
    uvicorn = _uvicorn()
    hub = asyncio.run(hub_of(args.target))
    storage = hub.storage
    asyncio.run(hub.shutdown())
    if isinstance(storage, (DuckDBStore, InMemoryStore)):
        raise CommandError(
            f"--workers {args.workers} needs storage that several processes share; this hub's is "
            f"{type(storage).__name__}, which one process owns. Use `SQLiteStore(...)` or a `storage_url` "
            "(such as sqlite:///.mastra/mastra.sqlite or postgresql://...), or serve with one worker."
        )
    # What each worker builds its app from (no secret: a JWT secret is read from its variable by each worker).
    os.environ[_ENV] = json.dumps({"target": args.target, **{name: getattr(args, name) for name in _APP_OPTIONS}})
    scheme = "https" if args.ssl_certfile else "http"
    print(f"mastra_nb: serving `{args.target}` with {args.workers} workers at "
          f"{scheme}://{args.host}:{args.port}{args.prefix}", file=sys.stderr, flush=True)  # fmt: skip
    uvicorn.run("mastra_nb.server.serve_cli:worker_app", factory=True, host=args.host, port=args.port,
                workers=args.workers, log_config=None, timeout_graceful_shutdown=args.grace,
                ssl_certfile=args.ssl_certfile, ssl_keyfile=args.ssl_keyfile)  # fmt: skip
    return 0


def worker_app() -> Any:
    """The app of one `--workers` process (uvicorn calls this in each, in its event loop)."""
    options = json.loads(os.environ[_ENV])
    found = load(options["target"])
    hub = found() if inspect.isfunction(found) or inspect.ismethod(found) else found
    if not isinstance(hub, Mastra):
        raise CommandError(f"`{options['target']}` must give a `Mastra` hub without awaiting to serve with workers.")
    return _app(hub, options)


def _server(config: Any, app: Any, prefix: str, hub: Mastra, scheme: str) -> Any:
    """uvicorn's server, which on a shutdown signal first marks the app as draining, and says where it listens."""
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            app.state.operations.draining.set()  # /ready says 503 and open streams end before anything stops
            super().handle_exit(sig, frame)

        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            if self.started:
                host, port = self.servers[0].sockets[0].getsockname()[:2]
                mcp = "".join(f"; MCP: {prefix}/mcp/{server.id}/mcp" for server in app.state.mcp)
                print(f"mastra_nb: serving {hub!r} at {scheme}://{host}:{port}{prefix} (docs: {prefix}/docs{mcp}; "
                      "Ctrl+C stops)", file=sys.stderr, flush=True)  # fmt: skip

    return Server(config)


def _uvicorn() -> Any:
    try:
        import uvicorn
    except ImportError:
        raise CommandError("serving needs the server extra: pip install 'mastra_nb[server]'.") from None
    return uvicorn
