"""In-memory adapters for the ports in shared/api, for tests only."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from shared.api.auth import StoredKey, generate_api_key, hash_api_key


class InMemoryApiKeyStore:
    """An ApiKeyStore kept in a dict."""

    def __init__(self) -> None:
        self.keys: dict[str, StoredKey] = {}

    def issue(
        self,
        tenant_id: str = "tenant-1",
        scopes: Iterable[str] = ("*",),
        community_ids: Iterable[str] | None = None,
    ) -> str:
        """Create a key and return its plaintext."""
        key_id, plaintext = generate_api_key()
        self.keys[key_id] = StoredKey(
            key_id=key_id,
            tenant_id=tenant_id,
            hashed=hash_api_key(plaintext),
            scopes=frozenset(scopes),
            community_ids=None if community_ids is None else frozenset(community_ids),
        )
        return plaintext

    def revoke(self, key_id: str) -> None:
        """Mark a key revoked."""
        self.keys[key_id] = replace(self.keys[key_id], revoked=True)

    async def find(self, key_id: str) -> StoredKey | None:
        """Return the key with this id, or None."""
        return self.keys.get(key_id)
