"""HTTP routes of the moderation service, under /v1/moderation/."""

from fastapi import APIRouter

router = APIRouter(prefix="/v1/moderation", tags=["moderation"])
