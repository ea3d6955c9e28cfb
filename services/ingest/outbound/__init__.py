"""Carrying moderation actions and core-member role grants back to the platforms.

`clients_for` picks the platform's client; `attempt_once` makes one call and says
whether it is finished or when to try again (the dispatcher stores that and comes back);
`execute` runs one call with retries in one await:

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
from services.ingest.outbound.executor import (
    Retry,
    attempt_once,
    clients_for,
    default_base_url,
    execute,
)

__all__ = [
    "ActionOutcome",
    "ActionResult",
    "InvalidAction",
    "MissingCredential",
    "PermanentPlatformError",
    "PlatformClient",
    "RateLimited",
    "Retry",
    "RoleGrant",
    "TransientPlatformError",
    "Unsupported",
    "attempt_once",
    "clients_for",
    "default_base_url",
    "execute",
]
