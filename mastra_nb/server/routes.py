"""How a route is declared: method, path (Mastra's, under the prefix), handler, what it needs and what it does.

Every route carries a `permission` in Mastra's form (`agents:read`, `workflows:execute`, ...): the security issue's
authorization reads it, and an app refuses to build with a route that declares none, so nothing is left open by
accident. A handler takes a `Call` and returns what to answer: a value (sent as JSON) or a Starlette `Response`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from ..context import RuntimeContext
from ..errors import ErrorKind, MastraError
from .http import HTTPError, body

if TYPE_CHECKING:
    from ..mastra import Mastra
    from .auth import Auth, User
    from .operations import Operations

# Keys of a runtime context that the server sets (who is asking), which a client's `requestContext` cannot.
RESERVED_PREFIX = "mastra__"

__all__ = ["RESERVED_PREFIX", "Call", "Handler", "Route"]


@dataclass(frozen=True)
class Call:
    """One request as a handler sees it: the hub, the request, its path parameters."""

    hub: Mastra
    request: Request
    body_limit: int
    operations: Operations
    auth: Auth | None = None
    user: User | None = None  # the authenticated caller, when the server has `auth`
    request_id: str | None = None

    async def audit(self, event: str, decision: str, **details: Any) -> None:
        """Record a security event of this request in `hub.audit`, when the server has `auth`."""
        if self.auth is None:
            return
        client = self.request.client
        await self.hub.audit.record(
            event, user_id=self.user.id if self.user is not None else None,
            address=client.host if client is not None else None, route=f"{self.request.method} {self.request.url.path}",
            decision=decision, request_id=self.request_id, details=details,
        )  # fmt: skip

    def param(self, name: str) -> str:
        return str(self.request.path_params[name])

    def query(self, name: str, default: str | None = None) -> str | None:
        value = self.request.query_params.get(name)
        # client-js writes some absent parameters into its URLs as the text "undefined" (`getWorkingMemory`
        # without a resourceId sends `resourceId=undefined`): that is no value.
        return default if value is None or value == "undefined" else value

    def required_query(self, name: str) -> str:
        value = self.query(name)
        if not value:
            raise HTTPError(400, f"The query parameter `{name}` is required.", code="QUERY_INVALID", field=name)
        return value

    def int_query(self, name: str, default: int, *, low: int = 0, high: int = 10_000) -> int:
        raw = self.query(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            raise HTTPError(
                400, f"The query parameter `{name}` must be a whole number from {low} to {high}, got {raw!r}.",
                code="QUERY_INVALID", field=name,
            )  # fmt: skip
        return value

    async def json(self) -> dict[str, Any]:
        return await body(self.request, self.body_limit)

    @property
    def tenant(self) -> str | None:
        """The memory resource the caller is confined to: its token's, unless it may see every resource
        (`tenants:all`); None without auth or a resource in the token."""
        user = self.user
        if user is None or user.resource_id is None or self.auth is None:
            return None
        return None if self.auth.allows(user, "tenants:all") else user.resource_id

    def resource(self, given: str | None, what: str = "resource") -> str | None:
        """The resource a request acts on: `given`, or the caller's own when it is confined (and gave none).

        Raises:
            MastraError: `RESOURCE_NOT_FOUND` when a confined caller names another resource (as if it did not
                exist: other tenants' names are not told apart from names nobody uses).
        """
        tenant = self.tenant
        if tenant is None or given is None:
            return given if tenant is None else tenant
        self.own(given, what)
        return given

    def own(self, resource: str | None, what: str, name: str = "") -> None:
        """Check that something of `resource` is the confined caller's; else it is not found."""
        tenant = self.tenant
        if tenant is not None and resource != tenant:
            code = {"thread": "MEMORY_THREAD_NOT_FOUND", "run": "RUN_NOT_FOUND"}.get(what, "RESOURCE_NOT_FOUND")
            raise MastraError(ErrorKind.DOMAIN, code, f"There is no {what} {f'`{name}`' if name else 'by that name'}.")

    def context(self, data: dict[str, Any], *, default_none: bool = False) -> RuntimeContext | None:
        """The runtime context of a body's `requestContext`, with the caller in `mastra__user` (and its memory
        resource in `mastra__resourceId`); keys under `mastra__` that the client sent are refused, so that a
        client cannot claim to be another user. None when the body has none and `default_none` (the run's own
        context is kept) and no user is known."""
        given = field(data, "requestContext", dict)
        claimed = sorted(key for key in given or {} if str(key).startswith(RESERVED_PREFIX))
        if claimed:
            raise MastraError(
                ErrorKind.VALIDATION, "BODY_INVALID",
                f"`requestContext` cannot set {', '.join(claimed)}: the server sets `{RESERVED_PREFIX}*` keys.",
                details={"field": f"requestContext.{claimed[0]}"},
            )  # fmt: skip
        if given is None and default_none and self.user is None:
            return None
        values = dict(given or {})
        if self.user is not None:
            values[f"{RESERVED_PREFIX}user"] = {"id": self.user.id, "roles": list(self.user.roles)}
            if self.user.resource_id is not None:
                values[f"{RESERVED_PREFIX}resourceId"] = self.user.resource_id
        return RuntimeContext(values)

    def until_drained(
        self, chunks: AsyncIterator[dict[str, Any]], last: dict[str, Any]
    ) -> AsyncIterator[dict[str, Any]]:
        """A stream's chunks until they end or the server begins to shut down (then `last`)."""
        return self.operations.until_drained(chunks, last)


Handler = Callable[[Call], Awaitable[Any]]


@dataclass(frozen=True)
class Route:
    """One route of the server."""

    method: str
    path: str  # under the prefix, with Starlette's `{name}` parameters
    handler: Handler
    permission: str  # Mastra's `<resource>:<action>`, or "public"
    summary: str


def field(data: dict[str, Any], name: str, kind: type | tuple[type, ...], *, required: bool = False) -> Any:
    """`data[name]` if it has the expected JSON type (None when absent and not required)."""
    value = data.get(name)
    if value is None:
        if required:
            raise MastraError(
                ErrorKind.VALIDATION, "BODY_INVALID", f"The request body needs `{name}`.", details={"field": name}
            )
        return None
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _types(kind)):
        expected = " or ".join(_NAMES.get(t, t.__name__) for t in _types(kind))
        raise MastraError(
            ErrorKind.VALIDATION, "BODY_INVALID",
            f"`{name}` in the request body must be {expected}, got {_NAMES.get(type(value), type(value).__name__)}.",
            details={"field": name},
        )  # fmt: skip
    return value


def _types(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false", dict: "an object",
          list: "an array"}  # fmt: skip
