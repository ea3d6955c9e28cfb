"""`python -m services.moderation`: the same as `hearth serve moderation`."""

from services.cli import serve_service

if __name__ == "__main__":
    serve_service("moderation")
