"""The webhook dispatcher: whatever a platform sends, the answer is never a server error."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from services.ingest.domain.model import BindingContext, MalformedPayload
from services.ingest.domain.webhooks import normalize
from shared.events.community import Platform

CTX = BindingContext("t", "c", "b", Platform.TELEGRAM, "-1001")
NOW = datetime(2026, 11, 26, tzinfo=UTC)


def update(text: str) -> bytes:
    return json.dumps(
        {
            "update_id": 1,
            "message": {
                "message_id": 5,
                "date": 1_700_000_000,
                "chat": {"id": -1001, "type": "supergroup"},
                "from": {"id": 7, "is_bot": False, "first_name": "Ann"},
                "text": text,
            },
        }
    ).encode()


def test_a_value_beyond_the_canonical_limits_is_malformed_not_a_crash() -> None:
    with pytest.raises(MalformedPayload, match="text"):
        normalize(Platform.TELEGRAM, update("x" * 100_001), {}, CTX, received_at=NOW)


@pytest.mark.parametrize("body", [b"", b"[]", b"null", b"\xff\xfe"])
def test_bodies_that_are_not_json_objects_are_malformed(body: bytes) -> None:
    with pytest.raises(MalformedPayload):
        normalize(Platform.TELEGRAM, body, {}, CTX, received_at=NOW)
