"""Moderation: Rules and offline ML, decisions, sanctions, review queue, audit log, appeals."""
