"""Every route of every service, called by someone who may not touch tenant A's data.

One host runs every service of services/registry.py, and routes are found by walking
its app (`app.routes`), so routes of services added later are covered without editing
this file. Three callers try every route on tenant A's resources: tenant B's admin key,
an admin key of A bound to another community, and a key of A holding every scope but the
ones the route demands. Each answer is 403 or 404 (a read may answer 200 with the
caller's own data), no answer names one of A's ids or quotes A's content the caller may
not see, and afterwards A's data, as A's admin reads it through every GET route, is
exactly what it was. A route the matrix cannot build a request for fails the test.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from ulid import ULID

from services.registry import SERVICES
from shared.api.auth import ADMIN_SCOPE, ALL_SCOPES, SCOPES
from shared.tenancy.repository import create_key, create_tenant
from tests.ingest.conftest import Ingest

pytestmark = pytest.mark.integration

# Routes where another tenant's key is answered in its own namespace: the service keys
# its rows by (tenant, community id) and cannot tell whether a community exists, so
# tenant B writing "rules of community X" stores B's rows, which nothing of A ever reads
# (docs/api.md, "What a key can see"). A 2xx is accepted there only when the answer
# shows nothing of A's and A's data is unchanged afterwards. Every other route must
# refuse another tenant with 403 or 404.
OWN_NAMESPACE = {
    ("PUT", "/v1/moderation/communities/{community_id}/rules"),
    ("POST", "/v1/moderation/communities/{community_id}/rules:dry-run"),
    ("PUT", "/v1/insights/communities/{community_id}/routing"),
    ("POST", "/v1/insights/communities/{community_id}/surveys"),
}


@dataclass
class World:
    """Tenant A's resources, and what the callers must never see of them."""

    ids: dict[str, str]  # path/query parameter name -> A's resource in community one
    communities: tuple[str, str]  # A's communities one and two
    secret_of_a: set[str]  # ids and content tenant B must never see
    secret_of_other_community: set[str]  # what the key bound to community two must not see


def event(community: str, user: str, n: int, **extra: Any) -> dict[str, Any]:
    return {
        "type": "community.message.created",
        "community_id": community,
        "platform": "api",
        "occurred_at": "2026-11-20T10:00:00Z",
        "source_event_id": f"matrix-{user}-{n}",
        "actor": {"platform_user_id": user, "username": user},
        **extra,
    }


def moderation_rules(reason: str) -> str:
    return (
        "rules:\n  - id: matrix\n    kind: keywords\n    words: [zzqqmatrixword]\n"
        f"    action: hide\n    reason: {json.dumps(reason)}\n    category: spam\n"
    )


GAMIFICATION_RULES = (
    "time_zone: UTC\nrules:\n  - id: message\n    event: community.message.created\n"
    "    points: 1000\n"
)


async def member_id(hearth: Ingest, user: str) -> str:
    found = await hearth.client.get(
        "/v1/ingest/members",
        params={"platform": "api", "platform_user_id": user},
        headers=hearth.auth(),
    )
    return str(found.json()["items"][0]["id"])


