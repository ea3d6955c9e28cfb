"""HTTP routes of the gamification service, under /v1/gamification/."""

from fastapi import APIRouter

router = APIRouter(prefix="/v1/gamification", tags=["gamification"])
