"""Values the ingest domain passes around: where a payload came from and what it became."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.events.community import CommunityEvent, Platform


class MalformedPayload(ValueError):
    """The payload is not what the platform documents; the message says what was wrong."""


class SignatureInvalid(ValueError):
    """The request is not signed by the binding's secret, or the signature is stale."""


@dataclass(frozen=True)
class BindingContext:
    """The community a platform space (guild, chat, workspace, repo, site) is bound to."""

    tenant_id: str
    community_id: str
    binding_id: str
    platform: Platform
    external_id: str


@dataclass(frozen=True)
class Normalized:
    """Canonical events made from one platform payload; `ignored` says why there are none."""

    events: tuple[CommunityEvent, ...] = ()
    ignored: str | None = None
    reply: dict[str, Any] | None = field(default=None)
    """A protocol answer the platform expects instead of 200 {} (Slack challenge, Discord PONG)."""
