"""Every route of the app, called by someone who may not touch tenant A's data.

Routes are found by walking the app (`app.routes`), so routes of services added later
are covered without editing this file. Three callers try every route on tenant A's
resources: tenant B's admin key, an admin key of A bound to another community, and a
key of A lacking the scope the route demands. Each answer is 403 or 404 (a list may
answer 200 with the caller's own data), no answer names one of A's ids the caller may
not see, and afterwards A's data is exactly what it was.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from ulid import ULID

from shared.api.auth import ADMIN_SCOPE, ALL_SCOPES, SCOPES
from shared.tenancy.repository import create_key, create_tenant
from tests.ingest.conftest import Ingest

pytestmark = pytest.mark.integration


@dataclass
class World:
    """Tenant A's resources, and the ids a community-bound key of A may see."""

    ids: dict[str, str]  # path/query parameter name -> A's resource in community one
    secret_of_a: set[str]  # ids tenant B must never see
    secret_of_other_community: set[str]  # ids the key bound to community two must not see


def event(community: str, user: str, n: int) -> dict[str, Any]:
    return {
        "type": "community.message.created",
        "community_id": community,
        "platform": "api",
        "occurred_at": "2026-11-20T10:00:00Z",
        "source_event_id": f"matrix-{user}-{n}",
        "actor": {"platform_user_id": user, "username": user},
    }


async def member_id(ingest: Ingest, user: str) -> str:
    found = await ingest.client.get(
        "/v1/ingest/members",
        params={"platform": "api", "platform_user_id": user},
        headers=ingest.auth(),
    )
    return str(found.json()["items"][0]["id"])


async def build_world(ingest: Ingest) -> World:
    one = await ingest.community("one")
    two = await ingest.community("two")
    binding = await ingest.bind(one, "slack", f"T{ULID()}", {"signing_secret": "s"})
    for n, (community, user) in enumerate([(one, "ann"), (one, "bob"), (two, "cyd")]):
        sent = await ingest.client.post(
            "/v1/ingest/events", json=event(community, user, n), headers=ingest.auth()
        )
        assert sent.status_code == 200, sent.text
    ann, bob, cyd = [await member_id(ingest, user) for user in ("ann", "bob", "cyd")]
    merged = await ingest.client.post(
        "/v1/ingest/members/merge",
        json={"target_member_id": ann, "source_member_id": bob},
        headers=ingest.auth(),
    )
    assert merged.status_code == 201, merged.text
    merge = merged.json()["merge_id"]
    admin_key_id = ingest.admin_key.split("_")[1]
    ids = {
        "community_id": one,
        "binding_id": binding["id"],
        "member_id": ann,
        "merge_id": merge,
        "key_id": admin_key_id,
        "platform": "api",
        "platform_user_id": "ann",
    }
    in_one = {one, binding["id"], ann, bob, merge, admin_key_id}
    return World(ids, in_one | {two, cyd}, in_one)


@dataclass(frozen=True)
class Route:
    path_format: str
    methods: frozenset[str]
    api: APIRoute


def routes(ingest: Ingest) -> Iterator[Route]:
    """Every API route of the app the test talks to, with its full path."""
    app = ingest.client._transport.app  # type: ignore[attr-defined]
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and context.path_format:
            yield Route(context.path_format, frozenset(context.methods or ()), route)


def demands(route: Route) -> tuple[tuple[str, ...], bool] | None:
    """The scopes a route's key dependency demands; None for a route without a key."""
    pending = list(route.api.dependant.dependencies)
    while pending:
        dependant = pending.pop()
        scopes = getattr(dependant.call, "required_scopes", None)
        if scopes is not None:
            return tuple(scopes), bool(getattr(dependant.call, "tenant_wide", False))
        pending.extend(dependant.dependencies)
    return None


