"""The hub over HTTP, in Mastra's own REST dialect (`create_app(hub)`), so Mastra's client and Studio work with it.

An outer layer: the core never imports it. Needs the `server` extra (`pip install 'mastra_nb[server]'`).
`create_app(hub, auth=Auth(JWTAuth(...), roles=...))` asks every route's callers for credentials and permissions.
Its names load on first use, so that the `mastra_nb` command (whose `serve` and `keys` live here) starts, and
`mastra_nb mcp` runs, without the extra.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "ROUTES": ".app", "create_app": ".app", "Auth": ".auth", "AuthError": ".auth", "JWTAuth": ".auth",
    "User": ".auth", "APIKeyAuth": ".keys", "APIKeys": ".keys", "RateLimits": ".rate_limits", "Call": ".routes",
    "Route": ".routes",
}  # fmt: skip

__all__ = [
    "ROUTES", "APIKeyAuth", "APIKeys", "Auth", "AuthError", "Call", "JWTAuth", "RateLimits", "Route", "User",
    "create_app",
]  # fmt: skip


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mastra_nb.server' has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from .app import ROUTES, create_app
    from .auth import Auth, AuthError, JWTAuth, User
    from .keys import APIKeyAuth, APIKeys
    from .rate_limits import RateLimits
    from .routes import Call, Route
