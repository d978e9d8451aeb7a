"""Rate limits of the server, with the `limits` library: per caller and per group of routes, and a stricter one for
failed authentication (slowing a brute force).

A caller is its user id when authenticated, else its client address. A route's group is its resource (the first part
of its permission: `agents`, `workflows`, `memory`, ...). Limits are Mastra-style strings, `"60/minute"`; counts are
kept in memory by default (one process), or in Redis given `storage="redis://host:6379"` so that several workers
share them. Over the limit: 429 with `Retry-After` and the `RateLimit-*` headers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ErrorKind, MastraError

if TYPE_CHECKING:
    from limits import RateLimitItem

__all__ = ["RateLimited", "RateLimits"]


@dataclass(frozen=True)
class RateLimited(Exception):
    """Over a limit: answered 429; `retry_after` in seconds."""

    limit: str
    retry_after: int
    failed_auth: bool = False


class RateLimits:
    """The server's limits.

    Args:
        default: every caller's limit per group of routes (`"120/minute"`); None for none.
        groups: limits of particular groups (`{"agents": "30/minute"}`), over the default.
        failed_auth: how many failed authentications a client address may make (`"10/minute"`); past it, even
            valid credentials are refused until the window passes.
        storage: `memory://` (default) or a `redis://` URL shared by several workers.
    """

    def __init__(
        self,
        default: str | None = "120/minute",
        *,
        groups: Mapping[str, str] | None = None,
        failed_auth: str | None = "10/minute",
        storage: str = "memory://",
    ) -> None:
        from limits import parse
        from limits.aio.strategies import MovingWindowRateLimiter
        from limits.storage import storage_from_string

        def parsed(text: str | None, name: str) -> RateLimitItem | None:
            if text is None:
                return None
            try:
                return parse(text)
            except ValueError:
                raise MastraError(ErrorKind.VALIDATION, "RATE_LIMIT_INVALID",
                                  f"`{name}` must be a limit such as '60/minute', got {text!r}.") from None  # fmt: skip

        self._default = parsed(default, "default")
        self._groups = {group: parsed(text, f"groups[{group!r}]") for group, text in (groups or {}).items()}
        self._failed = parsed(failed_auth, "failed_auth")
        self._pool: Any = None
        try:
            if storage.startswith(("redis://", "rediss://")):
                import coredis

                # A pool of our own, handed to `limits`, so that `close()` can end its connections.
                self._pool = coredis.ConnectionPool.from_url(storage)
                backend = storage_from_string(f"async+{storage}", connection_pool=self._pool)
            else:
                backend = storage_from_string(storage if storage.startswith("async+") else f"async+{storage}")
            self._limiter = MovingWindowRateLimiter(backend)
        except Exception as error:  # an unknown scheme, a missing driver
            raise MastraError(ErrorKind.VALIDATION, "RATE_LIMIT_INVALID",
                              f"`storage` cannot be used: {error}.") from None  # fmt: skip

    async def hit(self, group: str, caller: str) -> dict[str, str]:
        """Count a request of `caller` to `group`; the `RateLimit-*` headers to send.

        Raises:
            RateLimited: over the limit (the request is not counted twice).
        """
        item = self._groups.get(group, self._default)
        if item is None:
            return {}
        if not await self._limiter.hit(item, "request", group, caller):
            raise RateLimited(str(item), await self._retry_after(item, "request", group, caller))
        stats = await self._limiter.get_window_stats(item, "request", group, caller)
        return {"RateLimit-Limit": str(item.amount), "RateLimit-Remaining": str(stats.remaining),
                "RateLimit-Reset": str(max(0, math.ceil(stats.reset_time - time.time())))}  # fmt: skip

    async def check_failures(self, address: str) -> None:
        """Refuse a client address that failed to authenticate too often lately.

        Raises:
            RateLimited: over the failed-authentication limit.
        """
        item = self._failed
        if item is not None and not await self._limiter.test(item, "auth-failed", address):
            raise RateLimited(str(item), await self._retry_after(item, "auth-failed", address), failed_auth=True)

    async def failed(self, address: str) -> None:
        """Count a failed authentication of `address`."""
        if self._failed is not None:
            await self._limiter.hit(self._failed, "auth-failed", address)

    async def close(self) -> None:
        """End the connections to Redis, if any (the app does this when it stops)."""
        if self._pool is not None:
            self._pool.disconnect()

    async def _retry_after(self, item: RateLimitItem, *identifiers: str) -> int:
        stats = await self._limiter.get_window_stats(item, *identifiers)
        return max(1, math.ceil(stats.reset_time - time.time()))
