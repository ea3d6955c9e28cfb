"""`python -m services.gamification`: the same as `hearth serve gamification`."""

from services.cli import serve_service

if __name__ == "__main__":
    serve_service("gamification")
