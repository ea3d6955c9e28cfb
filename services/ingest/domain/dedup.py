"""Dedup keys that name a platform object rather than a delivery, shared by every path in.

A message reaches Hearth by webhook, by gateway, by polling, from the gateway's gap fill
or from an export. Its creation gets the same key whichever way it came, so an import
overlapping live traffic, or a history read after a reconnect, counts nothing twice: the
event id is derived from (community, dedup key).
"""

from __future__ import annotations

from shared.events.community import Platform


def message_key(platform: Platform, channel_id: str | int, message_id: str | int) -> str:
    """The dedup key of a message's creation: the platform, its channel and its id there.

    Slack: the conversation id and the message `ts`; Telegram: the chat id (-100… for
    supergroups) and the message id; Discord: the channel (or thread) id and the message
    snowflake.
    """
    return f"{platform.value}:message:{channel_id}:{message_id}"
