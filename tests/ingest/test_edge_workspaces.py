"""Workspaces are not first-come: bindings are unique per tenant, a 409 names no other
tenant, and a delivery from another workspace than its binding's is ignored."""

from __future__ import annotations

import json

import pytest
from ulid import ULID

from shared.tenancy.repository import create_key, create_tenant
from tests.ingest.conftest import Ingest, fixture, hub_signature, slack_headers, with_fields

pytestmark = pytest.mark.integration

SECRET = "workspace-signing-secret"
EVENTS = "community.events.v1"


async def _other_tenant_admin(ingest: Ingest) -> str:
    other = f"t{str(ULID()).lower()}"
    await create_tenant(ingest.host.tenancy_db, other, "Other tenant")
    return await create_key(ingest.host.tenancy_db, tenant_id=other, name="o", scopes=["admin"])


async def test_another_tenant_binding_the_same_workspace_first_blocks_nothing_and_learns_nothing(
    ingest: Ingest,
) -> None:
    squatter = await _other_tenant_admin(ingest)
    theirs = await ingest.client.post(
        "/v1/ingest/communities", json={"name": "squat", "time_zone": "UTC"},
        headers=ingest.auth(squatter),
    )  # fmt: skip
    squatted = await ingest.client.post(
        f"/v1/ingest/communities/{theirs.json()['id']}/bindings",
        json={"platform": "slack", "external_id": "T111", "secrets": {"signing_secret": "x"}},
        headers=ingest.auth(squatter),
    )
    assert squatted.status_code == 201, squatted.text
    community = await ingest.community()
    binding = await ingest.bind(community, "slack", "T111", {"signing_secret": SECRET})
    body = fixture("slack/message.json")
    answer = await ingest.client.post(
        binding["webhook_path"], content=body, headers=slack_headers(SECRET, body)
    )
    assert answer.status_code == 200 and answer.json()["accepted"] == 1, answer.text
    # a second binding of the same workspace in the same tenant is the only conflict
    again = await ingest.client.post(
        f"/v1/ingest/communities/{community}/bindings",
        json={"platform": "slack", "external_id": "T111", "secrets": {"signing_secret": "y"}},
        headers=ingest.auth(),
    )
    assert again.status_code == 409, again.text
    assert theirs.json()["id"] not in again.text and "squat" not in again.text
    assert "this tenant" in again.json()["detail"]


async def test_a_slack_delivery_of_another_team_is_ignored(ingest: Ingest) -> None:
    community = await ingest.community()
    binding = await ingest.bind(community, "slack", "T111", {"signing_secret": SECRET})
    body = with_fields(fixture("slack/message.json"), team_id="T999")
    answer = await ingest.client.post(
        binding["webhook_path"], content=body, headers=slack_headers(SECRET, body)
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == 0 and "workspace" in answer.json()["ignored"]
    assert (
        await ingest.published(
            EVENTS, match=lambda e: e.data["community_id"] == community, timeout=2
        )
        == []
    )


async def test_a_github_delivery_of_another_repository_is_ignored(ingest: Ingest) -> None:
    community = await ingest.community()
    binding = await ingest.bind(
        community, "github", "someone/elsewhere", {"webhook_secret": "gh-secret"}
    )
    body = fixture("github/issues.opened.json")
    headers = {
        "X-GitHub-Event": "issues",
        "X-GitHub-Delivery": "d-foreign",
        "X-Hub-Signature-256": hub_signature("gh-secret", body),
        "Content-Type": "application/json",
    }
    answer = await ingest.client.post(binding["webhook_path"], content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == 0, answer.json()
    repository = json.loads(body)["repository"]["full_name"]
    same = await ingest.bind(community, "github", repository, {"webhook_secret": "gh-secret"})
    headers["X-GitHub-Delivery"] = "d-own"
    answer = await ingest.client.post(same["webhook_path"], content=body, headers=headers)
    assert answer.json()["accepted"] == 1, answer.json()
