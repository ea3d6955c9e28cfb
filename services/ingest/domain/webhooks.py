"""One webhook delivery: verify the raw body, then parse and normalize it. Pure.

Verification always comes first and runs on the exact bytes received, so nothing a
forger sends is ever parsed, stored or queued.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from services.ingest.domain import bounds
from services.ingest.domain.discord import normalize_discord_interaction
from services.ingest.domain.discourse import normalize_discourse
from services.ingest.domain.github import normalize_github
from services.ingest.domain.model import BindingContext, MalformedPayload, Normalized
from services.ingest.domain.payload import problems
from services.ingest.domain.signatures import verify_discourse, verify_github, verify_slack
from services.ingest.domain.signatures_bot import verify_discord, verify_telegram
from services.ingest.domain.slack import normalize_slack
from services.ingest.domain.telegram import normalize_telegram
from shared.events.community import CommunityEvent, Platform


def parse_json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or MalformedPayload saying why not."""
    try:
        payload = bounds.loads(body)
    except bounds.TooDeep as exc:
        raise MalformedPayload(f"body {exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedPayload(f"body is not valid JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise MalformedPayload("body must be a JSON object")
    return payload


def verify(
    platform: Platform,
    secrets: Mapping[str, str],
    body: bytes,
    headers: Mapping[str, str],
    *,
    now: datetime,
    window_s: int,
) -> None:
    """Raise SignatureInvalid unless the delivery is signed with the binding's secret."""
    if platform is Platform.SLACK:
        verify_slack(secrets["signing_secret"], body, headers, now, tolerance_s=window_s)
    elif platform is Platform.GITHUB:
        verify_github(secrets["webhook_secret"], body, headers)
    elif platform is Platform.DISCOURSE:
        verify_discourse(secrets["webhook_secret"], body, headers)
    elif platform is Platform.TELEGRAM:
        verify_telegram(secrets["secret_token"], headers)
    elif platform is Platform.DISCORD:
        verify_discord(secrets["public_key"], body, headers, now, tolerance_s=window_s)
    else:
        raise MalformedPayload(f"no webhooks for platform {platform}")


def normalize(
    platform: Platform,
    body: bytes,
    headers: Mapping[str, str],
    ctx: BindingContext,
    *,
    received_at: datetime,
) -> Normalized:
    """Canonical events of a verified delivery; MalformedPayload for anything that won't fit."""
    try:
        return _normalize(platform, body, headers, ctx, received_at=received_at)
    except ValidationError as exc:
        # A value out of the canonical event's bounds is the sender's error, never a 500.
        raise MalformedPayload(f"does not fit the canonical event: {problems(exc)}") from exc


def _normalize(
    platform: Platform,
    body: bytes,
    headers: Mapping[str, str],
    ctx: BindingContext,
    *,
    received_at: datetime,
) -> Normalized:
    payload = parse_json_object(body)
    if platform is Platform.SLACK:
        return normalize_slack(payload, ctx, received_at=received_at)
    if platform is Platform.GITHUB:
        event = _required_header(headers, "x-github-event")
        delivery = _required_header(headers, "x-github-delivery")
        return normalize_github(event, delivery, payload, ctx, received_at=received_at)
    if platform is Platform.DISCOURSE:
        return normalize_discourse(
            _required_header(headers, "x-discourse-event"),
            payload,
            ctx,
            instance=headers.get("x-discourse-instance", ctx.external_id),
            event_id=headers.get("x-discourse-event-id"),
            received_at=received_at,
        )
    if platform is Platform.TELEGRAM:
        return normalize_telegram(payload, ctx, received_at=received_at)
    if platform is Platform.DISCORD:
        return normalize_discord_interaction(payload, ctx, received_at=received_at)
    raise MalformedPayload(f"no webhooks for platform {platform}")


def in_binding_workspace(event: CommunityEvent, ctx: BindingContext) -> bool:
    """Whether the event comes from the space its binding names (the same Slack app, bot
    or GitHub App can deliver several workspaces with one secret). An event that names
    no workspace passes; a Slack Enterprise Grid binding (E…) takes its teams' events."""
    workspace, bound = event.workspace_id, ctx.external_id
    if workspace is None:
        return True
    if ctx.platform is Platform.SLACK:
        return bound.startswith("E") or workspace == bound
    if ctx.platform is Platform.GITHUB:
        if "/" in bound:
            return (event.channel_id or "").lower() == bound.lower()
        return workspace.lower() == bound.lower()
    if ctx.platform is Platform.DISCOURSE:
        return workspace.rstrip("/").lower() == bound.rstrip("/").lower()
    return workspace == bound


def _required_header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if not value:
        raise MalformedPayload(f"missing header {name}")
    return value
