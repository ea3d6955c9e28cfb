"""Ingest: Platform connectors in, decisions out, member identity, integrator API."""
