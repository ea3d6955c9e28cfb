"""`python -m services.ingest`: the same as `hearth serve ingest`."""

from services.cli import serve_service

if __name__ == "__main__":
    serve_service("ingest")
