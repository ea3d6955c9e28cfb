"""All SQL of tenants and API keys."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from shared.api.auth import StoredKey, generate_api_key, hash_api_key
from shared.db.engine import Database
from shared.db.migrations import upgrade
from shared.tenancy.tables import api_keys, tenants

MIGRATIONS = Path(__file__).parent / "migrations"


class TenantExists(ValueError):
    """A tenant with that id is already there."""


class UnknownTenant(LookupError):
    """No tenant has that id."""


async def migrate_tenancy(db: Database) -> None:
    """Create or update the tenants and API keys tables."""
    await upgrade(db, MIGRATIONS)


class SqlApiKeyStore:
    """API keys in the database; implements shared.api.auth.ApiKeyStore."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def find(self, key_id: str) -> StoredKey | None:
        """The stored key with that id, or None."""
        async with self.db.sessions() as session:
            row = (
                (await session.execute(select(api_keys).where(api_keys.c.key_id == key_id)))
                .mappings()
                .first()
            )
        if row is None:
            return None
        return StoredKey(
            key_id=row["key_id"],
            tenant_id=row["tenant_id"],
            hashed=row["hashed"],
            scopes=frozenset(row["scopes"]),
            community_ids=(
                frozenset(row["community_ids"]) if row["community_ids"] is not None else None
            ),
            revoked=bool(row["revoked"]),
        )


async def create_tenant(db: Database, tenant_id: str, name: str) -> None:
    """Create a tenant; TenantExists when the id is taken."""
    try:
        async with db.transaction() as session:
            await session.execute(tenants.insert().values(id=tenant_id, name=name))
    except IntegrityError as exc:
        raise TenantExists(tenant_id) from exc


async def tenant_exists(db: Database, tenant_id: str) -> bool:
    """Whether the tenant is there."""
    async with db.sessions() as session:
        found = await session.execute(select(tenants.c.id).where(tenants.c.id == tenant_id))
        return found.first() is not None


async def create_key(
    db: Database,
    *,
    tenant_id: str,
    name: str,
    scopes: Sequence[str],
    community_ids: Sequence[str] | None = None,
) -> str:
    """Create an API key and return its plaintext, which is never stored."""
    if not await tenant_exists(db, tenant_id):
        raise UnknownTenant(tenant_id)
    key_id, plaintext = generate_api_key()
    async with db.transaction() as session:
        await session.execute(
            api_keys.insert().values(
                key_id=key_id,
                tenant_id=tenant_id,
                name=name,
                hashed=hash_api_key(plaintext),
                scopes=list(scopes),
                community_ids=list(community_ids) if community_ids is not None else None,
            )
        )
    return plaintext


async def revoke_key(db: Database, key_id: str) -> bool:
    """Revoke a key; False when no key has that id."""
    async with db.transaction() as session:
        result = await session.execute(
            update(api_keys).where(api_keys.c.key_id == key_id).values(revoked=True)
        )
    return bool(result.rowcount)  # type: ignore[attr-defined]