async def until(
    what: str, check: Callable[[], Any], state: dict[str, Any], timeout: float = 120
) -> None:
    """Poll `check` (a coroutine function) until it is true; fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"{what} did not happen in {timeout} s: {state}"
        await asyncio.sleep(0.3)


async def build_world(hearth: Ingest) -> World:
    """A's data in every service; the content of community one carries `marker`."""
    marker = f"zq{str(ULID()).lower()}"
    one = await hearth.community(f"one {marker}")
    two = await hearth.community("two")
    binding = await hearth.bind(one, "slack", f"T{ULID()}", {"signing_secret": "s"})
    sent_events = [
        event(one, "ann", 0),
        event(one, "bob", 1),
        event(two, "cyd", 2),
        event(
            one,
            "dee",
            3,
            type="community.feedback.submitted",
            content={"text": f"The app crashes every time I upload a photo {marker}"},
        ),
    ]
    for body in sent_events:
        sent = await hearth.client.post("/v1/ingest/events", json=body, headers=hearth.auth())
        assert sent.status_code == 200, sent.text
    ann, bob, cyd, dee = [await member_id(hearth, u) for u in ("ann", "bob", "cyd", "dee")]
    merged = await hearth.client.post(
        "/v1/ingest/members/merge",
        json={"target_member_id": ann, "source_member_id": bob},
        headers=hearth.auth(),
    )
    assert merged.status_code == 201, merged.text
    rules = await hearth.client.put(
        f"/v1/moderation/communities/{one}/rules",
        content=moderation_rules(f"matrix {marker}"),
        headers={**hearth.auth(), "Content-Type": "application/yaml"},
    )
    assert rules.status_code == 200, rules.text

    async def entries(community: str) -> int:
        board = await hearth.client.get(
            f"/v1/gamification/communities/{community}/leaderboard", headers=hearth.auth()
        )
        return len(board.json()["entries"]) if board.status_code == 200 else 0

    state: dict[str, Any] = {}

    async def settled() -> bool:
        clusters = await hearth.client.get(
            f"/v1/insights/communities/{one}/clusters", headers=hearth.auth()
        )
        state["now"] = (await entries(one), await entries(two), clusters.text[:300])
        # ann (with bob, merged into her: gamification re-keys his points), dee in one and
        # cyd in two; dee's feedback clustered
        return state["now"][:2] == (2, 1) and marker in clusters.text

    # Consumers are done with A's events before the "before" snapshot is taken.
    await until("gamification and insights consuming A's events", settled, state)
    admin_key_id = hearth.admin_key.split("_")[1]
    ids = {
        "community_id": one,
        "binding_id": binding["id"],
        "member_id": ann,
        "other_member": cyd,
        "merge_id": merged.json()["merge_id"],
        "key_id": admin_key_id,
        "platform": "api",
        "platform_user_id": "ann",
        # A's decisions here are all allowed, so no review item exists: every caller
        # gets 404 from the queue's claim/decide (tests/moderation/test_review.py scopes them).
        "decision_id": "1",
        # Likewise a cluster's detail answers 404 to every caller for this id
        # (tests/insights/test_feedback_stream.py scopes it by tenant).
        "cluster_id": "1",
        # A has no campaigns: 404 for every caller (tests/gamification/test_campaigns.py).
        "campaign_id": "1",
        # A has no sanctions or appeals: 404 for every caller (tests/moderation/test_appeals.py
        # scopes them).
        "sanction_id": "1",
        "appeal_id": "1",
        "poll_id": "1",  # no such poll: 404 for every caller (tests/insights/test_polls.py)
    }
    in_one = {one, binding["id"], ann, bob, dee, ids["merge_id"], admin_key_id, marker}
    return World(ids, (one, two), in_one | {two, cyd}, in_one)


@dataclass(frozen=True)
class Route:
    path_format: str
    methods: frozenset[str]
    api: APIRoute


def routes(hearth: Ingest) -> Iterator[Route]:
    """Every API route of the app the test talks to, with its full path."""
    app = hearth.client._transport.app  # type: ignore[attr-defined]
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


def yaml(text: str) -> dict[str, Any]:
    return {"content": text.encode(), "headers": {"Content-Type": "application/yaml"}}


# A valid body for every keyed route that takes one, so a refusal is the key's doing and
# not a 422. A new route with a body needs an entry here, or the matrix fails.
BODIES: dict[tuple[str, str], Callable[[dict[str, str]], dict[str, Any]]] = {
    ("POST", "/v1/ingest/communities"): lambda ids: {"json": {"name": "intruder"}},
    ("PATCH", "/v1/ingest/communities/{community_id}"): lambda ids: {"json": {"name": "hijacked"}},
    ("POST", "/v1/ingest/communities/{community_id}/bindings"): lambda ids: {
        "json": {
            "platform": "github",
            "external_id": f"intruder/{ULID()}",
            "secrets": {"webhook_secret": "x"},
        }
    },
    ("PATCH", "/v1/ingest/communities/{community_id}/bindings/{binding_id}"): lambda ids: {
        "json": {"options": {"hijacked": True}}
    },
    ("POST", "/v1/ingest/events"): lambda ids: {"json": event(ids["community_id"], "ann", 99)},
    ("POST", "/v1/ingest/members/{member_id}/identities"): lambda ids: {
        "json": {"platform": "github", "platform_user_id": "intruder"}
    },
    ("POST", "/v1/ingest/members/merge"): lambda ids: {
        "json": {"target_member_id": ids["member_id"], "source_member_id": ids["other_member"]}
    },
    ("POST", "/v1/admin/keys"): lambda ids: {"json": {"name": "intruder", "scopes": ["admin"]}},
    ("PUT", "/v1/moderation/communities/{community_id}/rules"): lambda ids: yaml(
        moderation_rules("intruder")
    ),
    ("POST", "/v1/moderation/evaluate"): lambda ids: {
        "json": {"text": "hello", "community_id": ids["community_id"]}
    },
    ("POST", "/v1/moderation/perspective/v1alpha1/comments:analyze"): lambda ids: {
        "json": {"comment": {"text": "hello"}, "requestedAttributes": {"TOXICITY": {}}}
    },
    ("POST", "/v1/moderation/queue/{decision_id}/decide"): lambda ids: {
        "json": {"verdict": "remove", "note": "intruder"}
    },
    ("POST", "/v1/moderation/communities/{community_id}/rules:dry-run"): lambda ids: yaml(
        moderation_rules("intruder")
    ),
    ("POST", "/v1/moderation/reports"): lambda ids: {
        "json": {
            "community_id": ids["community_id"],
            "subject_event_id": str(ULID()),
            "reporter": "intruder",
        }
    },
    ("POST", "/v1/moderation/sanctions/{sanction_id}/appeals"): lambda ids: {
        "json": {"statement": "intruder"}
    },
    ("POST", "/v1/moderation/appeals/{appeal_id}/decide"): lambda ids: {
        "json": {"outcome": "reverse", "note": "intruder"}
    },
    ("PUT", "/v1/gamification/communities/{community_id}/rules"): lambda ids: yaml(
        GAMIFICATION_RULES
    ),
    ("POST", "/v1/gamification/communities/{community_id}/members/{member_id}/grants"): (
        lambda ids: {"json": {"points": 1000, "reason": "intruder"}}
    ),
    ("POST", "/v1/gamification/communities/{community_id}/rules/simulate"): lambda ids: yaml(
        GAMIFICATION_RULES
    ),
    ("POST", "/v1/gamification/communities/{community_id}/campaigns"): lambda ids: {
        "json": {
            "name": "intruder",
            "platform": "discord",
            "starts_at": "2027-01-01T00:00:00Z",
            "ends_at": "2027-01-02T00:00:00Z",
            "tag": "intruder",
        }
    },
    ("PUT", "/v1/gamification/communities/{community_id}/campaigns/{campaign_id}/jury"): (
        lambda ids: {"json": {"picks": []}}
    ),
    ("PUT", "/v1/insights/communities/{community_id}/routing"): lambda ids: yaml(
        "rules:\n  - name: matrix\n    team: product\n"
    ),
    ("POST", "/v1/insights/communities/{community_id}/surveys"): lambda ids: {
        "json": {"survey_id": "matrix", "answers": [{"respondent": "intruder", "options": ["x"]}]}
    },
    ("POST", "/v1/insights/analyze"): lambda ids: {
        "json": {"items": [{"id": "1", "text": "The app crashes on upload"}]}
    },
}


