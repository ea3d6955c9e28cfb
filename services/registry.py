"""The four services, by name: the composition root's only list of them."""

from __future__ import annotations

from services.gamification.app import SPEC as GAMIFICATION
from services.ingest.app import SPEC as INGEST
from services.insights.app import SPEC as INSIGHTS
from services.moderation.app import SPEC as MODERATION
from shared.service import ServiceSpec

SERVICES: dict[str, ServiceSpec] = {
    spec.name: spec for spec in (INGEST, MODERATION, GAMIFICATION, INSIGHTS)
}
