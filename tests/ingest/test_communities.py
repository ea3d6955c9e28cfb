"""Admin REST for communities and bindings: secrets go in, never come out."""

from __future__ import annotations

from tests.ingest.conftest import Ingest

SECRETS = {"signing_secret": "s3cr3t-signing", "bot_token": "xoxb-secret-token"}


async def test_community_crud_and_tenancy(ingest: Ingest) -> None:
    created = await ingest.client.post(
        "/v1/ingest/communities",
        json={"name": "Players", "time_zone": "Europe/Berlin"},
        headers=ingest.auth(),
    )
    assert created.status_code == 201
    community = created.json()
    assert community["time_zone"] == "Europe/Berlin"
    patched = await ingest.client.patch(
        f"/v1/ingest/communities/{community['id']}",
        json={"name": "Players EU"},
        headers=ingest.auth(),
    )
    assert patched.json()["name"] == "Players EU"
    listed = await ingest.client.get("/v1/ingest/communities", headers=ingest.auth())
    assert [c["id"] for c in listed.json()["items"]] == [community["id"]]
    bad_zone = await ingest.client.post(
        "/v1/ingest/communities",
        json={"name": "x", "time_zone": "Mars/Olympus"},
        headers=ingest.auth(),
    )
    assert bad_zone.status_code == 422
    assert bad_zone.json()["errors"][0]["loc"] == "body.time_zone"
    reader = await ingest.key("events:read")
    forbidden = await ingest.client.get("/v1/ingest/communities", headers=ingest.auth(reader))
    assert forbidden.status_code == 403
    assert (await ingest.client.get("/v1/ingest/communities")).status_code == 401
    deleted = await ingest.client.delete(
        f"/v1/ingest/communities/{community['id']}", headers=ingest.auth()
    )
    assert deleted.status_code == 204
    gone = await ingest.client.get(
        f"/v1/ingest/communities/{community['id']}", headers=ingest.auth()
    )
    assert gone.status_code == 404


async def test_binding_secrets_are_never_returned_and_validated(ingest: Ingest) -> None:
    community = await ingest.community()
    binding = await ingest.bind(community, "slack", "T0ABC123", SECRETS)
    assert binding["secret_names"] == ["bot_token", "signing_secret"]
    assert binding["webhook_path"] == f"/v1/ingest/webhooks/slack/{binding['id']}"
    base = f"/v1/ingest/communities/{community}/bindings"
    for answer in (
        await ingest.client.get(base, headers=ingest.auth()),
        await ingest.client.get(f"{base}/{binding['id']}", headers=ingest.auth()),
    ):
        assert answer.status_code == 200
        assert "s3cr3t" not in answer.text and "xoxb" not in answer.text
    duplicate = await ingest.client.post(
        base,
        json={"platform": "slack", "external_id": "T0ABC123", "secrets": SECRETS},
        headers=ingest.auth(),
    )
    assert duplicate.status_code == 409
    missing = await ingest.client.post(
        base,
        json={"platform": "telegram", "external_id": "-100123", "secrets": {}},
        headers=ingest.auth(),
    )
    assert missing.status_code == 422
    locs = {e["loc"] for e in missing.json()["errors"]}
    assert {"body.secrets.bot_token", "body.secrets.secret_token"} <= locs
    rotated = await ingest.client.patch(
        f"{base}/{binding['id']}",
        json={"secrets": {"signing_secret": "rotated"}},
        headers=ingest.auth(),
    )
    assert rotated.status_code == 200 and "rotated" not in rotated.text
    deleted = await ingest.client.delete(f"{base}/{binding['id']}", headers=ingest.auth())
    assert deleted.status_code == 204
    webhook = await ingest.client.post(binding["webhook_path"], content=b"{}")
    assert webhook.status_code == 404
