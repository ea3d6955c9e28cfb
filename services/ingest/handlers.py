"""Every reaction of the ingest service to an event, in one place."""

from shared.db.consuming import Handler

HANDLERS: dict[str, Handler] = {}
