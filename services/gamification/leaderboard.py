"""The leaderboard read model: its SQL, its upkeep with the ledger, and its rebuild.

`leaderboard_totals` holds each member's points per board (a community or channel over a
period bucket, see domain/leaderboard.py) under an index on (board, points, member), so
the top of a board and a member's neighbours are index ranges. `leaderboard_scores`
counts the members holding each positive score of a board and `leaderboard_score_blocks`
the distinct scores in each block of 512 points, so a member's dense rank (1 + the number
of higher scores) sums the blocks above their score and counts the scores above it in its
own block: a few hundred index entries at most, however many members the board has.

Both are written in the same transaction as the ledger lines they come from (the batch
calls `Leaderboards.apply` with the lines it credited) and can be rebuilt from the ledger
at any time (`rebuild`), which yields the same rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Select,
    and_,
    bindparam,
    delete,
    false,
    func,
    literal,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from services.gamification.domain.leaderboard import (
    BLOCK,
    Board,
    Line,
    block_changes,
    block_of,
    deltas,
    score_changes,
)
from services.gamification.domain.rules import DEFAULT_RULESET, Ruleset, stored_ruleset
from services.gamification.repository import BatchStore, StoredRuleset
from services.gamification.tables import (
    leaderboard_score_blocks,
    leaderboard_scores,
    leaderboard_totals,
    ledger,
)
from shared.api.auth import Caller

_CHUNK = 1000  # rows per multi-row statement, well under PostgreSQL's 32,767 parameters
_BOARD = ("tenant_id", "community_id", "channel_id", "period", "bucket")


def ruleset_in_force(stored: Sequence[StoredRuleset], at: datetime) -> Ruleset:
    """The ruleset in force at `at` among a community's versions (newest first)."""
    for version in stored:
        if version.effective_from <= at:
            return stored_ruleset(version.source, version.version)
    return DEFAULT_RULESET


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
        totals = leaderboard_totals.c
        if after is None:
            query = self._readable(caller, board).order_by(totals.points.desc(), totals.member_id)
            rows = await self.session.execute(query.limit(limit))
            return [(row.member_id, int(row.points)) for row in rows]
        points, member = after
        # Two index ranges, each cut at `limit`: the rest of this score's ties, then the
        # lower scores (an OR of both would be a filter over the whole board).
        ties = (
            self._readable(caller, board)
            .add_columns(literal(0).label("part"))
            .where(totals.points == points, totals.member_id > member)
            .order_by(totals.member_id)
            .limit(limit)
        )
        lower = (
            self._readable(caller, board)
            .add_columns(literal(1).label("part"))
            .where(totals.points < points)
            .order_by(totals.points.desc(), totals.member_id)
            .limit(limit)
        )
        both = _union(ties, lower)
        query = (
            select(both.c.member_id, both.c.points)
            .order_by(both.c.part, both.c.points.desc(), both.c.member_id)
            .limit(limit)
        )
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
        block = block_of(points)
        blocks = leaderboard_score_blocks.c
        blocks_above = select(func.coalesce(func.sum(blocks.scores), 0)).where(
            _board_of(leaderboard_score_blocks, board), blocks.block > block
        )
        in_block = select(func.count()).where(
            _board_of(leaderboard_scores, board),
            leaderboard_scores.c.points > points,
            leaderboard_scores.c.points < (block + 1) * BLOCK,
        )
        query = select(blocks_above.scalar_subquery() + in_block.scalar_subquery())
        return 1 + int((await self.session.execute(query)).scalar_one())

    async def neighbours(
        self, caller: Caller, board: Board, points: int, member_id: str, count: int
    ) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
        """Up to `count` members just above and just below a position, best first."""
        if count == 0:
            return [], []
        totals = leaderboard_totals.c
        ties = (
            self._readable(caller, board)
            .add_columns(literal(0).label("part"))
            .where(totals.points == points, totals.member_id < member_id)
            .order_by(totals.member_id.desc())
            .limit(count)
        )
        higher = (
            self._readable(caller, board)
            .add_columns(literal(1).label("part"))
            .where(totals.points > points)
            .order_by(totals.points, totals.member_id.desc())
            .limit(count)
        )
        both = _union(ties, higher)
        query = (
            select(both.c.member_id, both.c.points)
            .order_by(both.c.part, both.c.points, both.c.member_id.desc())
            .limit(count)
        )
        above = [(row.member_id, int(row.points)) for row in await self.session.execute(query)]
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
        rows = [
            (*_board_key(board), member, delta)
            for (board, member), delta in sorted(changes.items())
        ]
        moves = []
        for row in await self._add(leaderboard_totals, "member_id", "points", rows):
            board = Board(*row[:5])
            after = int(row[6])
            moves.append((board, after - changes[(board, row[5])], after))
        await self._count_scores(score_changes(moves))

    async def _count_scores(self, changes: dict[tuple[Board, int], int]) -> None:
        if not changes:
            return
        rows = [
            (*_board_key(board), points, change)
            for (board, points), change in sorted(changes.items())
        ]
        counts = []
        for row in await self._add(leaderboard_scores, "points", "members", rows):
            board, points, after = Board(*row[:5]), int(row[5]), int(row[6])
            counts.append((board, points, after - changes[(board, points)], after))
        await self._drop_emptied(leaderboard_scores, "points", changes)
        blocks = block_changes(counts)
        if not blocks:
            return
        block_rows = [
            (*_board_key(board), block, change) for (board, block), change in sorted(blocks.items())
        ]
        await self._add(leaderboard_score_blocks, "block", "scores", block_rows)
        await self._drop_emptied(leaderboard_score_blocks, "block", blocks)

    async def _add(
        self, table: Any, last_key: str, value: str, rows: list[tuple[Any, ...]]
    ) -> list[tuple[Any, ...]]:
        """Insert (board..., last key, value) rows, adding the value to a stored row's on a
        key conflict; every row as it is after.

        On PostgreSQL one statement takes the rows as one array per column (`unnest`), so
        it is prepared once and binds seven arrays, not seven parameters per row.
        """
        names = [*_BOARD, last_key, value]
        postgres = self.session.get_bind().dialect.name == "postgresql"
        statement: Any = postgresql.insert(table) if postgres else sqlite.insert(table)
        if postgres:
            arrays = [
                bindparam(f"rows_{name}", [row[n] for row in rows], type_=ARRAY(table.c[name].type))
                for n, name in enumerate(names)
            ]
            source = func.unnest(*arrays).table_valued(*names).render_derived()
            statement = statement.from_select(names, select(*(source.c[name] for name in names)))
        statement = statement.on_conflict_do_update(
            index_elements=names[:-1], set_={value: table.c[value] + statement.excluded[value]}
        ).returning(*(table.c[name] for name in names))
        if postgres:
            return [tuple(row) for row in await self.session.execute(statement)]
        found = []
        for chunk in _chunks(rows):
            params = [dict(zip(names, row, strict=True)) for row in chunk]
            found += [tuple(row) for row in await self.session.execute(statement, params)]
        return found

    async def _drop_emptied(
        self, table: Any, column: str, changes: dict[tuple[Board, int], int]
    ) -> None:
        """Drop the rows a decrease left at 0, so every stored count is positive."""
        count = table.c.members if column == "points" else table.c.scores
        emptied = sorted(
            (*(getattr(board, name) for name in _BOARD), value)
            for (board, value), change in changes.items()
            if change < 0
        )
        key = tuple_(*(table.c[name] for name in _BOARD), table.c[column])
        for chunk in _chunks(emptied):
            await self.session.execute(delete(table).where(key.in_(chunk), count <= 0))

    async def rebuild(self, tenant_id: str, community_id: str) -> int:
        """Recompute a community's boards from its ledger; how many ledger lines counted."""
        for table in (leaderboard_totals, leaderboard_scores, leaderboard_score_blocks):
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
        distinct: dict[tuple[Board, int], int] = defaultdict(int)
        for board, points in holders:
            distinct[(board, block_of(points))] += 1
        block_rows = [
            {**_board_row(board), "block": block, "scores": scores}
            for (board, block), scores in sorted(distinct.items())
        ]
        for chunk in _chunks(block_rows):
            await self.session.execute(leaderboard_score_blocks.insert(), list(chunk))
        return counted


def _union(*parts: Select[Any]) -> Any:
    """UNION ALL of ordered, limited selects (each wrapped, as SQLite requires), as a subquery."""
    wrapped = [select(*part.subquery().c) for part in parts]
    return union_all(*wrapped).subquery()


def _board_key(board: Board) -> tuple[str, ...]:
    return tuple(str(getattr(board, name)) for name in _BOARD)


def _board_row(board: Board) -> dict[str, str]:
    return {name: str(getattr(board, name)) for name in _BOARD}


def _utc(at: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
