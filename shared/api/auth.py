"""API-key authentication: key format, hashing, the storage port and FastAPI dependencies."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Protocol

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.api.problems import Forbidden, Unauthorized
from shared.api.ratelimit import KEY_POLICY, limit_request

KEY_PREFIX = "hth"
ALL_SCOPES = "*"
ADMIN_SCOPE = "admin"
SYSTEM_KEY_ID = "system"

# Every scope a key may carry; a service adding routes adds its scopes here.
SCOPES: dict[str, str] = {
    ALL_SCOPES: "every scope, like admin",
    ADMIN_SCOPE: "every scope: communities, bindings, keys and all reads and writes",
    "events:write": "send community events (integrator REST)",
    "events:platform": "with events:write: send events as a platform's own, sharing its "
    "dedup keys and members (imports of platform history); otherwise they are kept apart",
    "events:read": "list received events",
    "members:read": "look up members and their identities",
    "members:write": "link identities, merge and unmerge members",
    "moderation:read": "read a community's moderation rules, evaluate a text against them",
    "moderation:write": "set a community's moderation rules",
    "gamification:read": "read members' points and levels, and leaderboards",
    "gamification:write": "set a community's gamification ruleset, grant or deduct points by hand",
    "insights:read": "read feedback clusters (they quote members), cluster an export",
    "insights:write": "set a community's routing rules, post survey answers",
}

_KEY_ID_ALPHABET = string.ascii_lowercase + string.digits
_KEY = re.compile(r"hth_(?P<key_id>[a-z0-9]{8})_[A-Za-z0-9_-]{32,256}")
# One message for every failure so a caller cannot tell which check failed.
_INVALID = "Missing or invalid API key."
# Compared against when the key id is unknown, so that path does the same work.
_NO_HASH = "0" * 64

# Registered only so OpenAPI shows the bearer scheme; the dependency reads the header itself.
_bearer = HTTPBearer(
    auto_error=False,
    bearerFormat="hth_<key id>_<secret>",
    description="Hearth API key sent as `Authorization: Bearer hth_<key id>_<secret>`.",
)


@dataclass(frozen=True, slots=True)
class StoredKey:
    """An API key as the store keeps it: only the hash of the plaintext."""

    key_id: str
    tenant_id: str
    hashed: str
    scopes: frozenset[str]
    community_ids: frozenset[str] | None = None
    revoked: bool = False
    tenant_deleted: bool = False


class ApiKeyStore(Protocol):
    """Port to wherever API keys are kept."""

    async def find(self, key_id: str) -> StoredKey | None:
        """Return the key with this id, or None."""
        ...


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling (the auth subject): a tenant, through one API key, with its scopes.

    Repositories take a Caller and start every statement from a select scoped by it:
    the tenant always, and the key's communities when the key is bound to some.
    """

    tenant_id: str
    key_id: str
    scopes: frozenset[str]
    community_ids: frozenset[str] | None = None  # None: every community of the tenant

    @classmethod
    def system(cls, tenant_id: str) -> Caller:
        """Hearth itself acting for a tenant (consumers, connectors): every community."""
        return cls(tenant_id=tenant_id, key_id=SYSTEM_KEY_ID, scopes=frozenset({ALL_SCOPES}))

    @classmethod
    def for_community(cls, tenant_id: str, community_id: str) -> Caller:
        """A verified platform delivery: acts in its binding's community only."""
        return cls(
            tenant_id=tenant_id,
            key_id=SYSTEM_KEY_ID,
            scopes=frozenset({ALL_SCOPES}),
            community_ids=frozenset({community_id}),
        )

    @property
    def tenant_wide(self) -> bool:
        """Whether the key covers every community of its tenant."""
        return self.community_ids is None

    def has_scope(self, scope: str) -> bool:
        """Tell whether the key grants scope; `*` and `admin` grant every scope."""
        return bool(self.scopes & {scope, ALL_SCOPES, ADMIN_SCOPE})

    def can_access_community(self, community_id: str) -> bool:
        """Tell whether the key is allowed to act on this community."""
        return self.community_ids is None or community_id in self.community_ids


# The names routes and tests used before; one type.
Principal = Caller
AuthSubject = Caller


