"""`hub.audit`: the security events of a served hub, kept in its storage's `audit` table.

The server records what a security review asks about: failed authentications, denials, rate-limit hits, tool calls
approved and declined, runs started, resumed and canceled through the API, API keys created and revoked. Each event
says when, what, who (the user id), from where (the client address), on which route, what was decided, and the
request id, with a few details. Never a token or a key: the server passes none, and text is redacted on the way in
besides. Events are listed newest first and pruned by age.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .redaction import redact
from .storage.compare import gte, lt

if TYPE_CHECKING:
    from .mastra import Mastra

__all__ = ["Audit", "AuditEvent"]


@dataclass(frozen=True)
class AuditEvent:
    """One security event (`event` such as "auth.failed", "auth.denied", "rate.limited", "run.started")."""

    event: str
    at: datetime
    user_id: str | None = None
    address: str | None = None
    route: str | None = None
    decision: str | None = None
    request_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    id: str = ""


class Audit:
    """The audit log of one hub (`hub.audit`)."""

    def __init__(self, hub: Mastra) -> None:
        self._hub = hub

    async def record(
        self,
        event: str,
        *,
        user_id: str | None = None,
        address: str | None = None,
        route: str | None = None,
        decision: str | None = None,
        request_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditEvent:
        """Store one event (its text fields redacted) and return it."""
        kept = {key: redact(value) if isinstance(value, str) else value for key, value in (details or {}).items()}
        found = AuditEvent(
            event=event, at=datetime.now(timezone.utc), user_id=user_id, address=address, route=route,
            decision=decision, request_id=request_id, details=kept, id=uuid.uuid4().hex,
        )  # fmt: skip
        row = {"id": found.id, "at": found.at, "event": event, "user_id": user_id, "address": address, "route": route,
               "decision": decision, "request_id": request_id, "details": kept}  # fmt: skip
        await self._hub.storage.upsert("audit", [row])
        return found

    async def list(
        self,
        *,
        event: str | None = None,
        user_id: str | None = None,
        since: datetime | None = None,
        limit: int | None = 100,
    ) -> list[AuditEvent]:
        """Stored events matching every given filter, newest first."""
        where: dict[str, Any] = {key: value for key, value in (("event", event), ("user_id", user_id)) if value}
        if since is not None:
            where["at"] = gte(since)
        rows = await self._hub.storage.select("audit", where=where, order_by="-at", limit=limit)
        return [
            AuditEvent(event=r["event"], at=r["at"], user_id=r["user_id"], address=r["address"], route=r["route"],
                       decision=r["decision"], request_id=r["request_id"], details=r["details"] or {}, id=r["id"])
            for r in rows
        ]  # fmt: skip

    async def prune(self, older_than: datetime) -> int:
        """Delete the events recorded before `older_than`; returns how many."""
        return await self._hub.storage.delete_rows("audit", {"at": lt(older_than)})