def body_for(method: str, path: str, world: World) -> Any:
    ids = world.ids
    bodies: dict[tuple[str, str], Any] = {
        ("POST", "/v1/ingest/communities"): {"name": "intruder"},
        ("PATCH", "/v1/ingest/communities/{community_id}"): {"name": "hijacked"},
        ("POST", "/v1/ingest/communities/{community_id}/bindings"): {
            "platform": "github",
            "external_id": f"intruder/{ULID()}",
            "secrets": {"webhook_secret": "x"},
        },
        ("PATCH", "/v1/ingest/communities/{community_id}/bindings/{binding_id}"): {
            "options": {"hijacked": True}
        },
        ("POST", "/v1/ingest/events"): event(ids["community_id"], "ann", 99),
        ("POST", "/v1/ingest/members/{member_id}/identities"): {
            "platform": "github",
            "platform_user_id": "intruder",
        },
        ("POST", "/v1/ingest/members/merge"): {
            "target_member_id": ids["member_id"],
            "source_member_id": world.ids.get("other_member", ids["member_id"]),
        },
        ("POST", "/v1/admin/keys"): {"name": "intruder", "scopes": ["admin"]},
    }
    return bodies.get((method, path), {} if method in {"POST", "PUT", "PATCH"} else None)


Call = tuple[str, str, str, dict[str, str], Any]  # method, template, url, query, body


def calls(ingest: Ingest, world: World) -> list[Call]:
    """(method, template, url, query, body) for every route, deletions last."""
    found = []
    for route in routes(ingest):
        url = route.path_format
        for param in route.api.dependant.path_params:
            url = url.replace("{" + param.name + "}", world.ids.get(param.name, f"x{ULID()}"))
        query = {
            param.alias: world.ids.get(param.alias, "x")
            for param in route.api.dependant.query_params
            if param.field_info.is_required()
        }
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            found.append(
                (method, route.path_format, url, query, body_for(method, route.path_format, world))
            )
    # A caller deleting its own tenant comes last, so it stays a caller until then.
    return sorted(found, key=lambda c: (c[0] == "DELETE", "{" not in c[1], c[1]))


async def snapshot(ingest: Ingest, world: World) -> str:
    """Everything tenant A has, as its admin sees it."""
    get = ingest.client.get
    auth = ingest.auth()
    seen: dict[str, Any] = {}
    communities = (await get("/v1/ingest/communities", headers=auth)).json()
    seen["communities"] = communities
    for community in communities["items"]:
        base = f"/v1/ingest/communities/{community['id']}"
        seen[base] = (await get(base, headers=auth)).json()
        seen[base + "/bindings"] = (await get(base + "/bindings", headers=auth)).json()
        events = await get(
            "/v1/ingest/events", params={"community_id": community["id"]}, headers=auth
        )
        seen["events " + community["id"]] = events.json()
    for user in ("ann", "bob", "cyd", "intruder"):
        for platform in ("api", "github"):
            found = await get(
                "/v1/ingest/members",
                params={"platform": platform, "platform_user_id": user},
                headers=auth,
            )
            seen[f"member {platform} {user}"] = found.json()
    seen["keys"] = (await get("/v1/admin/keys", headers=auth)).json()
    return json.dumps(seen, sort_keys=True, default=str)


