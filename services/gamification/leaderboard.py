"""The leaderboard read model: its SQL, its upkeep with the ledger, and its rebuild.

`leaderboard_totals` holds each member's points per board (a community or channel over a
period bucket, see domain/leaderboard.py) under an index on (board, points, member), so
the top of a board and a member's neighbours are index ranges. `leaderboard_scores`
counts the members holding each positive score of a board, so a member's dense rank is
1 + the number of higher scores, counted on its primary key instead of over the members.

Both are written in the same transaction as the ledger lines they come from (the batch
calls `Leaderboards.apply` with the lines it credited) and can be rebuilt from the ledger
at any time (`rebuild`), which yields the same rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, and_, delete, false, func, or_, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.gamification.domain.leaderboard import Board, Line, deltas, score_changes
from services.gamification.domain.rules import DEFAULT_RULESET, Ruleset, stored_ruleset
from services.gamification.repository import BatchStore, StoredRuleset
from services.gamification.tables import leaderboard_scores, leaderboard_totals, ledger
from shared.api.auth import Caller

_CHUNK = 1000  # rows per multi-row statement, well under PostgreSQL's 32,767 parameters
_BOARD = ("tenant_id", "community_id", "channel_id", "period", "bucket")


def ruleset_in_force(stored: Sequence[StoredRuleset], at: datetime) -> Ruleset:
    """The ruleset in force at `at` among a community's versions (newest first)."""
    for version in stored:
        if version.effective_from <= at:
            return stored_ruleset(version.source, version.version)
    return DEFAULT_RULESET


