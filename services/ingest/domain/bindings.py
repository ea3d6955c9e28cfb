"""Which secrets each platform binding needs, and what its external id looks like."""

from __future__ import annotations

import re
from collections.abc import Mapping

from shared.events.community import Platform

REQUIRED: dict[Platform, frozenset[str]] = {
    Platform.SLACK: frozenset({"signing_secret"}),
    Platform.GITHUB: frozenset({"webhook_secret"}),
    Platform.TELEGRAM: frozenset({"secret_token", "bot_token"}),
    Platform.DISCORD: frozenset({"public_key", "bot_token"}),
    Platform.DISCOURSE: frozenset({"webhook_secret"}),
}
OPTIONAL: dict[Platform, frozenset[str]] = {
    Platform.SLACK: frozenset({"bot_token", "user_token"}),
    Platform.GITHUB: frozenset({"token"}),
    Platform.TELEGRAM: frozenset(),
    Platform.DISCORD: frozenset(),
    Platform.DISCOURSE: frozenset({"api_key", "api_username"}),
}
_EXTERNAL_ID = {
    Platform.SLACK: (re.compile(r"^[TE][A-Z0-9]{2,}$"), "a Slack team id like T0123ABC"),
    Platform.GITHUB: (
        re.compile(r"^[A-Za-z0-9-]{1,39}(/[A-Za-z0-9._-]{1,100})?$"),
        "a GitHub `org` or `org/repo`",
    ),
    Platform.TELEGRAM: (re.compile(r"^-?\d{1,20}$"), "a Telegram chat id like -1001234567890"),
    Platform.DISCORD: (re.compile(r"^\d{15,21}$"), "a Discord guild id (snowflake)"),
    Platform.DISCOURSE: (re.compile(r"^https?://[^\s/]+(/[^\s]*)?$"), "a Discourse base URL"),
}
_TELEGRAM_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_HEX_KEY = re.compile(r"^[0-9a-fA-F]{64}$")


def binding_errors(
    platform: Platform, external_id: str, secrets: Mapping[str, str], *, partial: bool = False
) -> list[dict[str, str]]:
    """Problems with a binding's fields, each {"loc", "msg"}; empty when it is valid.

    `partial` checks only the secrets given (a PATCH), not that every required one is there.
    """
    errors: list[dict[str, str]] = []
    if platform not in REQUIRED:
        return [{"loc": "platform", "msg": f"webhooks are not supported for {platform}"}]
    pattern, shape = _EXTERNAL_ID[platform]
    if not pattern.match(external_id):
        errors.append({"loc": "external_id", "msg": f"expected {shape}"})
    allowed = REQUIRED[platform] | OPTIONAL[platform]
    for name in sorted(set(secrets) - allowed):
        errors.append(
            {"loc": f"secrets.{name}", "msg": f"unknown for {platform}; use {sorted(allowed)}"}
        )
    if not partial:
        for name in sorted(REQUIRED[platform] - set(secrets)):
            errors.append({"loc": f"secrets.{name}", "msg": f"required for {platform}"})
    for name, value in secrets.items():
        if not value:
            errors.append({"loc": f"secrets.{name}", "msg": "must not be empty"})
    if "public_key" in secrets and not _HEX_KEY.match(secrets["public_key"]):
        errors.append({"loc": "secrets.public_key", "msg": "expected 64 hex characters"})
    if "user_token" in secrets and not secrets["user_token"].startswith("xoxp-"):
        errors.append({"loc": "secrets.user_token", "msg": "expected a Slack user token (xoxp-…)"})
    if "secret_token" in secrets and not _TELEGRAM_SECRET.match(secrets["secret_token"]):
        errors.append(
            {"loc": "secrets.secret_token", "msg": "Telegram allows 1-256 of A-Z a-z 0-9 _ -"}
        )
    return errors
