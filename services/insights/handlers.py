"""Every reaction of the insights service to an event, in one place.

Handlers take a typed payload and the service's unit of work, and never commit:

    async def handler(event: CommunityEvent, uow: InsightsUoW) -> None: ...
"""

from shared.db.consuming import Handler

HANDLERS: dict[str, Handler] = {}
