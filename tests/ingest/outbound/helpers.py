"""What the outbound tests share: the secrets they must never see leak, a fake sleep."""

from __future__ import annotations

from shared.events.community import Platform
from shared.events.payloads import ActionKind, ModerationAction
from tests.ingest.fakes.discourse import DiscourseFake

TELEGRAM_TOKEN = "123456789:AAH-telegram-SECRET_token-0123456789"
SLACK_TOKEN = "xoxb-0000000000-slack-SECRET-token"
DISCORD_TOKEN = "MTIz.discord-SECRET.token-0123456789"
GITHUB_TOKEN = "github_pat_11AAAAAA_github-SECRET-token"
DISCOURSE_KEY = DiscourseFake.api_key
TOKENS = (TELEGRAM_TOKEN, SLACK_TOKEN, DISCORD_TOKEN, GITHUB_TOKEN, DISCOURSE_KEY)


class Sleeps:
    """Stands in for asyncio.sleep: remembers each wait and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def moderation(platform: Platform, kind: ActionKind, **fields: object) -> ModerationAction:
    """A moderation.actions.v1 command as the moderation service would send it."""
    return ModerationAction(
        tenant_id="tenant-1",
        community_id="community-1",
        platform=platform,
        action=kind,
        **fields,
    )
