"""The hub over HTTP, in Mastra's own REST dialect (`create_app(hub)`), so Mastra's client and Studio work with it.

An outer layer: the core never imports it. Needs the `server` extra (`pip install 'mastra_nb[server]'`).
`create_app(hub, auth=Auth(JWTAuth(...), roles=...))` asks every route's callers for credentials and permissions.
"""

from __future__ import annotations

from .app import ROUTES, create_app
from .auth import Auth, AuthError, JWTAuth, User
from .keys import APIKeyAuth, APIKeys
from .rate_limits import RateLimits
from .routes import Call, Route

__all__ = [
    "ROUTES", "APIKeyAuth", "APIKeys", "Auth", "AuthError", "Call", "JWTAuth", "RateLimits", "Route", "User",
    "create_app",
]  # fmt: skip