async def test_no_route_lets_another_tenant_or_community_or_scope_in(ingest: Ingest) -> None:
    world = await build_world(ingest)
    world.ids["other_member"] = await member_id(ingest, "cyd")
    tenancy = ingest.host.tenancy_db
    other_tenant = f"t{str(ULID()).lower()}"
    await create_tenant(tenancy, other_tenant, "Tenant B")
    tenant_b = await create_key(tenancy, tenant_id=other_tenant, name="b", scopes=["admin"])
    two = (await ingest.client.get("/v1/ingest/communities", headers=ingest.auth())).json()
    two_id = next(c["id"] for c in two["items"] if c["name"] == "two")
    bound_to_two = await ingest.key("admin", communities=[two_id])
    planned = calls(ingest, world)
    assert len(planned) >= 20, "the app's routes were not found"
    lacking: dict[str, str] = {}
    for route in routes(ingest):
        scopes = (demands(route) or ((), False))[0]
        wrong = sorted(set(SCOPES) - set(scopes) - {ADMIN_SCOPE, ALL_SCOPES})
        if scopes and wrong and wrong[0] not in lacking:
            lacking[wrong[0]] = await ingest.key(wrong[0])
    before = await snapshot(ingest, world)
    checked: list[str] = []
    problems: list[str] = []

    async def call(key: str | None, planned_call: Call) -> tuple[int, set[str], str]:
        method, template, url, query, body = planned_call
        send: dict[str, Any] = {"params": query}
        if body is not None:
            send["json"] = body
        headers = ingest.auth(key) if key else {}
        answer = await ingest.client.request(method, url, headers=headers, **send)
        asked = url + json.dumps(query) + json.dumps(body)
        label = f"{method} {template} -> {answer.status_code}"
        return (
            answer.status_code,
            {v for v in world.secret_of_a if v in answer.text and v not in asked},
            label,
        )

    def judge(
        who: str, planned_call: Call, status: int, found: set[str], label: str, secret: set[str]
    ) -> None:
        method, template = planned_call[0], planned_call[1]
        checked.append(f"{who}: {label}")
        listing = method == "GET" and status == 200
        own_tenant = who == "tenant B" and "{" not in template and status in (200, 201, 204)
        if status not in (403, 404) and not listing and not own_tenant:
            problems.append(f"{who}: {label}")
        if found & secret:
            problems.append(f"{who}: {label} leaked {sorted(found & secret)}")

    by_template = {(m, r.path_format): demands(r) for r in routes(ingest) for m in r.methods}
    for planned_call in planned:
        route_demands = by_template[(planned_call[0], planned_call[1])]
        if route_demands is None:  # public: health, metrics, signed webhooks
            _, found, label = await call(None, planned_call)
            if found - {world.ids["binding_id"]}:
                problems.append(f"public {label} leaked {sorted(found)}")
            continue
        status, found, label = await call(bound_to_two, planned_call)
        judge(
            "key of community two",
            planned_call,
            status,
            found,
            label,
            world.secret_of_other_community,
        )
        scopes, _ = route_demands
        wrong = sorted(set(SCOPES) - set(scopes) - {ADMIN_SCOPE, ALL_SCOPES})
        if scopes and wrong:
            status, found, label = await call(lacking[wrong[0]], planned_call)
            checked.append(f"key without {scopes}: {label}")
            if status != 403 or found:
                problems.append(f"key without {scopes}: {label}")
    for planned_call in planned:  # tenant B last: it may delete its own tenant at the end
        if by_template[(planned_call[0], planned_call[1])] is None:
            continue
        status, found, label = await call(tenant_b, planned_call)
        judge("tenant B", planned_call, status, found, label, world.secret_of_a)
    assert problems == [], "\n".join(problems)
    assert len(checked) >= 40
    assert await snapshot(ingest, world) == before, "a refused request changed tenant A's data"


async def test_a_community_bound_key_cannot_create_a_community(ingest: Ingest) -> None:
    one = await ingest.community("one")
    bound = await ingest.key("admin", communities=[one])
    refused = await ingest.client.post(
        "/v1/ingest/communities", json={"name": "sneaky"}, headers=ingest.auth(bound)
    )
    assert refused.status_code == 403
    listed = (await ingest.client.get("/v1/ingest/communities", headers=ingest.auth())).json()
    assert [c["name"] for c in listed["items"]] == ["one"]


async def test_sending_an_event_does_not_widen_what_a_bound_key_reads(ingest: Ingest) -> None:
    one = await ingest.community("one")
    two = await ingest.community("two")
    sent = await ingest.client.post(
        "/v1/ingest/events", json=event(two, "dee", 1), headers=ingest.auth()
    )
    assert sent.status_code == 200
    dee = await member_id(ingest, "dee")
    key = await ingest.key("events:write", "events:read", "members:read", communities=[one])
    attach = await ingest.client.post(
        "/v1/ingest/events", json=event(one, "dee", 2), headers=ingest.auth(key)
    )
    assert attach.status_code == 200, attach.text
    listed = await ingest.client.get(
        "/v1/ingest/events", params={"community_id": one}, headers=ingest.auth(key)
    )
    assert dee not in listed.text  # the event carries no member of community two
    looked_up = await ingest.client.get(f"/v1/ingest/members/{dee}", headers=ingest.auth(key))
    assert looked_up.status_code == 404
    found = await ingest.client.get(
        "/v1/ingest/members",
        params={"platform": "api", "platform_user_id": "dee"},
        headers=ingest.auth(key),
    )
    assert found.json()["items"] == []
    # a member first met through this key is its own to read
    fresh = await ingest.client.post(
        "/v1/ingest/events", json=event(one, "eve", 3), headers=ingest.auth(key)
    )
    assert fresh.status_code == 200
    eve = await ingest.client.get(
        "/v1/ingest/members",
        params={"platform": "api", "platform_user_id": "eve"},
        headers=ingest.auth(key),
    )
    assert len(eve.json()["items"]) == 1
