"""The moderation API: rules uploaded as YAML (versioned, errors by line), read back, and
texts evaluated without storing anything."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select
from ulid import ULID

from services.moderation.tables import decisions
from tests.moderation.conftest import Moderation

pytestmark = [
    pytest.mark.integration,
    pytest.mark.parametrize("moderation", ["memory"], indirect=True),  # HTTP only: cheap
]

YAML = {"Content-Type": "application/yaml"}
RULES = """\
rules:
  - id: no-heck
    kind: keywords
    words: [heck]
    action: hide
    reason: mild language
"""


def community() -> str:
    return f"c{ULID()}".lower()


async def put(
    moderation: Moderation, community_id: str, body: str, key: str | None = None
) -> httpx.Response:
    return await moderation.client.put(
        f"/v1/moderation/communities/{community_id}/rules",
        content=body.encode(),
        headers={**moderation.auth(key), **YAML},
    )


async def test_a_community_has_the_default_rules_until_it_sets_its_own(
    moderation: Moderation,
) -> None:
    one = community()
    before = await moderation.client.get(
        f"/v1/moderation/communities/{one}/rules", headers=moderation.auth()
    )
    assert before.status_code == 200
    assert (before.json()["version"], before.json()["default"]) == (0, True)
    assert "profanity-en" in before.text

    first = await put(moderation, one, RULES)
    second = await put(moderation, one, RULES.replace("mild language", "be nice"))
    assert (first.status_code, second.status_code) == (200, 200)
    assert (first.json()["version"], second.json()["version"]) == (1, 2)

    after = await moderation.client.get(
        f"/v1/moderation/communities/{one}/rules", headers=moderation.auth()
    )
    body = after.json()
    assert (body["version"], body["default"]) == (2, False)
    assert body["source"] == RULES.replace("mild language", "be nice")
    assert body["rules"]["rules"][0]["reason"] == "be nice"


async def test_invalid_rules_are_a_422_problem_naming_line_and_field(
    moderation: Moderation,
) -> None:
    one = community()
    bad = RULES.replace("action: hide", "action: vaporize")
    answer = await put(moderation, one, bad)
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
    [error] = answer.json()["errors"]
    assert (error["line"], error["loc"]) == (5, "rules[0].action")
    still = await moderation.client.get(
        f"/v1/moderation/communities/{one}/rules", headers=moderation.auth()
    )
    assert still.json()["default"] is True  # nothing was stored


async def test_evaluate_applies_the_communitys_rules_and_stores_nothing(
    moderation: Moderation,
) -> None:
    one = community()
    assert (await put(moderation, one, RULES)).status_code == 200
    own = await moderation.client.post(
        "/v1/moderation/evaluate",
        json={"text": "what the HECK", "community_id": one},
        headers=moderation.auth(),
    )
    assert own.status_code == 200, own.text
    judged = own.json()
    scores = judged.pop("scores")
    assert scores["profanity"] == 1.0
    assert set(scores) >= {"toxicity", "insult", "threat", "profanity", "sexual", "spam"}
    assert all(0.0 <= value <= 1.0 for value in scores.values())
    assert judged.pop("model_version")
    assert judged == {
        "verdict": "hide",
        "reasons": [
            {
                "rule": "no-heck",
                "action": "hide",
                "reason": "mild language",
                "category": "profanity",
            }
        ],
        "language": "en",
        "rules_version": 1,
        "timed_out": [],
    }
    default = await moderation.client.post(
        "/v1/moderation/evaluate", json={"text": "ну ты и сука"}, headers=moderation.auth()
    )
    assert default.json()["verdict"] == "hide"
    assert default.json()["language"] == "ru"
    assert default.json()["rules_version"] == 0
    async with moderation.db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(decisions)) == 0


async def test_a_key_of_another_community_cannot_read_set_or_use_its_rules(
    moderation: Moderation,
) -> None:
    one, two = community(), community()
    assert (await put(moderation, one, RULES)).status_code == 200
    bound_to_two = await moderation.key("admin", communities=[two])
    assert (await put(moderation, one, RULES, key=bound_to_two)).status_code == 403
    read = await moderation.client.get(
        f"/v1/moderation/communities/{one}/rules", headers=moderation.auth(bound_to_two)
    )
    assert read.status_code == 403
    used = await moderation.client.post(
        "/v1/moderation/evaluate",
        json={"text": "heck", "community_id": one},
        headers=moderation.auth(bound_to_two),
    )
    assert used.status_code == 403
    without_admin = await moderation.key("events:read")
    assert (await put(moderation, one, RULES, key=without_admin)).status_code == 403


async def test_another_tenants_rules_never_apply_to_this_tenant(moderation: Moderation) -> None:
    from shared.tenancy.repository import create_key, create_tenant

    one = community()
    other = f"t{str(ULID()).lower()}"
    await create_tenant(moderation.host.tenancy_db, other, "B")
    key_b = await create_key(
        moderation.host.tenancy_db, tenant_id=other, name="b", scopes=["admin"]
    )
    assert (await put(moderation, one, RULES, key=key_b)).status_code == 200  # B's own namespace
    mine = await moderation.client.get(
        f"/v1/moderation/communities/{one}/rules", headers=moderation.auth()
    )
    assert mine.json()["default"] is True
    judged = await moderation.client.post(
        "/v1/moderation/evaluate",
        json={"text": "heck", "community_id": one},
        headers=moderation.auth(),
    )
    assert judged.json()["verdict"] == "allow"
