"""All SQL of the gamification service lives here."""
