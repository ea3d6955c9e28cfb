"""Every reaction of the gamification service to an event, in one place."""

from shared.db.consuming import Handler

HANDLERS: dict[str, Handler] = {}
