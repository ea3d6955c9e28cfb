"""All SQL of the gamification service lives here: the points ledger, badges, levels and streaks.

Repositories are objects on the unit of work's session; they never commit (the
consumer loop or the request dependency does).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession


class Ledger:
    """The gamification service's tables, read and written inside the caller's transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
