"""HTTP routes of the insights service, under /v1/insights/."""

from fastapi import APIRouter

router = APIRouter(prefix="/v1/insights", tags=["insights"])
