"""The hub over HTTP, in Mastra's own REST dialect (`create_app(hub)`), so Mastra's client and Studio work with it.

An outer layer: the core never imports it. Needs the `server` extra (`pip install 'mastra_nb[server]'`).
"""

from __future__ import annotations

from .app import ROUTES, create_app
from .routes import Call, Route

__all__ = ["ROUTES", "Call", "Route", "create_app"]
