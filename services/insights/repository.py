"""All SQL of the insights service lives here."""
