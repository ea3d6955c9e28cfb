"""Keys and tenants end: a revoked key or a deleted tenant's key is refused at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.cli import app as cli
from shared.api.auth import UnknownScopes
from shared.tenancy.repository import create_key, delete_tenant, list_keys, revoke_key
from tests.ingest.conftest import Ingest

pytestmark = pytest.mark.integration


async def test_a_revoked_key_is_refused_at_once(ingest: Ingest) -> None:
    key = await ingest.key("admin")
    assert (await ingest.client.get("/v1/ingest/communities", headers=ingest.auth(key))).is_success
    assert await revoke_key(ingest.host.tenancy_db, key.split("_")[1])
    refused = await ingest.client.get("/v1/ingest/communities", headers=ingest.auth(key))
    assert refused.status_code == 401


async def test_a_deleted_tenants_key_creates_nothing(ingest: Ingest) -> None:
    revoked = await delete_tenant(ingest.host.tenancy_db, ingest.tenant_id)
    assert revoked >= 1
    refused = await ingest.client.post(
        "/v1/ingest/communities", json={"name": "after death"}, headers=ingest.auth()
    )
    assert refused.status_code == 401
    with pytest.raises(LookupError):
        await create_key(
            ingest.host.tenancy_db, tenant_id=ingest.tenant_id, name="x", scopes=["admin"]
        )


async def test_unknown_scopes_are_refused_at_creation(ingest: Ingest) -> None:
    with pytest.raises(UnknownScopes):
        await ingest.key("events:wrte")
    answer = await ingest.client.post(
        "/v1/admin/keys", json={"name": "typo", "scopes": ["members:delete"]}, headers=ingest.auth()
    )
    assert answer.status_code == 422
    assert "members:delete" in answer.json()["detail"]
    keys = await list_keys(ingest.host.tenancy_db, ingest.tenant_id)
    assert [k.name for k in keys] == ["admin"]


async def test_the_admin_api_lists_creates_revokes_and_deletes(ingest: Ingest) -> None:
    created = await ingest.client.post(
        "/v1/admin/keys",
        json={"name": "reader", "scopes": ["events:read"]},
        headers=ingest.auth(),
    )
    assert created.status_code == 201
    reader = created.json()
    assert reader["key"].startswith(f"hth_{reader['key_id']}_")
    listed = await ingest.client.get("/v1/admin/keys", headers=ingest.auth())
    assert {k["name"] for k in listed.json()} == {"admin", "reader"}
    assert "hashed" not in listed.text and reader["key"] not in listed.text
    community = await ingest.community()
    bound = await ingest.key("admin", communities=[community])
    assert (
        await ingest.client.get("/v1/admin/keys", headers=ingest.auth(bound))
    ).status_code == 403
    revoked = await ingest.client.delete(
        f"/v1/admin/keys/{reader['key_id']}", headers=ingest.auth()
    )
    assert revoked.status_code == 204
    refused = await ingest.client.get(
        "/v1/ingest/events", params={"community_id": community}, headers=ingest.auth(reader["key"])
    )
    assert refused.status_code == 401
    gone = await ingest.client.delete("/v1/admin/tenant", headers=ingest.auth())
    assert gone.status_code == 204
    after = await ingest.client.get("/v1/ingest/communities", headers=ingest.auth())
    assert after.status_code == 401


def test_the_cli_lists_revokes_and_deletes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)  # the embedded files under tmp_path
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path)]
    assert runner.invoke(cli, ["admin", "create-tenant", "acme", *data]).exit_code == 0
    made = runner.invoke(
        cli, ["admin", "create-key", "--tenant", "acme", "--scope", "admin", *data]
    )
    assert made.exit_code == 0, made.output
    key_id = made.stdout.strip().splitlines()[-1].split("_")[1]
    typo = runner.invoke(cli, ["admin", "create-key", "--tenant", "acme", "--scope", "admn", *data])
    assert typo.exit_code == 2 and "admn" in typo.output
    listed = runner.invoke(cli, ["admin", "list-keys", "--tenant", "acme", *data])
    assert listed.exit_code == 0 and f"{key_id}\tactive\tadmin" in listed.stdout
    assert runner.invoke(cli, ["admin", "revoke-key", key_id, *data]).exit_code == 0
    listed = runner.invoke(cli, ["admin", "list-keys", "--tenant", "acme", *data])
    assert f"{key_id}\trevoked" in listed.stdout
    assert runner.invoke(cli, ["admin", "revoke-key", "nokey123", *data]).exit_code == 1
    deleted = runner.invoke(cli, ["admin", "delete-tenant", "acme", "--yes", *data])
    assert deleted.exit_code == 0, deleted.output
    again = runner.invoke(cli, ["admin", "delete-tenant", "acme", "--yes", *data])
    assert again.exit_code == 1