def _insert(session: AsyncSession, table: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _board_of(table: Any, board: Board) -> Any:
    return and_(*(table.c[name] == getattr(board, name) for name in _BOARD))


def _chunks(rows: Sequence[Any]) -> list[Sequence[Any]]:
    return [rows[start : start + _CHUNK] for start in range(0, len(rows), _CHUNK)]


class Leaderboards:
    """Reads of the boards for HTTP callers (scoped by the caller) and their upkeep."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- reads, scoped by the caller ------------------------------------------

    def _readable(self, caller: Caller, board: Board) -> Select[Any]:
        query = select(leaderboard_totals.c.member_id, leaderboard_totals.c.points).where(
            _board_of(leaderboard_totals, board), leaderboard_totals.c.points > 0
        )
        if board.tenant_id != caller.tenant_id or not caller.can_access_community(
            board.community_id
        ):
            query = query.where(false())
        return query

    async def top(
        self, caller: Caller, board: Board, *, after: tuple[int, str] | None, limit: int
    ) -> list[tuple[str, int]]:
        """(member, points) best first, ties by member id, after a (points, member) position."""
        query = self._readable(caller, board)
        if after is not None:
            points, member = after
            query = query.where(
                or_(
                    leaderboard_totals.c.points < points,
                    and_(
                        leaderboard_totals.c.points == points,
                        leaderboard_totals.c.member_id > member,
                    ),
                )
            )
        query = query.order_by(
            leaderboard_totals.c.points.desc(), leaderboard_totals.c.member_id
        ).limit(limit)
        return [(row.member_id, int(row.points)) for row in await self.session.execute(query)]

    async def points_of(self, caller: Caller, board: Board, member_id: str) -> int | None:
        """The member's points on the board; None when they have none above 0."""
        query = self._readable(caller, board).where(leaderboard_totals.c.member_id == member_id)
        row = (await self.session.execute(query)).first()
        return int(row.points) if row is not None else None

    async def rank_of(self, caller: Caller, board: Board, points: int) -> int:
        """The dense rank of a score: 1 + how many higher scores members hold."""
        if board.tenant_id != caller.tenant_id or not caller.can_access_community(
            board.community_id
        ):
            return 1
        query = select(func.count()).where(
            _board_of(leaderboard_scores, board),
            leaderboard_scores.c.points > points,
            leaderboard_scores.c.members > 0,
        )
        return 1 + int((await self.session.execute(query)).scalar_one())

    async def neighbours(
        self, caller: Caller, board: Board, points: int, member_id: str, count: int
    ) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
        """Up to `count` members just above and just below a position, best first."""
        above_query = (
            self._readable(caller, board)
            .where(
                or_(
                    leaderboard_totals.c.points > points,
                    and_(
                        leaderboard_totals.c.points == points,
                        leaderboard_totals.c.member_id < member_id,
                    ),
                )
            )
            .order_by(leaderboard_totals.c.points, leaderboard_totals.c.member_id.desc())
            .limit(count)
        )
        above = [
            (row.member_id, int(row.points)) for row in await self.session.execute(above_query)
        ]
        below = await self.top(caller, board, after=(points, member_id), limit=count)
        return above[::-1], below

    # --- upkeep ---------------------------------------------------------------

    async def apply(self, changes: dict[tuple[Board, str], int]) -> None:
        """Add each (board, member) change to the totals and keep the score counts in step.

        Rows are written in key order so that replicas lock them in the same order; the
        increments are atomic, and the score moves are derived from the totals each
        increment returns, so concurrent batches crediting one member stay exact.
        """
        if not changes:
            return
        ordered = sorted(changes.items())
        rows = [
            {**_board_row(board), "member_id": member, "points": delta}
            for (board, member), delta in ordered
        ]
        statement = _insert(self.session, leaderboard_totals)
        statement = statement.on_conflict_do_update(
            index_elements=[*_BOARD, "member_id"],
            set_={"points": leaderboard_totals.c.points + statement.excluded.points},
        ).returning(
            *(leaderboard_totals.c[name] for name in _BOARD),
            leaderboard_totals.c.member_id,
            leaderboard_totals.c.points,
        )
        moves = []
        for chunk in _chunks(rows):
            for row in await self.session.execute(statement, list(chunk)):
                board = Board(*(getattr(row, name) for name in _BOARD))
                after = int(row.points)
                moves.append((board, after - changes[(board, row.member_id)], after))
        await self._count_scores(score_changes(moves))

    async def _count_scores(self, changes: dict[tuple[Board, int], int]) -> None:
        if not changes:
            return
        rows = [
            {**_board_row(board), "points": points, "members": change}
            for (board, points), change in sorted(changes.items())
        ]
        statement = _insert(self.session, leaderboard_scores)
        statement = statement.on_conflict_do_update(
            index_elements=[*_BOARD, "points"],
            set_={"members": leaderboard_scores.c.members + statement.excluded.members},
        )
        for chunk in _chunks(rows):
            await self.session.execute(statement, list(chunk))
        emptied = sorted(
            (*(getattr(board, name) for name in _BOARD), points)
            for (board, points), change in changes.items()
            if change < 0
        )
        key = tuple_(*(leaderboard_scores.c[name] for name in _BOARD), leaderboard_scores.c.points)
        for chunk in _chunks(emptied):
            await self.session.execute(
                delete(leaderboard_scores).where(key.in_(chunk), leaderboard_scores.c.members <= 0)
            )

    async def rebuild(self, tenant_id: str, community_id: str) -> int:
        """Recompute a community's boards from its ledger; how many ledger lines counted."""
        for table in (leaderboard_totals, leaderboard_scores):
            await self.session.execute(
                delete(table).where(
                    table.c.tenant_id == tenant_id, table.c.community_id == community_id
                )
            )
        versions = (await BatchStore(self.session).rulesets_of({(tenant_id, community_id)}))[
            (tenant_id, community_id)
        ]
        query = select(
            ledger.c.channel_id, ledger.c.member_id, ledger.c.points, ledger.c.earned_at
        ).where(
            ledger.c.tenant_id == tenant_id,
            ledger.c.community_id == community_id,
            ledger.c.points != 0,
        )
        totals: dict[tuple[Board, str], int] = defaultdict(int)
        counted = 0
        for row in await self.session.execute(query):
            at = _utc(row.earned_at)
            line = Line(
                tenant_id,
                community_id,
                row.channel_id,
                row.member_id,
                int(row.points),
                at,
                ruleset_in_force(versions, at).time_zone,
            )
            for key, delta in deltas([line]).items():
                totals[key] += delta
            counted += 1
        rows = [
            {**_board_row(board), "member_id": member, "points": points}
            for (board, member), points in sorted(totals.items())
        ]
        for chunk in _chunks(rows):
            await self.session.execute(leaderboard_totals.insert(), list(chunk))
        holders: dict[tuple[Board, int], int] = defaultdict(int)
        for (board, _member), points in totals.items():
            if points > 0:
                holders[(board, points)] += 1
        score_rows = [
            {**_board_row(board), "points": points, "members": members}
            for (board, points), members in sorted(holders.items())
        ]
        for chunk in _chunks(score_rows):
            await self.session.execute(leaderboard_scores.insert(), list(chunk))
        return counted


def _board_row(board: Board) -> dict[str, str]:
    return {name: str(getattr(board, name)) for name in _BOARD}


def _utc(at: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
