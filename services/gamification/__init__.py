"""Gamification: Idempotent points ledger, badges, levels, streaks, leaderboards, core members."""