class UnknownScopes(ValueError):
    """A key was asked for scopes Hearth does not define."""

    def __init__(self, scopes: Sequence[str]) -> None:
        self.scopes = list(scopes)
        super().__init__(
            f"unknown scope(s) {', '.join(repr(s) for s in scopes)}; "
            f"known: {', '.join(sorted(SCOPES))}"
        )


def check_scopes(scopes: Sequence[str]) -> list[str]:
    """The scopes, deduplicated and sorted; UnknownScopes when any is not in SCOPES."""
    unknown = sorted({scope for scope in scopes if scope not in SCOPES})
    if unknown:
        raise UnknownScopes(unknown)
    if not scopes:
        raise UnknownScopes(["(none)"])
    return sorted(set(scopes))


def generate_api_key() -> tuple[str, str]:
    """Return a new (key id, plaintext key); show the plaintext once and store its hash."""
    key_id = "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(8))
    return key_id, f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"


def hash_api_key(plaintext: str) -> str:
    """Return the sha256 hex digest stored for a key; keys are random, so no salt is needed."""
    return hashlib.sha256(plaintext.encode()).hexdigest()


def key_id_of(plaintext: str) -> str | None:
    """Return the key id of a well-formed key, or None."""
    match = _KEY.fullmatch(plaintext)
    return match["key_id"] if match else None


async def authenticate(store: ApiKeyStore, authorization_header: str | None) -> Caller:
    """Resolve an `Authorization: Bearer <key>` header to a Principal or raise Unauthorized."""
    scheme, _, token = (authorization_header or "").strip().partition(" ")
    token = token.strip()
    key_id = key_id_of(token) if scheme.lower() == "bearer" else None
    if key_id is None:
        raise Unauthorized(_INVALID)
    stored = await store.find(key_id)
    matches = hmac.compare_digest(hash_api_key(token), stored.hashed if stored else _NO_HASH)
    if stored is None or stored.revoked or stored.tenant_deleted or not matches:
        raise Unauthorized(_INVALID)
    return Caller(
        tenant_id=stored.tenant_id,
        key_id=stored.key_id,
        scopes=frozenset(stored.scopes),
        community_ids=None if stored.community_ids is None else frozenset(stored.community_ids),
    )


def require_scopes(*scopes: str, tenant_wide: bool = False) -> Callable[..., Awaitable[Caller]]:
    """Return a dependency that authenticates the caller and demands every scope given.

    With tenant_wide, a key bound to some communities is refused too (403), before the
    route does anything. An authenticated caller spends one token of its key's rate
    limit (shared.api.ratelimit) before the scopes are checked.
    """
    unknown = [scope for scope in scopes if scope not in SCOPES]
    if unknown:
        raise UnknownScopes(unknown)

    async def dependency(
        request: Request,
        _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Caller:
        principal = await authenticate(_store(request), request.headers.get("authorization"))
        limit_request(request, KEY_POLICY, principal.key_id)
        missing = [scope for scope in scopes if not principal.has_scope(scope)]
        if missing:
            raise Forbidden(
                f"API key lacks scope {', '.join(repr(s) for s in missing)}.",
                missing_scopes=missing,
            )
        if tenant_wide:
            require_tenant_wide(principal)
        request.state.caller = principal
        return principal

    # Read by tests that walk every route (the tenancy matrix) to know what it demands.
    dependency.required_scopes = scopes  # type: ignore[attr-defined]
    dependency.tenant_wide = tenant_wide  # type: ignore[attr-defined]
    return dependency


def require_tenant_wide(principal: Caller) -> None:
    """Raise Forbidden unless the key covers every community of its tenant."""
    if not principal.tenant_wide:
        raise Forbidden("This needs a key that is not limited to some communities.")


def require_community(principal: Caller, community_id: str) -> None:
    """Raise Forbidden unless the principal's key covers this community."""
    if not principal.can_access_community(community_id):
        raise Forbidden(f"API key is not allowed to access community {community_id!r}.")


def _store(request: Request) -> ApiKeyStore:
    store: ApiKeyStore | None = getattr(request.app.state, "api_keys", None)
    if store is None:
        raise RuntimeError("app.state.api_keys is not set; wire an ApiKeyStore at startup")
    return store


# Any valid key; routes needing more declare e.g. Depends(require_scopes("events:write")).
PrincipalDep = Annotated[Caller, Depends(require_scopes())]
CallerDep = PrincipalDep
