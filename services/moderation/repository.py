"""All SQL of the moderation service lives here."""
