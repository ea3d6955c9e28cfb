"""The sample's items as the platforms would send them: signed webhooks, integrator events.

Slack, Telegram and GitHub items become the webhook requests those platforms send,
signed with the binding's secret, so the demo goes through the same verification and
normalizers as production traffic. Discord's messages reach Hearth from its gateway
(a live connection to Discord), so the demo sends them the way an integrator or a
bridge bot would: `POST /v1/ingest/events`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.demo.sample import (
    DISCORD_GUILD,
    GITHUB_REPO,
    SLACK_TEAM,
    TELEGRAM_CHAT,
    Item,
)


@dataclass(frozen=True)
class Request:
    """One HTTP request to Hearth."""

    path: str
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class Secrets:
    """The secrets the demo gave its bindings, and the paths their webhooks live at."""

    slack_signing: str
    slack_path: str
    telegram_token: str
    telegram_path: str
    github_secret: str
    github_path: str
    community_id: str


def _ts(at: datetime, seq: int) -> str:
    """A Slack message ts: seconds and a per-item suffix, unique within the channel."""
    return f"{int(at.timestamp())}.{seq:06d}"


def slack_request(item: Item, items: list[Item], secrets: Secrets) -> Request:
    event: dict[str, Any]
    if item.kind == "join":
        event = {
            "type": "member_joined_channel",
            "user": item.actor.user_id,
            "channel": item.channel,
            "team": SLACK_TEAM,
            "event_ts": _ts(item.at, item.seq),
        }
    elif item.kind == "reaction":
        target = items[item.target or 0]
        event = {
            "type": "reaction_added",
            "user": item.actor.user_id,
            "reaction": item.emoji,
            "item_user": target.actor.user_id,
            "item": {
                "type": "message",
                "channel": target.channel,
                "ts": _ts(target.at, target.seq),
            },
            "event_ts": _ts(item.at, item.seq),
        }
    else:
        event = {
            "type": "message",
            "channel": item.channel,
            "user": item.actor.user_id,
            "text": item.text,
            "ts": _ts(item.at, item.seq),
            "channel_type": "channel",
        }
    body = json.dumps(
        {
            "token": "demo",
            "team_id": SLACK_TEAM,
            "api_app_id": "A0DEMO",
            "type": "event_callback",
            "event_id": f"Ev0DEMO{item.seq:06d}",
            "event_time": int(item.at.timestamp()),
            "event": event,
        }
    ).encode()
    now = str(int(time.time()))
    signature = hmac.new(
        secrets.slack_signing.encode(), f"v0:{now}:".encode() + body, hashlib.sha256
    ).hexdigest()
    return Request(
        secrets.slack_path,
        body,
        {
            "Content-Type": "application/json",
            "X-Slack-Request-Timestamp": now,
            "X-Slack-Signature": f"v0={signature}",
        },
    )


def _telegram_user(item: Item) -> dict[str, Any]:
    return {
        "id": int(item.actor.user_id),
        "is_bot": False,
        "first_name": item.actor.name,
        "username": item.actor.username,
        "language_code": "ru",
    }


def telegram_request(item: Item, items: list[Item], secrets: Secrets) -> Request:
    chat = {"id": int(TELEGRAM_CHAT), "title": "Lumen по-русски", "type": "supergroup"}
    date = int(item.at.timestamp())
    update: dict[str, Any] = {"update_id": 700_000 + item.seq}
    if item.kind == "reaction":
        update["message_reaction"] = {
            "chat": chat,
            "message_id": 10_000 + (item.target or 0),
            "user": _telegram_user(item),
            "date": date,
            "old_reaction": [],
            "new_reaction": [{"type": "emoji", "emoji": "👍"}],
        }
    elif item.kind == "join":
        update["message"] = {
            "message_id": 10_000 + item.seq,
            "from": _telegram_user(item),
            "chat": chat,
            "date": date,
            "new_chat_members": [_telegram_user(item)],
        }
    else:
        update["message"] = {
            "message_id": 10_000 + item.seq,
            "from": _telegram_user(item),
            "chat": chat,
            "date": date,
            "text": item.text,
        }
    return Request(
        secrets.telegram_path,
        json.dumps(update, ensure_ascii=False).encode(),
        {
            "Content-Type": "application/json",
            "X-Telegram-Bot-Api-Secret-Token": secrets.telegram_token,
        },
    )


def github_request(item: Item, items: list[Item], secrets: Secrets) -> Request:
    owner = GITHUB_REPO.split("/")[0]
    user = {"login": item.actor.username, "id": int(item.actor.user_id), "type": "User"}
    repository = {
        "id": 880001,
        "full_name": GITHUB_REPO,
        "name": GITHUB_REPO.split("/")[1],
        "owner": {"login": owner, "id": 880000, "type": "Organization"},
        "html_url": f"https://github.com/{GITHUB_REPO}",
    }
    issue_item = items[item.target] if item.target is not None else item
    number = 40 + issue_item.seq
    issue = {
        "id": 9_000_000 + issue_item.seq,
        "node_id": f"I_demo{issue_item.seq}",
        "number": number,
        "title": issue_item.title,
        "body": issue_item.text,
        "user": {
            "login": issue_item.actor.username,
            "id": int(issue_item.actor.user_id),
            "type": "User",
        },
        "state": "open",
        "created_at": _iso(issue_item.at),
        "updated_at": _iso(item.at),
        "html_url": f"https://github.com/{GITHUB_REPO}/issues/{number}",
    }
    payload: dict[str, Any]
    if item.kind == "issue":
        event, payload = "issues", {"action": "opened", "issue": issue}
    else:
        event, payload = (
            "issue_comment",
            {
                "action": "created",
                "issue": issue,
                "comment": {
                    "id": 9_500_000 + item.seq,
                    "node_id": f"IC_demo{item.seq}",
                    "body": item.text,
                    "user": user,
                    "created_at": _iso(item.at),
                    "updated_at": _iso(item.at),
                    "html_url": f"https://github.com/{GITHUB_REPO}/issues/{number}#issuecomment-{item.seq}",
                },
            },
        )
    payload |= {
        "repository": repository,
        "organization": {"login": owner, "id": 880000},
        "sender": user,
    }
    body = json.dumps(payload).encode()
    signature = hmac.new(secrets.github_secret.encode(), body, hashlib.sha256).hexdigest()
    return Request(
        secrets.github_path,
        body,
        {
            "Content-Type": "application/json",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": f"00000000-0000-4000-8000-{item.seq:012d}",
            "X-Hub-Signature-256": f"sha256={signature}",
        },
    )


def discord_event(item: Item, items: list[Item], community_id: str) -> dict[str, Any]:
    """A Discord item as an integrator event (what a bridge bot would post)."""
    actor = {
        "platform_user_id": item.actor.user_id,
        "username": item.actor.username,
        "display_name": item.actor.name,
    }
    base: dict[str, Any] = {
        "community_id": community_id,
        "platform": "discord",
        "occurred_at": _iso(item.at),
        "workspace_id": DISCORD_GUILD,
        "channel_id": item.channel,
        "actor": actor,
    }
    if item.kind == "join":
        return base | {"type": "community.member.joined", "source_event_id": f"join-{item.seq}"}
    if item.kind == "reaction":
        target = items[item.target or 0]
        return base | {
            "type": "community.reaction.added",
            "source_event_id": f"reaction-{item.seq}",
            "parent_id": str(1_300_000_000_000_000_000 + target.seq),
            "object_actor": {
                "platform_user_id": target.actor.user_id,
                "username": target.actor.username,
            },
            "attributes": {"emoji": item.emoji},
        }
    return base | {
        "type": "community.message.created",
        "source_event_id": str(1_300_000_000_000_000_000 + item.seq),
        "content": {"text": item.text},
    }


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")
