"""API keys: long random secrets handed to a program once, kept by the server only as salted hashes.

`APIKeys(hub)` creates, lists and revokes them in the hub's storage (`api_keys` table); `APIKeyAuth(hub)` is the
authentication provider that takes them (`Auth([JWTAuth(...), APIKeyAuth(hub)])`). A key reads
`mnb_<key id>_<secret>`: the id finds its row, the secret is checked against the stored digest in constant time.
The digest is HMAC-SHA256 with a per-key salt: a secret of 256 random bits needs no slow password hash, and a
stolen table gives no key back. Each key has an owner (the user id it acts as), roles, an optional memory resource
(its tenant) and an optional expiry; creation and revocation are audited.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..errors import ErrorKind, MastraError
from ..limits import check_id
from .auth import AuthError, User

if TYPE_CHECKING:
    from ..mastra import Mastra

__all__ = ["APIKeyAuth", "APIKeys", "KeyInfo"]

_PREFIX = "mnb_"


@dataclass(frozen=True)
class KeyInfo:
    """What is known of a key after its creation: everything but its secret."""

    key_id: str
    owner: str
    roles: tuple[str, ...]
    resource_id: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        now = datetime.now(timezone.utc)
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


def _digest(salt: str, secret: str) -> str:
    return hmac.new(salt.encode(), secret.encode(), hashlib.sha256).hexdigest()


class APIKeys:
    """The API keys of one hub."""

    def __init__(self, hub: Mastra) -> None:
        self._hub = hub

    async def create(
        self,
        owner: str,
        *,
        roles: Sequence[str] = (),
        resource_id: str | None = None,
        expires_at: datetime | None = None,
    ) -> tuple[str, KeyInfo]:
        """A new key for `owner`: the key itself (shown this once, never stored) and what is kept of it."""
        check_id(owner, "owner", "KEY_INVALID")
        if resource_id is not None:
            check_id(resource_id, "resource_id", "KEY_INVALID")
        if expires_at is not None and expires_at.tzinfo is None:
            expected = {"field": "expires_at", "expected": "an aware datetime"}
            raise MastraError(ErrorKind.VALIDATION, "KEY_INVALID", "`expires_at` must say its time zone.",
                              details={"errors": [expected]})  # fmt: skip
        key_id, secret, salt = secrets.token_hex(8), secrets.token_urlsafe(32), secrets.token_hex(16)
        info = KeyInfo(key_id, owner, tuple(roles), resource_id, datetime.now(timezone.utc), expires_at, None)
        await self._hub.storage.upsert("api_keys", [{
            "key_id": key_id, "owner": owner, "roles": list(info.roles), "resource_id": resource_id, "salt": salt,
            "digest": _digest(salt, secret), "created_at": info.created_at, "expires_at": expires_at,
            "revoked_at": None,
        }])  # fmt: skip
        await self._hub.audit.record("key.created", user_id=owner, decision="created", details={"key_id": key_id})
        return f"{_PREFIX}{key_id}_{secret}", info

    async def list(self) -> list[KeyInfo]:
        """Every key, newest first (revoked and expired ones too; `active` says which still work)."""
        rows = await self._hub.storage.select("api_keys", order_by="-created_at")
        return [_info(row) for row in rows]

    async def revoke(self, key_id: str) -> bool:
        """Revoke a key at once; returns whether there was such a key still working."""
        check_id(key_id, "key_id", "KEY_INVALID")
        rows = await self._hub.storage.select("api_keys", where={"key_id": key_id, "revoked_at": None})
        if not rows:
            return False
        await self._hub.storage.upsert("api_keys", [{**rows[0], "revoked_at": datetime.now(timezone.utc)}])
        await self._hub.audit.record("key.revoked", user_id=rows[0]["owner"], decision="revoked",
                                     details={"key_id": key_id})  # fmt: skip
        return True

    async def check(self, token: str) -> KeyInfo | None:
        """The key `token` is, if it is one of this hub's; None when it is not a key of ours at all.

        Raises:
            AuthError: a key of ours that is wrong, revoked or expired.
        """
        if not token.startswith(_PREFIX):
            return None
        key_id, _, secret = token[len(_PREFIX) :].partition("_")
        if not key_id or not secret or not key_id.isalnum():
            raise AuthError("a malformed API key")
        rows = await self._hub.storage.select("api_keys", where={"key_id": key_id})
        # Compared even when the id is unknown, so that the time taken does not tell ids apart.
        row = rows[0] if rows else {"salt": "", "digest": ""}
        matches = hmac.compare_digest(_digest(row["salt"], secret), row["digest"])
        if not rows or not matches:
            raise AuthError("a wrong API key")
        info = _info(rows[0])
        if info.revoked_at is not None:
            raise AuthError("a revoked API key")
        if not info.active:
            raise AuthError("an expired API key")
        return info


class APIKeyAuth:
    """The authentication provider of a hub's API keys (`mnb_...` tokens)."""

    def __init__(self, hub: Mastra) -> None:
        self.keys = APIKeys(hub)

    async def authenticate(self, token: str) -> User | None:
        info = await self.keys.check(token)
        if info is None:
            return None
        return User(id=info.owner, roles=info.roles, resource_id=info.resource_id, provider="api-key")


def _info(row: dict[str, Any]) -> KeyInfo:
    return KeyInfo(
        key_id=row["key_id"],
        owner=row["owner"],
        roles=tuple(row["roles"] or ()),
        resource_id=row["resource_id"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
    )
