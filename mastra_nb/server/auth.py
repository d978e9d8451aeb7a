"""Who asks, and whether they may: authentication by bearer token, and authorization by the permission each route
declares.

`Auth(providers, roles=...)` goes to `create_app(hub, auth=...)`. A request's token comes from `Authorization:
Bearer ...` (or `?apiKey=`, when `query_key=True`, as Mastra allows); each provider in turn either takes it (a
`User`), refuses it (401), or leaves it to the next. The user's permissions are those its token grants plus those of
its roles (`roles={"reader": ["agents:read", "workflows:read"]}`).

Permissions are Mastra's `<resource>:<action>`, optionally narrowed to one component (`agents:execute:support`);
`*` matches any one part (`agents:*`, `*:read`), and a grant without a component covers every component. A route on
a component (an agent, workflow or tool in its path) needs its permission for that component. The security log is
the exception to patterns: only a grant that names it (`audit:read`) or `*` covers `audit:*`, so a reader's
`*:read` does not show it who came from where.

`JWTAuth` checks signatures with the algorithms it is given and no other (never `none`; an HMAC algorithm only with
a secret, and an RSA or EC one only with public keys, so a public key can never be used as an HMAC secret), and
`exp`, `nbf`, `iat`, and `aud`/`iss` when configured, with a small leeway. Keys come from a secret, a PEM key, a
JWKS URL (cached, fetched again for an unknown `kid`) or a JWKS file (read again for an unknown `kid`).
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from starlette.requests import Request

from ..errors import ErrorKind, MastraError

__all__ = ["Auth", "AuthError", "AuthProvider", "JWTAuth", "User"]

_HMAC = frozenset({"HS256", "HS384", "HS512"})
_PUBLIC = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"})
# The path parameters that name the component a route acts on.
_COMPONENTS = ("agentId", "workflowId", "toolId", "serverId")
# Resources a pattern (`*:read`) does not cover: only a grant that names them does, or `*`.
_NAMED_ONLY = frozenset({"audit"})


@dataclass(frozen=True)
class User:
    """The caller a token stands for.

    Attributes:
        id: who (a JWT's `sub`).
        roles: the roles the token names.
        permissions: what the token grants directly (roles add theirs when checked).
        resource_id: the memory resource (tenant) the caller's threads and runs belong to, when the token says.
        provider: which kind of credential it was ("jwt", "api-key").
    """

    id: str
    roles: tuple[str, ...] = ()
    permissions: frozenset[str] = frozenset()
    resource_id: str | None = None
    provider: str = ""
    claims: Mapping[str, Any] = field(default_factory=dict, compare=False)


class AuthError(Exception):
    """No valid credentials (401); `reason` says why, for the audit, never the token."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AuthProvider(Protocol):
    async def authenticate(self, token: str) -> User | None:
        """The user `token` stands for; None when the token is not of this provider's kind.

        Raises:
            AuthError: a token of this kind that is not valid (expired, badly signed, ...).
        """
        ...


def _config_error(problem: str) -> MastraError:
    return MastraError(ErrorKind.VALIDATION, "AUTH_CONFIG_INVALID", problem)


class JWTAuth:
    """Bearer JSON Web Tokens.

    Args:
        secret: the HMAC secret (HS256 by default).
        public_key: a PEM public key (RS256 or ES256 by default).
        jwks_url: a JWKS endpoint, fetched when a token names a `kid` not seen yet (and cached 5 minutes), at most
            once per `refetch_cooldown` seconds: a flood of made-up `kid`s cannot make the server flood the endpoint.
        jwks_file: a JWKS file, read again when a token names a `kid` it does not hold (a rotation).
        algorithms: the algorithms accepted; by default HS256 with a secret, RS256 and ES256 with keys.
        audience, issuer: when given, a token's `aud` and `iss` must match.
        leeway: seconds of clock skew allowed on `exp`, `nbf` and `iat`.
        user_claim, roles_claim, permissions_claim, resource_claim: where the user's id, roles, permissions and
            memory resource are in the token.
    """

    def __init__(
        self,
        *,
        secret: str | None = None,
        public_key: str | None = None,
        jwks_url: str | None = None,
        jwks_file: str | Path | None = None,
        algorithms: Sequence[str] | None = None,
        audience: str | Sequence[str] | None = None,
        issuer: str | None = None,
        leeway: float = 30.0,
        user_claim: str = "sub",
        roles_claim: str = "roles",
        permissions_claim: str = "permissions",
        resource_claim: str = "resource_id",
        refetch_cooldown: float = 30.0,
    ) -> None:
        import jwt

        sources = [name for name, given in (("secret", secret), ("public_key", public_key), ("jwks_url", jwks_url),
                                            ("jwks_file", jwks_file)) if given]  # fmt: skip
        if len(sources) != 1:
            raise _config_error(f"`JWTAuth` takes one of secret, public_key, jwks_url or jwks_file; got {sources}.")
        hmac = secret is not None
        chosen = tuple(algorithms) if algorithms else (("HS256",) if hmac else ("RS256", "ES256"))
        allowed = _HMAC if hmac else _PUBLIC
        wrong = [a for a in chosen if a not in allowed]
        if wrong:  # `none`, or an HMAC algorithm with a public key (which would make the key a shared secret)
            kind = "a secret takes HS256/384/512" if hmac else "public keys take RS/PS/ES algorithms or EdDSA"
            raise _config_error(f"`JWTAuth` cannot accept {wrong}: {kind}.")
        if hmac and len(secret or "") < 32:
            raise _config_error("`JWTAuth(secret=...)` needs a secret of at least 32 characters.")
        self.algorithms = chosen
        self.audience, self.issuer, self.leeway = audience, issuer, leeway
        self.claims = (user_claim, roles_claim, permissions_claim, resource_claim)
        self._secret = secret
        self._key = jwt.PyJWK.from_dict(_pem_jwk(public_key)) if public_key else None
        self._client = (
            jwt.PyJWKClient(jwks_url, cache_jwk_set=True, lifespan=300, cooldown_duration=refetch_cooldown)
            if jwks_url else None
        )  # fmt: skip
        self._file = Path(jwks_file) if jwks_file else None
        self._file_keys: dict[str, Any] = {}

    async def authenticate(self, token: str) -> User | None:
        import jwt

        if token.count(".") != 2:
            return None  # not a JWT: another provider's (an API key)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthError("a token that is not a valid JWT") from None
        if header.get("alg") not in self.algorithms:
            raise AuthError(f"a token signed with {header.get('alg')!r}, which is not accepted")
        key = await self._signing_key(header)
        user_claim, roles_claim, permissions_claim, resource_claim = self.claims
        try:
            claims = jwt.decode(
                token, key, algorithms=list(self.algorithms), audience=self.audience, issuer=self.issuer,
                leeway=self.leeway, options={"require": ["exp", user_claim]},
            )  # fmt: skip
        except jwt.ExpiredSignatureError:
            raise AuthError("an expired token") from None
        except jwt.ImmatureSignatureError:
            raise AuthError("a token that is not valid yet") from None
        except (jwt.InvalidAudienceError, jwt.InvalidIssuerError) as error:
            raise AuthError(f"a token for another audience or issuer ({error})") from None
        except jwt.PyJWTError as error:
            raise AuthError(f"a token that does not verify ({type(error).__name__})") from None
        resource = claims.get(resource_claim)
        return User(
            id=str(claims[user_claim]),
            roles=tuple(_names(claims.get(roles_claim))),
            permissions=frozenset(_names(claims.get(permissions_claim))),
            resource_id=str(resource) if resource is not None else None,
            provider="jwt",
            claims=claims,
        )

    async def _signing_key(self, header: Mapping[str, Any]) -> Any:
        import jwt

        if self._secret is not None:
            return self._secret
        if self._key is not None:
            return self._key
        kid = header.get("kid")
        if self._client is not None:
            client = self._client
            try:  # PyJWKClient fetches the set again when the kid is unknown; blocking I/O, so in a thread
                return (await asyncio.to_thread(client.get_signing_key, str(kid))).key
            except jwt.PyJWKClientError as error:
                raise AuthError(f"a token whose key is unknown ({error})") from None
        if kid not in self._file_keys:  # a new key (a rotation): read the file again
            self._file_keys = await asyncio.to_thread(self._read_file)
        if kid not in self._file_keys:
            raise AuthError("a token whose key id is unknown")
        return self._file_keys[kid]

    def _read_file(self) -> dict[str, Any]:
        import jwt

        assert self._file is not None
        found = jwt.PyJWKSet.from_dict(json.loads(self._file.read_text()))
        return {key.key_id: key for key in found.keys if key.key_id is not None}


def _names(value: Any) -> list[str]:
    """A claim of names: a list of them, one name, or none (a space-separated string, as OAuth scopes are)."""
    if value is None:
        return []
    if isinstance(value, str):
        return value.split()
    return [str(item) for item in value] if isinstance(value, list) else [str(value)]


def _pem_jwk(pem: str) -> dict[str, Any]:
    """A PEM public key as a JWK (so that it is used with its own algorithm family only)."""
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    key = serialization.load_pem_public_key(pem.encode())
    if isinstance(key, ec.EllipticCurvePublicKey):
        return json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key))
    if isinstance(key, rsa.RSAPublicKey):
        return json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key))
    raise _config_error(f"`JWTAuth(public_key=...)` takes an RSA or EC public key, got {type(key).__name__}.")


