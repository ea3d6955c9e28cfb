"""The four services, by name: the composition root's only list of them.

A service is imported the first time it is asked for, so `hearth serve moderation`
loads moderation and the kit, never ingest's platform SDKs.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

from shared.service import ServiceSpec

SPEC_PATHS: dict[str, str] = {
    "ingest": "services.ingest.app:SPEC",
    "moderation": "services.moderation.app:SPEC",
    "gamification": "services.gamification.app:SPEC",
    "insights": "services.insights.app:SPEC",
}
"""Service name → `module:attribute` of its ServiceSpec."""


def load_service(name: str) -> ServiceSpec:
    """Import one service and return its spec; KeyError for an unknown name."""
    module_name, _, attribute = SPEC_PATHS[name].partition(":")
    spec = getattr(importlib.import_module(module_name), attribute)
    if not isinstance(spec, ServiceSpec) or spec.name != name:
        raise TypeError(f"{SPEC_PATHS[name]} is not the ServiceSpec of {name!r}")
    return spec


class _Services(Mapping[str, ServiceSpec]):
    """Name → spec; names and `in` need no import, a lookup imports that service only."""

    def __getitem__(self, name: str) -> ServiceSpec:
        return load_service(name)

    def __iter__(self) -> Iterator[str]:
        return iter(SPEC_PATHS)

    def __len__(self) -> int:
        return len(SPEC_PATHS)

    def __contains__(self, name: object) -> bool:
        return name in SPEC_PATHS


SERVICES: Mapping[str, ServiceSpec] = _Services()
