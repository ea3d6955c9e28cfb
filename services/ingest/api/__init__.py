"""HTTP routes of the ingest service, under /v1/ingest/."""

from fastapi import APIRouter

from services.ingest.api import communities, events, members, webhooks

router = APIRouter()
for module in (communities, webhooks, events, members):
    router.include_router(module.router)
