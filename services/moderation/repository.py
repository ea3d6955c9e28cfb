"""All SQL of the moderation service: decisions, sanctions, the review queue, the audit log.

Repositories are objects on the unit of work's session; they never commit (the
consumer loop or the request dependency does).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession


class Decisions:
    """The moderation service's tables, read and written inside the caller's transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
