"""Log lines for a terminal: readable, with context, secrets redacted as in JSON."""

from __future__ import annotations

import io
import logging

import pytest

from shared.observability.logging import bind_event, configure_logging, resolve_log_format


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_auto_is_console_on_a_terminal_and_json_elsewhere() -> None:
    assert resolve_log_format("auto", Terminal()) == "console"
    assert resolve_log_format("auto", io.StringIO()) == "json"
    assert resolve_log_format("json", Terminal()) == "json"
    with pytest.raises(ValueError, match="choose from auto, json, console"):
        resolve_log_format("yaml", io.StringIO())


def test_console_lines_carry_the_message_context_and_redacted_extras() -> None:
    out = io.StringIO()
    configure_logging("INFO", log_format="console", service="moderation", stream=out)
    try:
        with bind_event("01EVENT"):
            logging.getLogger("x").info(
                "rules applied", extra={"community_id": "c1", "bot_token": "s3cret"}
            )
    finally:
        configure_logging("INFO", stream=io.StringIO())
    text = out.getvalue()
    assert "INFO" in text and "moderation: rules applied" in text
    assert "event_id=01EVENT" in text and "community_id=c1" in text
    assert "s3cret" not in text and "bot_token=[REDACTED]" in text
    assert "None" not in text and not text.lstrip().startswith("{")
