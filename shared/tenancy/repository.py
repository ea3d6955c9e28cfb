"""All SQL of tenants and API keys."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from shared.api.auth import StoredKey, check_scopes, generate_api_key, hash_api_key
from shared.db.engine import Database
from shared.db.migrations import upgrade
from shared.tenancy.tables import api_keys, tenants

MIGRATIONS = Path(__file__).parent / "migrations"


class TenantExists(ValueError):
    """A tenant with that id is already there."""


class UnknownTenant(LookupError):
    """No tenant has that id (or it was deleted)."""


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """An API key as `list-keys` shows it: never the hash."""

    key_id: str
    tenant_id: str
    name: str
    scopes: list[str]
    community_ids: list[str] | None
    revoked: bool
    created_at: datetime
    revoked_at: datetime | None


async def migrate_tenancy(db: Database) -> None:
    """Create or update the tenants and API keys tables."""
    await upgrade(db, MIGRATIONS)


class SqlApiKeyStore:
    """API keys in the database; implements shared.api.auth.ApiKeyStore."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def find(self, key_id: str) -> StoredKey | None:
        """The stored key with that id, or None; read on every request (no cache), so a
        revocation or a tenant's deletion is refused from the next request on, everywhere."""
        query = (
            select(api_keys, tenants.c.deleted_at.label("tenant_deleted_at"))
            .join(tenants, tenants.c.id == api_keys.c.tenant_id)
            .where(api_keys.c.key_id == key_id)
        )
        async with self.db.sessions() as session:
            row = (await session.execute(query)).mappings().first()
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
            tenant_deleted=row["tenant_deleted_at"] is not None,
        )


async def create_tenant(db: Database, tenant_id: str, name: str) -> None:
    """Create a tenant; TenantExists when the id is taken."""
    try:
        async with db.transaction() as session:
            await session.execute(tenants.insert().values(id=tenant_id, name=name))
    except IntegrityError as exc:
        raise TenantExists(tenant_id) from exc


async def tenant_exists(db: Database, tenant_id: str) -> bool:
    """Whether the tenant is there and not deleted."""
    async with db.sessions() as session:
        found = await session.execute(
            select(tenants.c.id).where(tenants.c.id == tenant_id, tenants.c.deleted_at.is_(None))
        )
        return found.first() is not None


async def delete_tenant(db: Database, tenant_id: str) -> int:
    """Delete a tenant: it and every key of it are refused from now on; the number of keys
    revoked. UnknownTenant when there is no such live tenant. Its data in the services'
    schemas stays until an operator purges it; the id cannot be taken again."""
    async with db.transaction() as session:
        marked = await session.execute(
            update(tenants)
            .where(tenants.c.id == tenant_id, tenants.c.deleted_at.is_(None))
            .values(deleted_at=func.now())
        )
        if not marked.rowcount:  # type: ignore[attr-defined]
            raise UnknownTenant(tenant_id)
        revoked = await session.execute(
            update(api_keys)
            .where(api_keys.c.tenant_id == tenant_id, api_keys.c.revoked.is_(False))
            .values(revoked=True, revoked_at=func.now())
        )
    return int(revoked.rowcount)  # type: ignore[attr-defined]


async def list_keys(db: Database, tenant_id: str) -> list[KeyInfo]:
    """Every key of a tenant, revoked ones too, oldest first."""
    query = (
        select(api_keys)
        .where(api_keys.c.tenant_id == tenant_id)
        .order_by(api_keys.c.created_at, api_keys.c.key_id)
    )
    async with db.sessions() as session:
        rows = (await session.execute(query)).mappings().all()
    return [
        KeyInfo(
            key_id=row["key_id"],
            tenant_id=row["tenant_id"],
            name=row["name"],
            scopes=list(row["scopes"]),
            community_ids=list(row["community_ids"]) if row["community_ids"] is not None else None,
            revoked=bool(row["revoked"]),
            created_at=row["created_at"],
            revoked_at=row["revoked_at"],
        )
        for row in rows
    ]


async def create_key(
    db: Database,
    *,
    tenant_id: str,
    name: str,
    scopes: Sequence[str],
    community_ids: Sequence[str] | None = None,
) -> str:
    """Create an API key and return its plaintext, which is never stored.

    UnknownScopes (shared.api.auth) for a scope Hearth does not define; UnknownTenant
    for a tenant that is not there or was deleted.
    """
    scopes = check_scopes(scopes)
    if community_ids is not None and not community_ids:
        raise ValueError("a key limited to communities needs at least one community id")
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


async def revoke_key(db: Database, key_id: str, *, tenant_id: str | None = None) -> bool:
    """Revoke a key (refused from the next request on); False when no key has that id
    (within tenant_id when given: a tenant's admin revokes only its own keys)."""
    query = update(api_keys).where(api_keys.c.key_id == key_id)
    if tenant_id is not None:
        query = query.where(api_keys.c.tenant_id == tenant_id)
    async with db.transaction() as session:
        result = await session.execute(
            query.values(revoked=True, revoked_at=func.coalesce(api_keys.c.revoked_at, func.now()))
        )
    return bool(result.rowcount)  # type: ignore[attr-defined]
