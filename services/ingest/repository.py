"""All SQL of the ingest service lives here."""