class Unbuildable(Exception):
    """The matrix does not know how to call a route: it must be taught, not skipped."""


@dataclass(frozen=True)
class Call:
    method: str
    template: str
    url: str
    query: dict[str, str]
    send: dict[str, Any]  # httpx keyword arguments: json= or content= and headers=

    @property
    def asked(self) -> str:
        """Everything the caller itself put into the request."""
        return self.url + json.dumps(self.query) + json.dumps(self.send, default=str)


def build(route: Route, method: str, ids: dict[str, str]) -> Call:
    """The request for one route and method, from A's ids; Unbuildable when unknown."""
    name = f"{method} {route.path_format}"
    url = route.path_format
    for param in route.api.dependant.path_params:
        if param.name not in ids:
            raise Unbuildable(f"{name}: no value for path parameter {param.name!r}")
        url = url.replace("{" + param.name + "}", ids[param.name])
    query = {}
    for param in route.api.dependant.query_params:
        if param.field_info.is_required():
            if param.alias not in ids:
                raise Unbuildable(f"{name}: no value for query parameter {param.alias!r}")
            query[param.alias] = ids[param.alias]
    declared = route.api.dependant.body_params or "requestBody" in (route.api.openapi_extra or {})
    make = BODIES.get((method, route.path_format))
    if make is not None:
        send = make(ids)
    elif declared and demands(route) is not None:
        raise Unbuildable(f"{name}: takes a body; add a valid one to BODIES")
    elif method in {"POST", "PUT", "PATCH"}:
        send = {"json": {}}  # public routes (webhooks): an unsigned stranger's body
    else:
        send = {}
    return Call(method, route.path_format, url, query, send)


def calls(hearth: Ingest, world: World) -> tuple[list[Call], list[str]]:
    """Every route and method as a Call, deletions last; and the routes it cannot build."""
    found, unbuildable = [], []
    for route in routes(hearth):
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            try:
                found.append(build(route, method, world.ids))
            except Unbuildable as error:
                unbuildable.append(str(error))
    # A caller deleting its own tenant comes last, so it stays a caller until then.
    found.sort(key=lambda c: (c.method == "DELETE", "{" not in c.template, c.template))
    return found, unbuildable