class Auth:
    """The server's authentication providers and role map.

    Args:
        providers: tried in order; the first that takes a token decides.
        roles: each role's permissions (`{"admin": ["*"], "reader": ["*:read"]}`).
        query_key: also take the token from `?apiKey=` (Mastra allows it; off by default, since URLs get logged).
        public_metrics: serve `/metrics` without credentials.
    """

    def __init__(
        self,
        providers: AuthProvider | Iterable[AuthProvider],
        *,
        roles: Mapping[str, Sequence[str]] | None = None,
        query_key: bool = False,
        public_metrics: bool = False,
    ) -> None:
        self.providers = [providers] if hasattr(providers, "authenticate") else list(providers)  # type: ignore[arg-type]
        if not self.providers:
            raise _config_error("`Auth` needs at least one provider.")
        for role, granted in (roles or {}).items():
            # A string is a sequence too: "*:read" would grant its characters, among them "*", everything.
            if isinstance(granted, str) or not all(isinstance(item, str) and item for item in granted):
                raise _config_error(f"`roles[{role!r}]` must be a list of permissions such as [\"agents:read\"], "
                                    f"got {granted!r}.")  # fmt: skip
        self.roles = {role: frozenset(granted) for role, granted in (roles or {}).items()}
        self.query_key, self.public_metrics = query_key, public_metrics

    def token(self, request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        if self.query_key:
            return request.query_params.get("apiKey") or None
        return None

    async def user(self, request: Request) -> User:
        """The request's user.

        Raises:
            AuthError: no token, or one that no provider takes.
        """
        token = self.token(request)
        if token is None:
            raise AuthError("no credentials")
        if len(token) > 8192:
            raise AuthError("a token longer than 8,192 characters")
        for provider in self.providers:
            user = await provider.authenticate(token)
            if user is not None:
                return user
        raise AuthError("a token no provider recognizes")

    def granted(self, user: User) -> frozenset[str]:
        """Everything `user` may do: its own permissions and its roles'."""
        found = set(user.permissions)
        for role in user.roles:
            found |= self.roles.get(role, frozenset())
        return frozenset(found)

    def allows(self, user: User, permission: str, component: str | None = None) -> bool:
        """Whether `user` has `permission` (for `component`, when the route acts on one)."""
        needed = permission.split(":") + ([component] if component is not None else [])
        return any(_covers(grant.split(":"), needed) for grant in self.granted(user))


def component_of(request: Request) -> str | None:
    """The agent, workflow, tool or MCP server a request's path names, if any."""
    for name in _COMPONENTS:
        if name in request.path_params:
            return str(request.path_params[name])
    return None


def _covers(grant: list[str], needed: list[str]) -> bool:
    if grant == ["*"]:
        return True
    if len(grant) < 2 or len(grant) > len(needed):  # a grant names at least a resource and an action
        return False
    if needed[0] in _NAMED_ONLY and grant[0] != needed[0]:
        return False
    # `agents:execute` covers `agents:execute:calc`; each part may be a pattern (`agents:*`, `*:read`).
    return all(fnmatch.fnmatchcase(part, pattern) for pattern, part in zip(grant, needed, strict=False))
