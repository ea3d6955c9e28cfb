"""Carrying moderation actions and core-member role grants back to the platforms.

`clients_for` picks the platform's client; `execute` runs one call with retries:

    client = clients_for(action.platform, secrets, base_urls)
    async with contextlib.aclosing(client):
        result = await execute(lambda: client.apply(action, external_id=binding.external_id))
"""

from services.ingest.outbound.base import (
    ActionOutcome,
    ActionResult,
    InvalidAction,
    MissingCredential,
    PermanentPlatformError,
    PlatformClient,
    RateLimited,
    RoleGrant,
    TransientPlatformError,
    Unsupported,
)
from services.ingest.outbound.executor import clients_for, default_base_url, execute

__all__ = [
    "ActionOutcome",
    "ActionResult",
    "InvalidAction",
    "MissingCredential",
    "PermanentPlatformError",
    "PlatformClient",
    "RateLimited",
    "RoleGrant",
    "TransientPlatformError",
    "Unsupported",
    "clients_for",
    "default_base_url",
    "execute",
]
