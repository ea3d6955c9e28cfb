"""Tables of the gamification service (PostgreSQL schema `gamification`)."""

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)

from shared.db.tables import Id, service_metadata

metadata = service_metadata()

communities = Table(
    "communities",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("community_id", String(64), primary_key=True),
    Column("first_seen_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

rulesets = Table(
    "rulesets",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("community_id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("source", Text, nullable=False),
    Column("effective_from", DateTime(timezone=True), nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Append-only: awards, and the compensating entries that revoke or re-grant them.
ledger = Table(
    "ledger",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("tenant_id", String(64), nullable=False),
    Column("community_id", String(64), nullable=False),
    Column("member_id", String(64), nullable=False),
    Column("event_id", String(64), nullable=False, comment="the event that made this entry"),
    Column("source_event_id", String(64), nullable=False, comment="the activity that earned"),
    Column("rule_id", String(64), nullable=False),
    Column("rule_version", Integer, nullable=False),
    Column("kind", String(16), nullable=False, comment="award, revoke, regrant"),
    Column("points", Integer, nullable=False),
    Column("reason", String(16), nullable=False),
    Column("giver_member_id", String(64), nullable=True),
    Column("earned_at", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("channel_id", String(64), nullable=True, comment="where the activity happened"),
    UniqueConstraint("event_id", "source_event_id", "rule_id", "rule_version"),
)
Index(
    "ix_ledger_member",
    ledger.c.tenant_id,
    ledger.c.community_id,
    ledger.c.member_id,
    ledger.c.earned_at,
)
Index("ix_ledger_source", ledger.c.source_event_id)
Index("ix_ledger_period", ledger.c.tenant_id, ledger.c.community_id, ledger.c.earned_at)

# A read model of the ledger: one row per member and community.
member_totals = Table(
    "member_totals",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("community_id", String(64), primary_key=True),
    Column("member_id", String(64), primary_key=True),
    Column("points", Integer, nullable=False),
    Column("level", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
Index(
    "ix_member_totals_rank",
    member_totals.c.tenant_id,
    member_totals.c.community_id,
    member_totals.c.points,
    member_totals.c.member_id,
)

# Leaderboards, a read model of the ledger kept in the same transaction as its lines and
# rebuildable from it (services/gamification/leaderboard.py): each member's points per
# period bucket, community-wide (channel_id '') and per channel.
leaderboard_totals = Table(
    "leaderboard_totals",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("community_id", String(64), primary_key=True),
    Column("channel_id", String(64), primary_key=True, comment="'' for the whole community"),
    Column("period", String(8), primary_key=True, comment="all_time, year, month, week, day"),
    Column("bucket", String(10), primary_key=True, comment="all, 2026, 2026-11, 2026-W45, ..."),
    Column("member_id", String(64), primary_key=True),
    Column("points", Integer, nullable=False),
)
# The top of a board and a member's neighbours are ranges of this index, read in its own
# order (best first, ties by member id) so no query sorts, however many members tie.
Index(
    "ix_leaderboard_totals_order",
    leaderboard_totals.c.tenant_id,
    leaderboard_totals.c.community_id,
    leaderboard_totals.c.channel_id,
    leaderboard_totals.c.period,
    leaderboard_totals.c.bucket,
    leaderboard_totals.c.points.desc(),
    leaderboard_totals.c.member_id,
)

# How many members of a board hold each positive score: a dense rank is 1 + the number
# of higher scores, counted on this table's primary key.
leaderboard_scores = Table(
    "leaderboard_scores",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("community_id", String(64), primary_key=True),
    Column("channel_id", String(64), primary_key=True),
    Column("period", String(8), primary_key=True),
    Column("bucket", String(10), primary_key=True),
    Column("points", Integer, primary_key=True),
    Column("members", Integer, nullable=False),
)

# How many distinct positive scores each block of 512 points holds: a rank counts the
# blocks above a score, then the scores above it in its own block, never the whole board.
leaderboard_score_blocks = Table(
    "leaderboard_score_blocks",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("community_id", String(64), primary_key=True),
    Column("channel_id", String(64), primary_key=True),
    Column("period", String(8), primary_key=True),
    Column("bucket", String(10), primary_key=True),
    Column("block", Integer, primary_key=True, comment="points // 512"),
    Column("scores", Integer, nullable=False),
)

# The badges members hold (or held: `held` false after a recheck withdrew it). One row
# per badge tier; `generation` counts its awards and withdrawals, so each change's
# event id is fixed by the row and a replay publishes nothing new.
member_badges = Table(
    "member_badges",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("community_id", String(64), primary_key=True),
    Column("member_id", String(64), primary_key=True),
    Column("badge_id", String(64), primary_key=True),
    Column("tier", String(16), primary_key=True, comment="bronze, silver, gold; '' untiered"),
    Column("held", Boolean, nullable=False),
    Column("generation", Integer, nullable=False),
    Column("awarded_at", DateTime(timezone=True), nullable=False, comment="when it was earned"),
    Column("changed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Manual grants and deductions: who made them and why (their points are ledger lines
# under rule `manual`, keyed by the grant id).
manual_grants = Table(
    "manual_grants",
    metadata,
    Column("grant_id", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("community_id", String(64), nullable=False),
    Column("member_id", String(64), nullable=False),
    Column("points", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("granted_by", String(64), nullable=False, comment="the API key's id"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
Index(
    "ix_manual_grants_member",
    manual_grants.c.tenant_id,
    manual_grants.c.community_id,
    manual_grants.c.member_id,
)

# Members merged by ingest (members.identity.v1): which ledger lines moved from the
# source to the target, so an unmerge moves exactly those (and what followed them) back.
member_merges = Table(
    "member_merges",
    metadata,
    Column("merge_id", String(64), primary_key=True, comment="derived from the merge event"),
    Column("tenant_id", String(64), nullable=False),
    Column("target_member_id", String(64), nullable=False),
    Column("source_member_id", String(64), nullable=False),
    Column("merged_at", DateTime(timezone=True), nullable=False),
    Column("undone_at", DateTime(timezone=True), nullable=True),
)
Index(
    "ix_member_merges_pair",
    member_merges.c.tenant_id,
    member_merges.c.target_member_id,
    member_merges.c.source_member_id,
)
merged_lines = Table(
    "merged_lines",
    metadata,
    Column("merge_id", String(64), primary_key=True),
    Column("line_id", Id, primary_key=True, autoincrement=False),
)

# Core members (domain/core.py): each member ever qualifying, whether core now, and the
# evaluations in a row they were in or out; one evaluation per community and local day.
core_members = Table(
    "core_members",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("community_id", String(64), primary_key=True),
    Column("member_id", String(64), primary_key=True),
    Column("core", Boolean, nullable=False),
    Column("streak_in", Integer, nullable=False),
    Column("streak_out", Integer, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
core_evaluations = Table(
    "core_evaluations",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("community_id", String(64), primary_key=True),
    Column("evaluation", String(32), primary_key=True, comment="a local date, or a request id"),
    Column("window_end", DateTime(timezone=True), nullable=False),
    Column("core_count", Integer, nullable=False),
    Column("evaluated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# The last days of scored activity as the rules saw it (domain/facts.py), kept so that a
# candidate ruleset can be simulated on it (services/gamification/simulation.py).
recent_facts = Table(
    "recent_facts",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("event_id", String(64), primary_key=True),
    Column("community_id", String(64), nullable=False),
    Column("kind", String(16), nullable=False, comment="activity or deletion"),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("fact", Text, nullable=False, comment="the Fact as JSON (no member text)"),
)
Index(
    "ix_recent_facts_community",
    recent_facts.c.tenant_id,
    recent_facts.c.community_id,
    recent_facts.c.occurred_at,
)

# Campaigns (contests, AMAs, UGC challenges): the organisers' spec (JSON, validated by
# domain/campaigns.py), the entries recognised while they run and the votes on them.
campaigns = Table(
    "campaigns",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("campaign_id", String(64), primary_key=True),
    Column("community_id", String(64), nullable=False),
    Column("spec", Text, nullable=False, comment="CampaignSpec as JSON"),
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("ends_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True), nullable=True),
    Column("winners", Text, nullable=True, comment="the winners as JSON, once closed"),
    Column("created_by", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
Index("ix_campaigns_running", campaigns.c.tenant_id, campaigns.c.community_id, campaigns.c.ends_at)

campaign_entries = Table(
    "campaign_entries",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("campaign_id", String(64), primary_key=True),
    Column("entry_id", String(64), primary_key=True, comment="the entry message's event id"),
    Column("member_id", String(64), nullable=False),
    Column("platform_user_id", String(128), nullable=False),
    Column("message_ref", String(64), nullable=False, comment="sha256 of the message reference"),
    Column("posted_at", DateTime(timezone=True), nullable=False),
    Column("jury_rank", Integer, nullable=True),
    Column("withdrawn", Boolean, nullable=False, comment="deleted or removed by moderation"),
)
Index("ix_campaign_entries_message", campaign_entries.c.tenant_id, campaign_entries.c.message_ref)

# One vote per member per entry: the key says so. Votes are kept by the message they
# react to, since a reaction may be consumed before the message it names.
campaign_votes = Table(
    "campaign_votes",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("campaign_id", String(64), primary_key=True),
    Column(
        "message_ref",
        String(64),
        primary_key=True,
        comment="sha256 of the message voted on (a vote may arrive before its entry)",
    ),
    Column("voter_member_id", String(64), primary_key=True),
    Column("voted_at", DateTime(timezone=True), nullable=False),
)

# What a deletion or reaction removal names (a message or reaction), and its state.
content_refs = Table(
    "content_refs",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("community_id", String(64), primary_key=True),
    Column("ref", String(64), primary_key=True, comment="sha256 of the content reference"),
    Column("source_event_id", String(64), nullable=True),
    Column("deleted", Boolean, nullable=False),
)
Index("ix_content_refs_source", content_refs.c.source_event_id)

# Content moderation removed (removed) or restored (not removed), by the event judged.
moderated = Table(
    "moderated",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("source_event_id", String(64), primary_key=True),
    Column("removed", Boolean, nullable=False),
)
