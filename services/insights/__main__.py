"""`python -m services.insights`: the same as `hearth serve insights`."""

from services.cli import serve_service

if __name__ == "__main__":
    serve_service("insights")
