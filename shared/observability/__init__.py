"""Logs, traces and metrics shared by every Hearth service."""
