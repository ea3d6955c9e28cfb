"""HTTP routes of the ingest service, under /v1/ingest/."""

from fastapi import APIRouter

router = APIRouter(prefix="/v1/ingest", tags=["ingest"])
