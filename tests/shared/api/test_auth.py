import re
from collections.abc import AsyncIterator, Callable
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI

from shared.api.auth import (
    Principal,
    PrincipalDep,
    authenticate,
    generate_api_key,
    hash_api_key,
    require_community,
    require_scopes,
)
from shared.api.problems import PROBLEM_MEDIA_TYPE, Unauthorized, install_problem_handlers
from tests.shared.api.fakes import InMemoryApiKeyStore

Writer = Annotated[Principal, Depends(require_scopes("events:write"))]


def build_app(store: InMemoryApiKeyStore) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.state.api_keys = store

    @app.get("/whoami")
    async def whoami(principal: PrincipalDep) -> dict[str, str]:
        return {"tenant_id": principal.tenant_id, "key_id": principal.key_id}

    @app.post("/events")
    async def write_events(principal: Writer) -> dict[str, str]:
        return {"tenant_id": principal.tenant_id}

    @app.get("/communities/{community_id}/members")
    async def members(community_id: str, principal: PrincipalDep) -> dict[str, str]:
        require_community(principal, community_id)
        return {"community_id": community_id}

    return app


@pytest.fixture
def store() -> InMemoryApiKeyStore:
    return InMemoryApiKeyStore()


@pytest.fixture
async def client(store: InMemoryApiKeyStore) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app(store))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_generated_key_has_the_documented_format() -> None:
    key_id, plaintext = generate_api_key()

    assert re.fullmatch(r"[a-z0-9]{8}", key_id)
    assert re.fullmatch(rf"hth_{key_id}_[A-Za-z0-9_-]{{32,}}", plaintext)
    assert generate_api_key()[1] != plaintext
    assert len(hash_api_key(plaintext)) == 64


async def test_valid_key_resolves_to_its_tenant(
    client: httpx.AsyncClient, store: InMemoryApiKeyStore
) -> None:
    key = store.issue(tenant_id="acme", scopes=["events:read"])

    response = await client.get("/whoami", headers=bearer(key))

    assert response.status_code == 200
    assert response.json() == {"tenant_id": "acme", "key_id": key.split("_")[1]}


def _wrong_secret(store: InMemoryApiKeyStore) -> str:
    key = store.issue()
    return key[:-4] + ("aaaa" if not key.endswith("aaaa") else "bbbb")


def _revoked(store: InMemoryApiKeyStore) -> str:
    key = store.issue()
    store.revoke(key.split("_")[1])
    return key


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(lambda s: {}, id="missing"),
        pytest.param(lambda s: {"Authorization": "Bearer"}, id="empty"),
        pytest.param(lambda s: {"Authorization": "Bearer not-a-key"}, id="malformed"),
        pytest.param(lambda s: {"Authorization": f"Basic {s.issue()}"}, id="wrong-scheme"),
        pytest.param(lambda s: bearer("hth_zzzzzzzz_" + "a" * 43), id="unknown-key-id"),
        pytest.param(lambda s: bearer(_wrong_secret(s)), id="wrong-secret"),
        pytest.param(lambda s: bearer(_revoked(s)), id="revoked"),
    ],
)
async def test_unusable_credentials_get_the_same_401(
    client: httpx.AsyncClient,
    store: InMemoryApiKeyStore,
    headers: Callable[[InMemoryApiKeyStore], dict[str, str]],
) -> None:
    response = await client.get("/whoami", headers=headers(store))

    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {
        "type": "about:blank",
        "title": "Unauthorized",
        "status": 401,
        "detail": "Missing or invalid API key.",
    }


async def test_missing_scope_is_a_403_naming_the_scope(
    client: httpx.AsyncClient, store: InMemoryApiKeyStore
) -> None:
    key = store.issue(scopes=["events:read"])

    response = await client.post("/events", headers=bearer(key))

    assert response.status_code == 403
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert "events:write" in body["detail"]
    assert body["missing_scopes"] == ["events:write"]


@pytest.mark.parametrize("scopes", [["events:write"], ["*"], ["admin"]])
async def test_granted_or_implied_scope_passes(
    client: httpx.AsyncClient, store: InMemoryApiKeyStore, scopes: list[str]
) -> None:
    key = store.issue(tenant_id="acme", scopes=scopes)

    response = await client.post("/events", headers=bearer(key))

    assert response.status_code == 200


async def test_key_bound_to_communities_cannot_reach_others(
    client: httpx.AsyncClient, store: InMemoryApiKeyStore
) -> None:
    key = store.issue(community_ids=["c-1"])

    allowed = await client.get("/communities/c-1/members", headers=bearer(key))
    denied = await client.get("/communities/c-2/members", headers=bearer(key))

    assert allowed.status_code == 200
    assert denied.status_code == 403
    assert denied.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert "c-2" in denied.json()["detail"]


async def test_key_without_community_list_reaches_every_community(
    client: httpx.AsyncClient, store: InMemoryApiKeyStore
) -> None:
    key = store.issue(community_ids=None)

    response = await client.get("/communities/any/members", headers=bearer(key))

    assert response.status_code == 200


async def test_authenticate_accepts_lowercase_scheme(store: InMemoryApiKeyStore) -> None:
    key = store.issue(tenant_id="acme", scopes=["events:read"], community_ids=["c-1"])

    principal = await authenticate(store, f"bearer {key}")

    assert principal.tenant_id == "acme"
    assert principal.scopes == frozenset({"events:read"})
    assert principal.community_ids == frozenset({"c-1"})


async def test_authenticate_rejects_a_key_whose_hash_does_not_match(
    store: InMemoryApiKeyStore,
) -> None:
    key = store.issue()
    _, other = generate_api_key()
    forged = f"hth_{key.split('_')[1]}_{other.split('_', 2)[2]}"

    with pytest.raises(Unauthorized):
        await authenticate(store, f"Bearer {forged}")


def test_principal_scope_and_community_rules() -> None:
    reader = Principal("t", "k", frozenset({"events:read"}), frozenset({"c-1"}))
    admin = Principal("t", "k", frozenset({"admin"}))

    assert reader.has_scope("events:read")
    assert not reader.has_scope("events:write")
    assert admin.has_scope("events:write")
    assert reader.can_access_community("c-1")
    assert not reader.can_access_community("c-2")
    assert admin.can_access_community("c-2")


def test_openapi_shows_the_bearer_scheme(store: InMemoryApiKeyStore) -> None:
    schema = build_app(store).openapi()

    schemes = schema["components"]["securitySchemes"]
    assert any(s["type"] == "http" and s["scheme"] == "bearer" for s in schemes.values())