async def snapshot(hearth: Ingest, world: World) -> str:
    """Everything tenant A has, as its admin reads it through every keyed GET route."""
    get = hearth.client.get
    auth = hearth.auth()
    seen: dict[str, Any] = {}
    for route in routes(hearth):
        if "GET" not in route.methods or demands(route) is None:
            continue
        for community in world.communities:
            call = build(route, "GET", {**world.ids, "community_id": community})
            answer = await get(call.url, params=call.query, headers=auth)
            lines = answer.headers.get("content-type", "").startswith("application/x-ndjson")
            body = answer.text if lines else answer.json()  # JSON-lines exports
            seen[call.url + json.dumps(call.query)] = (answer.status_code, body)
    for user in ("ann", "bob", "cyd", "dee", "intruder"):
        for platform in ("api", "github"):
            found = await get(
                "/v1/ingest/members",
                params={"platform": platform, "platform_user_id": user},
                headers=auth,
            )
            seen[f"member {platform} {user}"] = found.json()
    return json.dumps(seen, sort_keys=True, default=str)


async def test_no_route_lets_another_tenant_or_community_or_scope_in(
    every_service: Ingest,
) -> None:
    hearth = every_service
    world = await build_world(hearth)
    planned, unbuildable = calls(hearth, world)
    assert unbuildable == [], "the matrix cannot call these routes:\n" + "\n".join(unbuildable)
    prefixes = {c.template.split("/")[2] for c in planned if c.template.startswith("/v1/")}
    assert set(SERVICES) <= prefixes, f"routes of {set(SERVICES) - prefixes} were not found"
    tenancy = hearth.host.tenancy_db
    other_tenant = f"t{str(ULID()).lower()}"
    await create_tenant(tenancy, other_tenant, "Tenant B")
    tenant_b = await create_key(tenancy, tenant_id=other_tenant, name="b", scopes=["admin"])
    bound_to_two = await hearth.key("admin", communities=[world.communities[1]])
    by_template = {(m, r.path_format): demands(r) for r in routes(hearth) for m in r.methods}
    lacking: dict[tuple[str, ...], str] = {}  # route's scopes -> a key with every other one
    for route_demands in by_template.values():
        scopes = (route_demands or ((), False))[0]
        if scopes and scopes not in lacking:
            others = sorted(set(SCOPES) - set(scopes) - {ADMIN_SCOPE, ALL_SCOPES})
            lacking[scopes] = await hearth.key(*others)
    before = await snapshot(hearth, world)
    checked: list[str] = []
    problems: list[str] = []

    async def call(key: str | None, planned_call: Call) -> tuple[httpx.Response, set[str]]:
        send = dict(planned_call.send)
        headers = {**send.pop("headers", {}), **(hearth.auth(key) if key else {})}
        answer = await hearth.client.request(
            planned_call.method,
            planned_call.url,
            params=planned_call.query,
            headers=headers,
            **send,
        )
        asked = planned_call.asked
        return answer, {v for v in world.secret_of_a if v in answer.text and v not in asked}

    def judge(who: str, planned_call: Call, answer: httpx.Response, found: set[str]) -> None:
        method, template, status = planned_call.method, planned_call.template, answer.status_code
        label = f"{who}: {method} {template} -> {status}"
        checked.append(label)
        secret = world.secret_of_a if who == "tenant B" else world.secret_of_other_community
        if found & secret:
            problems.append(f"{label} leaked {sorted(found & secret)}")
        if status in (403, 404) or (method == "GET" and 200 <= status < 300):
            return
        ok = 200 <= status < 300
        # B's own tenant (creating its own community or key), or a route answering in
        # B's own namespace; A's data is compared afterwards.
        if (
            ok
            and who == "tenant B"
            and ("{" not in template or (method, template) in OWN_NAMESPACE)
        ):
            return
        # A key of community two may succeed only where the request names nothing of one.
        named = any(v in planned_call.asked for v in world.secret_of_other_community)
        if ok and who == "key of community two" and not named:
            return
        problems.append(f"{label} {answer.text[:200]}")

    for planned_call in planned:
        route_demands = by_template[(planned_call.method, planned_call.template)]
        if route_demands is None:  # public: health, metrics, signed webhooks
            answer, found = await call(None, planned_call)
            checked.append(f"public {planned_call.template}")
            if found - {world.ids["binding_id"]}:
                problems.append(f"public {planned_call.template} leaked {sorted(found)}")
            continue
        answer, found = await call(bound_to_two, planned_call)
        judge("key of community two", planned_call, answer, found)
        scopes, _ = route_demands
        if scopes:
            answer, found = await call(lacking[scopes], planned_call)
            label = f"key without {scopes}: {planned_call.method} {planned_call.template}"
            checked.append(label)
            if answer.status_code != 403 or found:
                problems.append(f"{label} -> {answer.status_code} {sorted(found)}")
    for planned_call in planned:  # tenant B last: it may delete its own tenant at the end
        if by_template[(planned_call.method, planned_call.template)] is None:
            continue
        answer, found = await call(tenant_b, planned_call)
        judge("tenant B", planned_call, answer, found)
    assert problems == [], "\n".join(problems)
    assert len(checked) >= 2 * len(planned)
    assert await snapshot(hearth, world) == before, "a refused request changed tenant A's data"


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
