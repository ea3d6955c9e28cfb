"""Every reaction of the moderation service to an event, in one place."""

from shared.db.consuming import Handler

HANDLERS: dict[str, Handler] = {}
