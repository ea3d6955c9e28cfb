"""API-key authentication: key format, hashing, the storage port and FastAPI dependencies."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Protocol

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.api.problems import Forbidden, Unauthorized

KEY_PREFIX = "hth"
ALL_SCOPES = "*"
ADMIN_SCOPE = "admin"

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


class ApiKeyStore(Protocol):
    """Port to wherever API keys are kept."""

    async def find(self, key_id: str) -> StoredKey | None:
        """Return the key with this id, or None."""
        ...


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a tenant, through one API key, with its scopes and communities."""

    tenant_id: str
    key_id: str
    scopes: frozenset[str]
    community_ids: frozenset[str] | None = None  # None: every community of the tenant

    def has_scope(self, scope: str) -> bool:
        """Tell whether the key grants scope; `*` and `admin` grant every scope."""
        return bool(self.scopes & {scope, ALL_SCOPES, ADMIN_SCOPE})

    def can_access_community(self, community_id: str) -> bool:
        """Tell whether the key is allowed to act on this community."""
        return self.community_ids is None or community_id in self.community_ids


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


async def authenticate(store: ApiKeyStore, authorization_header: str | None) -> Principal:
    """Resolve an `Authorization: Bearer <key>` header to a Principal or raise Unauthorized."""
    scheme, _, token = (authorization_header or "").strip().partition(" ")
    token = token.strip()
    key_id = key_id_of(token) if scheme.lower() == "bearer" else None
    if key_id is None:
        raise Unauthorized(_INVALID)
    stored = await store.find(key_id)
    matches = hmac.compare_digest(hash_api_key(token), stored.hashed if stored else _NO_HASH)
    if stored is None or stored.revoked or not matches:
        raise Unauthorized(_INVALID)
    return Principal(
        tenant_id=stored.tenant_id,
        key_id=stored.key_id,
        scopes=frozenset(stored.scopes),
        community_ids=None if stored.community_ids is None else frozenset(stored.community_ids),
    )


def require_scopes(*scopes: str) -> Callable[..., Awaitable[Principal]]:
    """Return a dependency that authenticates the caller and demands every scope given."""

    async def dependency(
        request: Request,
        _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        principal = await authenticate(_store(request), request.headers.get("authorization"))
        missing = [scope for scope in scopes if not principal.has_scope(scope)]
        if missing:
            raise Forbidden(
                f"API key lacks scope {', '.join(repr(s) for s in missing)}.",
                missing_scopes=missing,
            )
        return principal

    return dependency


def require_community(principal: Principal, community_id: str) -> None:
    """Raise Forbidden unless the principal's key covers this community."""
    if not principal.can_access_community(community_id):
        raise Forbidden(f"API key is not allowed to access community {community_id!r}.")


def _store(request: Request) -> ApiKeyStore:
    store: ApiKeyStore | None = getattr(request.app.state, "api_keys", None)
    if store is None:
        raise RuntimeError("app.state.api_keys is not set; wire an ApiKeyStore at startup")
    return store


# Any valid key; routes needing more declare e.g. Depends(require_scopes("events:write")).
PrincipalDep = Annotated[Principal, Depends(require_scopes())]
