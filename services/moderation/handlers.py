"""Every reaction of the moderation service to an event, in one place.

Handlers take a typed payload and the service's unit of work, and never commit:

    async def handler(event: CommunityEvent, uow: ModerationUoW) -> None: ...
"""

from shared.db.consuming import Handler

HANDLERS: dict[str, Handler] = {}
