"""Every reaction of the insights service to an event, in one place."""

from shared.db.consuming import Handler

HANDLERS: dict[str, Handler] = {}
