"""Webhook bodies, their HMAC-SHA256 signature, and the retry schedule. Pure.

A receiver checks a delivery by recomputing

    X-Hearth-Signature = "v1=" + hex(HMAC_SHA256(secret, "v1:" + X-Hearth-Timestamp + ":" + body))

over the raw body bytes, and dedupes on X-Hearth-Delivery (the same on every retry).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from services.insights.domain.routing import Format

DELIVERY_HEADER = "X-Hearth-Delivery"
TIMESTAMP_HEADER = "X-Hearth-Timestamp"
SIGNATURE_HEADER = "X-Hearth-Signature"

_TITLES = {
    "alert": "Feedback alert",
    "insight": "Feedback insight",
    "content_idea": "Content idea",
    "digest": "Feedback digest",
}


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The X-Hearth-Signature value of `body` sent at `timestamp` (Unix seconds)."""
    signed = b"v1:" + str(timestamp).encode() + b":" + body
    return "v1=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def verify(secret: str, timestamp: str, body: bytes, given: str) -> bool:
    """Whether `given` is the signature of `body` (for receivers and tests)."""
    try:
        expected = signature(secret, int(timestamp), body)
    except ValueError:
        return False
    return hmac.compare_digest(expected, given)


def render(format: Format, insight: dict[str, Any]) -> bytes:
    """The body a destination of this format receives for a routed insight."""
    if format is Format.JSON:
        return json.dumps(insight, ensure_ascii=False, sort_keys=True).encode()
    return json.dumps(_slack(insight), ensure_ascii=False).encode()


def _slack(insight: dict[str, Any]) -> dict[str, Any]:
    """A Slack incoming-webhook message: a fallback `text` and mrkdwn blocks."""
    title = _TITLES.get(insight["kind"], "Feedback")
    items = insight.get("items") or [insight]
    lines = []
    for item in items:
        cluster = item["cluster"]
        head = (
            f"*{cluster['label'] or cluster['id']}* · {cluster['intent']} · "
            f"{cluster['size']} messages from {cluster['members']} members"
        )
        why = _why(item)
        quotes = [
            f"> {link['text'][:200]} ({_where(link)})" for link in cluster.get("links", [])[:3]
        ]
        lines.append("\n".join([head + (f" · {why}" if why else ""), *quotes]))
    text = f"{title} for {insight['team']}: " + "; ".join(
        (i["cluster"]["label"] or i["cluster"]["id"]) for i in items
    )
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}}
    ]
    blocks += [
        {"type": "section", "text": {"type": "mrkdwn", "text": line[:3000]}} for line in lines
    ]
    return {"text": text[:3000], "blocks": blocks[:50]}


def _why(item: dict[str, Any]) -> str:
    detail = item.get("detail", {})
    if "growth" in detail:
        return f"grew {detail['growth']:.1f}x within {detail['window_minutes']} min"
    if "negative_share" in detail:
        return (
            f"negative share {detail['negative_share_before']:.0%} → "
            f"{detail['negative_share']:.0%} within {detail['window_minutes']} min"
        )
    return ""


def _where(link: dict[str, Any]) -> str:
    parts = [link["platform"], link.get("channel_id") or "", link.get("source_event_id") or ""]
    return " / ".join(p for p in parts if p)


def backoff(attempt: int, *, initial: float, cap: float) -> float:
    """Seconds to wait after failed attempt `attempt` (1-based): doubling, capped."""
    return float(min(cap, initial * 2 ** max(0, attempt - 1)))
